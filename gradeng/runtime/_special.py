"""Stable evaluation of the Maki-loss tail for any real γ ≥ 0, from log p and log(1 - p).

.. math::
  L_γ(p) = \\int_p^1 \\frac{(1-t)^γ}{t} dt
         = \\sum_{k \\ge 0} \\frac{q^{γ+1+k}}{γ+1+k}
         = q^{γ+1} Φ(q, 1, γ+1)
         = \\frac{q^{γ+1}}{γ+1}\\, {}_2F_1(1, γ+1; γ+2; q), \\qquad q = 1 - p.

For integer γ this is cross-entropy minus its first γ Taylor terms in q,
``-log p - Σ_{j≤γ} q^j/j``. Evaluating that difference (or the paper's alternating binomial
form) cancels catastrophically: for q → 0 the result is ~q^{γ+1}/(γ+1) while the terms are ~q.
Three regimes, each free of cancellation (A = γ + 1):

1. q ≤ 1/2: the tail series itself, every term positive, 26 terms give < 3e-8 relative error
   (float32; float64 uses longer truncations throughout, ~1e-13).
2. q > 1/2 and A·p ≤ 1: ``-log p - H_γ - Σ_{n≥1} C(γ,n)(-p)^n/n`` (expansion around p = 0,
   H_γ = ψ(γ+1) + γ_E); the sum converges like (γp)^n/n! and L is not small against -log p.
3. q > 1/2 and A·p > 1: the integral ``L = q^A/A ∫_0^∞ e^{-v} / (1 - q e^{-v/A}) dv``
   (from t = e^{-v/A} in ∫_0^1 t^{A-1}/(1-qt) dt) by 24-point Gauss–Laguerre in float32; the
   integrand's pole sits at distance A·|log q| > 1 from the real axis' origin, so the rule
   converges to 6e-8 over this regime (float64 reference for γ ∈ [1.5, 50.5]; 32 points give
   3e-9, 20 give 3e-7).

Integer γ ≤ 6 (float32) skips all three: `maki_combination` evaluates it as one polynomial in q
per regime (the tail series for q ≤ q_s, the exact head ``-log p - Σ_{j≤γ} q^j/j`` beyond).
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
import math
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma

from gradeng.runtime._coefficient import is_concrete_number

# Truncations per working precision: (series terms, binomial terms, Gauss–Laguerre nodes).
# float32: < 6e-8 truncation error; float64: ~1e-13 (Gauss–Laguerre saturates there).
_TRUNCATION = {4: (26, 14, 24), 8: (56, 24, 96)}


def _truncation(dtype):
  return _truncation_for_itemsize(jnp.dtype(dtype).itemsize)


@functools.lru_cache(maxsize=None)
def _truncation_for_itemsize(itemsize):
  # Cached: the Gauss–Laguerre rule is an eigenvalue problem, and eager calls of the catalog
  # losses reach this on every call.
  series, binomial, nodes = _TRUNCATION[itemsize]
  return series, binomial, np.polynomial.laguerre.laggauss(nodes)
_EULER_GAMMA = 0.57721566490153286061


def _split_exponent(a: float) -> tuple[float, float]:
  """a = a_hi + a_lo with a_hi of 12 significant bits (a float32 times a 12-bit float32 is exact)."""
  mantissa, exponent = math.frexp(a)
  a_hi = math.ldexp(round(mantissa * 4096.0), exponent - 12)
  return a_hi, a - a_hi


def power_from_log(log_x, a):
  """x^a = exp(a·log x), with the float32 rounding of the product a·log x compensated.

  Rounded to float32, a·log x carries an absolute error up to 2⁻²⁴|a·log x| (5e-6 where
  |a·log x| approaches 87, the end of the normal range), which exp turns into the same relative
  error of x^a: Maki's q^{γ+1} for γ = 7.3 was off by 3.1e-6, its weight q^γ by 5.6e-6 (now
  2.3e-7 and 8e-8, `tests/test_special.py`). For a Python-number a and float32 input the product is split exactly instead:
  a = a_hi + a_lo with a_hi of 12 significant bits and log x = h + l with h its 12 leading bits,
  so a_hi·h is exact, and x^a = exp(a_hi·h)·exp(a_hi·l + a_lo·log x), the second exponent below
  2⁻¹¹|a·log x| (its own rounding ~1e-9 relative) and its exp a short polynomial.

  Args:
    log_x: log x (≤ 0 in every use here; -inf gives 0).
    a: the exponent ≥ 0, a Python number (compensated) or a JAX value (plain exp(a·log x)).
      a = 0 gives 1 everywhere (0⁰ = 1; a·log x would be 0·(-inf) at x = 0).

  Returns:
    x^a in the dtype of ``log_x``, differentiable in ``log_x`` (and in a traced ``a``).

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import power_from_log
    >>> [round(float(v), 6) for v in power_from_log(jnp.log(jnp.array([0.25, 0.5])), 2.5)]
    [0.03125, 0.176777]
  """
  if not is_concrete_number(a):
    return jnp.exp(jnp.where(a == 0, 0.0, a * log_x))
  if a == 0:
    return jnp.ones_like(log_x)
  if jnp.dtype(jnp.result_type(log_x)) != jnp.float32:
    return jnp.exp(a * log_x)
  # Below -128/a, x^a underflows to 0 anyway; the floor keeps -inf (x = 0) out of h - log x.
  log_x = jnp.maximum(log_x, -128.0 / a)
  bits = jax.lax.bitcast_convert_type(jax.lax.stop_gradient(log_x), jnp.uint32)
  head = jax.lax.bitcast_convert_type(bits & np.uint32(0xFFFFF000), jnp.float32)
  a_hi, a_lo = _split_exponent(float(a))
  rest = a_hi * (log_x - head) + a_lo * log_x  # |rest| ≤ 2⁻¹¹·128: exp by its Taylor polynomial
  # (degree 5, 1e-10 truncation), not by exp, which XLA would merge into exp(a_hi·h + rest).
  correction = 1.0 + rest * (1.0 + rest / 2 * (1.0 + rest / 3 * (1.0 + rest / 4 * (1.0 + rest / 5))))
  return jnp.exp(a_hi * head) * correction


def complement_probability(log_complement):
  """x = 1 - exp(log(1 - x)) = -expm1(log(1 - x)), to float32's rounding at every x.

  The kernels get x as log x; below x = 1/2, exp(log x) carries the rounding of log x, up to
  2⁻²⁵|log x| absolute, as relative error (2.4e-7 at log x = -8, and a power x^n multiplies it
  by n: 2.4e-6 for q⁵ at log q = -11). -expm1 of the other logarithm is exact to about 1e-7
  relative whatever |log x|, as long as log(1 - x) is (as `log_sigmoid` gives it), and costs the
  same one transcendental call.

  In float32, where x ≤ 1/2 (log(1 - x) ≥ -log 2), -expm1 is summed here as its Taylor series
  u + u²(1/2! + u/3! + … + u⁸/10!), u = log(1 - x) (truncation below 1e-8 relative at
  u = -log 2; ≤ 1 ulp measured on 2·10⁵ points): XLA's float32 ``expm1`` is off by up to 4.9 ulp
  there (3.3e-7 relative), which a power x^n multiplies by n (`integer_power`; Maki γ = 8's value
  was off by 3.0e-6). Elsewhere, and in float64, it is ``-expm1``.

  Args:
    log_complement: log(1 - x) ≤ 0.

  Returns:
    x, in the dtype of the input.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from gradeng.runtime import complement_probability
    >>> q = complement_probability(jax.nn.log_sigmoid(jnp.float32(9.0)))  # q = σ(-9)
    >>> print(f"{float(q):.7e}")
    1.2339458e-04
  """
  log_complement = jnp.asarray(log_complement)
  if log_complement.dtype != jnp.float32:
    return -jnp.expm1(log_complement)
  near_zero = log_complement >= -math.log(2.0)
  u = jnp.where(near_zero, log_complement, 0.0)
  return jnp.where(near_zero, -(u + (u * u) * horner(_EXPM1_TAYLOR, u)),
                   -jnp.expm1(log_complement))


#: 1/k! for k = 10, …, 2 (highest order first): the Taylor coefficients of (expm1(u) - u)/u²
#: that `complement_probability` sums for -log 2 ≤ u ≤ 0.
_EXPM1_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(10, 1, -1))


def horner(coefficients: Sequence[float], x: jax.Array) -> jax.Array:
  """Σ_j a_j x^(n-j) for ``coefficients`` (a_0, …, a_n), highest order first, by Horner's rule:
  one multiply and one add per degree, in that order (the same program wherever it is used).

  Args:
    coefficients: Python numbers, highest order first (at least one).
    x: the argument.

  Returns:
    The polynomial at ``x``, in the dtype of ``x``.

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import horner
    >>> [float(v) for v in horner((2.0, -3.0, 1.0), jnp.array([0.0, 1.0, 2.0]))]  # 2x² - 3x + 1
    [1.0, 0.0, 3.0]
  """
  total = jnp.full_like(x, coefficients[0])
  for c in coefficients[1:]:
    total = total * x + c
  return total


#: Largest exponent `integer_power` is used for: its error grows as n·1.3e-7 (1.2e-6 at n = 9
#: over logits ±40, where exp(9·log q) reached 3.4e-6); for larger n the powers that stay in
#: float32's range come from small |log x|, where `power_from_log` is the better one.
MAX_INTEGER_POWER = 9


def integer_power_applies(a, dtype) -> bool:
  """Whether x^a is taken by `integer_power`: a is a whole Python number from 1 to
  `MAX_INTEGER_POWER` and the arithmetic is float32 (wider floats keep exp(a·log x), whose
  rounding is far below their target).

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import integer_power_applies
    >>> integer_power_applies(5.0, jnp.float32), integer_power_applies(2.5, jnp.float32)
    (True, False)
  """
  return (is_concrete_number(a) and float(a).is_integer() and 1 <= a <= MAX_INTEGER_POWER
          and jnp.dtype(dtype) == jnp.float32)


def integer_power(log_complement, n: int):
  """x^n for a Python int 1 ≤ n ≤ `MAX_INTEGER_POWER`: `complement_probability`'s x multiplied
  out (`jax.lax.integer_pow`), relative error about n·1.3e-7 at every x, where exp(n·log x) has up
  to n·2⁻²⁵|log x| more (3.4e-6 for n = 9 over logits ±40).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from gradeng.runtime import integer_power
    >>> q5 = integer_power(jax.nn.log_sigmoid(jnp.float32(11.0)), 5)  # σ(-11)^5
    >>> print(f"{float(q5):.6e}")
    1.299473e-24
  """
  return jax.lax.integer_pow(complement_probability(log_complement), n)


def _sum_terms(step: Callable, init, terms: int, exponent, dtype):
  """``carry = step(n, carry)`` for n = 0, …, terms - 1, from ``init``: written out term by term
  (n a Python int) or, for a traced exponent in float64, as one loop body (n of ``dtype``; the
  same operations in the same order). Written out runs fastest (float32, traced γ, forward and
  backward on 10⁶ logits: 135-144 ms against 189 ms as a loop, compile time alike), but a traced
  exponent in float64 (56 and 24 terms) compiles slowly once differentiated twice: a Hessian in
  logits and γ took 6.9 s to compile written out, 1.3 s as loops."""
  if is_concrete_number(exponent) or jnp.dtype(dtype).itemsize < 8:
    carry = init
    for n in range(terms):
      carry = step(n, carry)
    return carry
  return jax.lax.fori_loop(0, terms, lambda n, carry: step(n.astype(dtype), carry), init)


def _tail_series(log_q, a):
  """Regime 1: q^a Σ_k q^k / (a + k), Horner from the smallest term."""
  q = jnp.exp(log_q)
  terms = _truncation(q.dtype)[0]
  acc = _sum_terms(lambda n, acc: acc * q + 1.0 / (a + (terms - 1 - n)),
                   jnp.zeros(jnp.broadcast_shapes(q.shape, jnp.shape(a)), q.dtype), terms, a,
                   q.dtype)
  return power_from_log(log_q, a) * acc


def _digamma(x: float) -> float:
  """ψ(x) for real x > 0 in float64 (≈ 1e-15 relative): the recurrence ψ(x) = ψ(x + 1) - 1/x
  up to x ≥ 10, then the asymptotic series log x - 1/(2x) - Σ B_2k / (2k x^{2k})."""
  shift = 0.0
  while x < 10.0:
    shift -= 1.0 / x
    x += 1.0
  inv2 = 1.0 / (x * x)
  # B_2k / 2k for k = 1..7: 1/12, -1/120, 1/252, -1/240, 1/132, -691/32760, 1/12
  series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (
      1 / 240 - inv2 * (1 / 132 - inv2 * (691 / 32760 - inv2 / 12))))))
  return shift + math.log(x) - 0.5 / x - series


def _harmonic(gamma):
  """H_γ = ψ(γ + 1) + γ_E, exact rational sum for small integer γ given as Python numbers."""
  if is_concrete_number(gamma):
    if float(gamma).is_integer() and gamma <= 1000:
      return math.fsum(1.0 / j for j in range(1, int(gamma) + 1))
    return _digamma(float(gamma) + 1.0) + _EULER_GAMMA
  return digamma(gamma + 1.0) + _EULER_GAMMA


def _small_p_expansion(log_p, gamma):
  """Regime 2: -log p - H_γ - Σ_{n≥1} C(γ, n) (-p)^n / n.

  The terms t_n = C(γ, n)(-p)^n come from one recurrence, t_n = t_{n-1}·(n - 1 - γ)p/n, so that
  neither C(γ, n) (~γⁿ/n!, past float32's range for γ ≳ 10⁴) nor pⁿ is formed alone. For a
  Python-number γ, H_γ is split into two float32 parts: -log p and H_γ nearly cancel where
  A·p ≈ 1 for large γ (log A ≈ 14 against L ≈ 0.2 for γ = 10⁶), and the difference of
  -log p and the leading part is then exact (Sterbenz).
  """
  p = jnp.exp(log_p)

  def step(n, carry):  # term n + 1 of the recurrence, and the sum so far
    term, total = carry
    term = term * ((n - gamma) / (n + 1)) * p
    return term, total + term / (n + 1)

  shape = jnp.broadcast_shapes(p.shape, jnp.shape(gamma))
  _, total = _sum_terms(step, (jnp.ones(shape, p.dtype), jnp.zeros(shape, p.dtype)),
                        _truncation(p.dtype)[1], gamma, p.dtype)
  harmonic = _harmonic(gamma)
  if is_concrete_number(gamma):
    leading = float(np.asarray(harmonic, p.dtype))
    return (-log_p - leading) - (harmonic - leading) - total
  return -log_p - harmonic - total


def _laguerre_integral(log_q, a):
  """Regime 3: q^a / a · Σ_i w_i / (1 - q e^{-v_i/a})."""
  nodes, weights = _truncation(log_q.dtype)[2]
  if is_concrete_number(a):  # v_i/a are constants: one fused elementwise sum, fastest to run
    total = jnp.zeros_like(log_q)
    for node, weight in zip(nodes, weights):
      total = total + weight / -jnp.expm1(log_q - node / a)
  else:  # a traced a: one reduction over the nodes, a program 2-3× faster to compile (its
    # gradient in a included; float64's 96 nodes unrolled took 11 s), no slower to run
    nodes, weights = (jnp.asarray(c, log_q.dtype) for c in (nodes, weights))
    total = jnp.sum(weights / -jnp.expm1(log_q[..., None] - nodes / jnp.asarray(a)[..., None]),
                    axis=-1)
  return power_from_log(log_q, a) / a * total


# ---------------------------------------------------------------------------------------------
# Integer exponents: Σ_k c_k L_k(p) as one polynomial in q (tail) or -S log p - polynomial (head).

#: Largest cancellation factor (sum of the magnitudes of the terms / |result|) accepted in
#: either form at the chosen switch point; float32 error is then ≲ this × 6e-8 ≈ 2e-6.
_MAX_AMPLIFICATION = 32.0
#: Truncation error of the tail series relative to its first term, and its longest accepted
#: length (beyond it the middle of (0, 1) goes to `maki_tail`'s real-γ regimes instead).
_SERIES_TOLERANCE = {4: 2e-8, 8: 1e-16}
_MAX_SERIES_TERMS = {4: 96, 8: 640}
_SWITCH_GRID = np.round(np.arange(0.5, 0.951, 0.05), 2)
#: Highest degree n planned at all: beyond it the head form -S log p - Σ_{j≤n} h_j q^j cancels by
#: far more than `_MAX_AMPLIFICATION` (float32 refuses from n = 7 on for a lone tail), and the
#: plan's own cost grows with n (γ = 10⁵ took minutes). Callers then use `maki_tail`'s regimes,
#: whose cost does not depend on γ.
_MAX_PLANNED_DEGREE = 64


@dataclasses.dataclass(frozen=True)
class _IntegerPlan:
  """How to evaluate Σ_k c_k L_k(p) for integer k ≥ 0 (see `maki_combination`).

  ``tail`` are b_1..b_N of the series Σ_j b_j q^j (exact for S = 0, truncated otherwise);
  ``head`` are h_1..h_n of ``-S log p - Σ_j h_j q^j``; ``log_q_switch`` the boundary
  (tail where log q ≤ it), None when the tail polynomial is exact everywhere (S = 0).
  """

  total: float
  tail: tuple[float, ...]
  head: tuple[float, ...]
  log_q_switch: float | None


def _cancellation_tables(c, total):
  """Per-index coefficients: b_j = C_j / j (tail, C_j = Σ_{k<j} c_k), h_j = T_j / j (head)."""
  n = len(c) - 1
  before = np.cumsum([0.0] + list(c[:-1]))  # C_j = Σ_{k<j} c_k for j = 0..n
  tail = [float(before[j]) / j for j in range(1, n + 1)]
  head = [float(total - before[j]) / j for j in range(1, n + 1)]
  return tail, head


@functools.lru_cache(maxsize=256)
def _integer_plan(coefficients: tuple[tuple[int, float], ...], itemsize: int) -> _IntegerPlan | None:
  """Choose the switch point between the q-series and the head form, or None if none is good.

  The choice is made in float64 NumPy from the magnitudes of the terms each form adds up: the
  tail is used for q ≤ q_s, the head for q > q_s, with q_s the smallest grid point where the head
  cancels by at most `_MAX_AMPLIFICATION` (checked for every larger q, down to p = 1e-30) and the
  series needs at most `_MAX_SERIES_TERMS` terms.
  """
  n = max(k for k, _ in coefficients)
  c = [0.0] * (n + 1)
  for k, value in coefficients:
    c[k] += float(value)
  total = math.fsum(c)
  tail, head = _cancellation_tables(c, total)
  if total == 0.0:
    return _IntegerPlan(0.0, tuple(tail), tuple(head), None)
  tolerance, max_terms = _SERIES_TOLERANCE[itemsize], _MAX_SERIES_TERMS[itemsize]

  def exact(p):  # the head form at 60 digits: exact algebra, its cancellation absorbed
    with decimal.localcontext(decimal.Context(prec=60)):
      p = decimal.Decimal(p)
      q, power, polynomial = 1 - p, decimal.Decimal(1), decimal.Decimal(0)
      for h in head:
        power *= q
        polynomial += decimal.Decimal(h) * power
      return abs(float(-decimal.Decimal(total) * p.ln() - polynomial))

  def head_amplification(p):
    q = 1.0 - p
    magnitude = abs(total * math.log(p)) + sum(abs(h) * q ** (j + 1) for j, h in enumerate(head))
    return magnitude / exact(p)

  def tail_amplification(p):
    q = 1.0 - p
    j = np.arange(n + 1, 4000)
    magnitude = sum(abs(b) * q ** (i + 1) for i, b in enumerate(tail)) + abs(total) * np.sum(q ** j / j)
    return magnitude / exact(p)

  far = np.logspace(-1.3, -30, 40)  # p from 0.05 down to 1e-30
  for q_switch in _SWITCH_GRID:
    terms = next((k for k in range(1, max_terms + 1)
                  if q_switch ** k * (n + 1) / ((n + 1 + k) * (1 - q_switch)) <= tolerance), None)
    if terms is None:
      return None
    beyond = [1.0 - q for q in _SWITCH_GRID if q >= q_switch] + list(far)
    below = [1.0 - q for q in _SWITCH_GRID if q <= q_switch] + [0.75, 0.9, 0.999]
    if (max(head_amplification(p) for p in beyond) <= _MAX_AMPLIFICATION
        and max(tail_amplification(p) for p in below) <= _MAX_AMPLIFICATION):
      series = tuple(tail) + tuple(total / j for j in range(n + 1, n + 1 + terms))
      return _IntegerPlan(total, series, tuple(head), math.log(q_switch))
  return None


def _horner_in_q(coefficients, q):
  """Σ_{j≥1} a_j q^j from a_1..a_N, Horner from the highest power (no exp, no underflow of
  intermediate powers before the result itself underflows)."""
  acc = jnp.zeros_like(q)
  for a in reversed(coefficients):
    acc = (acc + a) * q
  return acc


def maki_combination(log_p, log_q, coefficients: Mapping[int, float], *,
                     complement: bool = False) -> jax.Array | None:
  """Σ_k c_k L_k(p) for non-negative integer k without cancellation, or None if it cannot.

  With S = Σ_k c_k, C_j = Σ_{k<j} c_k and T_j = Σ_{k≥j} c_k (k ≤ n),

  .. math::
    \\sum_k c_k L_k(p) = \\sum_{j\\ge1} \\frac{C_j}{j} q^j
      = -S \\log p - \\sum_{j=1}^{n} \\frac{T_j}{j} q^j .

  The first (tail) form is a series with positive terms beyond j = n, accurate for small q;
  the second (head) form is exact but cancels as q → 0. For S = 0 both are the same finite
  polynomial in q and it is used everywhere. Otherwise the tail serves q ≤ q_s and the head
  q > q_s, with q_s chosen at trace time (`_integer_plan`) so that neither form cancels by
  more than a factor 32; when no q_s with a series of ≤ 96 terms (float32) exists (large n,
  e.g. Maki γ ≥ 7), the result is None and callers use `maki_tail`'s real-γ regimes.
  Only multiplications and additions besides q = exp(log q): one Horner polynomial per form.

  Args:
    log_p: log p.
    log_q: log(1 - p).
    coefficients: {k: c_k}, k ≥ 0 Python ints, c_k Python numbers.
    complement: take q as -expm1(log p) (`complement_probability`) instead of exp(log q), so
      that the powers of q do not multiply the rounding of log q (the kernels built from
      formulas and the catalog's Maki and Poly-1 values do; `maki_mixture` keeps exp(log q)).

  Returns:
    Σ_k c_k L_k(p) in the (float32 or wider) dtype of the inputs, or None.
  """
  dtype = jnp.promote_types(jnp.result_type(log_p), jnp.float32)
  log_p = jnp.asarray(log_p, dtype)
  log_q = jnp.asarray(log_q, dtype)
  key = tuple(sorted((int(k), float(c)) for k, c in coefficients.items() if c != 0))
  if not key:
    return jnp.zeros_like(log_p)
  if key[-1][0] > _MAX_PLANNED_DEGREE:
    return None
  plan = _integer_plan(key, jnp.dtype(dtype).itemsize)
  if plan is None:
    return None
  q = complement_probability(log_p) if complement else jnp.exp(log_q)
  tail = _horner_in_q(plan.tail, q)
  if plan.log_q_switch is None:
    return tail
  head = -plan.total * log_p - _horner_in_q(plan.head, q)
  return jnp.where(log_q <= plan.log_q_switch, tail, head)


# ---------------------------------------------------------------------------------------------
# Static real γ: two polynomials fixed at trace time (float32).

#: Longest Chebyshev series (in q) and Taylor series (in p) a real-γ plan may use; beyond them
#: (γ ≳ 10) the three general regimes are cheaper.
_MAX_CHEBYSHEV_DEGREE = 24
_MAX_TAYLOR_TERMS = 30
#: Relative truncation error the plan's two series are built to (float32 rounding is 6e-8).
_PLAN_TOLERANCE = 3e-8


@dataclasses.dataclass(frozen=True)
class _RealPlan:
  """L_γ for one static real γ as two polynomials split at p = ``p_split`` (see `maki_tail`).

  ``chebyshev`` are the coefficients of S(q) = L/q^A on q ∈ [0, 1 - p_split] in the variable
  x = 2q/(1 - p_split) - 1; ``taylor`` are t_1..t_N of T(p) = Σ_n t_n pⁿ (t_n = C(γ,n)(-1)ⁿ/n),
  L = -log p - H_γ - T(p) for p < p_split; ``harmonic`` is H_γ as float32 leading part + rest.
  """

  a: float
  p_split: float
  chebyshev: tuple[float, ...]
  taylor: tuple[float, ...]
  harmonic: tuple[float, float]


def _tail_ratio(q: np.ndarray, a: float) -> np.ndarray:
  """S(q) = Σ_k q^k/(a + k) in float64, summed until the terms are below 1e-18."""
  terms = int(np.ceil(42.0 / -np.log(np.max(q)))) + 8
  k = np.arange(terms)
  return np.sum(q[:, None] ** k / (a + k), axis=1)


#: Largest γ a real-γ plan is tried for: its float64 reference sums ~42(γ+1) terms on 2001 points
#: (γ = 10⁵ would need 62 GiB), and plans stop fitting within their lengths near γ ≈ 10 anyway.
_MAX_PLAN_GAMMA = 32.0


@functools.lru_cache(maxsize=256)
def _real_plan(gamma: float) -> _RealPlan | None:
  """Fit the two series for float32 at trace time (NumPy, float64), or None when either would
  be longer than `_MAX_CHEBYSHEV_DEGREE` / `_MAX_TAYLOR_TERMS` (then `maki_tail`'s general regimes).

  The split is p_s = min(1/A, 1/2): below it the Taylor series in p converges like (γp)ⁿ/n!
  (or like 2⁻ⁿ for A ≤ 2) and -log p dominates L without cancelling it much; above it S(q) is
  analytic on [0, 1 - p_s] with its nearest singularity at q = 1, a distance ≥ p_s away, so a
  Chebyshev series of modest degree reaches `_PLAN_TOLERANCE` (degree 13 for γ = 2.5, 22 for
  γ = 7.3, measured on 2001 points against the float64 series).
  """
  if gamma > _MAX_PLAN_GAMMA:
    return None
  a = gamma + 1.0
  p_split = min(1.0 / a, 0.5)
  q_top = 1.0 - p_split
  grid = np.linspace(0.0, q_top, 2001)
  reference = _tail_ratio(grid, a)
  chebyshev = None
  for degree in range(4, _MAX_CHEBYSHEV_DEGREE + 1):
    fit = np.polynomial.Chebyshev.interpolate(lambda q: _tail_ratio(np.asarray(q), a), degree,
                                              domain=[0.0, q_top])
    if np.max(np.abs(fit(grid) / reference - 1.0)) <= _PLAN_TOLERANCE:
      chebyshev = tuple(float(c) for c in fit.coef)
      break
  if chebyshev is None:
    return None
  # Taylor coefficients t_n = C(γ, n)(-1)^n / n and the truncation bound at p = p_s.
  harmonic = _harmonic(gamma)
  p_grid = np.linspace(p_split / 64, p_split, 64)
  coefficients, c = [], 1.0
  for n in range(1, 200):
    c *= (n - 1 - gamma) / n
    coefficients.append(c / n)
  coefficients = np.asarray(coefficients)
  powers = p_grid[:, None] ** np.arange(1, 200)
  exact = -np.log(p_grid) - harmonic - powers @ coefficients
  taylor = None
  for terms in range(1, _MAX_TAYLOR_TERMS + 1):
    tail = np.abs(powers[:, terms:] @ coefficients[terms:])
    if np.all(tail <= _PLAN_TOLERANCE * np.abs(exact)):
      taylor = tuple(float(t) for t in coefficients[:terms])
      break
  if taylor is None:
    return None
  leading = float(np.float32(harmonic))
  return _RealPlan(a, p_split, chebyshev, taylor, (leading, harmonic - leading))


def _planned_tail(log_p, log_q, plan: _RealPlan, complement: bool = False):
  """L_γ by a `_RealPlan`: q^A·S(q) by Clenshaw's recurrence above p_s, -log p - H_γ - T(p) by
  Horner below (each on a harmless point of its own regime elsewhere); ``complement``: q and an
  integer q^A from log p (`complement_probability`, `integer_power`)."""
  near = log_p >= math.log(plan.p_split)
  q = (jnp.where(near, complement_probability(log_p), 0.5 * (1.0 - plan.p_split)) if complement
       else jnp.exp(jnp.where(near, log_q, math.log(0.5 * (1.0 - plan.p_split)))))
  x = q * (2.0 / (1.0 - plan.p_split)) - 1.0
  b1 = b2 = jnp.zeros_like(q)
  for c in reversed(plan.chebyshev[1:]):
    b1, b2 = 2.0 * x * b1 - b2 + c, b1
  ratio = plan.chebyshev[0] + x * b1 - b2
  whole = complement and integer_power_applies(plan.a, q.dtype)
  upper = (integer_power(log_p, int(plan.a)) if whole
           else power_from_log(log_q, plan.a)) * ratio
  safe_log_p = jnp.where(near, math.log(0.5 * plan.p_split), log_p)
  p = jnp.exp(safe_log_p)
  series = jnp.zeros_like(p)
  for t in reversed(plan.taylor):
    series = (series + t) * p
  leading, rest = plan.harmonic
  lower = (-safe_log_p - leading) - rest - series
  return jnp.where(near, upper, lower)


def maki_tail(log_p, log_q, gamma, *, complement: bool = False):
  """L_γ(p) = ∫_p^1 (1-t)^γ / t dt for real γ ≥ 0, accurate in float32 over all of (0, 1).

  Args:
    log_p: log p, e.g. ``log_sigmoid(z)``.
    log_q: log(1 - p), e.g. ``log_sigmoid(-z)``; passed separately so that 1 - p never cancels.
    gamma: γ ≥ 0, a Python number (regimes chosen at trace time) or a JAX scalar/array.
    complement: q (and integer powers of it) from log p where p ≥ 1/2, as in
      `maki_combination` (its two static regimes only).

  Returns:
    L_γ(p), same shape as the broadcast inputs. γ = 0 gives -log p (cross-entropy).
  """
  dtype = jnp.result_type(log_p)
  compute = jnp.promote_types(dtype, jnp.float32)  # bf16/f16 inputs are evaluated in f32
  log_p = jnp.asarray(log_p, compute)
  log_q = jnp.asarray(log_q, compute)
  a = gamma + 1.0
  near_one = log_q <= -math.log(2.0)
  # Each regime is evaluated on a safe dummy input where it is not selected, so that no
  # inf/nan is produced in an unused branch (it would leak into gradients through `where`).
  if is_concrete_number(gamma) and gamma == 0:
    return (-log_p).astype(dtype)
  if is_concrete_number(gamma) and float(gamma).is_integer():
    fast = maki_combination(log_p, log_q, {int(gamma): 1.0}, complement=complement)
    if fast is not None:  # γ ≤ 6 in float32: two polynomial regimes, no transcendental calls
      return fast.astype(dtype)
  if is_concrete_number(gamma) and jnp.dtype(compute).itemsize == 4:
    plan = _real_plan(float(gamma))
    if plan is not None:  # γ ≲ 10 in float32: two fitted polynomials, one exp and one log
      return _planned_tail(log_p, log_q, plan, complement).astype(dtype)
  series = _tail_series(jnp.where(near_one, log_q, -1.0), a)
  small_p = jnp.exp(log_p) * a <= 1.0
  safe_log_p = jnp.where(near_one, math.log(0.25), log_p)
  if is_concrete_number(gamma) and gamma + 1 <= 2.0:
    # A·p ≤ 2 whenever q > 1/2, and regime 2 stays well conditioned there for γ ≤ 1.
    expansion = _small_p_expansion(safe_log_p, gamma)
    return jnp.where(near_one, series, expansion).astype(dtype)
  # Unselected points get p = 1/(2A): the expansion's terms stay bounded there for any γ.
  expansion = _small_p_expansion(jnp.where(small_p, safe_log_p, -jnp.log(2.0 * a)), gamma)
  safe_log_q_laguerre = jnp.where(near_one | small_p, -math.log(1.5), log_q)
  laguerre = _laguerre_integral(safe_log_q_laguerre, a)
  return jnp.where(near_one, series, jnp.where(small_p, expansion, laguerre)).astype(dtype)
