"""Derived user losses are rewritten onto stable programs: closed-form path, float32 vs mpmath."""

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import gradeng as ge
from gradeng.core._coefficient import P
from gradeng.core._jaxify import log_space_function
from gradeng.core._special import maki_tail
from gradeng.core._stabilize import stabilize

LOGITS = np.concatenate([np.linspace(-40, 40, 41), [0.5, 3.0, 9.5, 14.5]]).astype(np.float32)
README = "-(1-p)**2*(1+p)/p"


@functools.lru_cache(maxsize=None)
def _derivation(formula):
  return ge.derive(formula)


def _reference(formula, z):
  """L(σ(z)) = ∫_0^q -g(1 - u) du by mpmath quadrature at 30 digits (no SymPy antiderivative)."""
  f = sp.lambdify(P, -ge.coefficient(formula).expr, modules="mpmath")
  with mp.workdps(30):
    q = 1 / (1 + mp.exp(mp.mpf(float(z))))
    return mp.quad(lambda u: f(1 - u), [0, q])


def _max_error(values, formula):
  errors = []
  for got, z in zip(np.asarray(values, np.float64), LOGITS):
    want = _reference(formula, z)
    if abs(want) > 1e1 * np.finfo(np.float32).tiny:
      errors.append(float(abs((mp.mpf(got) - want) / want)))
  assert len(errors) >= 30
  return max(errors)


def _log_pq():
  z = jnp.asarray(LOGITS)
  return jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)


def test_readme_formula_sympy_form_cancels_and_the_rewrite_does_not():
  d = _derivation(README)
  naive = log_space_function(d.loss)
  assert _max_error(naive(*_log_pq()), README) > 1e-3  # SymPy's form loses every digit as p → 1
  stable = stabilize(d.g, d.loss)
  assert stable.near == stable.far == "maki basis"
  assert stable.error <= 2e-6
  # (1+p)(1-p)^2 = 2q^2 - q^3, so L = 2·L_2 - L_3 (Maki tails), exactly what is evaluated.
  log_p, log_q = _log_pq()
  np.testing.assert_allclose(stable.value(log_p, log_q),
                             2 * maki_tail(log_p, log_q, 2) - maki_tail(log_p, log_q, 3), rtol=2e-6)
  assert _max_error(stable.value(log_p, log_q), README) <= 3e-6


@pytest.mark.parametrize("formula,near,far", [
    ("-(1-p)**4/p", "maki basis", "maki basis"),  # Maki γ = 4 typed by hand
    ("-p**5", "maki basis", "maki basis"),  # L = (1 - p^6)/6: S = 0, one polynomial in q
    ("-1/(p*(1+p))", "taylor", "derived"),  # L = log((1 + p)/(2p)): log of 1 + small at p → 1
])
def test_stabilised_forms_match_mpmath(formula, near, far):
  d = _derivation(formula)
  stable = stabilize(d.g, d.loss)
  assert (stable.near, stable.far) == (near, far)
  assert _max_error(stable.value(*_log_pq()), formula) <= 5e-6


@pytest.mark.slow
@pytest.mark.parametrize("formula", [README, "-(1-p)/p**2", "-(1 - p**2)/p"])  # w = p² - 1 cancels
def test_loss_from_formula_takes_the_closed_form_path(formula):
  loss = ge.loss_from_coefficient(ge.coefficient(formula))
  assert loss.forward_method.startswith("closed form (")
  z = jnp.asarray(LOGITS)
  values = jax.jit(loss)(z, jnp.ones(z.shape, jnp.int32))
  assert _max_error(values, formula) <= 1e-5
  # The gradient is injected from g, whatever program computes L: dL/dz = g(p)·p(1 - p).
  grads = jax.vmap(jax.grad(lambda a: loss(a, jnp.ones((), jnp.int32))))(z)
  g = sp.lambdify(P, ge.coefficient(formula).expr, modules="mpmath")
  with mp.workdps(30):
    want = [g(p) * p * (1 - p) for p in (1 / (1 + mp.exp(-mp.mpf(float(v)))) for v in LOGITS)]
  want = np.array(want, np.float64)
  normal = np.abs(want) > 1e-30  # float32 gradients below that are flushed/subnormal
  np.testing.assert_allclose(np.asarray(grads, np.float64)[normal], want[normal], rtol=1e-5)


def test_free_parameters_are_not_stabilised():
  gamma = sp.Symbol("gamma", positive=True)
  assert stabilize(-(1 - P) ** gamma / P, P - 1 - sp.log(P)) is None
