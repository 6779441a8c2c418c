"""The runtime's vectorised sin, cos, tan and inverses against mpmath; where formulas use them."""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import sympy as sp

from gradeng.runtime import (POLYNOMIAL_TRIG_BOUND, polynomial_arccos, polynomial_arcsin,
                             polynomial_arctan, polynomial_cos, polynomial_sin, polynomial_tan)
from gradeng.symbolic import P, log_space_function

_RNG = np.random.default_rng(0)
# Dense where formulas take them (p, q, πp ∈ [0, π]), random up to the bound, its two ends.
SIN_COS_POINTS = np.concatenate([
    np.linspace(-10.0, 10.0, 4001), np.linspace(0.0, math.pi, 1001),
    _RNG.uniform(-POLYNOMIAL_TRIG_BOUND, POLYNOMIAL_TRIG_BOUND, 4000),
    [POLYNOMIAL_TRIG_BOUND, -POLYNOMIAL_TRIG_BOUND, 1e-30, -1e-30, 0.0]]).astype(np.float32)
ARCTAN_POINTS = np.concatenate([
    np.linspace(-5.0, 5.0, 4001), [math.sqrt(2) - 1, 1 - math.sqrt(2), 1.0, -1.0, 0.0],
    np.sign(_RNG.normal(size=4000)) * 10.0 ** _RNG.uniform(-35, 35, 4000)]).astype(np.float32)
# [-1, 1] with both ends approached to float32's spacing there, and tiny arguments.
UNIT_POINTS = np.concatenate([
    np.linspace(-1.0, 1.0, 4001), 1 - 10.0 ** -_RNG.uniform(0, 7.2, 1000),
    -1 + 10.0 ** -_RNG.uniform(0, 7.2, 1000),
    10.0 ** -_RNG.uniform(0, 30, 1000)]).astype(np.float32)


def _ulps(got: np.ndarray, x: np.ndarray, reference) -> np.ndarray:
  """|got - f(x)| in float32 units in the last place of f(x), f by mpmath at 30 digits."""
  with mpmath.workdps(30):
    want = np.array([float(reference(mpmath.mpf(float(v)))) for v in x])
  spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
  return np.abs(np.asarray(got, np.float64) - want) / spacing


@pytest.mark.parametrize("fn, reference, points, ulps", [
    (polynomial_sin, mpmath.sin, SIN_COS_POINTS, 3),
    (polynomial_cos, mpmath.cos, SIN_COS_POINTS, 3),
    (polynomial_tan, mpmath.tan, SIN_COS_POINTS, 4),
    (polynomial_arctan, mpmath.atan, ARCTAN_POINTS, 3),
    (polynomial_arcsin, mpmath.asin, UNIT_POINTS, 4),
    (polynomial_arccos, mpmath.acos, UNIT_POINTS, 4),
], ids=["sin", "cos", "tan", "arctan", "arcsin", "arccos"])
def test_float32_within_a_few_ulp_of_mpmath(fn, reference, points, ulps):
  for got in (jax.jit(fn)(points), fn(points)):  # compiled and op by op
    assert got.dtype == jnp.float32
    assert np.max(_ulps(got, points, reference)) <= ulps


def test_special_values_and_the_bound():
  big = np.float32(POLYNOMIAL_TRIG_BOUND * 1.01)
  out = jax.jit(lambda x: (polynomial_sin(x), polynomial_cos(x)))(jnp.array([big, -big, np.nan]))
  assert np.all(np.isnan(np.asarray(out)))  # beyond the bound: NaN, not a wrong number
  at = np.asarray(polynomial_arctan(jnp.array([np.inf, -np.inf, -0.0, np.nan], jnp.float32)))
  assert at[0] == np.float32(math.pi / 2) and at[1] == -np.float32(math.pi / 2)
  assert at[2] == 0.0 and np.signbit(at[2]) and np.isnan(at[3])
  assert np.isnan(polynomial_tan(jnp.float32(POLYNOMIAL_TRIG_BOUND * 1.01)))
  ends = jnp.array([1.0, -1.0, 1.5, -1.5], jnp.float32)
  asin, acos = np.asarray(polynomial_arcsin(ends)), np.asarray(polynomial_arccos(ends))
  half_pi, pi = np.float32(math.pi / 2), np.float32(math.pi)
  assert asin[0] == half_pi and asin[1] == -half_pi and acos[0] == 0.0 and acos[1] == pi
  assert np.all(np.isnan(asin[2:])) and np.all(np.isnan(acos[2:]))  # outside the domain


# (ours, JAX's, NumPy's)
_COUNTERPARTS = ((polynomial_sin, jnp.sin, np.sin), (polynomial_cos, jnp.cos, np.cos),
                 (polynomial_tan, jnp.tan, np.tan), (polynomial_arctan, jnp.arctan, np.arctan),
                 (polynomial_arcsin, jnp.arcsin, np.arcsin),
                 (polynomial_arccos, jnp.arccos, np.arccos))


