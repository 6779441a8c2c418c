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
   (from t = e^{-v/A} in ∫_0^1 t^{A-1}/(1-qt) dt) by 32-point Gauss–Laguerre; the integrand's
   pole sits at distance A·|log q| > 1 from the real axis' origin, so the rule converges to
   ~1e-9 (measured against mpmath; see tests).
"""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma

from gradeng.core._coefficient import is_concrete_number

# Truncations per working precision: (series terms, binomial terms, Gauss–Laguerre nodes).
# float32: < 3e-8 truncation error; float64: ~1e-13 (Gauss–Laguerre saturates there).
_TRUNCATION = {4: (26, 14, 32), 8: (56, 24, 96)}


def _truncation(dtype):
  return _truncation_for_itemsize(jnp.dtype(dtype).itemsize)


@functools.lru_cache(maxsize=None)
def _truncation_for_itemsize(itemsize):
  # Cached: the Gauss–Laguerre rule is an eigenvalue problem, and eager calls of the catalog
  # losses reach this on every call.
  series, binomial, nodes = _TRUNCATION[itemsize]
  return series, binomial, np.polynomial.laguerre.laggauss(nodes)
_EULER_GAMMA = 0.57721566490153286061


def _tail_series(log_q, a):
  """Regime 1: q^a Σ_k q^k / (a + k), Horner from the smallest term."""
  q = jnp.exp(log_q)
  acc = jnp.zeros_like(q)
  for k in reversed(range(_truncation(q.dtype)[0])):
    acc = acc * q + 1.0 / (a + k)
  return jnp.exp(a * log_q) * acc


def _harmonic(gamma):
  """H_γ = ψ(γ + 1) + γ_E, exact rational sum for small integer γ given as Python numbers."""
  if is_concrete_number(gamma):
    if float(gamma).is_integer() and gamma <= 1000:
      return math.fsum(1.0 / j for j in range(1, int(gamma) + 1))
    import mpmath  # a SymPy dependency; only for concrete non-integer γ

    return float(mpmath.digamma(float(gamma) + 1) + mpmath.euler)
  return digamma(gamma + 1.0) + _EULER_GAMMA


def _small_p_expansion(log_p, gamma):
  """Regime 2: -log p - H_γ - Σ_{n≥1} C(γ, n) (-p)^n / n."""
  p = jnp.exp(log_p)
  coef = jnp.ones_like(p)  # C(γ, n)(-1)^n, by the recurrence c_n = c_{n-1} (n - 1 - γ) / n
  power = jnp.ones_like(p)
  total = jnp.zeros_like(p)
  for n in range(1, _truncation(p.dtype)[1] + 1):
    coef = coef * (n - 1 - gamma) / n
    power = power * p
    total = total + coef * power / n
  return -log_p - _harmonic(gamma) - total


def _laguerre_integral(log_q, a):
  """Regime 3: q^a / a · Σ_i w_i / (1 - q e^{-v_i/a})."""
  total = jnp.zeros_like(log_q)
  for node, weight in zip(*_truncation(log_q.dtype)[2]):
    total = total + weight / -jnp.expm1(log_q - node / a)
  return jnp.exp(a * log_q) / a * total


def maki_tail(log_p, log_q, gamma):
  """L_γ(p) = ∫_p^1 (1-t)^γ / t dt for real γ ≥ 0, accurate in float32 over all of (0, 1).

  Args:
    log_p: log p, e.g. ``log_sigmoid(z)``.
    log_q: log(1 - p), e.g. ``log_sigmoid(-z)``; passed separately so that 1 - p never cancels.
    gamma: γ ≥ 0, a Python number (regimes chosen at trace time) or a JAX scalar/array.

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
  series = _tail_series(jnp.where(near_one, log_q, -1.0), a)
  small_p = jnp.exp(log_p) * a <= 1.0
  safe_log_p = jnp.where(near_one, math.log(0.25), log_p)
  expansion = _small_p_expansion(jnp.where(small_p, safe_log_p, math.log(0.25)), gamma)
  if is_concrete_number(gamma) and gamma + 1 <= 2.0:
    # A·p ≤ 2 whenever q > 1/2, and regime 2 stays well conditioned there for γ ≤ 1.
    expansion = _small_p_expansion(safe_log_p, gamma)
    return jnp.where(near_one, series, expansion).astype(dtype)
  safe_log_q_laguerre = jnp.where(near_one | small_p, -math.log(1.5), log_q)
  laguerre = _laguerre_integral(safe_log_q_laguerre, a)
  return jnp.where(near_one, series, jnp.where(small_p, expansion, laguerre)).astype(dtype)
