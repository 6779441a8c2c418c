"""g(p), w(p) = p·g(p) and L(p) of a coefficient or a catalog name, as functions of p: what the
losses evaluate, for figures, reports and tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradeng.runtime._catalog import get_coefficient
from gradeng.runtime._coefficient import ScaleCoefficient
from gradeng.runtime._errors import InputError
from gradeng.runtime._losses import coefficient_kernel


def _evaluate(coefficient, p, params, part: str) -> jax.Array:
  if isinstance(coefficient, str):
    coefficient = get_coefficient(coefficient)
  if not isinstance(coefficient, ScaleCoefficient):
    raise InputError(f"expected a `ScaleCoefficient` or a catalog name; got {coefficient!r}.")
  params = coefficient.resolve_params(params)
  kernel, _ = coefficient_kernel(coefficient, params)
  p = jnp.asarray(p, jnp.promote_types(jnp.result_type(p), jnp.float32))
  return getattr(kernel, part)(jnp.log(p), jnp.log1p(-p), **params)


def logit_weight(coefficient: ScaleCoefficient | str, p, **params) -> jax.Array:
  """w(p) = p·g(p), the factor that reaches the logits (∂L/∂z = w·∂log p_t/∂z).

  ``coefficient`` is a `ScaleCoefficient` or a catalog name (``"maki"``).
  """
  return _evaluate(coefficient, p, params, "weight")


def scale_coefficient(coefficient: ScaleCoefficient | str, p, **params) -> jax.Array:
  """g(p), evaluated through the same log-space weight the losses use (g = w / p)."""
  p = jnp.asarray(p, jnp.promote_types(jnp.result_type(p), jnp.float32))
  return logit_weight(coefficient, p, **params) / p


def loss_value(coefficient: ScaleCoefficient | str, p, **params) -> jax.Array:
  """L(p) = ∫_p^1 -g(t) dt, the losses' forward value as a function of p."""
  return _evaluate(coefficient, p, params, "value")
