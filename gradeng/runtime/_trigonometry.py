"""sin, cos, tan and their inverses as polynomials that XLA vectorises, for formula kernels.

XLA:CPU evaluates ``jnp.sin``, ``jnp.cos``, ``jnp.tan``, ``jnp.arctan``, ``jnp.arcsin`` in float32
one element at a time (library calls): on 10⁶ values sin took 2.5 ms, arctan 5.1 ms, tan 6.6 ms
and arcsin 9.0 ms where exp took 0.26 ms, so a formula weight with one of them ran at 2–4× the
catalog focal loss. The functions here are plain arithmetic and selects on arrays, which XLA
fuses and vectorises on every backend:

* sin and cos: x = k·π/2 + r with k = round(2x/π) and r ∈ [-π/4, π/4], r taken exactly from
  π/2 split into three parts (Cody and Waite), then the Taylor polynomial of sin r (to r⁹) or
  cos r (to r¹⁰), whose truncation error is below 2e-9 there, chosen by k mod 4. The split
  keeps k·(π/2)'s first part exact for |x| ≤ `POLYNOMIAL_TRIG_BOUND`; beyond it the result is
  NaN, never a wrong number (the symbolic side uses these only for an argument it has bounded).
* tan: sin r / cos r in even quadrants, -cos r / sin r in odd ones (the same reduction).
* arctan: |x| > 1 through arctan x = π/2 - arctan(1/x), then t > tan(π/8) through
  arctan t = π/4 + arctan((t - 1)/(t + 1)), leaving |u| ≤ tan(π/8) for the Taylor series to
  u¹⁷ (truncation below 1e-8 relative). Any x: ±inf gives ±π/2, NaN stays NaN.
* arcsin x = arctan(x / √((1 - x)(1 + x))) and arccos x = 2 arctan √((1 - x)/(1 + x)): 1 ± x is
  exact where it is small, so neither cancels near ±1 (NaN outside [-1, 1]).

Float32 error ≤ 3 ulp against mpmath (``tests/test_trigonometry.py``; tan, arcsin and arccos ≤ 4).
Float64 inputs go to JAX's own functions unchanged (these polynomials are sized for float32);
bfloat16 and float16 inputs are evaluated in float32.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradeng.runtime._special import horner

#: Largest |x| for `polynomial_sin`, `polynomial_cos` and `polynomial_tan` (NaN beyond):
#: k = round(2x/π) ≤ 2¹⁰, so that k times each of the first two parts of π/2 is exact in float32.
POLYNOMIAL_TRIG_BOUND = 1600.0


def _split_half_pi() -> tuple[float, float, float]:
  """π/2 = first + second + third: first on a grid of 2⁻¹² (13 significant bits), second on a
  grid of 2⁻²⁵ (8 bits), so that k·first and k·second are exact in float32 for an integer
  |k| ≤ 2¹⁰; third, the rest (-1.4e-8), is rounded only once, to float32."""
  half_pi = math.pi / 2  # double precision: 53 bits, more than the three parts hold
  first = math.ldexp(round(math.ldexp(half_pi, 12)), -12)
  second = math.ldexp(round(math.ldexp(half_pi - first, 12 + 13)), -(12 + 13))
  return first, second, half_pi - first - second


_HALF_PI_PARTS = _split_half_pi()
# 1/(2n+1)! and 1/(2n)! with alternating signs, highest order first (Horner).
_SIN_TAYLOR = tuple((-1) ** n / math.factorial(2 * n + 1) for n in range(4, 0, -1))  # r³ … r⁹
_COS_TAYLOR = tuple((-1) ** n / math.factorial(2 * n) for n in range(5, 1, -1))  # r⁴ … r¹⁰
_ARCTAN_TAYLOR = tuple((-1) ** n / (2 * n + 1) for n in range(8, 0, -1))  # u³ … u¹⁷
_TAN_PI_OVER_8 = math.sqrt(2.0) - 1.0


def _compute_dtype(x: jax.Array):
  return jnp.promote_types(x.dtype, jnp.float32)


def _sin_cos_quadrant(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(sin r, cos r, k mod 4) with x = k·π/2 + r, |r| ≤ π/4 (+ rounding)."""
  k = jnp.round(x * (2.0 / math.pi))
  first, second, third = _HALF_PI_PARTS
  r = ((x - k * first) - k * second) - k * third
  r2 = r * r
  sin_r = r + r * r2 * horner(_SIN_TAYLOR, r2)
  cos_r = 1.0 - 0.5 * r2 + r2 * r2 * horner(_COS_TAYLOR, r2)
  return sin_r, cos_r, k - 4.0 * jnp.floor(k * 0.25)


