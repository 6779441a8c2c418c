"""The paper's properties of a scale coefficient on (0, 1) (Kilbas & Paringer §2-§3 and §7)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import mpmath
import sympy as sp

from gradeng.symbolic._variable import P
from gradeng.symbolic._integrate import is_finite_number, is_infinite
from gradeng.symbolic._limits import STEP_SECONDS, attempt, run_in_worker
from gradeng.symbolic._mpeval import (CHECK_DIGITS, GRID_DIGITS, derivative, evaluate,
                                  numeric_function, probability_grid)


@dataclasses.dataclass(frozen=True)
class PropertyCheck:
  """One property of a scale coefficient on (0, 1).

  Attributes:
    name: what is claimed, e.g. ``"g → 0 as p → 1"``.
    holds: True/False, or None when it cannot be decided (e.g. free parameters).
    evidence: one line: the limit value, or the worst grid point found.
    values: the numbers behind the evidence (JSON-friendly: floats, strings, None).

  Example:
    >>> import gradeng as ge
    >>> from gradeng.symbolic import P
    >>> check = ge.check_properties(-1 / P)[1]  # cross-entropy's g = -1/p
    >>> check.name, check.holds, check.evidence
    ('g → 0 as p → 1', False, 'lim_{p→1⁻} g(p) = -1')
  """

  name: str
  holds: bool | None
  evidence: str
  values: Mapping[str, Any] = dataclasses.field(default_factory=dict)


#: L ≥ 0 holds where min L ≥ -LOSS_SIGN_TOLERANCE·max(1, max|L|) on the grid: closed forms such
#: as -log p - Σ_{j≤50} (1-p)^j/j lose ~50 digits to cancellation, so a true 0 can come out as
#: -5e-51 at 50 digits.
LOSS_SIGN_TOLERANCE = 1e-20

MONOTONE = "|g| non-increasing as p → 1"
VANISHES = "g → 0 as p → 1"
BOUNDED = "g bounded as p → 0"
NONNEGATIVE_LOSS = "L ≥ 0 on (0, 1)"


def _json_number(value: Any) -> float | str | None:
  if value is None:
    return None
  if isinstance(value, sp.Basic):
    if value in (sp.oo, -sp.oo):
      return float(value)
    if is_finite_number(value) and value.is_real:
      return float(value)
    return str(value)
  if isinstance(value, mpmath.mpc):
    return str(value)
  return float(value)


def _limit(g: sp.Expr, direction: str, fn: Callable[..., Any] | None = None) -> sp.Expr | None:
  """lim g at p → 1⁻ (``"-"``) or p → 0⁺ (``"+"``) by SymPy, None if it fails or times out.

  An infinite limit takes its sign from g evaluated 1e-30 from the point (with ``fn``, g's
  mpmath function): SymPy gives lim_{p→1⁻} -1/sqrt(1-p) = +oo.
  """
  target = 1 if direction == "-" else 0
  value = attempt(lambda: sp.limit(g, P, target, direction), STEP_SECONDS, [], "limit")
  if value is None or value.has(sp.Limit) or not value.is_number and not isinstance(
      value, sp.AccumBounds):
    return None
  if value in (sp.oo, -sp.oo) and fn is not None:
    near = _numeric_limit(fn, [_one_minus(30) if direction == "-" else mpmath.mpf(10)**-30])[0]
    if near is not None and not isinstance(near, mpmath.mpc) and near != 0:
      value = sp.oo if near > 0 else -sp.oo
  return value


def _one_minus(k: int) -> mpmath.mpf:
  """1 - 10^-k formed at `GRID_DIGITS` + 60 digits (at the default 15 digits it rounds to 1)."""
  with mpmath.workdps(GRID_DIGITS + 60):
    return 1 - mpmath.mpf(10)**-k


def _numeric_limit(fn: Callable[..., Any], points: list[mpmath.mpf]) -> list[Any]:
  with mpmath.workdps(GRID_DIGITS + 60):
    return [evaluate(fn, x) for x in points]


def _check_vanishes(g: sp.Expr, fn: Callable[..., Any]) -> PropertyCheck:
  value = _limit(g, "-", fn)
  if value is not None:
    holds = bool(value == 0)
    return PropertyCheck(VANISHES, holds, f"lim_{{p→1⁻}} g(p) = {value}",
                         {"limit": _json_number(value), "method": "symbolic"})
  near = _numeric_limit(fn, [_one_minus(30), _one_minus(60)])
  if any(v is None for v in near):
    return PropertyCheck(VANISHES, None, "limit unknown: g cannot be evaluated near p = 1", {})
  holds = abs(near[1]) < 1e-10 and abs(near[1]) <= abs(near[0])
  return PropertyCheck(VANISHES, holds,
                       f"numeric: g(1-1e-30) = {mpmath.nstr(near[0], 5)}, "
                       f"g(1-1e-60) = {mpmath.nstr(near[1], 5)}",
                       {"limit": None, "g(1-1e-30)": _json_number(near[0]),
                        "g(1-1e-60)": _json_number(near[1]), "method": "numeric"})


def _check_bounded(g: sp.Expr, fn: Callable[..., Any]) -> PropertyCheck:
  value = _limit(g, "+", fn)
  if value is not None:
    if isinstance(value, sp.AccumBounds):
      holds = not is_infinite(value.min) and not is_infinite(value.max)
    else:
      holds = not is_infinite(value)
    return PropertyCheck(BOUNDED, holds, f"lim_{{p→0⁺}} g(p) = {value}",
                         {"limit": _json_number(value), "method": "symbolic"})
  near = _numeric_limit(fn, [mpmath.mpf(10)**-30, mpmath.mpf(10)**-60])
  if any(v is None for v in near):
    return PropertyCheck(BOUNDED, False, "g is undefined or infinite near p = 0 (numeric)",
                         {"limit": None, "method": "numeric"})
  holds = abs(near[1]) <= 1e3 * (1 + abs(near[0]))
  return PropertyCheck(BOUNDED, holds,
                       f"numeric: g(1e-30) = {mpmath.nstr(near[0], 5)}, "
                       f"g(1e-60) = {mpmath.nstr(near[1], 5)}",
                       {"limit": None, "g(1e-30)": _json_number(near[0]),
                        "g(1e-60)": _json_number(near[1]), "method": "numeric"})


def _monotone_symbolic(g: sp.Expr, sign: int) -> bool:
  """Whether d|g|/dp = sign·g' ≤ 0 on all of (0, 1), by SymPy's assumptions with p = 1/(1+x)."""
  x = sp.Dummy("x", positive=True)
  slope = sp.simplify((sign * derivative(g)).subs(P, 1 / (1 + x)))
  return bool(slope.is_nonpositive)


def _check_monotone(g: sp.Expr, grid: list[mpmath.mpf], g_values: list[Any]) -> PropertyCheck:
  """|g| non-increasing: d|g|/dp = sign(g)·g' ≤ 0 on the grid (and symbolically when cheap)."""
  slope_fn = numeric_function(derivative(g), (P,))
  slopes = []
  with mpmath.workdps(GRID_DIGITS):
    for x, value in zip(grid, g_values):
      slope = evaluate(slope_fn, x)
      if value is None or slope is None or isinstance(value, mpmath.mpc) or isinstance(
          slope, mpmath.mpc) or value == 0:
        continue
      slopes.append((mpmath.sign(value) * slope, x))
  if not slopes:
    return PropertyCheck(MONOTONE, None, "g or g' cannot be evaluated on (0, 1)", {})
  scale = max(abs(s) for s, _ in slopes)
  worst, at = max(slopes, key=lambda item: item[0])
  values = {"max_slope": _json_number(worst), "at": _json_number(at), "points": len(slopes)}
  if worst > mpmath.mpf(10)**-25 * scale:
    return PropertyCheck(MONOTONE, False,
                         f"d|g|/dp = {mpmath.nstr(worst, 4)} > 0 at p = {mpmath.nstr(at, 15)}: "
                         "|g| increases there", values)
  signs = {int(mpmath.sign(v)) for v in g_values if v is not None and not isinstance(
      v, mpmath.mpc) and v != 0}
  if len(signs) == 1 and attempt(lambda: _monotone_symbolic(g, signs.pop()), STEP_SECONDS, [],
                                  "symbolic monotonicity"):
    values["method"] = "symbolic"
    return PropertyCheck(MONOTONE, True, "symbolic: d|g|/dp ≤ 0 for all p in (0, 1)", values)
  values["method"] = "numeric"
  return PropertyCheck(MONOTONE, True,
                       f"numeric: d|g|/dp ≤ 0 at all {len(slopes)} grid points in "
                       f"[1e-12, 1-1e-12] (largest {mpmath.nstr(worst, 4)} at p = "
                       f"{mpmath.nstr(at, 15)})", values)


