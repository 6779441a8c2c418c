"""The variable a coefficient acts on: its symbol, its domain and the reference point.

A classification loss is specified by g(p) = dL/dp on p ∈ (0, 1] with L(1) = 0 (Kilbas &
Paringer, §2.1). Pair- and triplet-based embedding losses L = Σ φ(s_ij) are specified the same
way by their *pair weight* w(s) = dφ/ds on a similarity s ∈ [-1, 1] or a distance d ≥ 0 (the
"general pair weighting" view of Wang et al., CVPR 2019). In each case the loss is the integral
of the coefficient from a *reference point* r where it vanishes,

.. math::
  L(x) = \\int_r^x g(t)\\,dt, \\qquad L(r) = 0,

and for p with r = 1 this is the paper's L(p) = ∫_p^1 -g(t) dt. A `Variable` holds x, its domain
and r as data, so that one derivation code path (`gradeng.symbolic._derive.derive`) serves all of
them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from gradeng.runtime._errors import InputError
from gradeng.runtime._lazy import LazyField, is_sympy

if TYPE_CHECKING:
  import sympy as sp

#: Width of the range sampled beyond the finite end of an unbounded domain (d ≥ 0: d in [0, 3]).
SAMPLE_WIDTH = 3


def _check_number(value: Any) -> None:
  """TypeError unless ``value`` is a number or a SymPy expression (checked without SymPy)."""
  if not is_sympy(value) and (isinstance(value, bool) or not isinstance(value, (int, float))):
    raise TypeError(f"a bound or reference point must be a number or SymPy expression; got "
                    f"{value!r}.")


def _exact(value: Any) -> sp.Expr:
  """A SymPy number or expression (floats as exact decimals: 0.5 -> 1/2)."""
  import sympy as sp

  _check_number(value)
  if isinstance(value, sp.Basic):
    return value
  if value in (float("inf"), float("-inf")):
    return sp.oo if value > 0 else -sp.oo
  return sp.nsimplify(value, rational=True)


def _exact_field(default: Any) -> LazyField:
  """A bound or reference point: given as a number (or SymPy), read as an exact SymPy number
  (built on first read, so that the module-level variables do not import SymPy)."""
  return LazyField(lambda variable, value: _exact(value), default)


_SYMBOLS: dict[tuple[str, bool], sp.Symbol] = {}


@dataclasses.dataclass(frozen=True)
class Variable:
  """The variable of a coefficient: name, domain [lower, upper] and reference point.

  ``lower``, ``upper`` and ``reference`` read back as exact SymPy numbers (0.5 -> 1/2,
  ``math.inf`` -> ``oo``), made on first read, so that the module's variables do not import SymPy.

  Attributes:
    name: the symbol's name in formulas (``"p"``, ``"s"``, ``"d"``).
    lower: lower end of the domain (a number, ``-oo`` allowed).
    upper: upper end of the domain (a number, ``oo`` allowed).
    reference: the point r where the loss is 0, L(x) = ∫_r^x g(t) dt: an end of the domain
      (p = 1, s = -1, d = 0) or an expression in the parameters (a margin ``m``).
    description: what the variable is, for messages and reports.
  """

  name: str
  lower: Any = _exact_field(0)
  upper: Any = _exact_field(1)
  reference: Any = _exact_field(1)
  description: str = ""

  def __post_init__(self):
    if not self.name.isidentifier() or self.name.startswith("_"):
      raise InputError(f"variable name {self.name!r} must be a plain identifier.")
    given = {field: vars(Variable)[field].given(self) for field in ("lower", "upper", "reference")}
    for value in given.values():
      _check_number(value)
    if any(is_sympy(value) for value in given.values()):  # SymPy is loaded: check exactly
      ordered = not (self.lower.is_number and self.upper.is_number) or self.lower < self.upper
    else:  # plain numbers (the module's variables): checked without importing SymPy
      ordered = given["lower"] < given["upper"]
    if not ordered:
      raise InputError(f"variable `{self.name}`: `lower` = {self.lower} must be below "
                       f"`upper` = {self.upper}.")

  @property
  def symbol(self) -> sp.Symbol:
    """The SymPy symbol (positive when the domain is, so that SymPy simplifies log, powers);
    one object per name and assumptions (``PROBABILITY.symbol is gradeng.runtime._coefficient.P``)."""
    import sympy as sp

    positive = bool(self.lower.is_number and self.lower >= 0)
    return _SYMBOLS.setdefault((self.name, positive), sp.Symbol(
        self.name, **({"positive": True} if positive else {"real": True})))

  @property
  def interval(self) -> sp.Interval:
    """The open domain (lower, upper) on which g must be defined and continuous."""
    import sympy as sp

    return sp.Interval.open(self.lower, self.upper)

  @property
  def side(self) -> str | None:
    """``"upper"``/``"lower"`` when the reference is that end of the domain, else ``None``."""
    if self.reference == self.upper:
      return "upper"
    if self.reference == self.lower:
      return "lower"
    return None

  def describe(self) -> str:
    """``p in (0, 1], L = 0 at p = 1`` (for messages)."""
    what = f" ({self.description})" if self.description else ""
    return f"{self.name}{what} in [{self.lower}, {self.upper}], L = 0 at {self.name} = {self.reference}"

  def point(self, fraction: Any) -> sp.Expr:
    """The point at ``fraction`` ∈ (0, 1) of the domain (exact): lower + fraction·(upper -
    lower), with an infinite end replaced by `SAMPLE_WIDTH` from the finite one. Numeric checks
    sample the variable here."""
    import sympy as sp

    fraction = _exact(fraction)
    lower, upper = self.lower, self.upper
    if lower.is_infinite and upper.is_infinite:
      lower, upper = -sp.Integer(SAMPLE_WIDTH), sp.Integer(SAMPLE_WIDTH)
    elif upper.is_infinite:
      upper = lower + SAMPLE_WIDTH
    elif lower.is_infinite:
      lower = upper - SAMPLE_WIDTH
    return lower + fraction * (upper - lower)

  def with_reference(self, reference: Any) -> Variable:
    """The same variable with another reference point (e.g. a margin)."""
    return dataclasses.replace(self, reference=reference)


#: The probability of the true class: L(p) = ∫_p^1 -g(t) dt (the paper's case).
PROBABILITY = Variable("p", 0, 1, 1, "probability of the true class")
#: A cosine similarity: φ(s) = ∫_{-1}^s w(t) dt, zero for the least similar pair.
SIMILARITY = Variable("s", -1, 1, -1, "cosine similarity")
#: A distance: φ(d) = ∫_0^d w(t) dt, zero for coincident embeddings.
DISTANCE = Variable("d", 0, math.inf, 0, "distance")

_NAMED = {"p": PROBABILITY, "probability": PROBABILITY, "s": SIMILARITY,
          "similarity": SIMILARITY, "d": DISTANCE, "distance": DISTANCE}


def as_variable(spec: Variable | str | None) -> Variable:
  """A `Variable` from itself, ``None`` (p) or a name: ``p``/``probability``,
  ``s``/``similarity``, ``d``/``distance``."""
  if spec is None:
    return PROBABILITY
  if isinstance(spec, Variable):
    return spec
  try:
    return _NAMED[spec]
  except (KeyError, TypeError):
    raise InputError(f"unknown variable {spec!r}; expected a `Variable` or one of "
                     f"{sorted(_NAMED)}.") from None
