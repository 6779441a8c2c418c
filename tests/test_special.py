"""Maki tails and integer combinations of them against 50-digit mpmath, over logits in ±40."""

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from gradeng.runtime import complement_probability, integer_power
from gradeng.runtime._special import _integer_plan, maki_combination, maki_tail, power_from_log

TOLERANCE = 1e-5
LOGITS = np.concatenate([np.linspace(-40, 40, 161), [-1e-3, 1e-4, 0.7, 1.3, 9.5, 14.5]]).astype(np.float32)


def _reference_tail(z: float, k: int):
  """L_k(p) = Σ_{j>k} q^j / j at p = σ(z), 50 digits: the series itself where it converges
  fast (q ≤ 1/2), else -log p - Σ_{j≤k} q^j/j, whose cancellation 50 digits absorb there."""
  with mp.workdps(50):
    z = mp.mpf(z)
    p, q = 1 / (1 + mp.exp(-z)), 1 / (1 + mp.exp(z))
    if q <= 0.5:
      return mp.nsum(lambda j: q**j / j, [k + 1, mp.inf])
    return -mp.log(p) - mp.fsum(q**j / j for j in range(1, k + 1))


def _relative_errors(got, want):
  errors = []
  for g, w in zip(got, want):
    if abs(w) > 1e1 * np.finfo(np.float32).tiny:  # a normal float32 reference
      errors.append(float(abs((mp.mpf(float(g)) - w) / w)))
  return errors


def _log_pq(dtype=jnp.float32):
  z = jnp.asarray(LOGITS, dtype)
  return jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)


def test_reference_agrees_with_hypergeometric_form():
  for z in (-3.0, 0.0, 2.0, 25.0):
    with mp.workdps(50):
      q = 1 / (1 + mp.exp(mp.mpf(z)))
      want = q**4 / 4 * mp.hyp2f1(1, 4, 5, q)
    assert abs(_reference_tail(z, 3) / want - 1) < 1e-40


@pytest.mark.parametrize("gamma", [2, 3, 5, 10, 20])
def test_integer_gamma_matches_mpmath(gamma):
  log_p, log_q = _log_pq()
  compiled = jax.jit(maki_tail, static_argnums=2)
  got = np.asarray(compiled(log_p, log_q, gamma))
  errors = _relative_errors(got, [_reference_tail(float(z), gamma) for z in LOGITS])
  assert len(errors) > 60
  assert max(errors) <= TOLERANCE
  # γ = 2.0 given as a float takes the same path.
  np.testing.assert_array_equal(np.asarray(compiled(log_p, log_q, float(gamma))), got)


@pytest.mark.parametrize("gamma", [1, 2, 3, 4, 5, 6])
def test_small_integer_gamma_takes_the_polynomial_regimes(gamma):
  plan = _integer_plan(((gamma, 1.0),), 4)
  assert plan is not None and len(plan.tail) <= 96
  # The switch point leaves the head form at most 32-fold cancellation (chosen at trace time).
  q_switch = math.exp(plan.log_q_switch)
  assert 0.5 <= q_switch <= 0.8
  # No transcendental function besides q = exp(log q) in the compiled value.
  jaxpr = str(jax.make_jaxpr(lambda a, b: maki_tail(a, b, gamma))(*_log_pq()))
  assert jaxpr.count("exp") == 1 and "log" not in jaxpr.replace("log_", "")


def test_large_integer_gamma_falls_back_to_real_regimes():
  assert _integer_plan(((20, 1.0),), 4) is None
  assert maki_combination(*_log_pq(), {20: 1.0}) is None


@pytest.mark.parametrize("coefficients", [
    {2: 2.0, 3: -1.0},  # g = -(1-p)^2 (1+p)/p, the README's formula
    {0: 1.0, 1: 1.0},  # g = -(2-p)/p
    {5: 1.0, 6: -1.0},  # g = -(1-p)^5: S = 0, an exact polynomial in q
    {0: 0.5, 2: 3.0, 4: 1.0},
])
def test_combinations_match_mpmath(coefficients):
  log_p, log_q = _log_pq()
  got = np.asarray(maki_combination(log_p, log_q, coefficients))
  want = [mp.fsum(c * _reference_tail(float(z), k) for k, c in coefficients.items()) for z in LOGITS]
  errors = _relative_errors(got, want)
  assert len(errors) > 100
  assert max(errors) <= TOLERANCE


