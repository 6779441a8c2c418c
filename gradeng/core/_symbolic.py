"""Symbolic derivation of a loss from its scale coefficient, with checks and a property report.

Kilbas & Paringer (2020), §2.1: a loss is fixed by its scale coefficient g(p) = dL/dp and
L(1) = 0,

.. math::
  L(p) = \\int_p^1 -g(t)\\,dt = \\int_0^{1-p} -g(1-u)\\,du .

`derive` finds L in closed form with SymPy where it can (trying the antiderivative in p and the
definite integral in q = 1 - p, each under a time limit), checks dL/dp = g symbolically or at
≥ 20 random points with mpmath, and reports the properties the paper discusses (§2-§3, §7).
Where SymPy cannot integrate, the derivation says so (``method == "numeric"``) and the JAX loss
integrates g numerically. An integral that diverges at p = 1 raises `DivergentIntegralError`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import mpmath
import sympy as sp

from gradeng.core._coefficient import P, Domain, ScaleCoefficient, is_concrete_number
from gradeng.core._parse import coefficient as _coefficient_from_formula

T = TypeVar("T")

#: CPU seconds allowed for one SymPy integration attempt, and for one once a checked closed form
#: is in hand (looking for a simpler one: e.g. an elementary form besides the Lerch Φ one).
ATTEMPT_SECONDS = 30.0
IMPROVE_SECONDS = 5.0
#: CPU seconds allowed for one SymPy simplification, limit or symbolic check.
STEP_SECONDS = 8.0
#: Random points for the numeric check of dL/dp = g, the digits used and the tolerance.
CHECK_POINTS = 24
CHECK_DIGITS = 30
CHECK_TOLERANCE = 1e-20
#: Points in (0, 1) on which the properties are checked, and the digits used.
GRID_POINTS = 400
GRID_DIGITS = 50

_ELEMENTARY = (sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc, sp.asin, sp.acos,
               sp.atan, sp.acot, sp.sinh, sp.cosh, sp.tanh, sp.coth, sp.asinh, sp.acosh,
               sp.atanh, sp.Abs, sp.sign, sp.Piecewise)


class DivergentIntegralError(ValueError):
  """∫_p^1 -g(t) dt diverges, so no loss with L(1) = 0 has this scale coefficient."""


# ---------------------------------------------------------------------------------------------
# Time limits (SymPy can run for minutes on some integrals)


class _TimeUp(BaseException):
  """Raised inside a computation that ran past its time limit.

  A `BaseException`, so that SymPy's own ``except Exception`` clauses cannot swallow it.
  """


def _raise_time_up(signum, frame):  # pylint: disable=unused-argument
  raise _TimeUp()


def _with_alarm(fn: Callable[[], T], seconds: float) -> T:
  """``fn()`` interrupted by SIGVTALRM after ``seconds`` of CPU time (so that a busy machine does
  not change what is found); an outer timer of the same kind is kept and restored."""
  outer_handler = signal.signal(signal.SIGVTALRM, _raise_time_up)
  outer_delay, _ = signal.getitimer(signal.ITIMER_VIRTUAL)
  start = time.process_time()
  signal.setitimer(signal.ITIMER_VIRTUAL, min(seconds, outer_delay) if outer_delay > 0 else seconds)
  try:
    return fn()
  finally:
    signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    signal.signal(signal.SIGVTALRM, outer_handler)
    if outer_delay > 0:  # let the outer timer fire when it was due (at once if already due)
      used = time.process_time() - start
      signal.setitimer(signal.ITIMER_VIRTUAL, max(outer_delay - used, 1e-3))


def _with_thread(fn: Callable[[], T], seconds: float) -> T:
  """``fn()`` in a daemon thread, abandoned (not killed: Python threads cannot be) on time-out."""
  outcome: dict[str, Any] = {}

  def target():
    try:
      outcome["value"] = fn()
    except BaseException as error:  # pylint: disable=broad-except  # re-raised below
      outcome["error"] = error

  worker = threading.Thread(target=target, daemon=True)
  worker.start()
  worker.join(seconds)
  if worker.is_alive():
    raise _TimeUp()
  if "error" in outcome:
    raise outcome["error"]
  return outcome["value"]


def time_limited(fn: Callable[[], T], seconds: float) -> T:
  """``fn()``, or `_TimeUp` after ``seconds``.

  On the main thread of a POSIX process a CPU-time timer (SIGVTALRM) interrupts the computation;
  elsewhere it runs in a daemon thread that is abandoned after ``seconds`` of wall time (it
  keeps running in the background: Python threads cannot be killed).
  """
  if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
    return _with_alarm(fn, seconds)
  return _with_thread(fn, seconds)


def _attempt(fn: Callable[[], T], seconds: float, notes: list[str], what: str) -> T | None:
  """``fn()`` under a time limit; ``None`` (with a note) on time-out or a SymPy failure."""
  try:
    return time_limited(fn, seconds)
  except _TimeUp:
    notes.append(f"{what}: gave up after {seconds:g} s")
  except DivergentIntegralError:
    raise
  except Exception as error:  # pylint: disable=broad-except
    # SymPy's internals fail in many ways (NotImplementedError, PolynomialError, KeyError, ...);
    # each only means "this attempt found nothing", so the next strategy is tried.
    notes.append(f"{what}: SymPy failed ({type(error).__name__})")
  return None


# ---------------------------------------------------------------------------------------------
# Numeric evaluation with mpmath


def numeric_function(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> Callable[..., Any]:
  """An mpmath function of ``symbols`` evaluating ``expr`` at the working precision.

  Uses `sympy.lambdify` with mpmath (rationals become exact mpf quotients); expressions it
  cannot print fall back to ``evalf`` with substitution. Lerch Φ(z, 1, a) is evaluated as
  ₂F₁(1, a; a+1; z)/a (mpmath's ``hyp2f1`` is ~1000x faster than its ``lerchphi``).
  """
  expr = _lerch_to_hyper(expr)
  try:
    return sp.lambdify(symbols, expr, modules=["mpmath"])
  except Exception:  # pylint: disable=broad-except  # any printer failure -> evalf fallback
    pass

  def evaluate(*values):
    subs = {s: sp.Float(mpmath.nstr(v, mpmath.mp.dps + 5), mpmath.mp.dps + 5)
            for s, v in zip(symbols, values)}
    return sp.N(expr, mpmath.mp.dps, subs=subs)

  return evaluate


def derivative(expr: sp.Expr) -> sp.Expr:
  """d expr/dp, term by term (SymPy's `diff` of a long sum is slow: ~30 s for the 51 terms of
  -log p - Σ_{j≤50} (1-p)^j/j, against milliseconds term by term)."""
  return sp.Add(*[sp.diff(term, P) for term in sp.Add.make_args(expr)])


def _lerch_to_hyper(expr: sp.Expr) -> sp.Expr:
  """Φ(z, 1, a) = Σ_n z^n/(n+a) = ₂F₁(1, a; a+1; z)/a (the terms agree: (a)_n/(a+1)_n = a/(a+n))."""
  return expr.replace(
      lambda e: isinstance(e, sp.lerchphi) and e.args[1] == 1,
      lambda e: sp.hyper([1, e.args[2]], [e.args[2] + 1], e.args[0]) / e.args[2])


def _as_mp(value: Any) -> mpmath.mpf | mpmath.mpc | None:
  """An mpmath number from an mpmath/SymPy/Python number; ``None`` when not a finite number."""
  if isinstance(value, sp.Basic):
    if not value.is_number:
      return None
    value = value.evalf(mpmath.mp.dps)
    if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
      return None
    real, imag = value.as_real_imag()
    value = mpmath.mpc(mpmath.mpf(str(real)), mpmath.mpf(str(imag)))
  try:
    value = mpmath.mpmathify(value)
  except (TypeError, ValueError):
    return None
  if isinstance(value, mpmath.mpc) and value.imag == 0:
    value = value.real
  if not mpmath.isfinite(value):
    return None
  return value


def _evaluate(fn: Callable[..., Any], *args: Any) -> mpmath.mpf | mpmath.mpc | None:
  """``fn(*args)`` as a finite mpmath number, ``None`` where undefined or not finite."""
  try:
    return _as_mp(fn(*args))
  except (ZeroDivisionError, ValueError, TypeError, OverflowError, ArithmeticError):
    return None


def probability_grid(count: int = GRID_POINTS) -> list[mpmath.mpf]:
  """``count`` points in (0, 1): a third log-spaced in [1e-12, 0.1], a third linear in
  (0.1, 0.9) and a third with 1 - p log-spaced in [1e-12, 0.1] (exact at the working precision).
  """
  third = count // 3
  middle = count - 2 * third
  near_zero = [mpmath.mpf(10)**(-12 + 11 * mpmath.mpf(i) / (third - 1)) for i in range(third)]
  linear = [mpmath.mpf(1) / 10 + mpmath.mpf(8) / 10 * (i + 1) / (middle + 1)
            for i in range(middle)]
  near_one = [1 - x for x in reversed(near_zero)]
  return near_zero + linear + near_one


# ---------------------------------------------------------------------------------------------
# Cleaning and classifying SymPy results


def _is_finite_number(value: sp.Expr) -> bool:
  return bool(value.is_number) and not value.has(sp.oo, -sp.oo, sp.zoo, sp.nan)


def _is_infinite(value: sp.Expr) -> bool:
  """Whether ``value`` is plainly ±∞ or complex ∞ (SymPy's limits of special functions can
  return junk such as ``zoo*lerchphi(0, 1, a)``, which is not trusted either way)."""
  return value in (sp.oo, -sp.oo, sp.zoo) or (
      isinstance(value, sp.Mul) and any(f in (sp.oo, -sp.oo, sp.zoo) for f in value.args)
      and all(f.is_number and f.is_finite and f != 0 for f in value.args
              if f not in (sp.oo, -sp.oo, sp.zoo)))


def _unevaluated(expr: sp.Expr) -> bool:
  """SymPy gave up (an Integral or Limit left) or produced junk (nan, or ∞ inside an expression)."""
  return expr.has(sp.Integral, sp.Limit, sp.nan) or (
      expr.has(sp.oo, -sp.oo, sp.zoo) and not _is_infinite(expr))


def _clean(expr: sp.Expr) -> sp.Expr:
  """Drop SymPy's branch bookkeeping (``exp_polar``, ``polar_lift``): on 0 < q < 1 every
  argument it decorates (e.g. ``lerchphi(q·exp_polar(2πi), 1, a)``) is on the principal branch.
  The result is checked against g afterwards, so a wrong guess here is caught, not trusted."""
  expr = sp.unpolarify(expr)
  expr = expr.replace(sp.exp_polar, sp.exp)
  expr = expr.replace(sp.polar_lift, lambda x: x)
  return expr


def _realify(expr: sp.Expr, domains: Mapping[str, Domain]) -> sp.Expr:
  """Rewrite log(a) with a < 0 on (0, 1) as log(-a) + iπ, so that the iπ's of a real result
  cancel (SymPy writes e.g. log(sqrt(1-p) - 1) + iπ for the real log(1 - sqrt(1-p))).

  The sign of each log argument is probed at a few points (and random admissible parameters);
  the result is checked against g afterwards like every candidate.
  """
  rng = random.Random(1)
  free = sorted((s for s in expr.free_symbols if s != P), key=str)

  def negative(argument: sp.Expr) -> bool:
    for x in ("0.13", "0.5", "0.87"):
      subs = {P: sp.Rational(x), **{s: _sample_domain(domains.get(s.name, Domain()), rng)
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


def _rank(loss: sp.Expr, g: sp.Expr) -> tuple[int, int, int]:
  """Sort key of candidate closed forms: real (no I) first, then no functions beyond those of g
  and elementary ones, then the fewest operations."""
  special = not all(f in _functions(g) or issubclass(f, _ELEMENTARY) or f in (sp.Min, sp.Max)
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


def _divergent(g: sp.Expr, evidence: str) -> DivergentIntegralError:
  return DivergentIntegralError(
      f"the loss L(p) = ∫_p^1 -g(t) dt diverges at p = 1 for g(p) = {g} ({evidence}); a loss "
      "with L(1) = 0 needs g integrable up to p = 1 (g ~ c/(1-p)^a with a ≥ 1 is not).")


def _check_convergence_at_one(g: sp.Expr, notes: list[str]) -> None:
  """Raise if g ~ c/(1-p)^a, a ≥ 1, near p = 1, i.e. (1-p)·g has a non-zero limit there."""
  scaled = _attempt(lambda: sp.limit((1 - P) * g, P, 1, "-"), STEP_SECONDS, notes,
                    "limit of (1-p)·g at p → 1")
  if scaled is None or _unevaluated(scaled):
    return
  if _is_infinite(scaled) or (_is_finite_number(scaled) and scaled != 0):
    raise _divergent(g, f"(1-p)·g(p) → {scaled} as p → 1, not 0")


def _limit_at_one(expr: sp.Expr) -> sp.Expr:
  """lim_{p→1⁻} expr, branch by branch for a `Piecewise` whose conditions do not involve p
  (SymPy's `limit` of such a Piecewise can be wrong: it gives 0 for (p^q/q if q ≠ 0 else log p)).
  """
  expr = sp.piecewise_fold(expr)
  if isinstance(expr, sp.Piecewise) and not any(c.has(P) for _, c in expr.args):
    return sp.Piecewise(*[(_limit_at_one(e), c) for e, c in expr.args])
  # Plain substitution first: where it gives a finite number it is the limit of the continuous
  # closed forms derive() produces, and SymPy's `limit` of lerchphi forms is not reproducible
  # (it sometimes returns zoo*lerchphi(...)).
  direct = expr.subs(P, 1)
  if direct.is_number and direct.is_finite:
    return direct
  return sp.limit(expr, P, 1, "-")


def _antiderivative_loss(g: sp.Expr, notes: list[str]) -> sp.Expr | None:
  """L = G(1⁻) - G(p) with G an antiderivative of -g in p."""
  antiderivative = sp.integrate(-g, P)
  antiderivative = _pick_branch(antiderivative, notes)
  if antiderivative is None or antiderivative.has(sp.Integral):
    return None
  antiderivative = _clean(antiderivative)
  at_one = _attempt(lambda: _limit_at_one(antiderivative), STEP_SECONDS, notes,
                    "limit of the antiderivative at p → 1")
  if at_one is None or _unevaluated(at_one):
    at_one = antiderivative.subs(P, 1)
  if _is_infinite(at_one):
    raise _divergent(g, f"the antiderivative of -g tends to {at_one} as p → 1")
  if _unevaluated(at_one):
    return None
  return at_one - antiderivative


def _definite_loss(g: sp.Expr, notes: list[str]) -> sp.Expr | None:
  """L = ∫_0^q -g(1-u) du with q = 1 - p (SymPy's definite integration, e.g. Lerch Φ)."""
  u = sp.Dummy("u", positive=True)
  q = sp.Dummy("q", positive=True)
  value = sp.integrate((-g).subs(P, 1 - u), (u, 0, q))
  if _is_infinite(value):
    raise _divergent(g, f"∫_0^q -g(1-u) du = {value}")
  value = _pick_branch(value, notes)
  if value is None or value.has(sp.Integral):
    return None
  value = _clean(value)
  simplified = _attempt(lambda: sp.simplify(value), STEP_SECONDS, notes, "simplify")
  return (value if simplified is None else simplified).subs(q, 1 - P)


def _maki_parts(g: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
  """(c, a) with g = c·(1-p)^a / p (the Maki family; CE is a = 0), or None."""
  scaled = sp.powsimp(sp.expand_power_base(g * P, force=False))
  c, a = sp.Wild("c", exclude=[P]), sp.Wild("a", exclude=[P])
  for sign in (1, -1):
    match = (sign * scaled).match(c * (1 - P)**a)
    if match is not None and match[c] != 0:
      return sign * match[c], match[a]
  return None


def _maki_forms(g: sp.Expr) -> tuple[sp.Expr | None, sp.Expr | None, tuple[str, ...]]:
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


# ---------------------------------------------------------------------------------------------
# Verification of dL/dp = g


#: Width of the range sampled for a parameter bound on one side only, or on neither.
SAMPLE_WIDTH = 3.0


def sampling_interval(domain: Domain) -> tuple[float, float]:
  """The range random checks draw a parameter from: the domain cut to `SAMPLE_WIDTH` from its
  finite end, or [0, 3] for an undeclared real parameter (γ, q, ε are usually taken ≥ 0 there;
  declare a domain to have other values checked)."""
  if domain.lower is None and domain.upper is None:
    return 0.0, SAMPLE_WIDTH
  if domain.lower is None:
    return domain.upper - SAMPLE_WIDTH, domain.upper
  if domain.upper is None:
    return domain.lower, domain.lower + SAMPLE_WIDTH
  return domain.lower, domain.upper


def _sample_domain(domain: Domain, rng: random.Random) -> sp.Rational:
  """A random admissible value from `sampling_interval` (exact, 3 decimals)."""
  lower, upper = sampling_interval(domain)
  if domain.integer:
    low = math.floor(lower) + 1 if domain.lower_open or lower != int(lower) else int(lower)
    high = math.ceil(upper) - 1 if domain.upper_open or upper != int(upper) else int(upper)
    return sp.Integer(rng.randint(low, max(low, high)))
  margin = 0.01 * (upper - lower)
  value = rng.uniform(lower + margin if domain.lower_open else lower,
                      upper - margin if domain.upper_open else upper)
  return sp.Rational(round(value * 1000), 1000)


def _sampled_ranges(free: tuple[sp.Symbol, ...], domains: Mapping[str, Domain]) -> str:
  """`` with gamma in [0, 3]`` for the message of a check at random parameter values."""
  if not free:
    return ""
  ranges = [f"{s.name} in [{lo:g}, {hi:g}]"
            for s in free for lo, hi in [sampling_interval(domains.get(s.name, Domain()))]]
  return " with " + ", ".join(ranges)


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
  if _attempt(lambda: sp.cancel(sp.together(difference)) == 0, STEP_SECONDS / 4, [], "cancel"):
    return True
  if sp.count_ops(difference) > SIMPLIFY_OPS:
    return False
  return bool(_attempt(lambda: sp.simplify(difference) == 0, STEP_SECONDS, [], "simplify"))


def _stable_value(fn: Callable[..., Any], values: list[sp.Rational]) -> Any:
  """``fn(*values)`` at increasing precision (`CHECK_PRECISIONS`) until two successive values
  agree to `CHECK_TOLERANCE`/10, so that cancellation inside a closed form is not taken for an
  error; the last value (or None) is returned at `CHECK_DIGITS` digits."""
  previous = None
  for digits in CHECK_PRECISIONS:
    with mpmath.workdps(digits):
      current = _evaluate(fn, *[mpmath.mpf(v.p) / v.q for v in values])
      if current is None:
        return None
      if previous is not None and abs(current - previous) <= (
          CHECK_TOLERANCE / 10 * abs(current)):
        return current
      previous = current
  return previous


def verify_numeric(g: sp.Expr, loss: sp.Expr, domains: Mapping[str, Domain],
                   points: int = CHECK_POINTS, seed: int = 0) -> tuple[bool | None, str]:
  """Compare dL/dp with g at ``points`` random p in (0, 1) (and random admissible parameters)
  with mpmath at ≥ `CHECK_DIGITS` digits (more where the values are not yet stable); pass when
  every relative error is ≤ `CHECK_TOLERANCE`.

  Returns:
    (passed or None when nothing could be evaluated, a one-line description).
  """
  rng = random.Random(seed)
  free = tuple(sorted((s for s in g.free_symbols | loss.free_symbols if s != P), key=str))
  symbols = (P, *free)
  loss_slope = numeric_function(derivative(loss), symbols)
  target = numeric_function(g, symbols)
  worst, worst_at, evaluated = mpmath.mpf(0), None, 0
  for _ in range(points):
    p = sp.Rational(rng.randint(1, 10**6 - 1), 10**6)
    values = [p] + [_sample_domain(domains.get(s.name, Domain()), rng) for s in free]
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
          f"{_sampled_ranges(free, domains)}, max rel err {mpmath.nstr(worst, 3)}")
  if worst > CHECK_TOLERANCE:
    return False, f"{text} at {worst_at} (tolerance {CHECK_TOLERANCE:g})"
  return True, text


def _vanishes_at_one(loss: sp.Expr, domains: Mapping[str, Domain]) -> tuple[bool, str]:
  """Whether L(1⁻) = 0: L(1) by substitution when that gives 0 (the forms found are continuous
  at p = 1), else SymPy's limit, else |L(1 - 1e-40)| ≤ 1e-6 at random parameters."""
  if _attempt(lambda: sp.simplify(loss.subs(P, 1)) == 0, STEP_SECONDS / 4, [], "L(1)"):
    return True, "L(1) = 0"
  limit = _attempt(lambda: _limit_at_one(loss), STEP_SECONDS, [], "limit of L at p → 1")
  if limit is not None and not _unevaluated(limit):
    if _attempt(lambda: sp.simplify(limit) == 0, STEP_SECONDS, [], "simplify"):
      return True, "L(1) = 0"
    if limit.is_number:
      return False, f"L(1⁻) = {limit}, not 0"
  rng = random.Random(2)
  free = sorted((s for s in loss.free_symbols if s != P), key=str)
  fn = numeric_function(loss, (P, *free))
  with mpmath.workdps(CHECK_DIGITS + 40):
    for _ in range(5):
      values = [_sample_domain(domains.get(s.name, Domain()), rng) for s in free]
      value = _evaluate(fn, 1 - mpmath.mpf(10)**-40, *[mpmath.mpf(v.p) / v.q for v in values])
      if value is None or abs(value) > 1e-6:
        return False, f"L(1 - 1e-40) = {value} at {dict(zip(map(str, free), map(str, values)))}"
  return True, f"L(1 - 1e-40) ≈ 0{_sampled_ranges(tuple(free), domains)}"


def _verify(g: sp.Expr, loss: sp.Expr, domains: Mapping[str, Domain]) -> tuple[bool | None, str]:
  """L(1) = 0 and dL/dp - g simplifies to 0 ("symbolic"), else the numeric check decides."""
  at_one, how = _vanishes_at_one(loss, domains)
  if not at_one:
    return False, how
  if _is_zero_symbolic(derivative(loss) - g):
    return True, "symbolic" if how == "L(1) = 0" else f"symbolic (dL/dp = g), {how}"
  return verify_numeric(g, loss, domains)


# ---------------------------------------------------------------------------------------------
# The derivation


@dataclasses.dataclass(frozen=True)
class _Solution:
  loss: sp.Expr | None
  verified: bool | None
  verification: str
  stable_form: sp.Expr | None
  notes: tuple[str, ...]


def _domains_key(domains: Mapping[str, Domain]) -> tuple[tuple[str, Domain], ...]:
  return tuple(sorted(domains.items()))


@functools.lru_cache(maxsize=256)
def _solve(g: sp.Expr, domains_key: tuple[tuple[str, Domain], ...]) -> _Solution:
  """The closed form of L for g (cached: catalog, figures and reports ask repeatedly)."""
  domains = dict(domains_key)
  notes: list[str] = []
  _check_domain(g, notes)
  _check_convergence_at_one(g, notes)
  explicit, stable, maki_notes = _maki_forms(g)
  notes.extend(maki_notes)
  candidates: list[tuple[tuple[int, int, int], sp.Expr, bool | None, str]] = []
  parametric = bool(g.free_symbols - {P})

  def consider(loss: sp.Expr | None, source: str) -> bool:
    """Check a candidate; True when it is good enough to stop searching."""
    if loss is None or _unevaluated(loss) or loss.has(sp.exp_polar):
      return False
    if loss.has(sp.I):
      real = _attempt(lambda: _realify(loss, domains), STEP_SECONDS, notes, "making real")
      if real is not None and not real.has(sp.I):
        simplified = _attempt(lambda: sp.simplify(real), STEP_SECONDS, notes, "simplify")
        loss = real if simplified is None else simplified
    checked = _attempt(lambda: _verify(g, loss, domains), 2 * STEP_SECONDS, notes,
                       f"check of the {source}")
    verified, how = checked if checked is not None else (None, "check timed out")
    if verified is False:
      notes.append(f"{source} rejected: dL/dp ≠ g ({how})")
      return False
    rank = _rank(loss, g)
    candidates.append((rank, loss, verified, how))
    # Stop at a checked real form: elementary, or with parameters left (for which the
    # antiderivative in p only adds exp(iπγ)-type branch factors).
    return verified is True and rank[0] == 0 and (rank[1] == 0 or parametric)

  done = consider(explicit, "finite form")
  if stable is not None and explicit is None:  # non-integer exponent: Lerch Φ first
    done = consider(stable, "Lerch form")
  for source, strategy in (("definite integral in q = 1 - p", _definite_loss),
                           ("antiderivative in p", _antiderivative_loss)):
    if done:
      break
    seconds = IMPROVE_SECONDS if any(c[2] is True for c in candidates) else ATTEMPT_SECONDS
    raw = _attempt(lambda strategy=strategy: strategy(g, notes), seconds, notes, source)
    if raw is None:
      continue
    loss = _attempt(lambda raw=raw: sp.simplify(raw), STEP_SECONDS, notes, "simplify")
    done = consider(raw if loss is None else loss, source)
  if not candidates:
    notes.append("no closed form found: the loss is integrated numerically")
    return _Solution(None, None, "no closed form (numeric integration)", stable, tuple(notes))
  _, loss, verified, how = min(candidates, key=lambda c: (c[2] is not True, c[0]))
  return _Solution(loss, verified, how, stable, tuple(notes))


def _check_domain(g: sp.Expr, notes: list[str]) -> None:
  """Raise when g is not continuous on all of (0, 1) (SymPy's `continuous_domain`)."""
  interval = sp.Interval.open(0, 1)
  found = _attempt(lambda: sp.calculus.util.continuous_domain(g, P, interval), STEP_SECONDS,
                   notes, "continuity check")
  if found is not None and found != interval:
    raise ValueError(
        f"g(p) = {g} is not continuous on all of (0, 1) (only on {found}); the loss "
        "∫_p^1 -g(t) dt needs g defined and continuous for every p in (0, 1).")


def _substitute(coef: ScaleCoefficient, given: Mapping[str, Any]) -> dict[str, sp.Expr]:
  """Validated exact values (2.5 -> 5/2) of the given parameters; others stay symbolic."""
  unknown = set(given) - set(coef.params)
  if unknown:
    raise ValueError(f"`{coef.name}` has no parameter(s) {sorted(unknown)}; it takes "
                     f"{sorted(coef.params) or 'none'}.")
  values = {}
  for name, value in given.items():
    if isinstance(value, sp.Basic) and value.is_number:
      value = float(value) if not value.is_Rational else value
    if not (is_concrete_number(value) or isinstance(value, sp.Rational)):
      raise ValueError(f"parameter `{name}` must be a number; got {value!r}.")
    if not coef.params[name].contains(float(value)):
      raise ValueError(f"`{name}` of `{coef.name}` must be {coef.params[name].describe()}; "
                       f"got {value!r}.")
    values[name] = value if isinstance(value, sp.Rational) else sp.nsimplify(value, rational=True)
  return values


@dataclasses.dataclass(frozen=True, eq=False)
class Derivation:
  """The loss derived from a scale coefficient: L(p) = ∫_p^1 -g(t) dt, L(1) = 0.

  Attributes:
    coefficient: the `ScaleCoefficient` derived from.
    params: the parameters substituted (exact SymPy numbers, e.g. γ = 5/2).
    g: the scale coefficient after substitution.
    loss: L(p) in closed form, or ``None`` when SymPy found none (then ``method == "numeric"``
      and the JAX loss integrates g numerically).
    method: ``"closed_form"`` or ``"numeric"``.
    verified: dL/dp = g checked (True/False), or ``None`` when there is nothing to check.
    verification: how: ``"symbolic"`` or ``"numeric at N points ..., max rel err ..."``.
    stable_form: for the Maki family g = c(1-p)^a/p, the form of L to evaluate near p → 1
      (the tail Σ_{j>a} (1-p)^j/j for integer a, (1-p)^(a+1) Φ(1-p, 1, a+1) otherwise).
    notes: remarks from the derivation (conditions, time-outs, stable forms).
  """

  coefficient: ScaleCoefficient
  params: Mapping[str, sp.Expr]
  g: sp.Expr
  loss: sp.Expr | None
  method: str
  verified: bool | None
  verification: str
  stable_form: sp.Expr | None = None
  notes: tuple[str, ...] = ()

  @functools.cached_property
  def properties(self) -> tuple[PropertyCheck, ...]:
    """`check_properties` of g (and L), at the coefficient's defaults for free parameters."""
    free = {s.name: s for s in self.g.free_symbols if s != P}
    defaults = {name: self.coefficient.defaults[name] for name in free
                if name in self.coefficient.defaults}
    if not free or set(defaults) != set(free):
      return check_properties(self.g, self.loss)
    subs = {free[name]: sp.nsimplify(value, rational=True) for name, value in defaults.items()}
    at = ", ".join(f"{name}={value:g}" for name, value in sorted(defaults.items()))
    checks = check_properties(self.g.subs(subs),
                              None if self.loss is None else self.loss.subs(subs))
    return tuple(dataclasses.replace(c, evidence=f"at the defaults {at}: {c.evidence}")
                 for c in checks)

  def latex(self) -> str:
    """``g(p) = ..., \\quad L(p) = ...`` (L as an integral when it has no closed form)."""
    loss = (sp.latex(self.loss) if self.loss is not None
            else r"\int_p^1 -g(t)\,dt \ \text{(numeric)}")
    return f"g(p) = {sp.latex(self.g)}, \\quad L(p) = {loss}"

  def hypergeometric_form(self) -> sp.Expr | None:
    """The loss (or its stable form) with Lerch Φ(z, 1, a) written as ₂F₁(1, a; a+1; z)/a."""
    source = self.loss if self.loss is not None and self.loss.has(sp.lerchphi) else (
        self.stable_form)
    if source is None or not source.has(sp.lerchphi):
      return None
    return _lerch_to_hyper(source)


def derive(formula_or_coefficient: str | sp.Expr | ScaleCoefficient, **params: Any) -> Derivation:
  """Derive the loss L(p) = ∫_p^1 -g(t) dt (L(1) = 0) from a scale coefficient g = dL/dp.

  Args:
    formula_or_coefficient: a `ScaleCoefficient`, a SymPy expression in ``p`` or a formula
      string (parsed safely, see `gradeng.parse_formula`; parameters are then ``real``).
    **params: numeric parameter values to substitute exactly (2.5 -> 5/2), checked against the
      coefficient's domains; parameters not given stay symbolic.

  Returns:
    A `Derivation`: ``.loss`` (closed form or ``None``), ``.verified``, ``.properties``,
    ``.latex()``.

  Raises:
    DivergentIntegralError: ∫_p^1 -g diverges at p = 1 (e.g. g = -1/(1-p)).
    ValueError: unknown parameters, values outside their domains, g not continuous on (0,1).
    gradeng.FormulaError: an invalid formula.

  Example:
    >>> derive("-(1-p)**gamma/p", gamma=2).loss
    p - (1 - p)**2/2 - log(p) - 1
  """
  coef = formula_or_coefficient
  if not isinstance(coef, ScaleCoefficient):
    coef = _coefficient_from_formula(coef)
  values = _substitute(coef, params)
  symbols = coef.symbols
  g = coef.expr.subs({symbols[name]: value for name, value in values.items()})
  free = {s.name for s in g.free_symbols if s != P}
  domains = {name: coef.params[name] for name in free}
  solution = _solve(g, _domains_key(domains))
  return Derivation(
      coefficient=coef, params=values, g=g, loss=solution.loss,
      method="numeric" if solution.loss is None else "closed_form",
      verified=solution.verified, verification=solution.verification,
      stable_form=solution.stable_form, notes=solution.notes)


# ---------------------------------------------------------------------------------------------
# Properties (Kilbas & Paringer §2-§3 and §7)


@dataclasses.dataclass(frozen=True)
class PropertyCheck:
  """One property of a scale coefficient on (0, 1).

  Attributes:
    name: what is claimed, e.g. ``"g → 0 as p → 1"``.
    holds: True/False, or None when it cannot be decided (e.g. free parameters).
    evidence: one line: the limit value, or the worst grid point found.
    values: the numbers behind the evidence (JSON-friendly: floats, strings, None).
  """

  name: str
  holds: bool | None
  evidence: str
  values: Mapping[str, Any] = dataclasses.field(default_factory=dict)


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
    if _is_finite_number(value) and value.is_real:
      return float(value)
    return str(value)
  if isinstance(value, mpmath.mpc):
    return str(value)
  return float(value)


def _limit(g: sp.Expr, direction: str) -> sp.Expr | None:
  """lim g at p → 1⁻ (``"-"``) or p → 0⁺ (``"+"``) by SymPy, None if it fails or times out."""
  target = 1 if direction == "-" else 0
  value = _attempt(lambda: sp.limit(g, P, target, direction), STEP_SECONDS, [], "limit")
  if value is None or value.has(sp.Limit) or not value.is_number and not isinstance(
      value, sp.AccumBounds):
    return None
  return value


def _numeric_limit(fn: Callable[..., Any], points: list[mpmath.mpf]) -> list[Any]:
  with mpmath.workdps(GRID_DIGITS + 60):
    return [_evaluate(fn, x) for x in points]


def _check_vanishes(g: sp.Expr, fn: Callable[..., Any]) -> PropertyCheck:
  value = _limit(g, "-")
  if value is not None:
    holds = bool(value == 0)
    return PropertyCheck(VANISHES, holds, f"lim_{{p→1⁻}} g(p) = {value}",
                         {"limit": _json_number(value), "method": "symbolic"})
  near = _numeric_limit(fn, [1 - mpmath.mpf(10)**-30, 1 - mpmath.mpf(10)**-60])
  if any(v is None for v in near):
    return PropertyCheck(VANISHES, None, "limit unknown: g cannot be evaluated near p = 1", {})
  holds = abs(near[1]) < 1e-10 and abs(near[1]) <= abs(near[0])
  return PropertyCheck(VANISHES, holds,
                       f"numeric: g(1-1e-30) = {mpmath.nstr(near[0], 5)}, "
                       f"g(1-1e-60) = {mpmath.nstr(near[1], 5)}",
                       {"limit": None, "g(1-1e-30)": _json_number(near[0]),
                        "g(1-1e-60)": _json_number(near[1]), "method": "numeric"})


def _check_bounded(g: sp.Expr, fn: Callable[..., Any]) -> PropertyCheck:
  value = _limit(g, "+")
  if value is not None:
    if isinstance(value, sp.AccumBounds):
      holds = not _is_infinite(value.min) and not _is_infinite(value.max)
    else:
      holds = not _is_infinite(value)
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
      slope = _evaluate(slope_fn, x)
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
  if len(signs) == 1 and _attempt(lambda: _monotone_symbolic(g, signs.pop()), STEP_SECONDS, [],
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
      pairs = [(_evaluate(loss_fn, x), x) for x in grid]
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
      pairs = [(_evaluate(lambda x: mpmath.quad(lambda t: -g_fn(t), [x, 1]), x), x)
               for x in grid[::10]]
    pairs = [(v, x) for v, x in pairs if v is not None and not isinstance(v, mpmath.mpc)]
    method = "quadrature"
  if not pairs:
    return PropertyCheck(NONNEGATIVE_LOSS, None, "L cannot be evaluated on (0, 1)", {})
  lowest, at = min(pairs, key=lambda item: item[0])
  scale = max(abs(v) for v, _ in pairs)
  holds = bool(lowest >= -mpmath.mpf(10)**-20 * max(scale, 1))
  return PropertyCheck(NONNEGATIVE_LOSS, holds,
                       f"{method}: min L = {mpmath.nstr(lowest, 4)} at p = {mpmath.nstr(at, 15)} "
                       f"over {len(pairs)} points",
                       {"min_loss": _json_number(lowest), "at": _json_number(at),
                        "method": method})


@functools.lru_cache(maxsize=256)
def _check_properties(g: sp.Expr, loss: sp.Expr | None) -> tuple[PropertyCheck, ...]:
  free = sorted(s.name for s in (g.free_symbols | (loss.free_symbols if loss is not None
                                                     else set())) if s != P)
  if free:
    evidence = f"depends on parameters {free}"
    return tuple(PropertyCheck(name, None, evidence, {"parameters": free})
                 for name in (MONOTONE, VANISHES, BOUNDED, NONNEGATIVE_LOSS))
  grid = probability_grid()
  g_fn = numeric_function(g, (P,))
  with mpmath.workdps(GRID_DIGITS):
    g_values = [_evaluate(g_fn, x) for x in grid]
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
    g: the scale coefficient in `gradeng.core._coefficient.P`, parameters substituted.
    loss: its closed-form loss, if known.

  Returns:
    Four `PropertyCheck` s in the order above; with free parameters left, each has
    ``holds=None`` and says so.
  """
  return _check_properties(g, loss)
