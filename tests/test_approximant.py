"""The fitted approximant of L (`gradeng.symbolic._approximant`): asymptotics, accuracy, cache."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from gradeng.symbolic import _approximant, _compile, parse_formula
from gradeng.runtime import power_from_log
from gradeng.symbolic._approximant import Approximant, Piece, approximant_function


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
  monkeypatch.setenv("GRADENG_CACHE_DIR", str(tmp_path))
  monkeypatch.setattr(_approximant, "_FITTED", {})
  return tmp_path


def _loss(g, z):
  """∫_p^1 -g at p = σ(z) for the float32 logit z, 30 digits (the kernel takes q = 1 - p from
  log p, so the rounding of a float32 log q near -z is not in its value)."""
  with mp.workdps(30):
    q = 1 / (1 + mp.exp(mp.mpf(float(z))))
    return float(mp.quad(lambda u: -g(1 - u), [0, q]))


@pytest.mark.parametrize("formula,g,power", [
    ("-(1-p)**2/(p*log(2+p))", lambda t: -(1 - t)**2 / (t * mp.log(2 + t)), (3, 1)),
    ("-(1-p)**1.5*(1+p**2)*3", lambda t: -3 * (1 - t)**1.5 * (1 + t**2), (5, 2)),
    ("-exp(-p**2)/p", lambda t: -mp.exp(-t**2) / t, (1, 1)),
    # p·g = -p - p²·log p - …: the log terms up to p^5 in closed form, F fitted on the rest
    ("-p**p", lambda t: -t**t, (1, 1)),
])
def test_fitted_values_match_mpmath_in_float32(cache_dir, formula, g, power):
  fitted, note, reference = _approximant.approximant(parse_formula(formula))
  assert fitted is not None, note
  assert fitted.near_power == power  # L ~ a q^{γ+1}/(γ+1) as p → 1
  # At 9.45 and 13.45 log q = -z - e^{-z} rounds by up to 4.8e-7 and 9.5e-7: q³ taken from log q
  # was off by 1.6e-6 there (from log p now: 4e-7)
  z = np.array([-40.0, -7.3, -0.4, 0.0, 0.9, 6.1, 9.45, 13.45, 17.7, 25.0], np.float32)
  got = jax.jit(approximant_function(fitted))(jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z))
  want = [_loss(g, v) for v in z]
  np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-6, atol=0)
  assert len(reference) == len(_approximant.CHECK_LOGITS)


def test_power_coefficients_replace_clenshaw_only_where_as_well_conditioned():
  decaying = Piece(1, 0.75, tuple(0.4 * 3.0 ** -j for j in range(17)))
  power = _approximant.power_coefficients(decaying)
  t = np.linspace(-1, 1, 101)
  np.testing.assert_allclose(np.polynomial.polynomial.polyval(t, power[::-1]),
                             np.polynomial.chebyshev.chebval(t, decaying.coefficients),
                             rtol=1e-14, atol=0)
  # T_16 alone is 2^15 t^16 - … : its power coefficients sum to ~1e7 for a series of norm 1
  assert _approximant.power_coefficients(Piece(1, 0.75, (0.0,) * 16 + (1.0,))) is None


def test_a_fit_is_remembered_on_disk(cache_dir, monkeypatch):
  g = parse_formula("-(1-p)**2*exp(-p)/p")
  first = _approximant.approximant(g)
  _approximant._FITTED.clear()
  monkeypatch.setattr(_approximant, "run_in_worker", lambda *a, **k: pytest.fail("refitted"))
  assert _approximant.approximant(g) == first


def test_refused_where_the_asymptotics_are_not_powers(cache_dir):
  fitted, note, _ = _approximant.approximant(parse_formula("log(1-p)"))  # L ~ q log q
  assert fitted is None and "logarithm" in note


@pytest.mark.parametrize("m,d", [(3, 1), (7, 2), (1, 3), (9, 1)])
def test_powers_from_log_space_keep_float32_accuracy(m, d):
  """The approximant's powers x^(m/d) (`power_from_log`), op by op and compiled: its own
  x^(m/d) = e^k·e^(m/d·log x - k) lost this under jit, where XLA merges the two exps into
  e^(m/d·log x) and rounds that exponent to float32 (3.8e-6 of x^(m/d) at -80.3)."""
  log_x = (np.array([-80.3, -31.1, -3.3, -0.6]) * d / m).astype(np.float32)  # x^(m/d) normal
  with mp.workdps(30):
    want = [float(mp.exp(mp.mpf(float(v)) * m / d)) for v in log_x]
  for power in (power_from_log, jax.jit(power_from_log, static_argnums=1)):
    got = np.asarray(power(jnp.asarray(log_x), m / d), np.float64)
    np.testing.assert_allclose(got, want, rtol=1.5e-6, atol=0)


def test_the_cost_model_counts_primitives_not_time():
  cheap = lambda log_p, log_q: -log_p
  dear = lambda log_p, log_q: jnp.exp(log_q) * jnp.log1p(-jnp.exp(log_p))
  assert _compile.kernel_cost(cheap, {}) < _compile.kernel_cost(dear, {})
  assert _compile.kernel_cost(dear, {}) == _compile.kernel_cost(dear, {})


def test_json_round_trip():
  a = Approximant(0.25, (7, 2), Piece(2, 0.8, (1.0, 0.5)), ((-1.0, (0, 1), 1),),
                  Piece(1, 0.25, (0.1,)), 1e-10, 2.0)
  assert Approximant.from_json(a.to_json()) == a