def test_other_dtypes():
  x = np.linspace(-0.99, 0.99, 61)  # inside every domain
  with jax.enable_x64(True):  # float64: JAX's own functions, unchanged
    for fn, jax_fn, _ in _COUNTERPARTS:
      got = fn(jnp.asarray(x, jnp.float64))
      assert got.dtype == jnp.float64
      want = jax_fn(jnp.asarray(x, jnp.float64))
      np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  for dtype in (jnp.bfloat16, jnp.float16):  # evaluated in float32, rounded once
    for fn, _, numpy_fn in _COUNTERPARTS:
      low = jnp.asarray(x, dtype)
      got = fn(low)
      assert got.dtype == dtype
      np.testing.assert_array_equal(np.asarray(got),
                                    np.asarray(numpy_fn(np.asarray(low, np.float32)).astype(dtype)))
  assert polynomial_sin(jnp.arange(3)).dtype == jnp.float32  # integers are promoted


def test_gradients_are_cos_minus_sin_and_the_arctan_slope():
  # One compiled program per function: op by op, the vmapped gradients compiled ~100 operations.
  def slopes(f, x):
    return jax.jit(jax.vmap(jax.grad(f)))(x)

  x = jnp.linspace(-20.0, 20.0, 401, dtype=jnp.float32)
  np.testing.assert_allclose(slopes(polynomial_sin, x), np.cos(np.asarray(x, np.float64)), atol=3e-7)
  np.testing.assert_allclose(slopes(polynomial_cos, x), -np.sin(np.asarray(x, np.float64)),
                             atol=3e-7)
  np.testing.assert_allclose(slopes(polynomial_arctan, x), 1 / (1 + np.asarray(x, np.float64) ** 2),
                             rtol=1e-6)
  t = jnp.linspace(-1.2, 1.2, 241, dtype=jnp.float32)  # tan' = 1 + tan², away from the poles
  np.testing.assert_allclose(slopes(polynomial_tan, t), 1 + np.tan(np.asarray(t, np.float64)) ** 2,
                             rtol=2e-6)
  u = jnp.linspace(-0.95, 0.95, 191, dtype=jnp.float32)
  slope = 1 / np.sqrt(1 - np.asarray(u, np.float64) ** 2)
  np.testing.assert_allclose(slopes(polynomial_arcsin, u), slope, rtol=2e-6)
  np.testing.assert_allclose(slopes(polynomial_arccos, u), -slope, rtol=2e-6)


def _all_primitives(closed) -> set[str]:
  names = set()
  for eqn in closed.eqns:
    names.add(eqn.primitive.name)
    for value in eqn.params.values():
      inner = getattr(value, "jaxpr", None)
      if inner is not None:
        names |= _all_primitives(getattr(inner, "jaxpr", inner))
  return names


_A = sp.Symbol("a", real=True)


@pytest.mark.parametrize("expr, vectorised", [
    (-sp.sin(sp.pi * P), True),  # sin(πp) and, for p ≥ 1/2, sin(πq): arguments in [0, π]
    (-sp.cos(P), True),
    (-sp.exp(sp.sin(3 * P)) * P, True),
    (-sp.atan(1 - P) * P, True),  # arctan: any argument
    (sp.tan(sp.pi * P / 4) + sp.cot(P + 1), True),
    (sp.asin(P) + sp.acos(1 - P), True),  # arcsin, arccos: their domain bounds them
    (-sp.sin(1 / P) * P, False),  # the argument is unbounded as p → 0: JAX's sin
    (-(1 - P) * sp.sin(_A * P), False),  # a parameter: not bounded when the program is built
], ids=["sin(pi p)", "cos(p)", "exp(sin(3p))", "atan(1-p)", "tan, cot", "asin, acos", "sin(1/p)",
        "sin(a p)"])
def test_compiled_formulas_use_the_polynomials_where_the_argument_is_bounded(expr, vectorised):
  """The weights w = p·g of -sin(πp)/p, -cos(p)/p, … as the kernels compile them."""
  names = sorted(s.name for s in expr.free_symbols - {P})
  fn = log_space_function(expr, names)
  x = jnp.full(4, -0.5, jnp.float32)
  params = {name: 2.0 for name in names}
  used = _all_primitives(jax.make_jaxpr(lambda lp, lq: fn(lp, lq, **params))(x, x).jaxpr)
  assert bool(used & {"sin", "cos", "tan", "atan", "atan2", "asin", "acos"}) != vectorised, used


def test_jaxified_trigonometry_matches_mpmath_in_float32():
  """Values of sin(πp)·p, cos(3p), atan(1 - p) compiled from SymPy, logits in ±40."""
  z = np.linspace(-40.0, 40.0, 321)
  cases = [(sp.sin(sp.pi * P) * P, lambda p: mpmath.sin(mpmath.pi * p) * p),
           (sp.cos(3 * P), lambda p: mpmath.cos(3 * p)),
           (sp.atan(1 - P), lambda p: mpmath.atan(1 - p))]
  for expr, reference in cases:
    fn = jax.jit(log_space_function(expr, []))
    zf = jnp.asarray(z, jnp.float32)
    got = np.asarray(fn(jax.nn.log_sigmoid(zf), jax.nn.log_sigmoid(-zf)), np.float64)
    with mpmath.workdps(40):
      want = np.array([float(reference(1 / (1 + mpmath.exp(-mpmath.mpf(float(v)))))) for v in zf])
    normal = np.abs(want) > 1e-30
    rel = np.abs(got[normal] - want[normal]) / np.abs(want[normal])
    assert np.max(rel) <= 2e-6, (expr, np.max(rel))
