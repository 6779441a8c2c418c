"""The scale coefficient g(p) = dL/dp: the one object every loss in gradeng is built from.

Kilbas & Paringer (2020), §2.1: for a classification loss L(p) of the probability p of the
true class, dL/dW = (dL/dp)(dp/dW); only the *scale coefficient* g = dL/dp depends on the loss.
A `ScaleCoefficient` is data: g as formula text (for reports, LaTeX and property checks on the
symbolic side), parameter domains and, for the runtime, log-space JAX forms of the logit weight
w(p) = p·g(p) and of the loss L(p) = ∫_p^1 -g(t) dt. A coefficient made from a formula by
`gradeng.coefficient` carries a *kernel builder* from `gradeng.symbolic` instead of hand-written
forms; the runtime calls it and never imports SymPy itself.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from gradeng.runtime._errors import InputError
from gradeng.runtime._variable import PROBABILITY, Variable

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

  Example:
    >>> import gradeng as ge
    >>> d = ge.Domain(lower=0.0, upper=1.0, upper_open=True)
    >>> d.describe()
    'a real number in [0, 1)'
    >>> d.contains(0.0), d.contains(1.0)
    (True, False)
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
    ok = jnp.isfinite(value)
    if self.integer:
      ok &= value == jnp.round(value)
    if self.lower is not None:
      ok &= (value > self.lower) if self.lower_open else (value >= self.lower)
    if self.upper is not None:
      ok &= (value < self.upper) if self.upper_open else (value <= self.upper)
    return ok



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
  ``nonnegative_integer``, ``unit_interval``.

  Args:
    spec: a `Domain` or a domain name.

  Returns:
    The `Domain`.

  Raises:
    InputError: an unknown name.

  Example:
    >>> from gradeng.runtime import as_domain
    >>> as_domain("positive").describe()
    'a real number in (0, inf)'
    >>> as_domain("nonnegative_integer").contains(2.5)
    False
  """
  if isinstance(spec, Domain):
    return spec
  try:
    return _DOMAIN_NAMES[spec]
  except KeyError:
    raise InputError(
        f"Unknown parameter domain {spec!r}; expected a `Domain` or one of {sorted(_DOMAIN_NAMES)}."
    ) from None


def is_concrete_number(value: Any) -> bool:
  """Whether ``value`` is a plain Python/NumPy number (checkable now, not a JAX tracer).

  Args:
    value: anything.

  Returns:
    True for real numbers other than ``bool`` (JAX arrays, even 0-d, are not).

  Example:
    >>> import numpy as np
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import is_concrete_number
    >>> is_concrete_number(2), is_concrete_number(np.float32(2)), is_concrete_number(True)
    (True, True, False)
    >>> is_concrete_number(jnp.float32(2))
    False
  """
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_parameter_value(value: Any) -> bool:
  """Whether ``value`` can be a hyper-parameter: a real number or a JAX/NumPy numeric array
  (traced values included)."""
  if is_concrete_number(value):
    return True
  if isinstance(value, (jax.Array, np.ndarray)):
    return np.issubdtype(value.dtype, np.number) and not np.issubdtype(value.dtype, np.complexfloating)
  return False


