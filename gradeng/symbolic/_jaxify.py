"""SymPy expressions in p → JAX functions of (log p, log(1 - p)).

One lookup table (`gradeng.symbolic._functions`) maps SymPy nodes to JAX functions. The probability never appears as a bare
float when a log-space form exists: ``log(p)`` becomes ``log_p``, ``log(1 - p)`` becomes
``log_q``, ``p**a`` becomes ``exp(a·log_p)`` and ``(1 - p)**a`` becomes ``exp(a·log_q)``.
That removes the overflow/underflow of p and 1 - p at extreme logits.

A logarithm of a rational function a(p) is the one place where cancellation *inside* a term is
removed here (Herbie's log1p rewrite). Writing a(1 - q) = q^k·c·(1 + r(q)), with c ≠ 0 the
lowest-order coefficient, for p ≥ 1/2

.. math::
  \\log a(p) = k \\log q + \\log c + \\operatorname{log1p}(r(q)),

where r is a fraction whose numerator vanishes at q = 0, evaluated from q = exp(log_q):
log(2 - p) = log1p(q) (the literal 2 - p is 1 in float32 once q < 6e-8), log(1 - p²) =
log q + log 2 + log1p(-q/2). Likewise around p = 0 in p = exp(log_p), for p < 1/2. Any other
log(1 + f) is log1p(f) (f = p⁷ + sin³p).
Cancellation *between* terms is not removed: generated closed forms are checked against
high-precision references before use (`gradeng.symbolic._stabilize`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import sympy as sp

from gradeng.runtime import InputError
from gradeng.symbolic._variable import P
from gradeng.symbolic._functions import expi_near_zero, jax_function


class NotJaxifiable(InputError):
  """The expression uses a function with no JAX counterpart (e.g. lerchphi)."""


_ONE_MINUS_P = 1 - P
#: q = 1 - p inside rewritten expressions: compiled as exp(log_q), log(q) as log_q.
_Q = sp.Dummy("q", positive=True)
_LOG_HALF = math.log(0.5)


def _log1p_argument(arg: sp.Expr, at: int,
                    x: sp.Symbol) -> tuple[sp.Expr, sp.Expr, sp.Expr] | None:
  """(k, c, r(x)) with arg = x^k·c·(1 + r(x)), r a fraction whose numerator is a polynomial in
  ``x`` that vanishes at x = 0 (so log1p(r) has no cancellation as x → 0); ``x`` is q around
  p = 1 (``at`` = 1) and p around p = 0 (``at`` = 0). None when arg is not rational in p, or
  its leading coefficients are not provably non-zero."""
  try:
    moved = arg.subs(P, 1 - x) if at == 1 else arg.subs(P, x)
    numerator, denominator = sp.fraction(sp.cancel(sp.together(moved)))
    if not (numerator.is_polynomial(x) and denominator.is_polynomial(x)):
      return None
    lowest = []
    for part in (numerator, denominator):
      poly = sp.Poly(part, x)
      k = min(m[0] for m in poly.monoms())
      lead = poly.coeff_monomial(x**k)
      if sp.simplify(lead).is_zero is not False:
        return None
      lowest.append((k, sp.expand(part / x**k), lead))
    (k_num, num, c_num), (k_den, den, c_den) = lowest
    c = c_num / c_den
    if c.is_negative:  # a negative argument near the end: log is NaN there in any form
      return None
    r = sp.cancel((num * c_den - den * c_num) / (den * c_num))
    if r == 0:
      r = sp.Integer(0)
  except (TypeError, ValueError, NotImplementedError, sp.PolynomialError, ZeroDivisionError):
    return None
  return sp.Integer(k_num - k_den), c, r


def _within_unit_interval(arg: sp.Expr) -> bool:
  """Whether ``arg``, linear in p with numeric coefficients, stays in [-1, 1] without crossing
  0 for p ∈ (0, 1) (then Ei(arg) needs only its series; e.g. Ei(-p) of ∫ e^{-p}/p)."""
  if arg.free_symbols != {P}:
    return False
  poly = sp.Poly(arg, P) if arg.is_polynomial(P) else None
  if poly is None or poly.degree() != 1:
    return False
  ends = [arg.subs(P, v) for v in (0, 1)]
  return all(e.is_number and -1 <= e <= 1 for e in ends) and bool(ends[0] * ends[1] >= 0)


def log_space_function(expr: sp.Expr, params: Sequence[str] = ()) -> Callable[..., jax.Array]:
  """Compile ``expr`` (in p and ``params``) into ``f(log_p, log_q, **params)``.

  Raises:
    NotJaxifiable: for a node outside the table (special functions such as lerchphi or hyper).
  """
  param_names = set(params)

  def build(node: sp.Expr) -> Callable:
    if node == P:
      return lambda lp, lq, kw: jnp.exp(lp)
    if node == _ONE_MINUS_P:
      return lambda lp, lq, kw: jnp.exp(lq)
    if node == _Q:
      return lambda lp, lq, kw: jnp.exp(lq)
    if node.is_Symbol:
      if node.name not in param_names:
        raise NotJaxifiable(f"free symbol `{node.name}` is not a parameter ({sorted(param_names)}).")
      name = node.name
      return lambda lp, lq, kw: kw[name]
    if node.is_Number or node in (sp.pi, sp.E, sp.EulerGamma):
      if not node.is_real:
        raise NotJaxifiable(f"complex constant `{node}`.")
      value = float(node)
      return lambda lp, lq, kw: value
    if isinstance(node, sp.log) and len(node.args) == 1:
      (arg,) = node.args
      if arg == P:
        return lambda lp, lq, kw: lp
      if arg in (_ONE_MINUS_P, _Q):
        return lambda lp, lq, kw: lq
      stable = log_of_rational(arg) if arg.has(P) else None
      return stable if stable is not None else plain_log(arg)
    if node.is_Pow:
      base, exponent = node.args
      exp_fn = build(exponent)
      if base in (P, _ONE_MINUS_P, _Q):
        pick = 0 if base == P else 1
        return lambda lp, lq, kw: jnp.exp(exp_fn(lp, lq, kw) * (lp, lq)[pick])
      base_fn = build(base)
      if exponent.is_Integer:
        k = int(exponent)
        return lambda lp, lq, kw: base_fn(lp, lq, kw) ** k
      return lambda lp, lq, kw: jnp.power(base_fn(lp, lq, kw), exp_fn(lp, lq, kw))
    if node.is_Add:
      # a + b·p with a = -b is -b·(1 - p): evaluate it as -b·exp(log_q), never as a difference.
      constant, rest = node.as_independent(P, as_Add=True)
      slope = sp.simplify(rest / P) if rest.has(P) else None
      if slope is not None and not slope.has(P) and sp.simplify(constant + slope) == 0:
        slope_fn = build(slope)
        return lambda lp, lq, kw: -slope_fn(lp, lq, kw) * jnp.exp(lq)
    if node.is_Add or node.is_Mul:
      parts = [build(a) for a in node.args]
      if node.is_Add:
        return lambda lp, lq, kw: sum(f(lp, lq, kw) for f in parts)
      def product(lp, lq, kw):
        out = parts[0](lp, lq, kw)
        for f in parts[1:]:
          out = out * f(lp, lq, kw)
        return out
      return product
    if isinstance(node, sp.Ei) and _within_unit_interval(node.args[0]):
      arg_fn = build(node.args[0])  # Ei's series alone, not all of its regimes
      return lambda lp, lq, kw: expi_near_zero(arg_fn(lp, lq, kw))
    fn = jax_function(type(node))
    if fn is None:
      raise NotJaxifiable(f"no JAX translation for `{type(node).__name__}` in `{node}`.")
    arg_fns = [build(a) for a in node.args]
    return lambda lp, lq, kw: fn(*(f(lp, lq, kw) for f in arg_fns))

  def plain_log(arg: sp.Expr) -> Callable:
    """log(1 + f) as log1p(f) (f of p or of parameters, e.g. p**7 + sin(p)**3), else log."""
    constant, rest = arg.as_coeff_Add()
    if arg.is_Add and constant == 1:
      rest_fn = build(rest)
      return lambda lp, lq, kw: jnp.log1p(rest_fn(lp, lq, kw))
    arg_fn = build(arg)
    return lambda lp, lq, kw: jnp.log(arg_fn(lp, lq, kw))

  def log_of_rational(arg: sp.Expr) -> Callable | None:
    """log(arg) through log1p around p = 1 (in q) and p = 0 (in p), per regime."""
    near = _log1p_argument(arg, 1, _Q)
    far = _log1p_argument(arg, 0, P)
    if near is None and far is None:
      return None
    def program(form, pick):
      if form is None:
        return plain_log(arg)
      k, log_c_fn, r_fn = float(form[0]), build(sp.log(form[1])), build(form[2])
      if k == 0:
        return lambda lp, lq, kw: log_c_fn(lp, lq, kw) + jnp.log1p(r_fn(lp, lq, kw))
      return lambda lp, lq, kw: (k * (lp, lq)[pick] + log_c_fn(lp, lq, kw)
                                 + jnp.log1p(r_fn(lp, lq, kw)))

    near_fn, far_fn = program(near, 1), program(far, 0)

    def value(lp, lq, kw):
      is_near = lp >= _LOG_HALF
      # Each program sees a point of its own regime elsewhere (no inf/nan to select, nor in
      # the derivative).
      half = jnp.asarray(_LOG_HALF, jnp.result_type(lp))
      near_value = near_fn(jnp.where(is_near, lp, half), jnp.where(is_near, lq, half), kw)
      far_value = far_fn(jnp.where(is_near, half, lp), jnp.where(is_near, half, lq), kw)
      return jnp.where(is_near, near_value, far_value)

    return value

  compiled = build(expr)

  def fn(log_p, log_q, **kw):
    return compiled(log_p, log_q, kw) + jnp.zeros_like(log_p)

  return fn
