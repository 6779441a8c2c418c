"""Integration strategies for L(p) = ∫_p^1 -g(t) dt, and the cleaning of SymPy's results.

Every strategy works on a `SymbolicVariable`: L(x) = ∫_r^x g(t) dt with r the
variable's reference point (r = 1 for p, where this is ∫_p^1 -g; s = -1 for a similarity; a
margin for a distance).

Each strategy returns a candidate L(p) or ``None`` (SymPy found nothing), or raises
`DivergentIntegralError`; candidates are checked (`gradeng.symbolic._verify`) before use.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import sympy as sp

from gradeng.runtime import Domain
from gradeng.symbolic._variable import P
from gradeng.symbolic._functions import ELEMENTARY
from gradeng.symbolic._variable import PROBABILITY
from gradeng.symbolic._variable import SymbolicVariable as Variable
from gradeng.runtime import DivergentIntegralError as DivergentIntegralError
from gradeng.symbolic._limits import STEP_SECONDS, DerivationError, attempt
from gradeng.symbolic._mpeval import CHECK_DIGITS, sample_domain


def is_finite_number(value: sp.Expr) -> bool:
  return bool(value.is_number) and not value.has(sp.oo, -sp.oo, sp.zoo, sp.nan)


def is_infinite(value: sp.Expr) -> bool:
  """Whether ``value`` is plainly ±∞ or complex ∞ (SymPy's limits of special functions can
  return junk such as ``zoo*lerchphi(0, 1, a)``, which is not trusted either way)."""
  return value in (sp.oo, -sp.oo, sp.zoo) or (
      isinstance(value, sp.Mul) and any(f in (sp.oo, -sp.oo, sp.zoo) for f in value.args)
      and all(f.is_number and f.is_finite and f != 0 for f in value.args
              if f not in (sp.oo, -sp.oo, sp.zoo)))


def unevaluated(expr: sp.Expr) -> bool:
  """SymPy gave up (an Integral or Limit left) or produced junk (nan, or ∞ inside an expression)."""
  return expr.has(sp.Integral, sp.Limit, sp.nan) or (
      expr.has(sp.oo, -sp.oo, sp.zoo) and not is_infinite(expr))


def _clean(expr: sp.Expr) -> sp.Expr:
  """Drop SymPy's branch bookkeeping (``exp_polar``, ``polar_lift``): on 0 < q < 1 every
  argument it decorates (e.g. ``lerchphi(q·exp_polar(2πi), 1, a)``) is on the principal branch.
  The result is checked against g afterwards, so a wrong guess here is caught, not trusted."""
  expr = sp.unpolarify(expr)
  expr = expr.replace(sp.exp_polar, sp.exp)
  expr = expr.replace(sp.polar_lift, lambda x: x)
  return expr


def realify(expr: sp.Expr, domains: Mapping[str, Domain],
            variable: Variable = PROBABILITY) -> sp.Expr:
  """Rewrite log(a) with a < 0 on (0, 1) as log(-a) + iπ, so that the iπ's of a real result
  cancel (SymPy writes e.g. log(sqrt(1-p) - 1) + iπ for the real log(1 - sqrt(1-p))).

  The sign of each log argument is probed at a few points (and random admissible parameters);
  the result is checked against g afterwards like every candidate.
  """
  rng = random.Random(1)
  x = variable.symbol
  free = sorted((s for s in expr.free_symbols if s != x), key=str)

  def negative(argument: sp.Expr) -> bool:
    for fraction in ("0.13", "0.5", "0.87"):
      subs = {x: variable.point(fraction), **{s: sample_domain(domains.get(s.name, Domain()), rng)
                                    for s in free}}
      value = argument.evalf(CHECK_DIGITS, subs=subs)
      if not (value.is_real and value.is_negative):
        return False
    return True

  logs = [f for f in expr.atoms(sp.log) if negative(f.args[0])]
  if not logs:
    return expr
  return sp.expand_mul(expr.xreplace({f: sp.log(-f.args[0]) + sp.I * sp.pi for f in logs}))


def _functions(expr: sp.Expr) -> set[type]:
  return {type(f) for f in expr.atoms(sp.Function)}


def rank(loss: sp.Expr, g: sp.Expr) -> tuple[int, int, int]:
  """Sort key of candidate closed forms: real (no I) first, then no functions beyond those of g
  and elementary ones, then the fewest operations."""
  special = not all(f in _functions(g) or issubclass(f, ELEMENTARY)
                    for f in _functions(loss))
  return (int(loss.has(sp.I)), int(special), int(sp.count_ops(loss)))


def _pick_branch(expr: sp.Expr, notes: list[str]) -> sp.Expr | None:
  """The evaluated branch of a conditional SymPy result, noting the condition it needs."""
  expr = sp.piecewise_fold(expr)
  if not isinstance(expr, sp.Piecewise) or not any(e.has(sp.Integral) for e, _ in expr.args):
    return expr
  for branch, condition in expr.args:
    if not branch.has(sp.Integral):
      notes.append(f"valid where {condition}")
      return branch
  return None


# ---------------------------------------------------------------------------------------------
# Integration strategies: each returns L(p) or None, or raises DivergentIntegralError


def _divergent(g: sp.Expr, variable: Variable, evidence: str) -> DivergentIntegralError:
  x, r = variable.name, variable.reference
  if variable == PROBABILITY:
    return DivergentIntegralError(
        f"the loss L(p) = ∫_p^1 -g(t) dt diverges at p = 1 for g(p) = {g} ({evidence}); a loss "
        "with L(1) = 0 needs g integrable up to p = 1 (g ~ c/(1-p)^a with a ≥ 1 is not).")
  return DivergentIntegralError(
      f"the loss L({x}) = ∫_{r}^{x} g(t) dt diverges at {x} = {r} for g({x}) = {g} "
      f"({evidence}); a loss with L({r}) = 0 needs g integrable up to {x} = {r}.")


def _direction(variable: Variable) -> str | None:
  """The side from which the reference point is approached: ``"-"`` (from below, r the upper
  end), ``"+"`` (from above, r the lower end), or ``None`` (r inside the domain)."""
  return {"upper": "-", "lower": "+"}.get(variable.side)


def check_convergence(g: sp.Expr, notes: list[str], variable: Variable = PROBABILITY) -> None:
  """Raise if g ~ c/|x - r|^a, a ≥ 1, at the reference point r, i.e. (x - r)·g has a non-zero
  limit there (for p: (1-p)·g at p → 1)."""
  direction = _direction(variable)
  x, r = variable.symbol, variable.reference
  if direction is None or r.is_infinite:
    return  # an inner reference point: g is continuous there (checked on the whole domain)
  distance = (r - x) if direction == "-" else (x - r)
  what = "(1-p)·g at p → 1" if variable == PROBABILITY else f"({distance})·g at {x} → {r}"
  scaled = attempt(lambda: sp.limit(distance * g, x, r, direction), STEP_SECONDS, notes,
                   f"limit of {what}")
  if scaled is None or unevaluated(scaled):
    return
  if is_infinite(scaled) or (is_finite_number(scaled) and scaled != 0):
    shown = "(1-p)·g(p)" if variable == PROBABILITY else f"({distance})·g"
    where = "p → 1" if variable == PROBABILITY else f"{x} → {r}"
    raise _divergent(g, variable, f"{shown} → {scaled} as {where}, not 0")


def limit_at_reference(expr: sp.Expr, variable: Variable = PROBABILITY) -> sp.Expr:
  """lim expr at the reference point (p → 1⁻), branch by branch for a `Piecewise` whose
  conditions do not involve the variable (SymPy's `limit` of such a Piecewise can be wrong: it
  gives 0 for (p^q/q if q ≠ 0 else log p))."""
  x, r = variable.symbol, variable.reference
  expr = sp.piecewise_fold(expr)
  if isinstance(expr, sp.Piecewise) and not any(c.has(x) for _, c in expr.args):
    return sp.Piecewise(*[(limit_at_reference(e, variable), c) for e, c in expr.args])
  # Plain substitution first: where it gives a finite number it is the limit of the continuous
  # closed forms derive() produces, and SymPy's `limit` of lerchphi forms is not reproducible
  # (it sometimes returns zoo*lerchphi(...)).
  direct = expr.subs(x, r)
  if direct.is_number and direct.is_finite:
    return direct
  if not r.is_number and not direct.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
    return direct  # a parametric inner point (a margin): g is continuous there
  return sp.limit(expr, x, r, _direction(variable) or "+-")


def antiderivative_loss(g: sp.Expr, notes: list[str],
                        variable: Variable = PROBABILITY) -> sp.Expr | None:
  """L = G(r) - G(x) with G an antiderivative of -g (for p: G(1⁻) - G(p))."""
  x = variable.symbol
  antiderivative = sp.integrate(-g, x)
  antiderivative = _pick_branch(antiderivative, notes)
  if antiderivative is None or antiderivative.has(sp.Integral):
    return None
  antiderivative = _clean(antiderivative)
  where = "p → 1" if variable == PROBABILITY else f"{x} → {variable.reference}"
  at_reference = attempt(lambda: limit_at_reference(antiderivative, variable), STEP_SECONDS,
                         notes, f"limit of the antiderivative at {where}")
  if at_reference is None or unevaluated(at_reference):
    at_reference = antiderivative.subs(x, variable.reference)
  if is_infinite(at_reference):
    raise _divergent(g, variable, f"the antiderivative of -g tends to {at_reference} as {where}")
  if unevaluated(at_reference):
    return None
  return at_reference - antiderivative


def definite_loss(g: sp.Expr, notes: list[str],
                  variable: Variable = PROBABILITY) -> sp.Expr | None:
  """L as a definite integral from the reference point, u measured from it: for p,
  ∫_0^q -g(1-u) du with q = 1 - p (SymPy's definite integration, e.g. Lerch Φ); for a lower
  reference r, ∫_0^q g(r+u) du with q = x - r. ``None`` for an inner or infinite reference."""
  x, r, side = variable.symbol, variable.reference, variable.side
  if side is None or r.is_infinite:
    return None
  u = sp.Dummy("u", positive=True)
  q = sp.Dummy("q", positive=True)
  if side == "upper":
    integrand, span = (-g).subs(x, r - u), r - x
  else:
    integrand, span = g.subs(x, r + u), x - r
  value = sp.integrate(integrand, (u, 0, q))
  if is_infinite(value):
    shown = "∫_0^q -g(1-u) du" if variable == PROBABILITY else f"the integral from {x} = {r}"
    raise _divergent(g, variable, f"{shown} = {value}")
  value = _pick_branch(value, notes)
  if value is None or value.has(sp.Integral):
    return None
  value = _clean(value)
  simplified = attempt(lambda: sp.simplify(value), STEP_SECONDS, notes, "simplify")
  return (value if simplified is None else simplified).subs(q, span)


def _maki_parts(g: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
  """(c, a) with g = c·(1-p)^a / p (the Maki family; CE is a = 0), or None."""
  scaled = sp.powsimp(sp.expand_power_base(g * P, force=False))
  c, a = sp.Wild("c", exclude=[P]), sp.Wild("a", exclude=[P])
  for sign in (1, -1):
    match = (sign * scaled).match(c * (1 - P)**a)
    if match is not None and match[c] != 0:
      return sign * match[c], match[a]
  return None


def maki_forms(g: sp.Expr) -> tuple[sp.Expr | None, sp.Expr | None, tuple[str, ...]]:
  """For g = c·(1-p)^a/p: the finite closed form (integer a), the stable tail form, notes.

  With q = 1 - p and a > -1,

  .. math::
    L(p) = -c \\int_0^q \\frac{u^a}{1-u} du = -c\\, q^{a+1} \\Phi(q, 1, a+1)
         = -c \\frac{q^{a+1}}{a+1} {}_2F_1(1, a+1; a+2; q),

  and for integer a = n ≥ 0, L = -c (-log p - Σ_{j=1}^{n} q^j/j) = -c Σ_{j>n} q^j/j.
  """
  parts = _maki_parts(g)
  if parts is None:
    return None, None, ()
  c, a = parts
  if a == 0 or (a.is_number and not a > -1):  # CE's -log p needs no other form
    return None, None, ()
  factor = "" if -c == 1 else f"{-c}·"
  q = 1 - P
  if a.is_Integer and a >= 0:
    n = int(a)
    j = sp.Symbol("j", integer=True, positive=True)
    explicit = -c * (-sp.log(P) - sp.Add(*[q**k / k for k in range(1, n + 1)]))
    tail = -c * sp.Sum(q**j / j, (j, n + 1, sp.oo))
    note = (f"integer exponent {n}: L(p) = {factor}(-log p - Σ_{{j=1}}^{{{n}}} (1-p)^j/j) = "
            f"{factor}Σ_{{j>{n}}} (1-p)^j/j; evaluate the tail near p = 1, where the finite "
            "form cancels catastrophically")
    return explicit, tail, (note,)
  stable = -c * q**(a + 1) * sp.lerchphi(q, 1, a + 1)
  note = (f"L(p) = {factor}(1-p)^(a+1) Φ(1-p, 1, a+1) = {factor}(1-p)^(a+1)/(a+1) "
          f"₂F₁(1, a+1; a+2; 1-p) with a = {a} (for a > -1); the series in 1-p is stable near "
          "p = 1")
  return None, stable, (note,)