class KernelBuilder(Protocol):
  """What `gradeng.symbolic` attaches to a coefficient made from a formula: it compiles the
  runtime's kernel for given parameters (ahead of time, cached) and narrows the parameter domains
  for traced values. The runtime calls it; it never imports SymPy itself.

  Example:
    >>> import gradeng as ge
    >>> builder = ge.coefficient("-(1-p)**2/p", name="maki2").builder
    >>> callable(builder.kernel), callable(builder.traced_domains)
    (True, True)
  """

  def kernel(self, coefficient: ScaleCoefficient, params: Mapping[str, Any],
             timeout: float | None) -> tuple[Any, str]:
    """``(Kernel, forward_method)`` for these parameters (Python numbers static)."""

  def traced_domains(self, coefficient: ScaleCoefficient,
                     params: Mapping[str, Any]) -> Mapping[str, Domain]:
    """Parameter domains where ∫_p^1 -g converges, for parameters given as JAX values."""


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
    formula: g as text in `p` and the parameters, in the grammar of `gradeng.coefficient`
      (``"-(1-p)**gamma/p"``); what reports, LaTeX and property checks read (on the symbolic
      side, which parses it).
    params: parameter name -> `Domain` (or a domain name, see `as_domain`).
    defaults: default parameter values (e.g. ``{"gamma": 2.0}`` for focal loss).
    weight: stable JAX ``w(log_p, log_q, **params)``; with ``loss`` absent too, the loss needs a
      ``builder``.
    loss: stable JAX ``L(log_p, log_q, **params)``; if absent it is built by ``builder`` or, with
      ``weight`` alone, integrated numerically.
    latex_name: how figures and reports name the loss.
    reference: citation for docs and reports.
    variable: the variable g acts on and the point where L = 0 (`PROBABILITY`: p in (0, 1],
      L(1) = 0; a similarity or a distance for pair weights, see `Variable`).
    builder: compiles a kernel for a coefficient without hand-written forms (attached by
      `gradeng.coefficient`; see `KernelBuilder`).

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng import ScaleCoefficient
    >>> ce = ScaleCoefficient("ce", "-1/p", weight=lambda log_p, log_q: -jnp.ones_like(log_p),
    ...                       loss=lambda log_p, log_q: -log_p)
    >>> ce
    ScaleCoefficient('ce', g=-1/p, params=[])
  """

  name: str
  formula: str | None = None
  params: Mapping[str, Domain] = dataclasses.field(default_factory=dict)
  defaults: Mapping[str, float] = dataclasses.field(default_factory=dict)
  weight: LogSpaceFn | None = None
  loss: LogSpaceFn | None = None
  latex_name: str | None = None
  reference: str | None = None
  variable: Variable = PROBABILITY
  builder: KernelBuilder | None = None

  def __post_init__(self):
    object.__setattr__(self, "params", {k: as_domain(v) for k, v in dict(self.params).items()})
    object.__setattr__(self, "defaults", dict(self.defaults))
    if self.formula is not None and not isinstance(self.formula, str):
      raise TypeError(f"`formula` of coefficient `{self.name}` must be text such as "
                      f"\"-(1-p)**gamma/p\"; got {type(self.formula).__name__} (a SymPy expression "
                      "becomes a coefficient through `gradeng.coefficient(expr)`).")
    if self.weight is None and self.builder is None:
      raise InputError(f"coefficient `{self.name}` has neither a JAX `weight` nor a `builder`; "
                       f"make it from its formula with `gradeng.coefficient({self.formula!r})`.")
    unknown = set(self.defaults) - set(self.params)
    if unknown:
      raise InputError(f"default for unknown parameter(s) {sorted(unknown)}; `{self.name}` takes "
                       f"{sorted(self.params)}.")

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
      raise InputError(f"`{self.name}` needs a value for parameter(s) "
                       f"{', '.join(f'`{name}`' for name in sorted(missing))} (no default): "
                       f"give it when building or calling the loss, e.g. "
                       f"{sorted(missing)[0]}=1.0.")
    for name, value in values.items():
      if not is_parameter_value(value):
        raise InputError(f"`{name}` of `{self.name}` must be a number (or a JAX array); got "
                         f"{value!r} of type {type(value).__name__}.")
      if is_concrete_number(value) and not self.params[name].contains(float(value)):
        raise InputError(
            f"`{name}` of `{self.name}` must be {self.params[name].describe()}; got {value!r}."
        )
    return values

  def __repr__(self) -> str:
    return f"ScaleCoefficient({self.name!r}, g={self.formula}, params={sorted(self.params)})"