def _check_loss_sign(g: sp.Expr, loss: sp.Expr | None, grid: list[mpmath.mpf],
                     g_values: list[Any]) -> PropertyCheck:
  """L ≥ 0: from the closed form on the grid, else from g ≤ 0 (L = ∫_p^1 -g), else quadrature."""
  reals = [v for v in g_values if v is not None and not isinstance(v, mpmath.mpc)]
  if loss is not None:
    loss_fn = numeric_function(loss, (P,))
    with mpmath.workdps(GRID_DIGITS):
      pairs = [(evaluate(loss_fn, x), x) for x in grid]
    pairs = [(v, x) for v, x in pairs if v is not None and not isinstance(v, mpmath.mpc)]
    method = "closed form"
  elif reals and all(v <= 0 for v in reals):
    worst, at = max((v, x) for v, x in zip(g_values, grid) if v is not None)
    return PropertyCheck(NONNEGATIVE_LOSS, True,
                         f"g ≤ 0 at all grid points (max {mpmath.nstr(worst, 4)}), so "
                         "L(p) = ∫_p^1 -g(t) dt ≥ 0",
                         {"max_g": _json_number(worst), "at": _json_number(at),
                          "method": "sign of g"})
  else:
    g_fn = numeric_function(g, (P,))
    with mpmath.workdps(CHECK_DIGITS):
      pairs = [(evaluate(lambda x: mpmath.quad(lambda t: -g_fn(t), [x, 1]), x), x)
               for x in grid[::10]]
    pairs = [(v, x) for v, x in pairs if v is not None and not isinstance(v, mpmath.mpc)]
    method = "quadrature"
  if not pairs:
    return PropertyCheck(NONNEGATIVE_LOSS, None, "L cannot be evaluated on (0, 1)", {})
  lowest, at = min(pairs, key=lambda item: item[0])
  scale = max(abs(v) for v, _ in pairs)
  tolerance = LOSS_SIGN_TOLERANCE * max(scale, 1)
  holds = bool(lowest >= -tolerance)
  within = (f"; values ≥ -{mpmath.nstr(tolerance, 2)} (= {LOSS_SIGN_TOLERANCE:g}·max(1, max|L|),"
            f" rounding at {GRID_DIGITS} digits) count as 0" if lowest < 0 else "")
  return PropertyCheck(NONNEGATIVE_LOSS, holds,
                       f"{method}: min L = {mpmath.nstr(lowest, 4)} at p = {mpmath.nstr(at, 15)} "
                       f"over {len(pairs)} points{within}",
                       {"min_loss": _json_number(lowest), "at": _json_number(at),
                        "tolerance": _json_number(tolerance), "method": method})


