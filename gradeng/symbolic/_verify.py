"""Verification of a candidate loss: L(1) = 0 and dL/dp = g, symbolically or with mpmath."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import mpmath
import sympy as sp

from gradeng.runtime import Domain
from gradeng.symbolic._integrate import limit_at_reference, unevaluated
from gradeng.symbolic._limits import STEP_SECONDS, attempt
from gradeng.symbolic._mpeval import (CHECK_DIGITS, derivative, evaluate, numeric_function,
                                  sample_domain, sampled_ranges)
from gradeng.symbolic._variable import PROBABILITY
from gradeng.symbolic._variable import SymbolicVariable as Variable

#: Random points for the numeric check of dL/dp = g, and the tolerance.
CHECK_POINTS = 24
CHECK_TOLERANCE = 1e-20

#: Expressions larger than this (SymPy operation count) skip `simplify` in the symbolic check.
SIMPLIFY_OPS = 200
#: Working precisions tried in turn until dL/dp and g are stable (closed forms such as
#: -log p - Σ_{j≤50} (1-p)^j/j cancel ~50 digits near p = 1).
CHECK_PRECISIONS = (CHECK_DIGITS, 2 * CHECK_DIGITS, 4 * CHECK_DIGITS, 8 * CHECK_DIGITS,
                    16 * CHECK_DIGITS)


def _is_zero_symbolic(difference: sp.Expr) -> bool:
  """Whether SymPy shows ``difference`` = 0: cheaply (`cancel`) first, then `simplify`."""
  difference = sp.expand_func(difference)
  if difference == 0:
    return True
  if attempt(lambda: sp.cancel(sp.together(difference)) == 0, STEP_SECONDS / 4, [], "cancel"):
    return True
  if sp.count_ops(difference) > SIMPLIFY_OPS:
    return False
  return bool(attempt(lambda: sp.simplify(difference) == 0, STEP_SECONDS, [], "simplify"))


def _stable_value(fn: Callable[..., Any], values: list[sp.Rational]) -> Any:
  """``fn(*values)`` at increasing precision (`CHECK_PRECISIONS`) until two successive values
  agree to `CHECK_TOLERANCE`/10, so that cancellation inside a closed form is not taken for an
  error; the last value (or None) is returned at `CHECK_DIGITS` digits."""
  previous = None
  for digits in CHECK_PRECISIONS:
    with mpmath.workdps(digits):
      current = evaluate(fn, *[mpmath.mpf(v.p) / v.q for v in values])
      if current is None:
        return None
      if previous is not None and abs(current - previous) <= (
          CHECK_TOLERANCE / 10 * abs(current)):
        return current
      previous = current
  return previous


def verify_numeric(g: sp.Expr, loss: sp.Expr, domains: Mapping[str, Domain],
                   points: int = CHECK_POINTS, seed: int = 0,
                   variable: Variable = PROBABILITY) -> tuple[bool | None, str]:
  """Compare dL/dp with g at ``points`` random p in (0, 1) (or points of the variable's domain,
  see `SymbolicVariable.point`) and random admissible parameters
  with mpmath at ≥ `CHECK_DIGITS` digits (more where the values are not yet stable); pass when
  every relative error is ≤ `CHECK_TOLERANCE`.

  Args:
    g: the scale coefficient in the variable's symbol and the parameters.
    loss: the candidate loss L.
    domains: parameter name -> `Domain`, where parameter values are drawn.
    points: the number of random points.
    seed: the seed of the points (the check is deterministic).
    variable: the variable of g.

  Returns:
    (passed or None when nothing could be evaluated, a one-line description).

  Example:
    >>> import sympy as sp
    >>> from gradeng.symbolic import P, verify_numeric
    >>> verify_numeric(-1 / P, -sp.log(P), {})
    (True, 'numeric at 24 points (≥ 30 digits), max rel err 0.0')
    >>> verify_numeric(-1 / P, 1 - P, {})[0]
    False
  """
  rng = random.Random(seed)
  x = variable.symbol
  free = tuple(sorted((s for s in g.free_symbols | loss.free_symbols if s != x), key=str))
  symbols = (x, *free)
  loss_slope = numeric_function(derivative(loss, x), symbols)
  target = numeric_function(g, symbols)
  worst, worst_at, evaluated = mpmath.mpf(0), None, 0
  for _ in range(points):
    point = variable.point(sp.Rational(rng.randint(1, 10**6 - 1), 10**6))
    values = [point] + [sample_domain(domains.get(s.name, Domain()), rng) for s in free]
    have, want = _stable_value(loss_slope, values), _stable_value(target, values)
    if have is None or want is None:
      continue
    evaluated += 1
    with mpmath.workdps(CHECK_PRECISIONS[-1]):
      error = abs(have - want) / max(abs(want), mpmath.mpf(10)**-CHECK_PRECISIONS[-1])
    if error > worst or worst_at is None:
      worst, worst_at = error, dict(zip(map(str, symbols), map(str, values)))
  if evaluated == 0:
    return None, "numeric check impossible: dL/dp or g could not be evaluated"
  text = (f"numeric at {evaluated} points (≥ {CHECK_DIGITS} digits)"
          f"{sampled_ranges(free, domains)}, max rel err {mpmath.nstr(worst, 3)}")
  if worst > CHECK_TOLERANCE:
    return False, f"{text} at {worst_at} (tolerance {CHECK_TOLERANCE:g})"
  return True, text


def _vanishes_at_reference(loss: sp.Expr, domains: Mapping[str, Domain],
                           variable: Variable) -> tuple[bool, str]:
  """Whether L(r) = 0 at the reference point (for p: L(1⁻) = 0): L(r) by substitution when that
  gives 0 (the forms found are continuous there), else SymPy's limit, else |L(r ∓ 1e-40)| ≤ 1e-6
  at random parameters."""
  x, r = variable.symbol, variable.reference
  at = "L(1)" if variable == PROBABILITY else f"L({r})"
  if attempt(lambda: sp.simplify(loss.subs(x, r)) == 0, STEP_SECONDS / 4, [], at):
    return True, f"{at} = 0"
  where = "p → 1" if variable == PROBABILITY else f"{x} → {r}"
  limit = attempt(lambda: limit_at_reference(loss, variable), STEP_SECONDS, [],
                  f"limit of L at {where}")
  if limit is not None and not unevaluated(limit):
    if attempt(lambda: sp.simplify(limit) == 0, STEP_SECONDS, [], "simplify"):
      return True, f"{at} = 0"
    if limit.is_number:
      return False, f"{at[:-1]}⁻) = {limit}, not 0" if variable == PROBABILITY else (
          f"{at} = {limit}, not 0")
  rng = random.Random(2)
  free = sorted((s for s in loss.free_symbols | r.free_symbols if s != x), key=str)
  fn = numeric_function(loss, (x, *free))
  reference = numeric_function(r, tuple(free))
  step = -1 if variable.side == "upper" else 1
  near = f"{at[:-1]} - 1e-40)" if step < 0 else f"{at[:-1]} + 1e-40)"
  with mpmath.workdps(CHECK_DIGITS + 40):
    for _ in range(5):
      values = [mpmath.mpf(v.p) / v.q for v in
                (sample_domain(domains.get(s.name, Domain()), rng) for s in free)]
      point = evaluate(reference, *values)
      value = None if point is None else evaluate(fn, point + step * mpmath.mpf(10)**-40,
                                                  *values)
      if value is None or abs(value) > 1e-6:
        shown = dict(zip(map(str, free), (mpmath.nstr(v, 6) for v in values)))
        return False, f"{near} = {value} at {shown}"
  return True, f"{near} ≈ 0{sampled_ranges(tuple(free), domains)}"


def verify(g: sp.Expr, loss: sp.Expr, domains: Mapping[str, Domain],
           variable: Variable = PROBABILITY) -> tuple[bool | None, str]:
  """L(r) = 0 and dL/dx - g simplifies to 0 ("symbolic"), else the numeric check decides."""
  at_reference, how = _vanishes_at_reference(loss, domains, variable)
  if not at_reference:
    return False, how
  if _is_zero_symbolic(derivative(loss, variable.symbol) - g):
    return True, "symbolic" if how.endswith(") = 0") else f"symbolic (dL/dp = g), {how}"
  return verify_numeric(g, loss, domains, variable=variable)