def test_float64_integer_gamma_is_accurate_to_1e_13():
  with jax.enable_x64(True):
    log_p, log_q = _log_pq(jnp.float64)
    got = np.asarray(maki_tail(log_p, log_q, 3))
  want = [_reference_tail(float(z), 3) for z in LOGITS]
  errors = [float(abs((mp.mpf(float(g)) - w) / w)) for g, w in zip(got, want) if abs(w) > 1e-300]
  assert max(errors) <= 1e-13


def _reference_by_quadrature(z: float, gamma: float, log_pq: tuple[float, float] | None = None,
                             dps: int = 40):
  """L_γ(σ(z)) = q^A/A ∫_0^∞ e^{-v} / (p - q·expm1(-v/A)) dv (A = γ + 1), ``dps`` digits: the
  substitution t = e^{-v/A} of ∫_0^1 t^{A-1}/(1 - qt) dt, written without 1 - q; valid for any
  γ where mpmath's ₂F₁ gives up (A ≥ 10⁴ at q → 1). With ``log_pq`` (float32 log p, log q), at
  the p that `maki_tail` reads from them instead of σ(z): exp(log q) where q ≤ 1/2 or A·p > 1
  (the regimes built on log q), exp(log p) where A·p ≤ 1."""
  with mp.workdps(dps):
    z = mp.mpf(z)
    p, q, a = 1 / (1 + mp.exp(-z)), 1 / (1 + mp.exp(z)), mp.mpf(gamma) + 1
    if log_pq is not None:
      log_p, log_q = (mp.mpf(float(v)) for v in log_pq)
      if q <= 0.5 or a * p > 1:
        q, p = mp.exp(log_q), -mp.expm1(log_q)
      else:
        p, q = mp.exp(log_p), -mp.expm1(log_p)
    integral = mp.quad(lambda v: mp.exp(-v) / (p - q * mp.expm1(-v / a)), [0, 1, 10, 100, mp.inf])
    return mp.exp(a * mp.log(q)) / a * integral


def test_quadrature_reference_agrees_with_hypergeometric_form():
  for z, gamma in ((-3.0, 2.5), (0.0, 7.3), (4.0, 40.0)):
    with mp.workdps(40):
      q, a = 1 / (1 + mp.exp(mp.mpf(z))), mp.mpf(gamma) + 1
      want = q**a / a * mp.hyp2f1(1, a, a + 1, q)
    assert abs(_reference_by_quadrature(z, gamma) / want - 1) < 1e-30


@pytest.mark.parametrize("gamma", [1000, 12345.6, 1e5, 1e6 + 0.5])
def test_huge_gamma_is_bounded_and_accurate(gamma):
  """γ beyond any polynomial plan: no O(γ) work at trace time (γ = 10⁵ used to take minutes in
  the integer plan), no overflow of C(γ, n) in the small-p expansion (it gave NaN for γ ≳ 10⁴),
  and the real-γ regimes stay accurate (A·p ≈ 1 needs H_γ in two float32 parts): ≤ 2e-6 against
  the p the kernel reads from its float32 input. Against σ(z) itself the float32 rounding of
  log q is amplified A·|log q|-fold (45-fold at z = -10 for γ = 10⁶: up to 2.7e-6)."""
  assert maki_combination(*_log_pq(), {int(gamma): 1.0}) is None  # refused before any planning
  z = np.concatenate([np.linspace(-40, 40, 17), -np.log(gamma) + np.array([-2.0, -0.5, 0.0, 0.7, 2.0])])
  z = z.astype(np.float32)
  log_p, log_q = jax.nn.log_sigmoid(jnp.asarray(z)), jax.nn.log_sigmoid(-jnp.asarray(z))
  got = np.asarray(jax.jit(maki_tail, static_argnums=2)(log_p, log_q, gamma))
  # References at 20 digits: within 3.5e-12 of 40 digits' at these γ and z (measured), in half
  # the time.
  errors = _relative_errors(got, [_reference_by_quadrature(float(v), gamma, (lp, lq), dps=20)
                                  for v, lp, lq in zip(z, np.asarray(log_p), np.asarray(log_q))])
  assert np.all(np.isfinite(got)) and len(errors) >= 12
  assert max(errors) <= 2e-6
  # Traced γ: the same regimes, no overflow either.
  traced = np.asarray(jax.jit(maki_tail)(log_p, log_q, jnp.float32(gamma)))
  assert np.all(np.isfinite(traced))
  traced_gamma = float(np.float32(gamma))
  errors = _relative_errors(traced, [_reference_by_quadrature(float(v), traced_gamma, dps=20)
                                     for v in z])
  assert max(errors) <= 1e-5


