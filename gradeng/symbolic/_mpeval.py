"""Numeric evaluation of SymPy expressions with mpmath, and the random admissible points at which
derivations are checked (checks, property grids, reports)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import mpmath
import sympy as sp

from gradeng.runtime import Domain
from gradeng.symbolic._variable import P

#: Digits of the numeric checks.
CHECK_DIGITS = 30
#: Points in (0, 1) on which the properties are checked, and the digits used.
GRID_POINTS = 400
GRID_DIGITS = 50


def numeric_function(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> Callable[..., Any]:
  """An mpmath function of ``symbols`` evaluating ``expr`` at the working precision.

  Uses `sympy.lambdify` with mpmath (rationals become exact mpf quotients); expressions it
  cannot print fall back to ``evalf`` with substitution. Lerch Φ(z, 1, a) is evaluated as
  ₂F₁(1, a; a+1; z)/a (mpmath's ``hyp2f1`` is ~1000x faster than its ``lerchphi``).

  Args:
    expr: a SymPy expression.
    symbols: its free symbols, in the order of the function's arguments.

  Returns:
    ``f(*values)`` returning an mpmath number.

  Example:
    >>> import mpmath
    >>> import sympy as sp
    >>> from gradeng.symbolic import P, numeric_function
    >>> f = numeric_function(sp.log(P) / P, (P,))
    >>> mpmath.nstr(f(mpmath.mpf("0.5")), 10)  # 2·log(1/2)
    '-1.386294361'
  """
  expr = lerch_to_hyper(expr)
  try:
    return sp.lambdify(symbols, expr, modules=["mpmath"])
  except Exception:  # pylint: disable=broad-except  # any printer failure -> evalf fallback
    pass

  def evaluate(*values):
    subs = {s: sp.Float(mpmath.nstr(v, mpmath.mp.dps + 5), mpmath.mp.dps + 5)
            for s, v in zip(symbols, values)}
    return sp.N(expr, mpmath.mp.dps, subs=subs)

  return evaluate


def derivative(expr: sp.Expr, x: sp.Symbol = P) -> sp.Expr:
  """d expr/dx (x = p by default), term by term (SymPy's `diff` of a long sum is slow: ~30 s for the 51 terms of
  -log p - Σ_{j≤50} (1-p)^j/j, against milliseconds term by term)."""
  return sp.Add(*[sp.diff(term, x) for term in sp.Add.make_args(expr)])


def lerch_to_hyper(expr: sp.Expr) -> sp.Expr:
  """Φ(z, 1, a) = Σ_n z^n/(n+a) = ₂F₁(1, a; a+1; z)/a (the terms agree: (a)_n/(a+1)_n = a/(a+n))."""
  return expr.replace(
      lambda e: isinstance(e, sp.lerchphi) and e.args[1] == 1,
      lambda e: sp.hyper([1, e.args[2]], [e.args[2] + 1], e.args[0]) / e.args[2])


def as_mp(value: Any) -> mpmath.mpf | mpmath.mpc | None:
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


def evaluate(fn: Callable[..., Any], *args: Any) -> mpmath.mpf | mpmath.mpc | None:
  """``fn(*args)`` as a finite mpmath number, ``None`` where undefined or not finite."""
  try:
    return as_mp(fn(*args))
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


def sample_domain(domain: Domain, rng: random.Random) -> sp.Rational:
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


def sampled_ranges(free: tuple[sp.Symbol, ...], domains: Mapping[str, Domain]) -> str:
  """`` with gamma in [0, 3]`` for the message of a check at random parameter values."""
  if not free:
    return ""
  ranges = [f"{s.name} in [{lo:g}, {hi:g}]"
            for s in free for lo, hi in [sampling_interval(domains.get(s.name, Domain()))]]
  return " with " + ", ".join(ranges)
