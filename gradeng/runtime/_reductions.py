"""Explicit reductions of per-element losses (paper §3.3), and OHEM selection.

- focal and Maki: sum over anchors divided by the number of positives (RetinaNet);
- QCE: mean over all elements (anchors × batch);
- cross-entropy: online hard example mining, all positives plus the hardest negatives at a
  fixed negatives:positives ratio (3 in SSD, 1 in the paper's Table 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradeng.runtime._errors import InputError


def normalize_by_positives(losses, positive_mask, *, where=None) -> jax.Array:
  """Σ losses / max(1, #positives), as RetinaNet normalises focal loss.

  .. math::
    \\frac{\\sum_i m_i \\ell_i}{\\max(1, \\sum_i \\mathbb{1}[i \\text{ positive}])}

  with m the ``where`` mask (all ones by default).

  Args:
    losses: per-element losses, any shape.
    positive_mask: boolean array broadcastable to ``losses``: which elements are positives.
    where: optional boolean mask of the elements to sum (e.g. OHEM's selection).

  Returns:
    A scalar. With no positives the sum is divided by 1 (not 0), so a batch of background only
    still trains the negatives and never produces inf/NaN.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> losses = jnp.array([2.0, 0.5, 0.1, 0.9, 0.3])
    >>> positives = jnp.array([True, False, False, False, False])
    >>> round(float(ge.normalize_by_positives(losses, positives)), 4)
    3.8
    >>> round(float(ge.normalize_by_positives(losses, jnp.zeros(5, bool))), 4)  # divided by 1
    3.8
  """
  losses = jnp.asarray(losses)
  positive_mask = jnp.broadcast_to(jnp.asarray(positive_mask, bool), losses.shape)
  total = jnp.sum(losses if where is None else jnp.where(where, losses, 0.0))
  return total / jnp.maximum(jnp.sum(positive_mask), 1).astype(losses.dtype)


def mean_over_elements(losses, *, where=None) -> jax.Array:
  """Mean over all (unmasked) elements, the paper's QCE normalisation; 0 for an empty mask.

  .. math::
    \\frac{\\sum_i m_i \\ell_i}{\\max(1, \\sum_i m_i)}

  Args:
    losses: per-element losses, any shape.
    where: optional boolean mask (broadcast to ``losses``) of the elements averaged.

  Returns:
    A scalar.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> losses = jnp.array([2.0, 0.5, 0.1, 0.9, 0.3])
    >>> round(float(ge.mean_over_elements(losses)), 4)
    0.76
    >>> round(float(ge.mean_over_elements(losses, where=losses > 0.4)), 4)  # (2 + 0.5 + 0.9) / 3
    1.1333
    >>> float(ge.mean_over_elements(losses, where=jnp.zeros(5, bool)))
    0.0
  """
  losses = jnp.asarray(losses)
  if where is None:
    return jnp.mean(losses)
  where = jnp.broadcast_to(jnp.asarray(where, bool), losses.shape)
  return jnp.sum(jnp.where(where, losses, 0.0)) / jnp.maximum(jnp.sum(where), 1).astype(losses.dtype)


def ohem_mask(losses, positive_mask, *, neg_pos_ratio: float = 3.0, min_negatives: int = 0) -> jax.Array:
  """Online hard example mining: all positives plus the hardest negatives, per row.

  Along the last axis (anchors of one image), keeps every positive and the
  ``k = min(#negatives, max(min_negatives, ⌊neg_pos_ratio · #positives⌋))`` negatives with the
  largest loss. Ties are broken by position (lower index first), so the mask is deterministic.

  Args:
    losses: ``[..., N]`` per-anchor losses (only their order matters; not differentiated).
    positive_mask: ``[..., N]`` booleans.
    neg_pos_ratio: negatives kept per positive (SSD: 3; paper Table 1: 1). Must be ≥ 0.
    min_negatives: negatives kept even in rows with no positive.

  Returns:
    ``[..., N]`` boolean mask of the selected elements.

  Example:
    One positive and ratio 2: the positive and the two largest negative losses (0.9, 0.5):

    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> losses = jnp.array([2.0, 0.5, 0.1, 0.9, 0.3])
    >>> positives = jnp.array([True, False, False, False, False])
    >>> mask = ge.ohem_mask(losses, positives, neg_pos_ratio=2.0)
    >>> print(mask)
    [ True  True False  True False]
    >>> round(float(ge.normalize_by_positives(losses, positives, where=mask)), 4)
    3.4
  """
  if not neg_pos_ratio >= 0:
    raise InputError(f"`neg_pos_ratio` must be ≥ 0; got {neg_pos_ratio!r}.")
  if min_negatives < 0:
    raise InputError(f"`min_negatives` must be ≥ 0; got {min_negatives!r}.")
  losses = jax.lax.stop_gradient(jnp.asarray(losses))
  positive_mask = jnp.broadcast_to(jnp.asarray(positive_mask, bool), losses.shape)
  negative_losses = jnp.where(positive_mask, -jnp.inf, losses)
  order = jnp.argsort(-negative_losses, axis=-1, stable=True)  # hardest negatives first
  rank = jnp.argsort(order, axis=-1, stable=True)
  num_pos = jnp.sum(positive_mask, axis=-1, keepdims=True)
  num_neg = positive_mask.shape[-1] - num_pos
  k = jnp.minimum(num_neg, jnp.maximum(min_negatives, jnp.floor(neg_pos_ratio * num_pos).astype(num_pos.dtype)))
  return positive_mask | (rank < k)
