"""Class-balanced weighting by the effective number of samples, and its deferred schedule (DRW).

Both multiply every logit's gradient of an example of class y by one number per class, so they
are the catalog's injected derivative times a constant: ``alpha`` on the softmax head, a row
weight on the sigmoid head (whose ``alpha`` is focal loss's positive/negative balance, a different
quantity — see `class_balanced_loss`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradeng.longtail._checks import (base_loss, check_int, check_number, class_counts_array,
                                      float_logits, integer_labels, poison_counts, row_mask,
                                      safe_labels)
from gradeng.runtime import InputError

__all__ = ["class_balanced_weights", "class_balanced_loss", "drw_weights"]


def _log_effective_number(counts, beta):
  """log E_n, E_n = (1 - β^n)/(1 - β), with n ← max(n, 1); β = 0 gives E = 1 (no cancellation:
  1 - β^n = -expm1(n log β))."""
  n = jnp.maximum(counts, 1.0)
  if isinstance(beta, (int, float)):
    if beta == 0:
      return jnp.zeros_like(n)
    log_beta = math.log(beta)
    return jnp.log(-jnp.expm1(n * log_beta)) - math.log(-math.expm1(log_beta))
  log_beta = jnp.log(jnp.asarray(beta, n.dtype))
  safe = jnp.where(beta > 0, log_beta, -1.0)
  value = jnp.log(-jnp.expm1(n * safe)) - jnp.log(-jnp.expm1(safe))
  return jnp.where(beta > 0, value, 0.0)


def class_balanced_weights(class_counts: ArrayLike, *, beta: float = 0.9999) -> jax.Array:
  """Class-balanced weights of Cui et al. (2019): the inverse effective number, summing to C.

  .. math::
    E_{n} = \\frac{1 - \\beta^{n}}{1 - \\beta}, \\qquad
    w_j = C\\,\\frac{1/E_{n_j}}{\\sum_{k=1}^{C} 1/E_{n_k}}, \\qquad \\sum_j w_j = C.

  β = 0 gives w = 1 (no re-weighting), β → 1 gives inverse class frequency. The weight is the
  class-level logit weight: every logit of an example of class y receives w_y times the base
  loss's gradient. A class with no sample counts as one (E = 1, the largest weight).

  Args:
    class_counts: n_j ≥ 0, shape ``[C]``.
    beta: β ∈ [0, 1).

  Returns:
    ``[C]`` weights w_j > 0 (float32 at least), usable as the softmax head's ``alpha``:
    ``gradeng.focal_loss(z, y, head="softmax", alpha=class_balanced_weights(n, beta=0.999))``.

  Example:
    >>> import gradeng.longtail as lt
    >>> [round(float(w), 4) for w in lt.class_balanced_weights([1000, 10], beta=0.999)]
    [0.031, 1.969]

  References:
    Cui, Y., Jia, M., Lin, T.-Y., Song, Y., Belongie, S. "Class-balanced loss based on effective
    number of samples", CVPR 2019, Eq. (3) and §4.
  """
  check_number("beta", beta, lower=0.0, upper=1.0, upper_open=True)
  counts = class_counts_array(class_counts)
  log_e = _log_effective_number(counts, beta)
  weights = counts.shape[0] * jax.nn.softmax(-log_e)
  if not isinstance(beta, (int, float)):
    weights = weights * jnp.where((beta >= 0) & (beta < 1), 1.0, jnp.nan)
  return poison_counts(weights, counts)


def class_balanced_loss(logits: ArrayLike, labels: ArrayLike, *, class_counts: ArrayLike,
                        beta: float = 0.9999, base="ce", head: str = "softmax", alpha=None,
                        where=None, ignore_index: int | None = None, **params) -> jax.Array:
  """Any catalog loss, class-balanced (Cui et al. 2019): each example weighted by w_y.

  .. math::
    \\mathrm{CB}(z, y) = w_y\\,L(z, y), \\qquad
    \\frac{\\partial\\,\\mathrm{CB}}{\\partial z_j} = w_y\\,\\frac{\\partial L}{\\partial z_j}
    = w_y\\,w(p_t)\\,\\frac{\\partial \\log p_t}{\\partial z_j},

  with w_y from `class_balanced_weights` and L the catalog loss ``base`` (its injected
  derivative). Softmax head: w is passed as the catalog's per-class ``alpha`` (times ``alpha``
  when given), per-example losses ``[...]``. Sigmoid head (Cui et al.'s sigmoid CB loss): the C
  one-vs-all terms of an example of class y are all weighted by w_y, per-logit losses
  ``[..., C]``; ``alpha`` keeps its catalog meaning there (focal loss's positive weight α,
  negatives 1 - α) and multiplies on top.

  Args:
    logits: ``[..., C]`` float.
    labels: ``[...]`` integer class ids.
    class_counts: n_j ≥ 0, ``[C]``.
    beta: β ∈ [0, 1) of the effective number.
    base: catalog loss name (``"ce"``, ``"focal"``, ``"maki"`` …) or `ScaleCoefficient`.
    head: ``"softmax"`` or ``"sigmoid"``.
    alpha: the catalog's class weighting, combined with w (see above).
    where: optional per-example boolean mask ``[...]``.
    ignore_index: a label value whose examples are masked out.
    **params: the base loss's hyper-parameters (``gamma=2.0``).

  Returns:
    Per-example losses ``[...]`` (softmax) or per-logit losses ``[..., C]`` (sigmoid); the
    caller reduces (Cui et al. average over examples; PyTorch's weighted ``cross_entropy``
    divides by Σ_b w_{y_b} instead).

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> z, y = jnp.zeros((2, 3)), jnp.array([0, 2])
    >>> lt.class_balanced_loss(z, y, class_counts=[100, 10, 1], beta=0.9, base="focal",
    ...                        gamma=2.0).shape
    (2,)

  References:
    Cui, Y. et al. "Class-balanced loss based on effective number of samples", CVPR 2019,
    Eq. (4)–(7).
  """
  logits = float_logits(logits)
  labels = integer_labels(labels, logits)
  num_classes = logits.shape[-1]
  weights = class_balanced_weights(class_counts_array(class_counts, num_classes), beta=beta)
  return _weighted(logits, labels, weights, base, head, alpha, where, ignore_index, params)


def _weighted(logits, labels, weights, base, head, alpha, where, ignore_index, params):
  """The catalog loss ``base`` with every logit of an example of class y weighted by weights[y]."""
  num_classes = logits.shape[-1]
  if head == "softmax":
    alpha = weights if alpha is None else jnp.asarray(alpha) * weights
    return base_loss(base, "softmax", params)(logits, labels, alpha=alpha, where=where,
                                              ignore_index=ignore_index)
  if head != "sigmoid":
    raise InputError(f"`head` must be one of ('sigmoid', 'softmax'); got {head!r}.")
  mask = row_mask(labels, num_classes, where, ignore_index)
  safe = safe_labels(labels, num_classes)
  targets = (safe[..., None] == jnp.arange(num_classes)).astype(jnp.int32)
  per_logit = base_loss(base, "sigmoid", params)(logits, targets, alpha=alpha,
                                                 where=jnp.broadcast_to(mask[..., None], logits.shape))
  return (per_logit * weights[safe][..., None].astype(per_logit.dtype)).astype(logits.dtype)


def drw_weights(step: ArrayLike, class_counts: ArrayLike, *, drw_step: int,
                beta: float = 0.9999) -> jax.Array:
  """Deferred re-weighting (Cao et al. 2019): 1 before ``drw_step``, class-balanced after.

  .. math::
    w_j(t) = \\begin{cases} 1 & t < T_{\\mathrm{drw}} \\\\
      C\\,\\frac{1/E_{n_j}}{\\sum_k 1/E_{n_k}} & t \\ge T_{\\mathrm{drw}} \\end{cases}

  (the reference code switches β from 0 to 0.9999 at epoch 160 of 200: β = 0 gives w = 1).

  Args:
    step: the training step t (may be traced).
    class_counts: n_j ≥ 0, ``[C]``.
    drw_step: T_drw ≥ 0, the first re-weighted step.
    beta: β ∈ [0, 1) after the switch.

  Returns:
    ``[C]`` weights.

  Example:
    >>> import gradeng.longtail as lt
    >>> [float(w) for w in lt.drw_weights(0, [1000, 10], drw_step=5)]
    [1.0, 1.0]

  References:
    Cao, K., Wei, C., Gaidon, A., Arechiga, N., Ma, T. "Learning imbalanced datasets with
    label-distribution-aware margin loss", NeurIPS 2019, Algorithm 1 (DRW).
  """
  check_int("drw_step", drw_step)
  weights = class_balanced_weights(class_counts, beta=beta)
  return jnp.where(jnp.asarray(step) >= drw_step, weights, jnp.ones_like(weights))
