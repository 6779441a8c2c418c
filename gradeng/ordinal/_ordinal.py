"""Gaussian-blurred target distributions over ordered classes (label distribution learning).

For an ordinal target (an age, a count) a one-hot softmax target charges a prediction one class
off exactly as much as one fifty classes off, and L2 regression pulls towards the mean. The
blurred softmax of the loss-design blog (age estimation) and of label distribution learning
(Gao et al. 2017) trains the softmax head instead against a discretised Gaussian centred on the
label:

.. math::
   q_k(y) = \\frac{\\exp\\left(-(k - y)^2 / 2\\sigma^2\\right)}
                 {\\sum_{j=0}^{C-1} \\exp\\left(-(j - y)^2 / 2\\sigma^2\\right)},
   \\qquad k = 0, \\dots, C - 1,

computed as a ``log_softmax`` of the exponents (no underflow to an all-zero row, rows sum to 1
for every σ > 0). Any catalog loss on the softmax head takes the result as its target
distribution, ``L = Σ_c q_c L(p_c)`` (``ge.cross_entropy_loss(logits, q, head="softmax")`` is
the cross-entropy ``-Σ_c q_c log p_c``, equal to ``optax.softmax_cross_entropy``). As σ → 0 the
target becomes one-hot; as σ → ∞ uniform.

References:
  Gao, B.-B., Xing, C., Xie, C.-W., Wu, J., Geng, X. "Deep Label Distribution Learning With
  Label Ambiguity", IEEE TIP 2017.
  Rothe, R., Timofte, R., Van Gool, L. "DEX: Deep EXpectation of apparent age from a single
  image", ICCV workshops 2015 (expected value of the softmax as the prediction).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def gaussian_label_distribution(labels, num_classes: int, *, sigma: float,
                                dtype=jnp.float32) -> jax.Array:
  """Discretised Gaussian target distributions ``[..., num_classes]`` centred on ``labels``.

  .. math::
     q_k(y) \\propto \\exp\\left(-\\frac{(k - y)^2}{2\\sigma^2}\\right), \\quad
     \\sum_k q_k = 1

  Args:
    labels: ``[...]`` ordinal labels: integers in ``{0, …, C-1}`` or real values in
      ``[0, C-1]`` (a real-valued target such as an age in years is blurred around its value).
    num_classes: C, the number of ordered classes (≥ 2).
    sigma: the blur σ in classes, a finite number > 0 (σ → 0 is the one-hot target: pass the
      integer labels to the loss instead).
    dtype: floating dtype of the result.

  Returns:
    ``[..., C]`` rows ≥ 0 that sum to 1. Labels outside ``[0, C-1]`` raise ``ValueError`` when
    concrete and give NaN rows under ``jit``.

  Example:
    >>> import gradeng as ge
    >>> q = ge.ordinal.gaussian_label_distribution(1, 3, sigma=1.0)  # [e^-½, 1, e^-½] / (1 + 2e^-½)
    >>> [round(float(v), 4) for v in q]
    [0.2741, 0.4519, 0.2741]
  """
  if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 2:
    raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
  if isinstance(sigma, (int, float)) and not (math.isfinite(sigma) and sigma > 0):
    raise ValueError(f"`sigma` must be a finite number > 0 (in classes), got {sigma!r}.")
  if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
    raise TypeError(f"`dtype` must be floating-point, got {dtype}.")
  labels = jnp.asarray(labels)
  if not (jnp.issubdtype(labels.dtype, jnp.integer) or jnp.issubdtype(labels.dtype, jnp.floating)):
    raise TypeError(f"`labels` must be integers or real numbers, got dtype {labels.dtype}.")
  compute = jnp.promote_types(dtype, jnp.float32)
  y = labels.astype(compute)
  valid = (y >= 0) & (y <= num_classes - 1)  # False for NaN as well
  if not isinstance(labels, jax.core.Tracer):
    host = np.asarray(labels, np.float64)
    bad = ~((host >= 0) & (host <= num_classes - 1))
    if bad.any():
      raise ValueError(
          f"ordinal `labels` must be in [0, {num_classes - 1}] (num_classes={num_classes}); got "
          f"e.g. {host[bad][:5].tolist()}.")
  k = jnp.arange(num_classes, dtype=compute)
  exponent = -jnp.square(k - y[..., None]) / (2.0 * jnp.square(jnp.asarray(sigma, compute)))
  q = jnp.exp(jax.nn.log_softmax(exponent, axis=-1))
  return jnp.where(valid[..., None], q, jnp.nan).astype(dtype)


def expected_class(logits, *, axis: int = -1) -> jax.Array:
  """The softmax's expected class ``Σ_k k·softmax(z)_k`` (DEX's prediction of an ordinal value).

  Args:
    logits: ``[..., C]`` (classes on ``axis``).
    axis: the class axis.

  Returns:
    ``[...]`` real values in ``[0, C-1]``.

  Example:
    >>> import math
    >>> import gradeng as ge
    >>> round(float(ge.ordinal.expected_class([0.0, 0.0, 0.0])), 4)  # uniform over 0, 1, 2
    1.0
    >>> round(float(ge.ordinal.expected_class([0.0, 0.0, math.log(2)])), 4)  # (1 + 2·2) / 4
    1.25
  """
  logits = jnp.asarray(logits)
  p = jax.nn.softmax(logits, axis=axis)
  k = jnp.arange(logits.shape[axis], dtype=p.dtype)
  return jnp.tensordot(jnp.moveaxis(p, axis, -1), k, axes=1)
