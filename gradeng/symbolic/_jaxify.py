"""SymPy expressions in p → JAX functions of (log p, log(1 - p)).

One lookup table (`gradeng.symbolic._functions`) maps SymPy nodes to JAX functions. The probability never appears as a bare
float when a log-space form exists: ``log(p)`` becomes ``log_p``, ``log(1 - p)`` becomes
``log_q``, ``p**a`` becomes ``exp(a·log_p)`` and ``(1 - p)**a`` becomes ``exp(a·log_q)`` (for a
number a with the float32 rounding of a·log x compensated, `power_from_log`). That removes the
overflow/underflow of p and 1 - p at extreme logits. A trigonometric function of a linear
argument that is a multiple of π/2 at p = 1 is evaluated in q = 1 - p for p ≥ 1/2
(sin(πp) = sin(πq): float32 p is 1 once q < 6e-8). XLA:CPU calls float32 sin, cos, arctan and
pow element by element, at 10-35× the cost of exp: sin, cos, tan (and cot, sec, csc) whose
argument interval arithmetic bounds over p ∈ [0, 1], and every arctan, arcsin and arccos, are the
runtime's vectorised polynomials (`gradeng.runtime.polynomial_sin`), and b^(n/2) for n = ±1, ±3
takes one square root.

A logarithm of a rational function a(p) is the one place where cancellation *inside* a term is
removed here (Herbie's log1p rewrite). Writing a(1 - q) = q^k·c·(1 + r(q)), with c ≠ 0 the
lowest-order coefficient, for p ≥ 1/2

.. math::
  \\log a(p) = k \\log q + \\log c + \\operatorname{log1p}(r(q)),

where r is a fraction whose numerator vanishes at q = 0, evaluated from q = exp(log_q):
log(2 - p) = log1p(q) (the literal 2 - p is 1 in float32 once q < 6e-8), log(1 - p²) =
log q + log 2 + log1p(-q/2). Likewise around p = 0 in p = exp(log_p), for p < 1/2. Any other
log(1 + f) is log1p(f) (f = p⁷ + sin³p).

Cancellation *between* terms of a sum is removed by one rule (`anchored_sum`): a sum
S = Σ_i t_i(p) whose terms have finite values t_i(e) at an end e ∈ {0, 1} of (0, 1) and nearly
cancel there (|Σ t_i(e)| ≤ ½ Σ |t_i(e)|) is compiled as

.. math::
  S = \\sum_i t_i(e) + \\sum_i Δ_e t_i, \\qquad Δ_e t = t(p) - t(e),

with every Δ_e t built from the increments of its parts, never as a difference:
Δ p^a = expm1(a·log p) at e = 1 (and (1 - p)^b likewise from log q at e = 0);
Δ e^x = e^{x(e)}·expm1(Δx); Δ log x = log1p(Δx / x(e)); Δ x^n = x(e)^n·expm1(n·log1p(Δx/x(e)))
(a geometric sum Δx·Σ_k x^k x(e)^{n-1-k} for small integer n, whatever the sign of x);
Δ sin x = 2 cos(x(e) + Δx/2)·sin(Δx/2), Δ cos x = -2 sin(x(e) + Δx/2)·sin(Δx/2);
Δ(f·h) = f(e)·Δh + Δf·h; a term that is 0 at e is its own increment. So 1 - p^a becomes
-expm1(a·log p), 1 - e^{x} becomes -expm1(x), p^a - p^b becomes expm1(a log p) - expm1(b log p):
every increment is small exactly where the sum is, and is computed from log p, log(1 - p) and
the increments inside it. A sum that cancels at both ends gets both forms, split at p = 1/2.
Cancellation the rule cannot see (between increments of the same order) remains: generated
closed forms are checked against high-precision references before use
(`gradeng.symbolic._stabilize`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import sympy as sp

from gradeng.runtime import (POLYNOMIAL_TRIG_BOUND, InputError, integer_power,
                             integer_power_applies, is_concrete_number, power_from_log)
from gradeng.symbolic._variable import P
from gradeng.symbolic._functions import bounded_argument_function, expi_near_zero, jax_function


class NotJaxifiable(InputError):
  """The expression uses a function with no JAX counterpart (e.g. lerchphi)."""


_ONE_MINUS_P = 1 - P
#: q = 1 - p inside rewritten expressions: compiled as exp(log_q), log(q) as log_q.
_Q = sp.Dummy("q", positive=True)
_LOG_HALF = math.log(0.5)
#: log p and log(1 - p) inside rewritten expressions (the kernel's inputs themselves).
_LP = sp.Dummy("log_p", real=True)
_LQ = sp.Dummy("log_q", real=True)
#: A sum cancels at an end when |Σ t_i(e)| is at most this fraction of Σ |t_i(e)|.
_CANCELLING = 0.5
#: Integer powers up to this are differenced by a geometric sum (sign-safe), beyond by log1p.
_GEOMETRIC_POWERS = 8


class _expm1(sp.Function):  # noqa: N801 - a SymPy node, printed as jnp.expm1
  """exp(x) - 1 as an expression-tree node (compiled to `jax.numpy.expm1`)."""

  nargs = 1


class _log1p(sp.Function):  # noqa: N801
  """log(1 + x) as an expression-tree node (compiled to `jax.numpy.log1p`)."""

  nargs = 1


_REWRITTEN = (_LP, _LQ)


def _end_value(expr: sp.Expr, end: int) -> sp.Expr | None:
  """expr at p = ``end`` as a finite real number, else None (parameters, poles, logs of 0)."""
  try:
    value = expr.subs(P, end)
    if not value.is_number:
      return None
    number = complex(value)
  except (TypeError, ValueError, ZeroDivisionError):
    return None
  if number.imag != 0 or not math.isfinite(number.real):
    return None
  return value


def _increment(expr: sp.Expr, end: int) -> sp.Expr | None:
  """Δ = expr(p) - expr(end) as an expression with no cancellation of its own, or None.

  Built from `_LP`/`_LQ` (log p, log(1 - p)), `_expm1` and `_log1p`; see the module docstring.
  """
  if not expr.has(P):
    return sp.Integer(0)
  at = _end_value(expr, end)
  if at is None:
    return None
  if at == 0:
    return expr  # vanishes at the end: its own increment (compiled by the same rules)
  if expr == P:  # p - 1 = -(1 - p) at e = 1
    return -sp.exp(_LQ)
  if expr == 1 - P:  # (1 - p) - 1 = -p at e = 0
    return -sp.exp(_LP)
  if expr.is_Add:
    parts = [_increment(a, end) for a in expr.args]
    return None if any(d is None for d in parts) else sp.Add(*parts)
  if expr.is_Mul:
    head, *rest = expr.args
    tail = sp.Mul(*rest)
    d_head, d_tail = _increment(head, end), _increment(tail, end)
    if d_head is None or d_tail is None:
      return None
    head_at = _end_value(head, end)
    return head_at * d_tail + d_head * tail
  if expr.is_Pow:
    base, exponent = expr.args
    if exponent.has(P):
      return _increment(sp.exp(exponent * sp.log(base), evaluate=False), end)
    if base == P and end == 1:
      return _expm1(exponent * _LP)
    if base == 1 - P and end == 0:
      return _expm1(exponent * _LQ)
    base_at = _end_value(base, end)
    d_base = _increment(base, end)
    if base_at is None or d_base is None or base_at == 0:
      return None
    if exponent.is_Integer and 0 < abs(int(exponent)) <= _GEOMETRIC_POWERS:
      n = abs(int(exponent))
      d_power = d_base * sp.Add(*(base**k * base_at ** (n - 1 - k) for k in range(n)))
      return d_power if exponent > 0 else -d_power / (base**n * base_at**n)
    if not base_at.is_positive:
      return None
    return base_at**exponent * _expm1(exponent * _log1p(d_base / base_at))
  if isinstance(expr, sp.exp):
    d = _increment(expr.args[0], end)
    return None if d is None else at * _expm1(d)
  if isinstance(expr, sp.log):
    (arg,) = expr.args
    arg_at = _end_value(arg, end)
    d = _increment(arg, end)
    if d is None or arg_at is None or not arg_at.is_positive:
      return None
    return _log1p(d / arg_at)
  if isinstance(expr, (sp.sin, sp.cos)):
    (arg,) = expr.args
    arg_at, d = _end_value(arg, end), _increment(arg, end)
    if d is None or arg_at is None:
      return None
    middle = arg_at + d / 2
    if isinstance(expr, sp.sin):
      return 2 * sp.cos(middle) * sp.sin(d / 2)
    return -2 * sp.sin(middle) * sp.sin(d / 2)
  return None


def anchored_sum(node: sp.Expr, end: int) -> sp.Expr | None:
  """``node`` (a sum) as Σ_i t_i(end) + Σ_i Δ t_i when its terms cancel at p = ``end``, else None."""
  if node.has(*_REWRITTEN) or node.atoms(_expm1, _log1p):
    return None
  ends = [_end_value(t, end) for t in node.args]
  if any(v is None for v in ends):
    return None
  total = sp.Add(*ends)
  scale = sum(abs(float(v)) for v in ends)
  if scale == 0 or abs(float(total)) > _CANCELLING * scale:
    return None
  increments = [_increment(t, end) for t in node.args]
  if any(d is None for d in increments):
    return None
  return total + sp.Add(*increments)


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


def _holds_at_other_end(form: tuple[sp.Expr, sp.Expr, sp.Expr]) -> bool:
  """Whether the log1p form (k, c, r(x)) of `_log1p_argument` is accurate also at x = 1 (the
  other end of p ∈ [0, 1]): r(1) finite and log c + log1p(r(1)) not cancelling (its terms' sum
  of magnitudes at most twice its magnitude), so that one form serves for every p."""
  _, c, r = form
  x = next(iter(r.free_symbols), None)
  try:
    r_end = float(r.subs(x, 1)) if x is not None else float(r)
    log_c = float(sp.log(c))
  except (TypeError, ValueError, ZeroDivisionError):
    return False
  if not math.isfinite(r_end) or r_end <= -1 or not math.isfinite(log_c):
    return False
  total = log_c + math.log1p(r_end)
  return total != 0 and abs(log_c) + abs(math.log1p(r_end)) <= 2 * abs(total)


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


_HALF_POWERS = frozenset(sp.Rational(n, 2) for n in (-3, -1, 1, 3))


def _half_power(base_fn: Callable, twice: int) -> Callable:
  """b^(n/2) for n = ±1, ±3 from one square root (float32 within 1.5 ulp)."""
  def fn(lp, lq, kw):
    base = base_fn(lp, lq, kw)
    root = jnp.sqrt(base)
    power = root if abs(twice) == 1 else base * root
    return power if twice > 0 else 1 / power

  return fn


def _argument_bound(arg: sp.Expr) -> float | None:
  """max |arg| over p ∈ [0, 1] (q = 1 - p likewise) by interval arithmetic, or None when the
  argument has other symbols (parameters, log p) or SymPy cannot bound it."""
  if not arg.free_symbols <= {P, _Q}:
    return None
  unit = sp.AccumBounds(0, 1)
  try:
    bounds = arg.evalf().subs({P: unit, _Q: unit})
    ends = (bounds.min, bounds.max) if isinstance(bounds, sp.AccumBounds) else (bounds, bounds)
    if not all(e.is_number and e.is_finite for e in ends):
      return None
    return max(abs(float(e)) for e in ends)
  except (TypeError, ValueError, AttributeError):
    return None


def _bounded_trig(node: sp.Expr) -> Callable | None:
  """The polynomial form of a trigonometric node (`bounded_argument_function`) where its argument
  provably stays within `POLYNOMIAL_TRIG_BOUND` (sin(πp), cos(3q), …): XLA:CPU calls its
  float32 sin element by element, 10× the cost of exp."""
  fn = bounded_argument_function(type(node))
  if fn is None:
    return None
  bound = _argument_bound(node.args[0])
  return None if bound is None or bound > POLYNOMIAL_TRIG_BOUND else fn


def power_of_probability(log_x: jax.Array, a: float | jax.Array,
                         log_complement: jax.Array | None = None) -> jax.Array:
  """x^a for x = p or q = 1 - p, from log x and (optionally) log(1 - x): a whole a from 1 to
  `gradeng.runtime.MAX_INTEGER_POWER` multiplies out x = -expm1(log(1 - x))
  (`gradeng.runtime.integer_power`: its error does not grow with |log x|, as exp(a·log x)'s
  does: 3.2e-6 for q⁹ at log q = -9), any other a goes through `_power`."""
  if log_complement is not None and integer_power_applies(a, jnp.result_type(log_x)):
    return integer_power(log_complement, int(a))
  return _power(log_x, a)


def _power(log_x: jax.Array, a: float | jax.Array) -> jax.Array:
  """x^a from log x for a number a: `power_from_log`'s compensated product a·log x (exp(a·log x)
  turns the float32 rounding of a·log x, up to 2⁻²⁴|a·log x|, into as much relative error: 3.8e-6
  for p^6 at log p = -14.3); a < 0 as (1/x)^|a| from log(1/x) = -log x. A power of two (p², 1/p,
  √q), whose product is exact, and a traced a (a JAX value: a differentiable parameter, or an
  exponent in p) give exp(a·log x)."""
  if not is_concrete_number(a):
    return jnp.exp(a * log_x)
  a = float(a)
  if a != 0 and abs(math.frexp(a)[0]) == 0.5:  # ±2^k: a·log x is exact in float32
    return jnp.exp(a * log_x)
  if a >= 0:
    return power_from_log(log_x, a)
  log_inverse = -log_x
  if jnp.dtype(jnp.result_type(log_x)) == jnp.float32:
    # Beyond 128/|a|, x^a overflows float32 anyway; the cap keeps x = 0 (log x = -inf) at inf
    # rather than NaN (inf - inf inside the split).
    log_inverse = jnp.minimum(log_inverse, 128.0 / -a)
  return power_from_log(log_inverse, -a)


_TRIG = (sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc)


def _trig_near_one(node: sp.Expr) -> sp.Expr | None:
  """A trigonometric function of a linear argument a·p + b that is a multiple of π/2 at p = 1
  (where the function is 0, ±1 or a pole), rewritten in q = 1 - p; else None.

  With p = 1 - q the argument is (a + b) - a·q and SymPy's own reduction by multiples of π/2 is
  exact: sin(πp) becomes sin(πq), cos(πp/2) becomes sin(πq/2), tan(πp) becomes -tan(πq).
  Evaluated at p instead, such a function loses all of its value as p → 1: float32 p rounds to 1
  once q < 6e-8 (and π to 3.1415927), and sin(π·1.0f) is -8.7e-8 whatever q. Elsewhere the
  function is far from 0 at p = 1 and p serves.
  """
  (arg,) = node.args
  if not (arg.has(P) and arg.is_polynomial(P)) or sp.Poly(arg, P).degree() != 1:
    return None
  if not (2 * arg.subs(P, 1) / sp.pi).is_integer:
    return None
  near = type(node)(sp.expand(arg.subs(P, 1 - _Q)))
  reduced = all(not f.args[0].as_independent(_Q, as_Add=True)[0]
                for f in near.atoms(*_TRIG))  # no constant left in the argument
  return near if reduced else None


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
    if node == _LP:
      return lambda lp, lq, kw: lp
    if node == _LQ:
      return lambda lp, lq, kw: lq
    if isinstance(node, (_expm1, _log1p)):
      inner = build(node.args[0])
      fn = jnp.expm1 if isinstance(node, _expm1) else jnp.log1p
      return lambda lp, lq, kw: fn(inner(lp, lq, kw))
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
        if exponent.is_number and exponent.is_real:
          a = float(exponent)
          return lambda lp, lq, kw: power_of_probability((lp, lq)[pick], a, (lq, lp)[pick])
        # a Python-number parameter (γ = 2.5) is a number here too; a traced one is not
        return lambda lp, lq, kw: _power((lp, lq)[pick], exp_fn(lp, lq, kw))
      base_fn = build(base)
      if exponent.is_Integer:
        k = int(exponent)
        return lambda lp, lq, kw: base_fn(lp, lq, kw) ** k
      if exponent in _HALF_POWERS:  # √b and b√b: XLA:CPU's float32 pow is 10× a sqrt
        return _half_power(base_fn, int(2 * exponent))
      return lambda lp, lq, kw: jnp.power(base_fn(lp, lq, kw), exp_fn(lp, lq, kw))
    if node.is_Add:
      # a + b·p with a = -b is -b·(1 - p): evaluate it as -b·exp(log_q), never as a difference.
      constant, rest = node.as_independent(P, as_Add=True)
      slope = sp.simplify(rest / P) if rest.has(P) else None
      if slope is not None and not slope.has(P) and sp.simplify(constant + slope) == 0:
        slope_fn = build(slope)
        return lambda lp, lq, kw: -slope_fn(lp, lq, kw) * jnp.exp(lq)
      anchored = stable_sum(node)
      if anchored is not None:
        return anchored
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
    near = _trig_near_one(node) if isinstance(node, _TRIG) else None
    if near is not None:  # in q = exp(log q) for p ≥ 1/2, in p = exp(log p) below
      return split(build(near), plain_function(node))
    return plain_function(node)

  def plain_function(node: sp.Expr) -> Callable:
    fn = _bounded_trig(node) or jax_function(type(node))
    if fn is None:
      raise NotJaxifiable(f"no JAX translation for `{type(node).__name__}` in `{node}`.")
    arg_fns = [build(a) for a in node.args]
    return lambda lp, lq, kw: fn(*(f(lp, lq, kw) for f in arg_fns))

  def stable_sum(node: sp.Expr) -> Callable | None:
    """A sum that cancels at p = 1 and/or p = 0 through its increments there (`anchored_sum`),
    split at p = 1/2 when it cancels at both ends."""
    near, far = anchored_sum(node, 1), anchored_sum(node, 0)
    if near is None and far is None:
      return None
    # The form anchored at one end may cancel at the other (-3√p + 3p at p = 1 becomes
    # -3·expm1(log p / 2) - 3(1 - p), which cancels as p → 0): the plain sum serves there.
    return split(plain_sum(node) if near is None else build(near),
                 plain_sum(node) if far is None else build(far))

  def plain_sum(node: sp.Expr) -> Callable:
    parts = [build(a) for a in node.args]
    return lambda lp, lq, kw: sum(f(lp, lq, kw) for f in parts)

  def split(near_fn: Callable, far_fn: Callable) -> Callable:
    def value(lp, lq, kw):
      is_near = lp >= _LOG_HALF
      # Each program sees a point of its own regime elsewhere (no inf/nan to select, nor in
      # the derivative).
      half = jnp.asarray(_LOG_HALF, jnp.result_type(lp))
      near_value = near_fn(jnp.where(is_near, lp, half), jnp.where(is_near, lq, half), kw)
      far_value = far_fn(jnp.where(is_near, half, lp), jnp.where(is_near, half, lq), kw)
      return jnp.where(is_near, near_value, far_value)

    return value

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

    # A form that also holds at the other end (x = 1 there, x^k = 1: the value is
    # log c + log1p(r(1)), which must not cancel) serves alone: log(1 + p) is log1p(p) at every p,
    # log(2 - p) is log1p(q); a split would evaluate both forms for every element.
    if near is not None and _holds_at_other_end(near):
      return program(near, 1)
    if far is not None and _holds_at_other_end(far):
      return program(far, 0)
    return split(program(near, 1), program(far, 0))

  compiled = build(expr)

  def fn(log_p, log_q, **kw):
    return compiled(log_p, log_q, kw) + jnp.zeros_like(log_p)

  return fn