def test_traced_gamma_in_float64_sums_its_series_in_loops_to_the_unrolled_values():
  """float64 with a traced γ sums the two series (56 and 24 terms) in loops, which compile far
  faster once differentiated twice; the values are those of the same terms written out (a Python
  γ), to rounding."""
  z = np.linspace(-40.0, 40.0, 321)
  with jax.enable_x64(True):
    log_p, log_q = jax.nn.log_sigmoid(jnp.asarray(z)), jax.nn.log_sigmoid(-jnp.asarray(z))
    program = str(jax.make_jaxpr(maki_tail)(log_p, log_q, jnp.float64(1.7)))
    assert program.count("scan[") == 2
    assert "scan[" not in str(jax.make_jaxpr(maki_tail)(log_p.astype(jnp.float32),
                                                         log_q.astype(jnp.float32), jnp.float32(1.7)))
    traced = jax.jit(maki_tail)
    for gamma in (1.7, 4.5, 12.5):
      np.testing.assert_allclose(traced(log_p, log_q, jnp.float64(gamma)),
                                 maki_tail(log_p, log_q, gamma), rtol=1e-12, atol=0)


@pytest.mark.parametrize("gamma", [0.5, 1.5, 2.5, 3.7, 7.3])
def test_static_real_gamma_takes_two_fitted_polynomials(gamma):
  """Static real γ ≲ 10 (float32): Chebyshev S(q) above p_s = min(1/A, 1/2), Taylor in p below
  (`_real_plan`), instead of the three general regimes (24 Gauss–Laguerre nodes). The kernel's
  own error, against 50 digits at the p its float32 input stands for (exp(log q) above p_s,
  exp(log p) below: the rounding of log q to float32 is amplified A·|log q|-fold by q^A, which
  no kernel undoes), is ≤ 1e-6 (4.4e-7 measured, γ = 3.7). Before q^A was formed by
  `power_from_log`, the float32 rounding of the exponent A·log q itself gave 3.1e-6 (γ = 7.3)
  and 6.1e-6 (γ = 3.7). End to end (`test_catalog_numerics`) ≤ 1e-5."""
  from gradeng.runtime._special import _real_plan
  plan = _real_plan(gamma)
  assert plan is not None and len(plan.chebyshev) <= 25 and len(plan.taylor) <= 30
  log_p, log_q = _log_pq()
  got = np.asarray(jax.jit(maki_tail, static_argnums=2)(log_p, log_q, gamma))
  want = []
  for lp, lq in zip(np.asarray(log_p, np.float64), np.asarray(log_q, np.float64)):
    with mp.workdps(50):
      if lp >= math.log(plan.p_split):
        q = mp.exp(mp.mpf(lq))
        p = 1 - q
      else:
        p = mp.exp(mp.mpf(lp))
        q = -mp.expm1(mp.mpf(lp))
      a = mp.mpf(gamma) + 1
      want.append(q**a / a * mp.hyp2f1(1, a, a + 1, q))
  errors = _relative_errors(got, want)
  assert len(errors) > 100
  assert max(errors) <= 1e-6


def test_power_from_log_compensates_the_rounded_exponent():
  """q^γ = exp(γ·log q) (Maki's and focal's weight, q^{γ+1} in the tails) against 50 digits at the
  float32 log q: ≤ 2e-7, where exp of the float32 product γ·log q was off by up to 5.6e-6
  (γ = 7.3, |γ·log q| near 87). Its derivative in log q is γ·q^γ; log q = -inf gives 0."""
  gammas = (3.7, 8.3)
  _, log_q = _log_pq()

  @jax.jit
  def powers_and_derivatives(v, ends):
    return [(power_from_log(v, g), jax.grad(lambda u, g=g: power_from_log(u, g).sum())(v),
             power_from_log(ends, g)) for g in gammas]

  results = powers_and_derivatives(log_q, jnp.array([-jnp.inf, 0.0]))
  for gamma, (got, grad, edges) in zip(gammas, results):
    got, grad = np.asarray(got), np.asarray(grad)
    with mp.workdps(50):
      want = [mp.exp(mp.mpf(gamma) * mp.mpf(float(v))) for v in np.asarray(log_q, np.float64)]
    errors = _relative_errors(got, want)
    assert len(errors) > 100 and max(errors) <= 2e-7
    normal = gamma * got > 1e-30  # below, the product itself is rounded to few digits
    np.testing.assert_allclose(grad[normal], gamma * got[normal], rtol=1e-6)
    np.testing.assert_array_equal(edges, [0.0, 1.0])