def _within_bound(x: jax.Array, value: jax.Array) -> jax.Array:
  """``value`` where |x| ≤ `POLYNOMIAL_TRIG_BOUND` (the reduction is exact there), NaN beyond."""
  return jnp.where(jnp.abs(x) <= POLYNOMIAL_TRIG_BOUND, value, jnp.nan)


def _shifted_sin(x: jax.Array, quarter_turns: int) -> jax.Array:
  """sin(x + quarter_turns·π/2) for |x| ≤ `POLYNOMIAL_TRIG_BOUND`, NaN beyond."""
  sin_r, cos_r, quadrant = _sin_cos_quadrant(x)
  n = quadrant + quarter_turns
  n = jnp.where(n >= 4.0, n - 4.0, n)
  value = jnp.where(n == 0, sin_r, jnp.where(n == 1, cos_r, jnp.where(n == 2, -sin_r, -cos_r)))
  return _within_bound(x, value)


def _tan(x: jax.Array) -> jax.Array:
  """tan x for |x| ≤ `POLYNOMIAL_TRIG_BOUND`, NaN beyond."""
  sin_r, cos_r, quadrant = _sin_cos_quadrant(x)
  odd = (quadrant == 1) | (quadrant == 3)
  return _within_bound(x, jnp.where(odd, -cos_r / sin_r, sin_r / cos_r))


def _in_float32(x: ArrayLike, float64_fn, float32_fn) -> jax.Array:
  """float32_fn on float32 (bfloat16/float16 widened, integers promoted; the result in the input's
  float dtype), float64_fn on float64."""
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  if x.dtype == jnp.float64:
    return float64_fn(x)
  return float32_fn(x.astype(_compute_dtype(x))).astype(x.dtype)


def _arctan(wide: jax.Array) -> jax.Array:
  """arctan by the reductions of `polynomial_arctan` (float32)."""
  magnitude = jnp.abs(wide)
  inverted = magnitude > 1.0
  t = jnp.where(inverted, 1.0 / jnp.where(inverted, magnitude, 1.0), magnitude)
  shifted = t > _TAN_PI_OVER_8
  u = jnp.where(shifted, (t - 1.0) / (t + 1.0), t)
  u2 = u * u
  small = u + u * u2 * horner(_ARCTAN_TAYLOR, u2)
  value = jnp.where(shifted, math.pi / 4 + small, small)
  value = jnp.where(inverted, math.pi / 2 - value, value)
  return jnp.copysign(value, wide)


def polynomial_sin(x: ArrayLike) -> jax.Array:
  """sin x by argument reduction and a polynomial, for |x| ≤ `POLYNOMIAL_TRIG_BOUND` (NaN beyond).

  .. math::
    \\sin(kπ/2 + r) = \\sin r,\\ \\cos r,\\ -\\sin r,\\ -\\cos r \\quad (k \\bmod 4 = 0, 1, 2, 3).

  Args:
    x: the argument; float64 goes to ``jnp.sin``.

  Returns:
    sin x, same shape and dtype (float32 within 3 ulp).

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import polynomial_sin
    >>> print(polynomial_sin(jnp.array([0.5, 3.0, 1e4], jnp.float32)).round(6))
    [0.479426 0.14112       nan]
  """
  return _in_float32(x, jnp.sin, lambda wide: _shifted_sin(wide, 0))


