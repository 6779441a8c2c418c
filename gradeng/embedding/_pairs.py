"""Pair- and triplet-based embedding losses, specified by their **pair weights**.

The classification losses of gradeng are fixed by g(p) = ∂L/∂p. Embedding losses act on a
second variable: the cosine similarity s_ij ∈ [−1, 1] or the distance d_ij ≥ 0 of two
embeddings. Wang et al. (2019, "general pair weighting") observe that every such loss is, for
its gradient, a set of **pair weights** w_ij = ∂L/∂s_ij (or ∂L/∂d_ij): the network receives
Σ_j w_ij ∂s_ij/∂x_i and nothing else. Here each loss is a *rule* returning per-anchor values
and that weight matrix, and one injection (`pair_loss`) makes the weights the exact backward pass
(``jax.custom_jvp``, so forward and reverse mode both work):

.. code-block:: python

  L_i   = rule(S, positives, negatives)[0][i]          # forward: the closed form
  ∂L_i  = Σ_j rule(S, positives, negatives)[1][i, j] · ∂S_ij     # backward: the designed weights

================  ========  ================================================  =================
loss              variable  pair weight (positive pair / negative pair)        reference
================  ========  ================================================  =================
contrastive       d         d  /  −[m − d]₊                                    Hadsell et al. 2006
triplet           d         +1 on d(a,p), −1 on d(a,n) while the triplet is   Schroff et al. 2015
                            active (the three conditions, see below)
binomial dev.     s         −α σ(−α(s−λ))  /  αC σ(αC(s−λ))                    Yi et al. 2014
multi-similarity  s         −e^{−α(s−λ)}/(1+Σ_P e^{−α(s−λ)}) / e^{β(s−λ)}/(1+Σ_N…)  Wang et al. 2019
circle            s         −γα_p·σ(·)·softmax_P  /  γα_n·σ(·)·softmax_N      Sun et al. 2020
================  ========  ================================================  =================

(contrastive and binomial deviance divide by the anchor's number of positive and of negative
pairs.) Every rule's weights equal autodiff of its own value formula (tested), except where
the design says otherwise and the docstring says so; the injection makes the design the
definition.

Per-element convention (as optax): each loss returns one value per anchor, ``[B]``; the caller
reduces (``.mean()``). An anchor with no positive or no negative in the batch contributes a
documented 0 (with zero gradient), never NaN. Labels are integer identities (any values);
pairs (i, i) are never used.

References:
  Hadsell, R., Chopra, S., LeCun, Y. "Dimensionality reduction by learning an invariant
  mapping", CVPR 2006.
  Schroff, F., Kalenichenko, D., Philbin, J. "FaceNet: a unified embedding for face recognition
  and clustering", CVPR 2015.
  Hermans, A., Beyer, L., Leibe, B. "In defense of the triplet loss for person
  re-identification", arXiv:1703.07737 (batch-hard, batch-all).
  Yi, D., Lei, Z., Liao, S., Li, S.Z. "Deep metric learning for person re-identification",
  ICPR 2014 (binomial deviance).
  Wang, X., Han, X., Huang, W., Dong, D., Scott, M.R. "Multi-similarity loss with general pair
  weighting for deep metric learning", CVPR 2019.
  Sun, Y. et al. "Circle loss: a unified perspective of pair similarity optimization", CVPR 2020.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp

from gradeng.embedding._geometry import (
    check_embeddings, check_labels, compute_dtype, cosine_similarity_matrix, l2_normalize,
    pairwise_distances,
)

__all__ = [
    "pair_loss", "pair_masks", "contrastive_loss", "binomial_deviance_loss",
    "multi_similarity_loss", "circle_loss", "triplet_loss", "triplet_margin_loss",
    "triplet_conditions", "TRIPLET_MINING", "PAIR_RULES",
]

#: A rule: ``rule(x [B, B], positives [B, B] bool, negatives [B, B] bool, *params)`` →
#: ``(values [B], weights [B, B])`` with ``weights[i, j] = ∂values[i]/∂x[i, j]``.
PairRule = Callable[..., tuple[jax.Array, jax.Array]]

TRIPLET_MINING = ("all", "hard", "semi-hard")


def _check(name, value, *, lower=None, lower_open=False):
  if isinstance(value, jax.core.Tracer):
    return
  ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
  if ok and lower is not None:
    ok = value > lower if lower_open else value >= lower
  if not ok:
    bound = "" if lower is None else f" {'>' if lower_open else '≥'} {lower}"
    raise ValueError(f"`{name}` must be a finite number{bound}; got {value!r}.")


# ----------------------------------------------------------------------------- the injection


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _injected(rule: PairRule, x, positives, negatives, params):
  return rule(x, positives, negatives, *params)[0]


@_injected.defjvp
def _injected_jvp(rule, primals, tangents):
  x, positives, negatives, params = primals
  value, weights = rule(x, positives, negatives, *params)
  return value, jnp.sum(weights * tangents[0], axis=-1)


def pair_loss(rule: PairRule, x, positives, negatives, *params) -> jax.Array:
  """Per-anchor values of ``rule`` on a similarity/distance matrix, its pair weights injected.

  This is the one path from pair weights to a loss: the forward pass is the rule's value, the
  derivative with respect to ``x`` is exactly ``Σ_j weights[i, j] · dx[i, j]`` (hyper-parameters
  in ``params`` and the masks get no gradient).

  Args:
    rule: ``rule(x, positives, negatives, *params) -> (values [B], weights [B, B])``.
    x: ``[B, B]`` similarities or distances (row i: anchor i).
    positives, negatives: ``[B, B]`` boolean pair masks (see `pair_masks`).
    *params: the rule's hyper-parameters (numbers or traced scalars).

  Returns:
    ``[B]`` per-anchor losses.

  Example:
    A rule ½ Σ_P d² whose weights are the designed gradient d on the positive pairs:

    >>> import jax
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> def rule(d, pos, neg, scale):
    ...   return scale * jnp.sum(jnp.where(pos, d**2 / 2, 0.0), -1), jnp.where(pos, scale * d, 0.0)
    >>> d = jnp.array([[0.0, 2.0], [2.0, 0.0]])
    >>> pos = jnp.array([[False, True], [True, False]])
    >>> print(ge.embedding.pair_loss(rule, d, pos, ~pos, 1.0))
    [2. 2.]
    >>> print(jax.grad(lambda d: ge.embedding.pair_loss(rule, d, pos, ~pos, 1.0).sum())(d))
    [[0. 2.]
     [2. 0.]]
  """
  params = tuple(jnp.asarray(p, x.dtype) for p in params)
  return _injected(rule, x, positives, negatives, params)


def pair_masks(labels) -> tuple[jax.Array, jax.Array]:
  """``(positives, negatives)``: same identity and j ≠ i; different identity. ``[B, B]`` bool.

  Args:
    labels: ``[B]`` integer identities.

  Returns:
    ``(positives, negatives)``, two ``[B, B]`` boolean masks; the diagonal is in neither.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> positives, negatives = ge.embedding.pair_masks(jnp.array([0, 0, 1]))
    >>> print(positives.astype(int))
    [[0 1 0]
     [1 0 0]
     [0 0 0]]
    >>> print(negatives.astype(int))
    [[0 0 1]
     [0 0 1]
     [1 1 0]]
  """
  labels = jnp.asarray(labels)
  same = labels[:, None] == labels[None, :]
  return same & ~jnp.eye(labels.shape[0], dtype=bool), ~same


def _prepare(embeddings, labels):
  embeddings, labels = check_embeddings(embeddings, labels)
  labels, _ = check_labels(labels)
  if labels.ndim != 1:
    raise ValueError(f"`labels` must be [batch]; got shape {labels.shape}.")
  return embeddings.astype(compute_dtype(embeddings)), labels, embeddings.dtype


def _balanced(values_pos, values_neg, positives, negatives, weights_pos, weights_neg):
  """Per-anchor mean over positive pairs plus mean over negative pairs, and the pair weights."""
  n_pos = jnp.maximum(jnp.sum(positives, -1, keepdims=True), 1)
  n_neg = jnp.maximum(jnp.sum(negatives, -1, keepdims=True), 1)
  values = (jnp.sum(jnp.where(positives, values_pos, 0.0) / n_pos, -1)
            + jnp.sum(jnp.where(negatives, values_neg, 0.0) / n_neg, -1))
  weights = jnp.where(positives, weights_pos / n_pos, 0.0) + jnp.where(negatives, weights_neg / n_neg, 0.0)
  return values, weights


def _log1p_sum_exp(t, mask):
  """log(1 + Σ_mask e^t) per row and its softmax weights e^{t − L} (0 off the mask); stable."""
  big = jnp.max(jnp.where(mask, t, 0.0), axis=-1, keepdims=True)
  big = jnp.maximum(big, 0.0)  # the "1" is e^0
  shifted = jnp.where(mask, jnp.exp(jnp.where(mask, t - big, 0.0)), 0.0)
  total = jnp.exp(-big) + jnp.sum(shifted, -1, keepdims=True)
  value = big + jnp.log(total)
  return value[..., 0], shifted / total


# ----------------------------------------------------------------------------- rules


def _contrastive_rule(d, positives, negatives, margin):
  hinge = jnp.maximum(margin - d, 0.0)
  return _balanced(0.5 * jnp.square(d), 0.5 * jnp.square(hinge), positives, negatives, d, -hinge)


def _binomial_rule(s, positives, negatives, alpha, lam, cost):
  t_pos, t_neg = -alpha * (s - lam), alpha * cost * (s - lam)
  return _balanced(jax.nn.softplus(t_pos), jax.nn.softplus(t_neg), positives, negatives,
                   -alpha * jax.nn.sigmoid(t_pos), alpha * cost * jax.nn.sigmoid(t_neg))


def _multi_similarity_rule(s, positives, negatives, alpha, beta, lam, epsilon):
  # Mining (Wang et al. 2019, Eq. 5-6): a negative is kept if s + ε > the anchor's smallest
  # positive similarity, a positive if s − ε < the largest negative similarity.
  min_pos = jnp.min(jnp.where(positives, s, jnp.inf), -1, keepdims=True)
  max_neg = jnp.max(jnp.where(negatives, s, -jnp.inf), -1, keepdims=True)
  keep_neg = negatives & (s + epsilon > min_pos)
  keep_pos = positives & (s - epsilon < max_neg)
  lse_pos, soft_pos = _log1p_sum_exp(-alpha * (s - lam), keep_pos)
  lse_neg, soft_neg = _log1p_sum_exp(beta * (s - lam), keep_neg)
  return lse_pos / alpha + lse_neg / beta, -soft_pos + soft_neg


def _masked_logsumexp(t, mask):
  big = jnp.max(jnp.where(mask, t, -jnp.inf), -1, keepdims=True)
  big = jnp.where(jnp.isfinite(big), big, 0.0)
  shifted = jnp.where(mask, jnp.exp(jnp.where(mask, t - big, 0.0)), 0.0)
  total = jnp.sum(shifted, -1, keepdims=True)
  any_ = total > 0
  value = jnp.where(any_, big + jnp.log(jnp.where(any_, total, 1.0)), -jnp.inf)
  return value[..., 0], shifted / jnp.where(any_, total, 1.0)


def _circle_rule(s, positives, negatives, gamma, margin):
  # α_p = [1 + m − s_p]₊ and α_n = [s_n + m]₊ are constants of the gradient (Sun et al. 2020,
  # Eq. 4, and the reference code's detach): the weight γα grows linearly with the distance
  # from the optimum (O_p = 1 + m, O_n = −m).
  s_const = jax.lax.stop_gradient(s)
  alpha_p = jnp.maximum(1.0 + margin - s_const, 0.0)
  alpha_n = jnp.maximum(s_const + margin, 0.0)
  lse_p, soft_p = _masked_logsumexp(-gamma * alpha_p * (s - (1.0 - margin)), positives)
  lse_n, soft_n = _masked_logsumexp(gamma * alpha_n * (s - margin), negatives)
  both = jnp.isfinite(lse_p) & jnp.isfinite(lse_n)
  total = jnp.where(both, lse_p + lse_n, -jnp.inf)
  value = jax.nn.softplus(total)
  gate = jax.nn.sigmoid(total)[:, None]
  return value, gate * (-gamma * alpha_p * soft_p + gamma * alpha_n * soft_n)


#: name -> (variable, rule); the rules behind the pair losses (also drawn in the figures).
PAIR_RULES: dict[str, tuple[str, PairRule]] = {
    "contrastive": ("distance", _contrastive_rule),
    "binomial_deviance": ("similarity", _binomial_rule),
    "multi_similarity": ("similarity", _multi_similarity_rule),
    "circle": ("similarity", _circle_rule),
}


# ----------------------------------------------------------------------------- public losses


def contrastive_loss(embeddings, labels, *, margin: float = 1.0, normalize: bool = True) -> jax.Array:
  """Contrastive loss (Hadsell et al. 2006) on Euclidean distances d_ij.

  .. math::
    L_i = \\frac{1}{|P_i|} \\sum_{j \\in P_i} \\tfrac12 d_{ij}^2
        + \\frac{1}{|N_i|} \\sum_{j \\in N_i} \\tfrac12 [m - d_{ij}]_+^2, \\qquad
    w^+(d) = d, \\quad w^-(d) = -[m - d]_+ .

  Positive pairs are pulled with a weight growing with their distance; negative pairs are pushed
  only inside the margin, with a weight that vanishes at d = m.

  Args:
    embeddings: ``[B, D]`` floats.
    labels: ``[B]`` integer identities.
    margin: m > 0.
    normalize: L2-normalise the embeddings first (d ∈ [0, 2]).

  Returns:
    ``[B]`` per-anchor losses.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> labels = jnp.array([0, 1, 0, 1])  # each anchor's negative is closer than its positive
    >>> print(np.asarray(ge.embedding.contrastive_loss(x, labels), float).round(4))
    [1.0338 1.0366 1.0366 1.0338]
  """
  _check("margin", margin, lower=0.0, lower_open=True)
  x, labels, dtype = _prepare(embeddings, labels)
  d = pairwise_distances(l2_normalize(x) if normalize else x)
  return pair_loss(_contrastive_rule, d, *pair_masks(labels), margin).astype(dtype)


def binomial_deviance_loss(embeddings, labels, *, scale: float = 2.0, threshold: float = 0.5,
                           cost: float = 1.0) -> jax.Array:
  """Binomial deviance (Yi et al. 2014) on cosine similarities.

  .. math::
    L_i = \\frac{1}{|P_i|}\\sum_{P_i} \\log(1 + e^{-α(s-λ)})
        + \\frac{1}{|N_i|}\\sum_{N_i} \\log(1 + e^{αC(s-λ)}), \\quad
    w^+(s) = -α σ(-α(s-λ)), \\quad w^-(s) = αC σ(αC(s-λ)).

  A soft contrastive loss: every pair keeps a (sigmoid-shaped) weight, no hard margin.

  Args:
    embeddings: ``[B, D]``; labels: ``[B]`` integer identities.
    scale: α > 0, the slope.
    threshold: λ, the similarity at which a pair's weight is half its maximum.
    cost: C > 0, the asymmetric cost of negative pairs.

  Returns:
    ``[B]`` per-anchor losses.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> labels = jnp.array([0, 1, 0, 1])  # each anchor's negative is closer than its positive
    >>> print(np.asarray(ge.embedding.binomial_deviance_loss(x, labels), float).round(4))
    [1.8845 2.2311 2.2311 1.8845]
  """
  _check("scale", scale, lower=0.0, lower_open=True)
  _check("threshold", threshold)
  _check("cost", cost, lower=0.0, lower_open=True)
  x, labels, dtype = _prepare(embeddings, labels)
  s = cosine_similarity_matrix(x)
  return pair_loss(_binomial_rule, s, *pair_masks(labels), scale, threshold, cost).astype(dtype)


def multi_similarity_loss(embeddings, labels, *, positive_scale: float = 2.0,
                          negative_scale: float = 50.0, threshold: float = 0.5,
                          epsilon: float = 0.1) -> jax.Array:
  """Multi-similarity loss (Wang et al. 2019) with its pair mining.

  .. math::
    L_i = \\frac1α \\log\\Bigl(1 + \\sum_{k ∈ P_i'} e^{-α(s_{ik}-λ)}\\Bigr)
        + \\frac1β \\log\\Bigl(1 + \\sum_{k ∈ N_i'} e^{β(s_{ik}-λ)}\\Bigr)

  with P'_i, N'_i the mined pairs (a negative is kept if s + ε exceeds the anchor's smallest
  positive similarity, a positive if s − ε is below its largest negative similarity). The
  pair weight of a negative, e^{β(s_ij−λ)}/(1 + Σ_{N'} e^{β(s_ik−λ)}), combines its own
  similarity with its relative similarity to the other negatives (the paper's "multi"
  similarities). Defaults are pytorch-metric-learning's (α = 2, β = 50, λ = 0.5, ε = 0.1; its ``alpha``,
  ``beta``, ``base``).

  Args:
    embeddings: ``[B, D]``; labels: ``[B]`` integer identities.
    positive_scale: α > 0, the positive pairs' temperature.
    negative_scale: β > 0, the negative pairs' temperature.
    threshold: λ, the similarity margin.
    epsilon: ε ≥ 0, the mining margin.

  Returns:
    ``[B]`` per-anchor losses.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> labels = jnp.array([0, 1, 0, 1])  # each anchor's negative is closer than its positive
    >>> print(np.asarray(ge.embedding.multi_similarity_loss(x, labels), float).round(4))
    [0.9566 0.9566 0.9566 0.9566]
  """
  for name, value in (("positive_scale", positive_scale), ("negative_scale", negative_scale)):
    _check(name, value, lower=0.0, lower_open=True)
  _check("threshold", threshold)
  _check("epsilon", epsilon, lower=0.0)
  x, labels, dtype = _prepare(embeddings, labels)
  s = cosine_similarity_matrix(x)
  return pair_loss(_multi_similarity_rule, s, *pair_masks(labels),
                   positive_scale, negative_scale, threshold, epsilon).astype(dtype)


def circle_loss(embeddings, labels, *, scale: float = 80.0, margin: float = 0.4) -> jax.Array:
  """Circle loss (Sun et al. 2020), pair-wise labels, designed from its weight.

  .. math::
    L_i = \\log\\Bigl[1 + \\sum_{N_i} e^{γα_n(s_n - Δ_n)} \\sum_{P_i} e^{-γα_p(s_p - Δ_p)}\\Bigr],
    \\quad α_p = [1 + m - s_p]_+,\\ α_n = [s_n + m]_+,\\ Δ_p = 1 - m,\\ Δ_n = m.

  α_p and α_n are held constant in the gradient (as in the paper's derivation and code), so a
  pair's weight is γ·α — linear in its distance from the optimum O_p = 1 + m, O_n = −m — times
  the softmax share of the pair and the gate σ(·) of the whole anchor. Defaults are
  pytorch-metric-learning's (γ = 80, m = 0.4).

  Args:
    embeddings: ``[B, D]``; labels: ``[B]`` integer identities.
    scale: γ > 0, the scale (pytorch-metric-learning's ``gamma``).
    margin: m, the relaxation margin.

  Returns:
    ``[B]`` per-anchor losses (0 for an anchor without a positive or a negative).

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> labels = jnp.array([0, 1, 0, 1])  # each anchor's negative is closer than its positive
    >>> print(np.asarray(ge.embedding.circle_loss(x, labels, scale=1.0), float).round(4))
    [1.9544 2.0245 2.0245 1.9544]
  """
  _check("scale", scale, lower=0.0, lower_open=True)
  _check("margin", margin)
  x, labels, dtype = _prepare(embeddings, labels)
  s = cosine_similarity_matrix(x)
  return pair_loss(_circle_rule, s, *pair_masks(labels), scale, margin).astype(dtype)


# ----------------------------------------------------------------------------- triplets


def triplet_conditions(d_ap, d_an, margin) -> jax.Array:
  """The survey's three conditions of a triplet, as integers 1, 2, 3.

  1. d(a,p) + m ≤ d(a,n): satisfied, loss 0, no gradient;
  2. d(a,p) ≤ d(a,n) < d(a,p) + m: inside the margin, optimised;
  3. d(a,p) > d(a,n): the negative is closer than the positive — an outlier that
     ``drop_outliers=True`` drops (loss 0, no gradient) and FaceNet optimises like condition 2.

  Args:
    d_ap: anchor-positive distances.
    d_an: anchor-negative distances (broadcast against ``d_ap``).
    margin: the margin m.

  Returns:
    int32 condition numbers, the broadcast shape.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> d_ap, d_an = jnp.array([0.1, 0.5, 0.9]), jnp.array([0.8, 0.7, 0.6])
    >>> print(ge.embedding.triplet_conditions(d_ap, d_an, 0.5))
    [1 2 3]
  """
  d_ap, d_an = jnp.asarray(d_ap), jnp.asarray(d_an)
  return jnp.where(d_ap > d_an, 3, jnp.where(d_ap + margin <= d_an, 1, 2)).astype(jnp.int32)


def _active(d_ap, d_an, margin, drop_outliers):
  condition = triplet_conditions(d_ap, d_an, margin)
  return (condition == 2) | ((condition == 3) & jnp.logical_not(drop_outliers))


def _hinge_rule(d, positives, negatives, margin, drop_outliers):
  # d: [B, 2] with columns (d(a,p), d(a,n)); one triplet per row.
  del positives, negatives
  active = _active(d[:, 0], d[:, 1], margin, drop_outliers)
  value = jnp.where(active, d[:, 0] - d[:, 1] + margin, 0.0)
  weights = jnp.where(active[:, None], jnp.array([1.0, -1.0], d.dtype), 0.0)
  return value, weights


def _distances(a, b, squared):
  diff = a - b
  squared_norm = jnp.sum(jnp.square(diff), -1)
  if squared:
    return squared_norm
  positive = squared_norm > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared_norm, 1.0)), 0.0)


def triplet_margin_loss(anchors, positives, negatives, *, margin: float = 1.0,
                        squared: bool = False, drop_outliers: bool = False) -> jax.Array:
  """Triplet loss on given triplets, [d(a,p) − d(a,n) + m]₊, with the three conditions explicit.

  The backward pass is injected from `triplet_conditions`: weight +1 on d(a,p) and −1 on
  d(a,n) for an active triplet (condition 2, and condition 3 unless ``drop_outliers``), 0
  otherwise. With ``drop_outliers=False`` it equals ``optax.losses.triplet_margin_loss`` with
  ``eps=0`` (tested).

  Args:
    anchors, positives, negatives: ``[B, D]``.
    margin: m ≥ 0.
    squared: use squared Euclidean distances (FaceNet) instead of distances.
    drop_outliers: drop condition-3 triplets (loss 0, no gradient).

  Returns:
    ``[B]`` losses.

  Example:
    Conditions 1, 2 and 3 (d(a,p) = 1; d(a,n) = 3, 1.5, 0.5):

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> a, p = jnp.zeros((3, 2)), jnp.array([[1.0, 0.0]] * 3)
    >>> n = jnp.array([[3.0, 0.0], [1.5, 0.0], [0.5, 0.0]])
    >>> print(np.asarray(ge.embedding.triplet_margin_loss(a, p, n, margin=1.0), float).round(4))
    [0.  0.5 1.5]
    >>> loss = ge.embedding.triplet_margin_loss(a, p, n, margin=1.0, drop_outliers=True)
    >>> print(np.asarray(loss, float).round(4))
    [0.  0.5 0. ]
  """
  _check("margin", margin, lower=0.0)
  a = jnp.asarray(anchors)
  if not jnp.issubdtype(a.dtype, jnp.floating):
    raise TypeError(f"`anchors` must be a floating-point array; got dtype {a.dtype}.")
  dtype, work = a.dtype, compute_dtype(a)
  a, p, n = (jnp.asarray(v).astype(work) for v in (anchors, positives, negatives))
  if not a.shape == p.shape == n.shape:
    raise ValueError(f"`anchors`, `positives`, `negatives` must have one shape; got {a.shape}, "
                     f"{p.shape}, {n.shape}.")
  d = jnp.stack([_distances(a, p, squared), _distances(a, n, squared)], -1)
  no_mask = jnp.zeros((), bool)
  return pair_loss(_hinge_rule, d, no_mask, no_mask, margin, drop_outliers).astype(dtype)


def _sorted_rows(d, mask):
  """Each row's masked distances in ascending order (+∞ off the mask, sorted last) and their
  column indices. The sort is stable: equal distances keep index order, argmin's tie-break."""
  index = jax.lax.broadcasted_iota(jnp.int32, d.shape, 1)
  return jax.lax.sort((jnp.where(mask, d, jnp.inf), index), dimension=1, num_keys=1, is_stable=True)


def _count_below(sorted_rows, t, *, inclusive=False):
  """Per row a: #{k : sorted_rows[a, k] < t[a, q]} (≤ with ``inclusive``), by binary search."""
  search = functools.partial(jnp.searchsorted, side="right" if inclusive else "left")
  return jax.vmap(search)(sorted_rows, t).astype(jnp.int32)


def _count_at(index, counts, width):
  """Per row a: out[a, k] = Σ_{j : index[a, j] = k} counts[a, j] (a segment sum; integers, exact)."""
  rows = jax.lax.broadcasted_iota(jnp.int32, index.shape, 0)
  return jnp.zeros((index.shape[0], width), counts.dtype).at[rows, index].add(counts)


def _active_ranges(d_ap, sorted_an, margin, drop_outliers):
  """The active negatives of each (a, p), as a range [lo, hi) of the anchor's sorted negatives.

  Read off `triplet_conditions` on the ascending row d_an: condition 3 is the prefix
  d_an < d_ap, condition 2 the range d_ap ≤ d_an < d_ap + m (empty if d_ap + m ≤ d_ap), so the
  active ones are ranks [#{d_an < d_ap}, max(#{d_an < d_ap + m}, #{d_an < d_ap})), extended
  down to 0 unless ``drop_outliers`` keeps condition 3 out. Exact integer ranks.
  """
  outliers = _count_below(sorted_an, d_ap)
  hi = jnp.maximum(_count_below(sorted_an, d_ap + margin), outliers)
  return jnp.where(drop_outliers, outliers, 0), hi


def _batch_all_rule(d, positives, negatives, margin, drop_outliers):
  """Every valid (a, p, n); the anchor's value is the mean over its active triplets.

  value_a = Σ_{p,n active} (d_ap − d_an + m) / |active_a|, one masked ``[B, B, B]`` reduction.
  The weights need only how often each pair is in an active triplet, w_ap = #{n}/|active_a|
  and w_an = −#{p}/|active_a|: each positive's active negatives are a range [lo, hi) of the
  anchor's sorted negatives (`_active_ranges`), so #{n} = hi − lo and #{p} is the number of
  ranges covering the negative's rank (a cumulative sum of +1 at lo, −1 at hi), O(B² log B).
  """
  sorted_an, order = _sorted_rows(d, negatives)
  lo, hi = _active_ranges(d, sorted_an, margin, drop_outliers)
  with_p = jnp.where(positives, hi - lo, 0)
  step, width = positives.astype(jnp.int32), d.shape[1]
  covered = jnp.cumsum(_count_at(lo, step, width + 1) - _count_at(hi, step, width + 1), -1)
  with_n = _count_at(order, covered[:, :width], width)  # from rank back to column
  per_anchor = jnp.maximum(jnp.sum(with_p, -1), 1).astype(d.dtype)
  d_ap, d_an = d[:, :, None], d[:, None, :]
  active = positives[:, :, None] & negatives[:, None, :] & _active(d_ap, d_an, margin, drop_outliers)
  value = jnp.sum(jnp.where(active, d_ap - d_an + margin, 0.0), (1, 2)) / per_anchor
  return value, (with_p - jnp.where(negatives, with_n, 0)).astype(d.dtype) / per_anchor[:, None]


def _batch_hard_rule(d, positives, negatives, margin, drop_outliers):
  """The farthest positive with the closest negative, one triplet per anchor."""
  p = jnp.argmax(jnp.where(positives, d, -jnp.inf), -1)
  n = jnp.argmin(jnp.where(negatives, d, jnp.inf), -1)
  has = jnp.any(positives, -1) & jnp.any(negatives, -1)
  d_ap = jnp.take_along_axis(d, p[:, None], -1)[:, 0]
  d_an = jnp.take_along_axis(d, n[:, None], -1)[:, 0]
  active = has & _active(d_ap, d_an, margin, drop_outliers)
  value = jnp.where(active, d_ap - d_an + margin, 0.0)
  onehot = jax.nn.one_hot(p, d.shape[1], dtype=d.dtype) - jax.nn.one_hot(n, d.shape[1], dtype=d.dtype)
  return value, jnp.where(active[:, None], onehot, 0.0)


def _semi_hard_negatives(d, negatives):
  """For each (a, p): the closest negative farther than p, else the farthest negative.

  n_ap = argmin_{n ∈ N_a, d_an > d_ap} d_an (first index among ties), found by binary search
  in the anchor's stable-sorted negative distances: the first farther one sits right after the
  #{n : d_an ≤ d_ap} negatives that are not farther (distances are finite, so the +∞ fill is
  never counted). Without one, argmax_{n ∈ N_a} d_an (a condition-3 triplet).
  """
  sorted_an, order = _sorted_rows(d, negatives)
  not_farther = _count_below(sorted_an, d, inclusive=True)
  closest = jnp.take_along_axis(order, jnp.minimum(not_farther, d.shape[1] - 1), -1)
  farthest = jnp.argmax(jnp.where(negatives, d, -jnp.inf), -1)
  has_farther = not_farther < jnp.sum(negatives, -1, keepdims=True)
  return jnp.where(has_farther, closest, farthest[:, None])


def _semi_hard_rule(d, positives, negatives, margin, drop_outliers):
  """FaceNet's semi-hard mining (the TF-Addons rule), averaged over the anchor's positives.

  value_a = Σ_p [active] (d_ap − d_{a n_ap} + m) / |P_a|; weights +[active]/|P_a| on (a, p)
  and −#{p : n_ap = n, active}/|P_a| on (a, n), a segment sum of the active pairs over their
  mined negative (an integer scatter-add on ``[B, B]``).
  """
  n = _semi_hard_negatives(d, negatives)  # [B, B]: negative for (a, p)
  d_an = jnp.take_along_axis(d, n, -1)
  valid = positives & jnp.any(negatives, -1, keepdims=True)
  active = valid & _active(d, d_an, margin, drop_outliers)
  count = jnp.maximum(jnp.sum(valid, -1), 1).astype(d.dtype)
  value = jnp.sum(jnp.where(active, d - d_an + margin, 0.0), -1) / count
  mined = _count_at(n, active.astype(jnp.int32), d.shape[1])
  return value, (active.astype(d.dtype) - mined.astype(d.dtype)) / count[:, None]


TRIPLET_RULES: dict[str, PairRule] = {"all": _batch_all_rule, "hard": _batch_hard_rule, "semi-hard": _semi_hard_rule}


def triplet_loss(embeddings, labels, *, margin: float = 0.2, mining: str = "semi-hard",
                 drop_outliers: bool = False, squared: bool = True,
                 normalize: bool = True) -> jax.Array:
  """Triplet loss (Schroff et al. 2015) mined in the batch, with the three conditions explicit.

  .. math:: L = [d(a,p) - d(a,n) + m]_+

  Mining (per anchor a):

  * ``"all"``: every valid (a, p, n); the anchor's loss is the mean over its *active* triplets
    (Hermans et al.'s batch-all, "≠ 0" averaging);
  * ``"hard"``: the farthest positive with the closest negative, one triplet (batch-hard);
  * ``"semi-hard"``: for each positive, the closest negative farther than it (FaceNet; if none
    is farther, the farthest negative), averaged over the anchor's positives.

  Condition 1 triplets give 0 and no gradient, condition 2 are optimised, condition 3
  (d(a,p) > d(a,n)) are optimised, or dropped as outliers with ``drop_outliers=True`` (see
  `triplet_conditions`). The backward is injected as pair weights: +1 on d(a,p), −1 on d(a,n)
  per active triplet, divided like the value.

  Args:
    embeddings: ``[B, D]``; labels: ``[B]`` integer identities.
    margin: m ≥ 0 (FaceNet: 0.2 on squared distances of unit embeddings).
    mining: one of `TRIPLET_MINING`.
    drop_outliers: drop condition-3 triplets.
    squared: squared Euclidean distances (FaceNet) or distances.
    normalize: L2-normalise the embeddings first.

  Returns:
    ``[B]`` per-anchor losses; 0 for an anchor with no valid triplet (no positive or no
    negative in the batch).

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x = jnp.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> labels = jnp.array([0, 1, 0, 1])  # each anchor's negative is closer than its positive
    >>> print(np.asarray(ge.embedding.triplet_loss(x, labels), float).round(4))  # semi-hard
    [0.  1.4 1.4 0. ]
    >>> print(np.asarray(ge.embedding.triplet_loss(x, labels, mining="hard"), float).round(4))
    [1.8 1.8 1.8 1.8]
  """
  _check("margin", margin, lower=0.0)
  if mining not in TRIPLET_MINING:
    raise ValueError(f"`mining` must be one of {TRIPLET_MINING}; got {mining!r}.")
  x, labels, dtype = _prepare(embeddings, labels)
  d = pairwise_distances(l2_normalize(x) if normalize else x, squared=squared)
  return pair_loss(TRIPLET_RULES[mining], d, *pair_masks(labels),
                   margin, drop_outliers).astype(dtype)