def test_powers_of_q_from_log_p_do_not_carry_the_rounding_of_log_q():
  """q^n at q = σ(-z) (the true q of the float32 logit, 50 digits): from -expm1(log p)
  (`integer_power`) ≤ n·1.5e-7 over the logits (1.17e-6 for n = 9, the rounding of log p by
  `log_sigmoid` multiplied by n); from the float32 log q (exp(n·log q), even with
  the product compensated) the rounding of log q itself, up to 2⁻²⁵|log q|, is multiplied by n:
  above 2.5e-6 for n = 9 at some logit."""
  log_p, log_q = _log_pq()
  for n in (1, 4, 9):
    got, naive = jax.jit(lambda a, b, n=n: (integer_power(a, n), power_from_log(b, n)))(log_p, log_q)
    with mp.workdps(50):
      want = [(1 / (1 + mp.exp(mp.mpf(float(z)))))**n for z in LOGITS]
    errors = _relative_errors(np.asarray(got), want)
    assert len(errors) > 100 and max(errors) <= n * 1.5e-7, (n, max(errors))
    if n == 9:
      assert max(_relative_errors(np.asarray(naive), want)) > 2.5e-6
  np.testing.assert_array_equal(complement_probability(jnp.array([-jnp.inf, 0.0])), [1.0, 0.0])


def test_complement_probability_is_within_an_ulp_where_x_is_at_most_a_half():
  """x = -expm1(u), u = log(1 - x) ∈ [-log 2, 0], float32: ≤ 1.5 ulp of float64's expm1 compiled
  and op by op (0.96 and 1.22 measured), where XLA's float32 expm1 is off by more than 3 ulp
  (4.9 measured); below -log 2 it is -expm1 itself, and float64 is -expm1 everywhere."""
  u = np.linspace(-math.log(2.0), 0.0, 20001).astype(np.float32)
  want = -np.expm1(u.astype(np.float64))
  ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
  ulps = lambda got: np.max(np.abs(np.asarray(got, np.float64) - want) / ulp)  # noqa: E731
  assert ulps(jax.jit(complement_probability)(u)) <= 1.5
  assert ulps(complement_probability(u)) <= 1.5
  assert ulps(jax.jit(lambda v: -jnp.expm1(v))(u)) > 3.0
  far = np.linspace(-30.0, -0.7, 1001).astype(np.float32)
  np.testing.assert_array_equal(jax.jit(complement_probability)(far),
                                jax.jit(lambda v: -jnp.expm1(v))(far))
  wide = jnp.asarray(np.linspace(-3.0, 0.0, 101))
  if wide.dtype == jnp.float64:
    np.testing.assert_array_equal(complement_probability(wide), -jnp.expm1(wide))


@pytest.mark.parametrize("k", [4, 8])
def test_maki_tails_from_the_complement_reach_the_benchmark_target(k):
  """L_k with q taken from log p (`complement=True`, as the kernels built from formulas and the
  catalog do) is within 2e-6 of 50 digits over the logits and, for k = 8, on a grid 0.005 apart
  where q^9 is neither tiny nor near 1 (3.0e-6 at z = 0.49 with XLA's expm1 for q; 2.4e-6 and
  3.2e-6 from exp(log q))."""
  log_p, log_q = _log_pq()
  got = jax.jit(lambda a, b: maki_tail(a, b, k, complement=True))(log_p, log_q)
  errors = _relative_errors(np.asarray(got), [_reference_tail(float(z), k) for z in LOGITS])
  assert len(errors) > 100 and max(errors) <= 2e-6, max(errors)
  if k == 8:  # where q ≤ 1/2 and q⁹ is not tiny: L_8 = Σ_{j>8} q^j/j, summed to 1e-30 relative
    z = np.arange(0.0, 2.5, 0.005).astype(np.float32)
    got = jax.jit(lambda v: maki_tail(jax.nn.log_sigmoid(v), jax.nn.log_sigmoid(-v), 8,
                                      complement=True))(jnp.asarray(z))
    with mp.workdps(40):
      q = [1 / (1 + mp.exp(mp.mpf(float(v)))) for v in z]
      want = [mp.fsum(x**j / j for j in range(9, 110)) for x in q]  # 2⁻¹⁰¹ < 1e-30
    errors = _relative_errors(np.asarray(got), want)
    assert len(errors) == z.size and max(errors) <= 2e-6, max(errors)