def polynomial_cos(x: ArrayLike) -> jax.Array:
  """cos x by argument reduction and a polynomial, for |x| ≤ `POLYNOMIAL_TRIG_BOUND` (NaN beyond).

  .. math::
    \\cos(kπ/2 + r) = \\cos r,\\ -\\sin r,\\ -\\cos r,\\ \\sin r \\quad (k \\bmod 4 = 0, 1, 2, 3).

  Args:
    x: the argument; float64 goes to ``jnp.cos``.

  Returns:
    cos x, same shape and dtype (float32 within 3 ulp).

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import polynomial_cos
    >>> print(polynomial_cos(jnp.array([0.5, 3.0], jnp.float32)).round(6))
    [ 0.877583 -0.989992]
  """
  return _in_float32(x, jnp.cos, lambda wide: _shifted_sin(wide, 1))  # cos x = sin(x + π/2)


def polynomial_arctan(x: ArrayLike) -> jax.Array:
  """arctan x by two reductions and a polynomial, for any x.

  .. math::
    \\arctan x = \\operatorname{sign} x \\left(\\tfrac{π}{2} - \\arctan \\tfrac{1}{|x|}\\right)
    \\ (|x| > 1), \\qquad \\arctan t = \\tfrac{π}{4} + \\arctan\\tfrac{t - 1}{t + 1}
    \\ (t > \\tan\\tfrac{π}{8}).

  Args:
    x: the argument; float64 goes to ``jnp.arctan``.

  Returns:
    arctan x, same shape and dtype (float32 within 3 ulp); ±π/2 at ±inf.

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import polynomial_arctan
    >>> print(polynomial_arctan(jnp.array([0.5, -3.0, jnp.inf], jnp.float32)).round(6))
    [ 0.463648 -1.249046  1.570796]
  """
  return _in_float32(x, jnp.arctan, _arctan)


def polynomial_tan(x: ArrayLike) -> jax.Array:
  """tan x by argument reduction and polynomials, for |x| ≤ `POLYNOMIAL_TRIG_BOUND` (NaN beyond).

  .. math::
    \\tan(kπ/2 + r) = \\sin r / \\cos r \\ (k \\text{ even}), \\quad -\\cos r / \\sin r
    \\ (k \\text{ odd}).

  Args:
    x: the argument; float64 goes to ``jnp.tan``.

  Returns:
    tan x, same shape and dtype (float32 within 4 ulp).

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import polynomial_tan
    >>> print(polynomial_tan(jnp.array([0.5, 3.0], jnp.float32)).round(6))
    [ 0.546302 -0.142547]
  """
  return _in_float32(x, jnp.tan, _tan)


def polynomial_arcsin(x: ArrayLike) -> jax.Array:
  """arcsin x = arctan(x / √((1 - x)(1 + x))) by `polynomial_arctan` (NaN outside [-1, 1]).

  Args:
    x: the argument; float64 goes to ``jnp.arcsin``.

  Returns:
    arcsin x, same shape and dtype (float32 within 4 ulp); ±π/2 at ±1.

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import polynomial_arcsin
    >>> print(polynomial_arcsin(jnp.array([0.5, -1.0], jnp.float32)).round(4))
    [ 0.5236 -1.5708]
  """
  return _in_float32(x, jnp.arcsin, lambda w: _arctan(w / jnp.sqrt((1.0 - w) * (1.0 + w))))


def polynomial_arccos(x: ArrayLike) -> jax.Array:
  """arccos x = 2 arctan √((1 - x)/(1 + x)) by `polynomial_arctan` (NaN outside [-1, 1]).

  Args:
    x: the argument; float64 goes to ``jnp.arccos``.

  Returns:
    arccos x, same shape and dtype (float32 within 4 ulp); 0 at 1, π at -1.

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import polynomial_arccos
    >>> print(polynomial_arccos(jnp.array([0.5, -1.0], jnp.float32)).round(4))
    [1.0472 3.1416]
  """
  return _in_float32(x, jnp.arccos, lambda w: 2.0 * _arctan(jnp.sqrt((1.0 - w) / (1.0 + w))))
