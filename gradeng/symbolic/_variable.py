"""The runtime's `gradeng.runtime.Variable` read exactly: SymPy bounds, reference and symbol.

`SymbolicVariable` carries what derivation needs (the symbol with assumptions from the domain,
the exact bounds, the open interval, sample points); `as_variable` makes one from a runtime
`Variable`, a name or itself, and `to_runtime` gives the runtime's plain-data form back.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import sympy as sp

from gradeng.runtime import InputError
from gradeng.runtime import Variable
from gradeng.runtime import as_variable as _runtime_variable

#: Width of the range sampled beyond the finite end of an unbounded domain (d ≥ 0: d in [0, 3]).
SAMPLE_WIDTH = 3

_SYMBOLS: dict[tuple[str, bool], sp.Symbol] = {}


def exact(value: Any) -> sp.Expr:
  """A SymPy number or expression (floats as exact decimals: 0.5 -> 1/2, inf -> oo)."""
  if isinstance(value, sp.Basic):
    return value
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise TypeError(f"a bound or reference point must be a number or SymPy expression; got "
                    f"{value!r}.")
  if math.isinf(value):
    return sp.oo if value > 0 else -sp.oo
  return sp.nsimplify(value, rational=True)


@dataclasses.dataclass(frozen=True)
class SymbolicVariable:
  """A variable with exact SymPy ``lower``, ``upper`` and ``reference`` (see `Variable`).

  Attributes:
    name: the symbol's name (``"p"``, ``"s"``, ``"d"``).
    lower: lower end of the domain (SymPy, ``-oo`` allowed).
    upper: upper end of the domain (SymPy, ``oo`` allowed).
    reference: the point where L = 0 (a number or an expression in the parameters).
    description: what the variable is.

  Example:
    >>> from gradeng.symbolic import as_variable
    >>> s = as_variable("s")
    >>> s.symbol, s.interval, s.reference
    (s, Interval.open(-1, 1), -1)
  """

  name: str
  lower: sp.Expr
  upper: sp.Expr
  reference: sp.Expr
  description: str = ""

  @property
  def symbol(self) -> sp.Symbol:
    """The SymPy symbol (positive when the domain is, so that SymPy simplifies log, powers);
    one object per name and assumptions."""
    positive = bool(self.lower.is_number and self.lower >= 0)
    return _SYMBOLS.setdefault((self.name, positive), sp.Symbol(
        self.name, **({"positive": True} if positive else {"real": True})))

  @property
  def interval(self) -> sp.Interval:
    """The open domain (lower, upper) on which g must be defined and continuous."""
    return sp.Interval.open(self.lower, self.upper)

  @property
  def side(self) -> str | None:
    """``"upper"``/``"lower"`` when the reference is that end of the domain, else ``None``."""
    return to_runtime(self).side

  def describe(self) -> str:
    """``p in [0, 1], L = 0 at p = 1`` (for messages)."""
    return to_runtime(self).describe()

  def point(self, fraction: Any) -> sp.Expr:
    """The point at ``fraction`` ∈ (0, 1) of the domain (exact): lower + fraction·(upper -
    lower), with an infinite end replaced by `SAMPLE_WIDTH` from the finite one. Numeric checks
    sample the variable here."""
    fraction = exact(fraction)
    lower, upper = self.lower, self.upper
    if lower.is_infinite and upper.is_infinite:
      lower, upper = -sp.Integer(SAMPLE_WIDTH), sp.Integer(SAMPLE_WIDTH)
    elif upper.is_infinite:
      upper = lower + SAMPLE_WIDTH
    elif lower.is_infinite:
      lower = upper - SAMPLE_WIDTH
    return lower + fraction * (upper - lower)

  def with_reference(self, reference: Any) -> SymbolicVariable:
    """The same variable with another reference point (e.g. a margin)."""
    return dataclasses.replace(self, reference=exact(reference))


def as_variable(spec: Variable | SymbolicVariable | str | None) -> SymbolicVariable:
  """A `SymbolicVariable` from itself, a runtime `Variable` with a numeric reference, ``None``
  (p) or a name (a reference given as formula text is read by `gradeng.symbolic.read_variable`,
  which knows the parameters' domains).

  Args:
    spec: a `SymbolicVariable`, a runtime `Variable`, ``None`` or a name.

  Returns:
    The `SymbolicVariable`.

  Raises:
    InputError: a reference given as a formula, or an unknown name.

  Example:
    >>> from gradeng.symbolic import P, as_variable
    >>> as_variable(None).symbol is P
    True
    >>> as_variable("d").interval
    Interval.open(0, oo)
  """
  if isinstance(spec, SymbolicVariable):
    return spec
  variable = _runtime_variable(spec)
  if isinstance(variable.reference, str):
    raise InputError(f"the reference {variable.reference!r} of variable `{variable.name}` is a "
                     "formula; read it with `gradeng.symbolic.read_variable(variable, domains)`.")
  return SymbolicVariable(variable.name, exact(variable.lower), exact(variable.upper),
                          exact(variable.reference), variable.description)


def to_runtime(variable: SymbolicVariable) -> Variable:
  """The runtime's plain-data `Variable` (a symbolic reference becomes its formula text)."""
  def plain(value: sp.Expr) -> float | int | str:
    if value.is_infinite:
      return math.inf if value > 0 else -math.inf
    if value.is_Integer:
      return int(value)
    if value.is_number:
      return float(value)
    return str(value)

  for bound in (variable.lower, variable.upper):
    if bound.free_symbols:
      raise InputError(f"the bounds of variable `{variable.name}` must be numbers; got {bound}.")
  return Variable(variable.name, plain(variable.lower), plain(variable.upper),
                  plain(variable.reference), variable.description)


PROBABILITY = as_variable("p")
SIMILARITY = as_variable("s")
DISTANCE = as_variable("d")
#: The symbol for the probability of the true class in every coefficient expression.
P = PROBABILITY.symbol
