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

  .. math::
    w(p) = p\\,g(p), \\qquad \\frac{\\partial L}{\\partial z} = w(p_t)\\,
    \\frac{\\partial \\log p_t}{\\partial z}

  Args:
    coefficient: a `ScaleCoefficient` or a catalog name.
    p: probabilities in (0, 1], any shape.
    **params: the coefficient's hyper-parameters (defaults filled in).

  Returns:
    w(p), shape of ``p``, at least float32.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> p = jnp.array([0.1, 0.5, 0.9])
    >>> print(np.asarray(ge.logit_weight("ce", p), float).round(4))
    [-1. -1. -1.]
    >>> print(np.asarray(ge.logit_weight("focal", p, gamma=2.0), float).round(4))
    [-1.2245 -0.5966 -0.029 ]
  """
  return _evaluate(coefficient, p, params, "weight")


def scale_coefficient(coefficient: ScaleCoefficient | str, p, **params) -> jax.Array:
  """g(p) = dL/dp, evaluated through the same log-space weight the losses use (g = w / p).

  Args:
    coefficient: a `ScaleCoefficient` or a catalog name.
    p: probabilities in (0, 1], any shape.
    **params: the coefficient's hyper-parameters (defaults filled in).

  Returns:
    g(p), shape of ``p``, at least float32.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> p = jnp.array([0.1, 0.5, 0.9])
    >>> print(np.asarray(ge.scale_coefficient("ce", p), float).round(4))  # -1/p
    [-10.      -2.      -1.1111]
    >>> print(np.asarray(ge.scale_coefficient("maki", p, gamma=2), float).round(4))  # -(1-p)²/p
    [-8.1    -0.5    -0.0111]
  """
  p = jnp.asarray(p, jnp.promote_types(jnp.result_type(p), jnp.float32))
  return logit_weight(coefficient, p, **params) / p


def loss_value(coefficient: ScaleCoefficient | str, p, **params) -> jax.Array:
  """L(p) = ∫_p^1 -g(t) dt, the losses' forward value as a function of p.

  .. math::
    L(p) = \\int_p^1 -g(t)\\,dt, \\qquad L(1) = 0

  Args:
    coefficient: a `ScaleCoefficient` or a catalog name.
    p: probabilities in (0, 1], any shape.
    **params: the coefficient's hyper-parameters (defaults filled in).

  Returns:
    L(p), shape of ``p``, at least float32.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> p = jnp.array([0.1, 0.5, 0.9])
    >>> print(np.asarray(ge.loss_value("ce", p), float).round(4))  # -log p
    [2.3026 0.6931 0.1054]
    >>> print(np.asarray(ge.loss_value("maki", p, gamma=1), float).round(4))  # -log p - (1 - p)
    [1.4026 0.1931 0.0054]
  """
  return _evaluate(coefficient, p, params, "value")
