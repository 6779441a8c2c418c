"""The scale coefficient g(p) = dL/dp: the one object every loss in gradeng is built from.

Kilbas & Paringer (2020), §2.1: for a classification loss L(p) of the probability p of the
true class, dL/dW = (dL/dp)(dp/dW); only the *scale coefficient* g = dL/dp depends on the loss.
A `ScaleCoefficient` holds g symbolically (for derivation, LaTeX and property checks) and,
optionally, hand-written log-space JAX forms of the logit weight w(p) = p·g(p) and of the loss
L(p) = ∫_p^1 -g(t) dt. Where those are absent they are generated from the symbolic g.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gradeng.runtime._errors import InputError
from gradeng.runtime._lazy import LazyField, is_sympy
from gradeng.runtime._variable import PROBABILITY, Variable

if TYPE_CHECKING:
  import sympy as sp

  #: The symbol for the probability of the true class in every coefficient expression.
  P: sp.Symbol


def __getattr__(name: str) -> Any:
  # `P` (= PROBABILITY.symbol, sp.Symbol("p", positive=True)) is made on first access, so that
  # importing this module does not import SymPy.
  if name == "P":
    return PROBABILITY.symbol
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

LogSpaceFn = Callable[..., Any]
"""A JAX function ``f(log_p, log_q, **params)`` of log p and log(1 - p) (elementwise)."""


@dataclasses.dataclass(frozen=True)
class Domain:
  """The admissible values of one hyper-parameter: an interval, optionally integers only.

  Attributes:
    lower: lower bound or ``None`` for -inf.
    upper: upper bound or ``None`` for +inf.
    lower_open: whether ``lower`` itself is excluded.
    upper_open: whether ``upper`` itself is excluded.
    integer: whether only integers are admissible.
  """

  lower: float | None = None
  upper: float | None = None
  lower_open: bool = False
  upper_open: bool = False
  integer: bool = False

  def describe(self) -> str:
    lo = "-inf" if self.lower is None else f"{self.lower:g}"
    hi = "inf" if self.upper is None else f"{self.upper:g}"
    left = "(" if self.lower_open or self.lower is None else "["
    right = ")" if self.upper_open or self.upper is None else "]"
    kind = "an integer" if self.integer else "a real number"
    return f"{kind} in {left}{lo}, {hi}{right}"

  def contains(self, value: float) -> bool:
    if not math.isfinite(value):
      return False
    if self.integer and value != int(value):
      return False
    if self.lower is not None and (value < self.lower or (self.lower_open and value == self.lower)):
      return False
    if self.upper is not None and (value > self.upper or (self.upper_open and value == self.upper)):
      return False
    return True

  def contains_traced(self, value):
    """``contains`` for JAX values, as a boolean array (used to poison traced inputs)."""
    import jax.numpy as jnp

    ok = jnp.isfinite(value)
    if self.integer:
      ok &= value == jnp.round(value)
    if self.lower is not None:
      ok &= (value > self.lower) if self.lower_open else (value >= self.lower)
    if self.upper is not None:
      ok &= (value < self.upper) if self.upper_open else (value <= self.upper)
    return ok

  def sympy_assumptions(self) -> dict[str, bool]:
    """Assumptions that help SymPy integrate (e.g. ``nonnegative`` for γ ≥ 0)."""
    assumptions: dict[str, bool] = {"real": True}
    if self.integer:
      assumptions["integer"] = True
    if self.lower is not None and self.lower >= 0:
      assumptions["positive" if (self.lower > 0 or self.lower_open) else "nonnegative"] = True
    return assumptions


REAL = Domain()
NONNEGATIVE = Domain(lower=0.0)
NONNEGATIVE_INTEGER = Domain(lower=0.0, integer=True)

_DOMAIN_NAMES = {
    "real": REAL,
    "nonnegative": NONNEGATIVE,
    "positive": Domain(lower=0.0, lower_open=True),
    "nonnegative_integer": NONNEGATIVE_INTEGER,
    "unit_interval": Domain(lower=0.0, upper=1.0),
}


def as_domain(spec: Domain | str) -> Domain:
  """A `Domain` from itself or from one of the names ``real``, ``nonnegative``, ``positive``,
  ``nonnegative_integer``, ``unit_interval``."""
  if isinstance(spec, Domain):
    return spec
  try:
    return _DOMAIN_NAMES[spec]
  except KeyError:
    raise InputError(
        f"Unknown parameter domain {spec!r}; expected a `Domain` or one of {sorted(_DOMAIN_NAMES)}."
    ) from None


def is_concrete_number(value: Any) -> bool:
  """Whether ``value`` is a plain Python/NumPy number (checkable now, not a JAX tracer)."""
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True, eq=False)
class ScaleCoefficient:
  """A loss specified by its scale coefficient g(p) = dL/dp (Kilbas & Paringer, §2.1).

  The loss is fixed by g and L(1) = 0:

  .. math::
    L(p) = \\int_p^1 -g(t)\\,dt, \\qquad
    \\frac{\\partial L}{\\partial z} = g(p_t) \\frac{\\partial p_t}{\\partial z}
    = w(p_t) \\frac{\\partial \\log p_t}{\\partial z}, \\quad w(p) = p\\,g(p).

  Attributes:
    name: short name (``"maki"``), also the catalog key.
    expr: g as a SymPy expression in the symbol `P` (``p``) and the parameter symbols. May be
      given as a function of no arguments that builds it: it is then built on first read and
      cached (the catalog's coefficients do this, so that ``import gradeng`` does not import
      SymPy; their losses never need it).
    params: parameter name -> `Domain`.
    defaults: default parameter values (e.g. ``{"gamma": 2.0}`` for focal loss).
    weight: optional stable JAX ``w(log_p, log_q, **params)``; generated from ``expr`` if absent.
    loss: optional stable JAX ``L(log_p, log_q, **params)``; derived (closed form checked
      against quadrature, else quadrature) if absent.
    latex_name: how figures and reports name the loss.
    reference: citation for docs and reports.
    variable: the variable g acts on and the point where L = 0 (`PROBABILITY`: p in (0, 1],
      L(1) = 0; a similarity or distance for pair weights, see `gradeng.runtime._variable`).
  """

  name: str
  expr: sp.Expr = LazyField(lambda coefficient, given: coefficient._build_expr(given))
  params: Mapping[str, Domain] = dataclasses.field(default_factory=dict)
  defaults: Mapping[str, float] = dataclasses.field(default_factory=dict)
  weight: LogSpaceFn | None = None
  loss: LogSpaceFn | None = None
  latex_name: str | None = None
  reference: str | None = None
  variable: Variable = PROBABILITY

  def __post_init__(self):
    object.__setattr__(self, "params", {k: as_domain(v) for k, v in dict(self.params).items()})
    given = vars(ScaleCoefficient)["expr"].given(self)
    if is_sympy(given):  # an expression: its symbols are checked now
      _ = self.expr
    elif not callable(given):
      raise TypeError(f"`expr` of coefficient `{self.name}` must be a SymPy expression or a "
                      f"function building one; got {given!r}.")

  def _build_expr(self, given: sp.Expr | Callable[[], sp.Expr]) -> sp.Expr:
    """``expr`` from what was given (an expression, or a function that builds one: the catalog
    builds its expressions on first use), its symbols checked against the parameters."""
    expr = given if is_sympy(given) else given()
    unknown = ({s.name for s in expr.free_symbols | self.variable.reference.free_symbols}
               - {self.variable.name} - set(self.params))
    if unknown:
      raise InputError(
          f"Coefficient `{self.name}` uses symbols {sorted(unknown)} that are neither "
          f"`{self.variable.name}` nor a "
          f"declared parameter ({sorted(self.params)})."
      )
    return expr

  @property
  def symbols(self) -> dict[str, sp.Symbol]:
    """Parameter name -> the SymPy symbol used in ``expr``."""
    import sympy as sp

    by_name = {s.name: s for s in self.expr.free_symbols}
    return {name: by_name.get(name, sp.Symbol(name)) for name in self.params}

  def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in, unknown names and out-of-domain concrete values rejected.

    Traced (JAX) values cannot be checked here; the loss functions poison them to NaN instead.
    """
    unknown = set(given) - set(self.params)
    if unknown:
      raise TypeError(
          f"`{self.name}` got unknown parameter(s) {sorted(unknown)}; it takes {sorted(self.params)}."
      )
    values = {**self.defaults, **given}
    missing = set(self.params) - set(values)
    if missing:
      raise TypeError(f"`{self.name}` needs parameter(s) {sorted(missing)} (no default).")
    for name, value in values.items():
      if is_concrete_number(value) and not self.params[name].contains(float(value)):
        raise InputError(
            f"`{name}` of `{self.name}` must be {self.params[name].describe()}; got {value!r}."
        )
    return values

  def with_params(self, **values: Any) -> sp.Expr:
    """g with the given parameters substituted (exact rationals/integers where possible)."""
    import sympy as sp

    values = self.resolve_params(values)
    subs = {self.symbols[k]: sp.nsimplify(v) if is_concrete_number(v) else v
            for k, v in values.items() if is_concrete_number(v)}
    return self.expr.subs(subs)

  def __repr__(self) -> str:
    return f"ScaleCoefficient({self.name!r}, g={self.expr}, params={sorted(self.params)})"
