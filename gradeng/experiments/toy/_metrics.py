"""Metrics of the toy simulations, as pure JAX functions usable under ``jit``/``vmap``.

Test sets are drawn balanced and *weighted* to the imbalanced distribution (the majority class
weighted by the imbalance ratio), so every metric is that of the imbalanced problem while the
arrays keep one static shape for every ratio in a sweep.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def pairwise_sum(x: jax.Array) -> jax.Array:
  """Sum over the last axis in a fixed pairwise order, whatever the batch shape.

  XLA may order a ``reduce`` differently for different shapes (a vmapped batch of 1 vs 8 per
  device), which changes the last bit. Here the order is spelled out as elementwise adds of the
  two halves (zero-padded to a power of two), which XLA does not reassociate, so a sweep sharded
  over any number of devices gives bit-identical numbers.
  """
  n = x.shape[-1]
  size = 1 << max(n - 1, 0).bit_length()
  x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, size - n)])
  while x.shape[-1] > 1:
    half = x.shape[-1] // 2
    x = x[..., :half] + x[..., half:]
  return x[..., 0]


def minority_recall(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Fraction of label-1 examples with σ(z) ≥ 0.5 (i.e. z ≥ 0).

  Args:
    logits: ``[n]`` logits of the minority (label 1) class.
    labels: ``[n]`` labels in {0, 1}.
  Returns:
    scalar recall; NaN if there is no label-1 example.
  """
  positive = labels == 1
  return jnp.sum(positive & (logits >= 0)) / jnp.sum(positive)  # integer counts: exact


def average_precision(scores: jax.Array, labels: jax.Array, weights: jax.Array) -> jax.Array:
  """Weighted average precision (area under the step precision-recall curve).

  .. math::
    AP = \\sum_k \\frac{w_k y_k}{\\sum_j w_j y_j} \\, \\mathrm{precision}@k,

  over examples sorted by decreasing score; ``sklearn.metrics.average_precision_score`` with
  ``sample_weight`` when scores have no ties.

  Args:
    scores: ``[n]`` scores (logits are best: σ saturates to ties in float32).
    labels: ``[n]`` labels in {0, 1}.
    weights: ``[n]`` non-negative example weights.
  Returns:
    scalar AP in [0, 1].
  """
  order = jnp.argsort(-scores, stable=True)
  y = labels[order].astype(scores.dtype)
  w = weights[order].astype(scores.dtype)
  true_positive = jnp.cumsum(w * y)
  false_positive = jnp.cumsum(w * (1 - y))
  precision = true_positive / jnp.maximum(true_positive + false_positive, jnp.finfo(scores.dtype).tiny)
  return pairwise_sum(w * y * precision) / pairwise_sum(w * y)


def smooth_average_precision(scores: jax.Array, labels: jax.Array, weights: jax.Array, *,
                             temperature: float = 0.1) -> jax.Array:
  """Smooth-AP (Brown et al., ECCV 2020): `average_precision` with the ranking step relaxed.

  .. math::
    \\widetilde{AP} = \\frac{\\sum_i w_i y_i P_i}{\\sum_i w_i y_i}, \\qquad
    P_i = \\frac{\\sum_j w_j y_j σ_{ij}}{\\sum_j w_j σ_{ij}}, \\qquad
    σ_{ij} = σ\\bigl((\\hat s_j - \\hat s_i)/τ\\bigr),\\ σ_{ii} = 1,

  where :math:`\\hat s` are the scores standardised to zero mean and unit deviation, so the
  relaxation does not reward a larger logit scale (AP itself is invariant to it). As τ → 0 it is
  `average_precision` (scores without ties); it is smooth in the scores for τ > 0.

  Args:
    scores: ``[n]`` scores (logits).
    labels: ``[n]`` labels in {0, 1}.
    weights: ``[n]`` non-negative example weights.
    temperature: τ > 0, in units of the scores' standard deviation.
  Returns:
    scalar in (0, 1].
  """
  centred = scores - jnp.mean(scores)
  standard = centred / jnp.sqrt(jnp.mean(centred**2) + jnp.finfo(scores.dtype).tiny)
  above = jax.nn.sigmoid((standard[None, :] - standard[:, None]) / temperature)
  above = jnp.where(jnp.eye(scores.shape[0], dtype=bool), 1.0, above)  # i is ranked with itself
  y = labels.astype(scores.dtype)
  w = weights.astype(scores.dtype)
  precision = (above @ (w * y)) / (above @ w)
  return pairwise_sum(w * y * precision) / pairwise_sum(w * y)


def expected_calibration_error(probs: jax.Array, labels: jax.Array, weights: jax.Array,
                               n_bins: int = 10) -> jax.Array:
  """Weighted expected calibration error of binary probabilities, equal-width bins.

  .. math::
    ECE = \\sum_b \\frac{|\\sum_{i \\in b} w_i (p_i - y_i)|}{\\sum_i w_i}.

  Args:
    probs: ``[n]`` predicted probabilities of label 1.
    labels: ``[n]`` labels in {0, 1}.
    weights: ``[n]`` example weights.
    n_bins: number of equal-width bins on [0, 1] (p = 1 falls in the last).
  Returns:
    scalar ECE in [0, 1].
  """
  bins = jnp.clip(jnp.floor(probs * n_bins).astype(jnp.int32), 0, n_bins - 1)
  signed = weights * (probs - labels.astype(probs.dtype))
  gap = pairwise_sum(jnp.where(bins == jnp.arange(n_bins)[:, None], signed, 0))
  return pairwise_sum(jnp.abs(gap)) / pairwise_sum(weights)


def gradient_share(gradients: jax.Array, group: jax.Array, counts: jax.Array | None = None) -> jax.Array:
  """Share of the gradient magnitude Σ|g_i| that comes from the examples in ``group``.

  Args:
    gradients: ``[n]`` per-example gradients (dL/dz or the scale coefficient g).
    group: ``[n]`` boolean membership of the group (hard or minority examples).
    counts: optional ``[n]`` multiplicities (an entry standing for that many examples).
  Returns:
    scalar share in [0, 1]; NaN when every gradient is exactly zero.
  """
  magnitude = jnp.abs(gradients) if counts is None else counts * jnp.abs(gradients)
  return pairwise_sum(jnp.where(group, magnitude, 0)) / pairwise_sum(magnitude)
