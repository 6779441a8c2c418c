"""The variable a coefficient acts on: its name, its domain and the reference point.

A classification loss is specified by g(p) = dL/dp on p ∈ (0, 1] with L(1) = 0 (Kilbas &
Paringer, §2.1). Pair- and triplet-based embedding losses L = Σ φ(s_ij) are specified the same
way by their *pair weight* w(s) = dφ/ds on a similarity s ∈ [-1, 1] or a distance d ≥ 0 (the
"general pair weighting" view of Wang et al., CVPR 2019). In each case the loss is the integral
of the coefficient from a *reference point* r where it vanishes,

.. math::
  L(x) = \\int_r^x g(t)\\,dt, \\qquad L(r) = 0,

and for p with r = 1 this is the paper's L(p) = ∫_p^1 -g(t) dt. A `Variable` is plain data (numbers
and, for a reference that depends on the parameters, a formula string such as ``"m"``); the
symbolic side (`gradeng.symbolic`) reads it as exact SymPy numbers when it derives.
"""

from __future__ import annotations

import dataclasses
import math

from gradeng.runtime._errors import InputError


def _is_number(value: object) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class Variable:
  """The variable of a coefficient: name, domain [lower, upper] and reference point.

  Attributes:
    name: the symbol's name in formulas (``"p"``, ``"s"``, ``"d"``).
    lower: lower end of the domain (a number, ``-math.inf`` allowed).
    upper: upper end of the domain (a number, ``math.inf`` allowed).
    reference: the point r where the loss is 0, L(x) = ∫_r^x g(t) dt: a number (an end of the
      domain: p = 1, s = -1, d = 0) or a formula in the parameters (a margin ``"m"``).
    description: what the variable is, for messages and reports.

  Example:
    >>> import math
    >>> from gradeng.runtime import Variable
    >>> Variable("d", 0, math.inf, 0, "distance").side
    'lower'
  """

  name: str
  lower: float = 0
  upper: float = 1
  reference: float | str = 1
  description: str = ""

  def __post_init__(self):
    if not self.name.isidentifier() or self.name.startswith("_"):
      raise InputError(f"variable name {self.name!r} must be a plain identifier.")
    for field in ("lower", "upper"):
      if not _is_number(getattr(self, field)):
        raise TypeError(f"`{field}` of variable `{self.name}` must be a number; got "
                        f"{getattr(self, field)!r}.")
    if not (_is_number(self.reference) or isinstance(self.reference, str)):
      raise TypeError(f"`reference` of variable `{self.name}` must be a number or a formula "
                      f"string; got {self.reference!r}.")
    if not self.lower < self.upper:
      raise InputError(f"variable `{self.name}`: `lower` = {self.lower} must be below "
                       f"`upper` = {self.upper}.")

  @property
  def side(self) -> str | None:
    """``"upper"``/``"lower"`` when the reference is that end of the domain, else ``None``."""
    if self.reference == self.upper:
      return "upper"
    if self.reference == self.lower:
      return "lower"
    return None

  def describe(self) -> str:
    """``p in [0, 1], L = 0 at p = 1`` (for messages)."""
    what = f" ({self.description})" if self.description else ""
    return (f"{self.name}{what} in [{_show(self.lower)}, {_show(self.upper)}], L = 0 at "
            f"{self.name} = {_show(self.reference)}")

  def with_reference(self, reference: float | str) -> Variable:
    """The same variable with another reference point (e.g. a margin ``"m"``)."""
    return dataclasses.replace(self, reference=reference)


def _show(value: float | str) -> str:
  if isinstance(value, str):
    return value
  if math.isinf(value):
    return "oo" if value > 0 else "-oo"
  return str(int(value)) if float(value).is_integer() else str(value)


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
  ``s``/``similarity``, ``d``/``distance``.

  Args:
    spec: a `Variable`, ``None`` or a name.

  Returns:
    The `Variable` (`PROBABILITY`, `SIMILARITY` or `DISTANCE` for the names).

  Raises:
    InputError: an unknown name.

  Example:
    >>> from gradeng.runtime import as_variable
    >>> as_variable(None).describe()
    'p (probability of the true class) in [0, 1], L = 0 at p = 1'
    >>> as_variable("distance").side
    'lower'
  """
  if spec is None:
    return PROBABILITY
  if isinstance(spec, Variable):
    return spec
  try:
    return _NAMED[spec]
  except (KeyError, TypeError):
    raise InputError(f"unknown variable {spec!r}; expected a `Variable` or one of "
                     f"{sorted(_NAMED)}.") from None
