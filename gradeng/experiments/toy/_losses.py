"""The catalog losses as the toy simulations use them: one traced hyper-parameter per loss.

A simulation cell trains under one loss *kind* (``"ce"``, ``"focal"``, ...) with one value of
that kind's hyper-parameter (γ, ε or q). The kind is static: the sweep compiles one program per
kind. The hyper-parameter is a traced scalar, so a whole grid of values is ``vmap``ped through
one compilation. Every loss comes from `gradeng` (`ge.focal_loss`, `ge.maki_loss`, ...); this
module only maps a loss name to its function and its one hyper-parameter, and checks values.

A user's own loss enters as a `FormulaLoss` (g(p) as a formula with fixed parameters, named in a
config's ``formulas``): it trains on the same data, seeds and budget as the catalog losses, through
the one path `ge.coefficient` → `ge.loss_from_coefficient`, and has no swept hyper-parameter.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

import gradeng as ge

from gradeng.runtime import InputError

#: loss name -> (gradeng function name, name of its swept hyper-parameter or None)
TOY_LOSSES: dict[str, tuple[str, str | None]] = {
    "ce": ("cross_entropy_loss", None),
    "focal": ("focal_loss", "gamma"),
    "maki": ("maki_loss", "gamma"),
    "qce": ("qce_loss", None),
    "poly1": ("poly1_loss", "epsilon"),
    "gce": ("gce_loss", "q"),
}

LossFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]
"""``f(logits, labels, hyper) -> per-element losses`` (sigmoid head, hard labels)."""


@dataclasses.dataclass(frozen=True)
class FormulaLoss:
  """A user loss in the toy sweeps: the scale coefficient g(p) = dL/dp as a formula.

  Attributes:
    formula: g(p) as text (`ge.coefficient` parses it), e.g. ``"-(1-p)**gamma/p"``.
    params: the formula's parameters, fixed: sorted ``((name, value), ...)``.

  Example:
    >>> from gradeng.experiments.toy import FormulaLoss
    >>> FormulaLoss.create("-(1-p)**gamma/p", {"gamma": 3})
    FormulaLoss(formula='-(1-p)**gamma/p', params=(('gamma', 3.0),))
  """

  formula: str
  params: tuple[tuple[str, float], ...] = ()

  @classmethod
  def create(cls, formula: str,
             params: Mapping[str, float] | Sequence | None = None) -> "FormulaLoss":
    """A checked `FormulaLoss` from a formula and a parameter mapping (or pairs, as JSON gives)."""
    if not isinstance(formula, str) or not formula.strip():
      raise InputError(f"A formula loss needs g(p) as a non-empty string; got {formula!r}.")
    items = dict(params.items() if isinstance(params, Mapping) else (params or ()))
    checked = []
    for key, value in items.items():
      if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(f"Parameter `{key}` of `{formula}` must be a finite number; got "
                         f"{value!r}.")
      checked.append((str(key), float(value)))
    return cls(formula.strip(), tuple(sorted(checked)))


def resolve(name: str, formulas: Sequence[tuple[str, FormulaLoss]] = ()) -> "str | FormulaLoss":
  """The loss a grid entry names: its `FormulaLoss` if ``formulas`` defines ``name``, else the
  catalog name itself (what `loss_fn` and the functions below take)."""
  return dict(formulas).get(name, name)


@functools.lru_cache(maxsize=32)
def _formula_loss(loss: FormulaLoss):
  """The per-element JAX loss and its coefficient (built once per formula: SymPy runs ahead of
  time, then the compiled kernel is cached)."""
  coefficient = ge.coefficient(loss.formula)
  return ge.loss_from_coefficient(coefficient, **dict(loss.params)), coefficient


def check_loss_name(name: str) -> None:
  """Raises `ValueError` unless ``name`` is one of `TOY_LOSSES`."""
  if name not in TOY_LOSSES:
    raise InputError(f"Unknown loss `{name}`; expected one of {sorted(TOY_LOSSES)}.")


def hyper_name(name: str) -> str | None:
  """The swept hyper-parameter of loss ``name`` (``"gamma"`` for focal), or None."""
  check_loss_name(name)
  return TOY_LOSSES[name][1]


def check_hypers(name: str, values: Sequence[float | None]) -> tuple[float | None, ...]:
  """Validates the hyper-parameter values swept for loss ``name``; returns them as a tuple.

  A loss without a hyper-parameter (``ce``, ``qce``) takes exactly ``(None,)``. Values of the
  others are checked against the parameter's domain in `ge.CATALOG`.
  """
  param = hyper_name(name)
  values = tuple(values)
  if not values:
    raise InputError(f"Empty grid: no hyper-parameter values for loss `{name}`.")
  if param is None:
    if values != (None,):
      raise InputError(f"Loss `{name}` has no hyper-parameter; got values {list(values)}.")
    return values
  checked = []
  for value in values:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
      raise InputError(f"`{param}` of `{name}` must be a number; got {value!r}.")
    if not math.isfinite(value):
      raise InputError(f"`{param}` of `{name}` must be finite; got {value!r}.")
    ge.CATALOG[name].resolve_params({param: value})
    checked.append(float(value))
  return tuple(checked)


def loss_fn(name: "str | FormulaLoss") -> LossFn:
  """``f(logits, labels, hyper)``: the per-element catalog loss ``name`` with a traced hyper
  (a `FormulaLoss` ignores ``hyper``)."""
  if isinstance(name, FormulaLoss):
    function = _formula_loss(name)[0]
    return lambda logits, labels, hyper: function(logits, labels)
  function_name, param = TOY_LOSSES[name]
  function = getattr(ge, function_name)
  if param is None:
    return lambda logits, labels, hyper: function(logits, labels)
  return lambda logits, labels, hyper: function(logits, labels, **{param: hyper})


def swept_scale_coefficient(name: "str | FormulaLoss", p: jax.Array, hyper: jax.Array) -> jax.Array:
  """g(p) = dL/dp of loss ``name`` at probability ``p`` of the true class."""
  if isinstance(name, FormulaLoss):
    return ge.scale_coefficient(_formula_loss(name)[1], p, **dict(name.params))
  param = TOY_LOSSES[name][1]
  params = {} if param is None else {param: hyper}
  return ge.scale_coefficient(ge.CATALOG[name], p, **params)


def logit_gradients(name: "str | FormulaLoss", logits: jax.Array, labels: jax.Array,
                    hyper: jax.Array) -> jax.Array:
  """dL_i/dz_i for every element (the loss summed, so each entry is its own example's)."""
  fn = loss_fn(name)
  return jax.grad(lambda z: jnp.sum(fn(z, labels, hyper)))(logits)
