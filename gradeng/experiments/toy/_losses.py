"""The catalog losses as the toy simulations use them: one traced hyper-parameter per loss.

A simulation cell trains under one loss *kind* (``"ce"``, ``"focal"``, ...) with one value of
that kind's hyper-parameter (γ, ε or q). The kind is static: the sweep compiles one program per
kind. The hyper-parameter is a traced scalar, so a whole grid of values is ``vmap``ped through
one compilation. Every loss comes from `gradeng` (`ge.focal_loss`, `ge.maki_loss`, ...); this
module only maps a loss name to its function and its one hyper-parameter, and checks values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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


def loss_fn(name: str) -> LossFn:
  """``f(logits, labels, hyper)``: the per-element catalog loss ``name`` with a traced hyper."""
  function_name, param = TOY_LOSSES[name]
  function = getattr(ge, function_name)
  if param is None:
    return lambda logits, labels, hyper: function(logits, labels)
  return lambda logits, labels, hyper: function(logits, labels, **{param: hyper})


def swept_scale_coefficient(name: str, p: jax.Array, hyper: jax.Array) -> jax.Array:
  """g(p) = dL/dp of loss ``name`` at probability ``p`` of the true class."""
  param = TOY_LOSSES[name][1]
  params = {} if param is None else {param: hyper}
  return ge.scale_coefficient(ge.CATALOG[name], p, **params)


def logit_gradients(name: str, logits: jax.Array, labels: jax.Array,
                    hyper: jax.Array) -> jax.Array:
  """dL_i/dz_i for every element (the loss summed, so each entry is its own example's)."""
  fn = loss_fn(name)
  return jax.grad(lambda z: jnp.sum(fn(z, labels, hyper)))(logits)