@functools.lru_cache(maxsize=256)
def _check_properties(g: sp.Expr, loss: sp.Expr | None) -> tuple[PropertyCheck, ...]:
  """`_compute_properties` in the SymPy worker (`gradeng.symbolic._limits`), remembered."""
  return run_in_worker(_compute_properties, (g, loss))


def _compute_properties(g: sp.Expr, loss: sp.Expr | None) -> tuple[PropertyCheck, ...]:
  free = sorted(s.name for s in (g.free_symbols | (loss.free_symbols if loss is not None
                                                     else set())) if s != P)
  if free:
    evidence = f"depends on parameters {free}"
    return tuple(PropertyCheck(name, None, evidence, {"parameters": free})
                 for name in (MONOTONE, VANISHES, BOUNDED, NONNEGATIVE_LOSS))
  grid = probability_grid()
  g_fn = numeric_function(g, (P,))
  with mpmath.workdps(GRID_DIGITS):
    g_values = [evaluate(g_fn, x) for x in grid]
  return (_check_monotone(g, grid, g_values), _check_vanishes(g, g_fn),
          _check_bounded(g, g_fn), _check_loss_sign(g, loss, grid, g_values))


def check_properties(g: sp.Expr, loss: sp.Expr | None = None) -> tuple[PropertyCheck, ...]:
  """The paper's properties of a scale coefficient g(p) on (0, 1), each with its evidence.

  1. ``|g| non-increasing as p → 1`` (the paper's "monotonically increases": for g ≤ 0, g
     rises towards 0): d|g|/dp ≤ 0 on a 400-point grid (log-spaced near 0 and 1) at 50 digits,
     confirmed symbolically when SymPy can.
  2. ``g → 0 as p → 1`` (easy examples stop contributing): lim_{p→1⁻} g = 0.
  3. ``g bounded as p → 0`` (§7, warm-up): lim_{p→0⁺} g finite.
  4. ``L ≥ 0 on (0, 1)``: from the closed form L on the grid, else from g ≤ 0, since
     L(p) = ∫_p^1 -g(t) dt.

  Args:
    g: the scale coefficient in `gradeng.symbolic.P`, parameters substituted.
    loss: its closed-form loss, if known.

  Returns:
    Four `PropertyCheck` s in the order above; with free parameters left, each has
    ``holds=None`` and says so.

  Example:
    Maki with γ = 2, g = -(1-p)²/p:

    >>> import gradeng as ge
    >>> from gradeng.symbolic import P
    >>> for check in ge.check_properties(-(1 - P)**2 / P):
    ...   print(check.name, check.holds)
    |g| non-increasing as p → 1 True
    g → 0 as p → 1 True
    g bounded as p → 0 False
    L ≥ 0 on (0, 1) True
  """
  return _check_properties(g, loss)
