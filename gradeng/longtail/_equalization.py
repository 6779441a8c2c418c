"""Sigmoid-head long-tail losses that re-weight each logit's gradient: EQL, EQL v2, EFL.

The C logits of an example of class y are C one-vs-all terms of the catalog loss ``base``
(sigmoid head, injected derivative); each loss multiplies the gradient of logit j by a weight
that depends on class j's statistics — the class analogue of w(p) = p·g(p):

==================  =====================================================  ===================
loss                weight of logit j (relative to ``base``)               statistics
==================  =====================================================  ===================
EQL                 1 - E·T_λ(f_j)·(1 - y_j) ∈ {0, 1}                     frequencies f_j
EQL v2              q_j y_j + r_j (1 - y_j), r_j = f(g_j), q_j = 1 + α'(1-r_j)   accumulated gradients
EFL                 (γ_j/γ_b)·(1-p_t)^{γ_j}-modulated focal weight        accumulated gradients
==================  =====================================================  ===================

The stateful ones (EQL v2, EFL) accumulate |∂L/∂z_j| of their own loss over positives and
negatives of each class (the loss's injected derivative, from ``stop_gradient`` logits), as the
reference implementations' gradient hooks do; the weights of a batch use the state *before* it.
The state is a NamedTuple of ``[C]`` arrays (checkpoint with ``np.savez(f, **state._asdict())``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradeng.longtail._checks import (base_loss, check_int, check_number, class_counts_array,
                                      float_logits, integer_labels, poison_counts, row_mask,
                                      safe_labels)
from gradeng.runtime import InputError, StatefulLoss, get_coefficient, logit_weight

__all__ = [
    "equalization_logit_weights", "equalization_loss",
    "EQLv2State", "eqlv2_logit_weights", "eqlv2",
    "EqualizedFocalState", "equalized_focal_gammas", "equalized_focal_logit_weights", "equalized_focal",
]


def _one_hot(labels, num_classes):
  return safe_labels(labels, num_classes)[..., None] == jnp.arange(num_classes)


def _per_logit(base, params, logits, labels, alpha, where, ignore_index):
  """``base`` on the sigmoid head for the C one-vs-all targets of integer ``labels``: [..., C]."""
  num_classes = logits.shape[-1]
  mask = row_mask(labels, num_classes, where, ignore_index)
  targets = _one_hot(labels, num_classes).astype(jnp.int32)
  value = base_loss(base, "sigmoid", params)(logits, targets, alpha=alpha,
                                             where=jnp.broadcast_to(mask[..., None], logits.shape))
  return value, mask


def _collect(per_logit_fn, logits, labels, mask):
  """Σ over the batch of |∂L/∂z_j| on positives and on negatives of each class j: two [C]."""
  z = jax.lax.stop_gradient(logits)
  grad = jnp.abs(jax.grad(lambda x: jnp.sum(per_logit_fn(x).astype(jnp.float32)))(z)).astype(jnp.float32)
  grad = jnp.where(mask[..., None], grad, 0.0)
  positive = _one_hot(labels, logits.shape[-1])
  axes = tuple(range(grad.ndim - 1))
  return (jnp.sum(jnp.where(positive, grad, 0.0), axis=axes),
          jnp.sum(jnp.where(positive, 0.0, grad), axis=axes))


# ----------------------------------------------------------------------------- EQL


def equalization_logit_weights(labels: ArrayLike, class_counts: ArrayLike, *,
                               frequency_threshold: float, foreground=None) -> jax.Array:
  """EQL's per-logit weights w_j = 1 - E(r)·T_λ(f_j)·(1 - y_j), ``[..., C]`` in {0, 1}.

  .. math::
    w_j = 1 - E(r)\\,T_\\lambda(f_j)\\,(1 - y_j), \\qquad T_\\lambda(f) = [f < \\lambda],
    \\qquad f_j = n_j / \\textstyle\\sum_k n_k

  A rare class's logit (f_j < λ) receives no gradient from examples of other classes; its own
  examples, and every frequent class, are untouched. f_j is the raw frequency (a class with
  no sample so far has f = 0: rare).

  Args:
    labels: ``[...]`` integer class ids.
    class_counts: n_j ≥ 0, ``[C]``.
    frequency_threshold: λ ∈ [0, 1].
    foreground: E(r), optional boolean ``[...]`` (default all True: every example is a
      foreground object; background proposals keep all suppression).

  Returns:
    ``[..., C]`` float weights in {0, 1}.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> lt.equalization_logit_weights(jnp.array([0]), [99, 1], frequency_threshold=0.05).tolist()
    [[1.0, 0.0]]

  References:
    Tan, J. et al. "Equalization loss for long-tailed object recognition", CVPR 2020, Eq. (4)–(6).
  """
  check_number("frequency_threshold", frequency_threshold, lower=0.0, upper=1.0)
  counts = class_counts_array(class_counts)
  labels = jnp.asarray(labels)
  frequency = counts / jnp.maximum(jnp.sum(counts), 1.0)
  rare = frequency < frequency_threshold
  y = _one_hot(labels, counts.shape[0])
  e = jnp.ones(labels.shape, bool) if foreground is None else jnp.broadcast_to(jnp.asarray(foreground, bool), labels.shape)
  suppressed = e[..., None] & rare & ~y
  return poison_counts(jnp.where(suppressed, 0.0, 1.0).astype(counts.dtype), counts)


def equalization_loss(logits: ArrayLike, labels: ArrayLike, *, class_counts: ArrayLike,
                      frequency_threshold: float, base="ce", foreground=None, alpha=None,
                      where=None, ignore_index: int | None = None, **params) -> jax.Array:
  """Equalization loss (Tan et al. 2020), sigmoid head: rare classes' suppressing gradient removed.

  .. math::
    L_{\\mathrm{EQL}} = -\\sum_{j=1}^{C} w_j \\log \\hat p_j, \\qquad
    \\hat p_j = \\begin{cases}\\sigma(z_j) & y_j = 1\\\\ 1 - \\sigma(z_j) & y_j = 0\\end{cases},
    \\qquad w_j = 1 - E(r)\\,T_\\lambda(f_j)\\,(1 - y_j)

  with ``base`` replacing -log p̂ by any catalog L (its injected derivative). w ∈ {0, 1}, so the
  weight is the catalog's ``where``: a weight-0 logit has zero loss and zero gradient.

  Args:
    logits: ``[..., C]`` float.
    labels: ``[...]`` integer class ids.
    class_counts: n_j ≥ 0, ``[C]`` (training-set counts; f_j = n_j / Σ n).
    frequency_threshold: λ ∈ [0, 1] (1.76e-3 on LVIS).
    base: catalog loss or `ScaleCoefficient`.
    foreground: E(r), optional boolean ``[...]``.
    alpha: the catalog's sigmoid α (positives α, negatives 1 - α).
    where: optional per-example mask ``[...]``; ignore_index: a label value masked out.
    **params: the base loss's hyper-parameters.

  Returns:
    Per-logit losses ``[..., C]`` (the paper sums over classes and averages over examples).

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> lt.equalization_loss(jnp.zeros((1, 2)), jnp.array([0]), class_counts=[99, 1],
    ...                      frequency_threshold=0.05)[0, 1].item()
    0.0

  References:
    Tan, J., Wang, C., Li, B., Li, Q., Ouyang, W., Yin, C., Yan, J. "Equalization loss for
    long-tailed object recognition", CVPR 2020, Eq. (4)–(6).
  """
  logits = float_logits(logits)
  labels = integer_labels(labels, logits)
  counts = class_counts_array(class_counts, logits.shape[-1])
  weights = equalization_logit_weights(labels, counts, frequency_threshold=frequency_threshold,
                                       foreground=foreground)
  mask = row_mask(labels, logits.shape[-1], where, ignore_index)
  keep = mask[..., None] & (weights > 0)
  targets = _one_hot(labels, logits.shape[-1]).astype(jnp.int32)
  value = base_loss(base, "sigmoid", params)(logits, targets, alpha=alpha, where=keep)
  return poison_counts(value, counts)


# ----------------------------------------------------------------------------- EQL v2


class EQLv2State(NamedTuple):
  """EQL v2 statistics: Σ|∂L/∂z_j| accumulated over positives and over negatives of class j.

  Attributes:
    positive: ``[C]`` accumulated positive gradient magnitudes.
    negative: ``[C]`` accumulated negative gradient magnitudes.

  Example:
    >>> import gradeng.longtail as lt
    >>> state = lt.eqlv2(3).init()
    >>> state.positive.tolist(), state.negative.tolist()
    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
  """

  positive: jax.Array  # [C]
  negative: jax.Array  # [C]


def _gradient_ratio(state, *, empty):
  """g_j = positive_j / negative_j; ``empty`` where no negative gradient was collected yet."""
  negative = jnp.asarray(state.negative, jnp.float32)
  positive = jnp.asarray(state.positive, jnp.float32)
  return jnp.where(negative > 0, positive / jnp.where(negative > 0, negative, 1.0), empty)


def _check_eqlv2(gain, steepness, midpoint):
  check_number("gain", gain, lower=0.0)
  check_number("steepness", steepness, lower=0.0)
  check_number("midpoint", midpoint, lower=0.0)


def eqlv2_logit_weights(state: EQLv2State, labels: ArrayLike, *, gain: float = 4.0,
                        steepness: float = 12.0, midpoint: float = 0.8) -> jax.Array:
  """EQL v2's per-logit weights q_j y_j + r_j (1 - y_j), ``[..., C]``, from the gradient ratio.

  .. math::
    g_j = \\frac{\\sum |\\nabla^{pos}_j|}{\\sum |\\nabla^{neg}_j|}, \\quad
    f(x) = \\frac{1}{1 + e^{-\\gamma'(x - \\mu)}}, \\quad
    r_j = f(g_j), \\quad q_j = 1 + \\alpha'\\,(1 - r_j)

  (the paper's γ = ``steepness``, μ = ``midpoint``, α = ``gain``; renamed because ``gamma`` and
  ``alpha`` mean the focusing exponent and class weight everywhere else in gradeng). Before any
  negative gradient is collected, g_j = ∞ and q = r = 1 (the reference starts at g = 100).

  Args:
    state: `EQLv2State`.
    labels: ``[...]`` integer class ids.
    gain: α' ≥ 0 (4 in the paper).
    steepness: γ' ≥ 0 (12).
    midpoint: μ ≥ 0 (0.8).

  Returns:
    ``[..., C]`` weights.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> s = lt.EQLv2State(positive=jnp.array([8.0, 0.0]), negative=jnp.array([10.0, 10.0]))
    >>> [round(w, 3) for w in lt.eqlv2_logit_weights(s, jnp.array([0]))[0].tolist()]
    [3.0, 0.0]

  References:
    Tan, J. et al. "Equalization loss v2: a new gradient balance approach for long-tailed object
    detection", CVPR 2021, Eq. (7)–(9).
  """
  _check_eqlv2(gain, steepness, midpoint)
  ratio = _gradient_ratio(state, empty=jnp.inf)
  r = jax.nn.sigmoid(steepness * (ratio - midpoint))
  q = 1.0 + gain * (1.0 - r)
  y = _one_hot(jnp.asarray(labels), r.shape[0])
  return jnp.where(y, q, r)


def eqlv2(num_classes: int, *, gain: float = 4.0, steepness: float = 12.0, midpoint: float = 0.8,
          base="ce", **params) -> StatefulLoss:
  """Equalization loss v2 (Tan et al. 2021): positive and negative gradients balanced per class.

  .. math::
    \\nabla'^{pos}_j = q_j\\,\\nabla^{pos}_j, \\qquad \\nabla'^{neg}_j = r_j\\,\\nabla^{neg}_j,
    \\qquad L = \\sum_j \\big(q_j y_j + r_j (1 - y_j)\\big)\\,\\mathrm{BCE}(z_j, y_j)

  with q, r from `eqlv2_logit_weights` (state before the batch); then the weighted gradient
  magnitudes |∂L/∂z_j| = (q_j y_j + r_j(1 - y_j))·|σ(z_j) - y_j| (for ``base="ce"``) are added to
  the per-class positive/negative sums. A class with few examples collects little positive
  gradient, g_j → 0, so r_j → 0 (suppression removed) and q_j → 1 + α'.

  Args:
    num_classes: C ≥ 1.
    gain, steepness, midpoint: see `eqlv2_logit_weights`.
    base: catalog loss on the sigmoid head (``"ce"`` is the paper's BCE).
    **params: the base loss's hyper-parameters.

  Returns:
    `StatefulLoss` with `EQLv2State`: ``loss(logits [..., C], labels [...] int, state, *,
    alpha=None, where=None, ignore_index=None) -> (per-logit losses [..., C], state)``. The
    reference sums over classes and divides by the number of examples.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> sl = lt.eqlv2(3)
    >>> values, state = sl.loss(jnp.zeros((2, 3)), jnp.array([0, 1]), sl.init())
    >>> [round(x, 2) for x in state.positive.tolist()]
    [0.5, 0.5, 0.0]

  References:
    Tan, J., Lu, X., Zhang, G., Yin, C., Li, Q. "Equalization loss v2: a new gradient balance
    approach for long-tailed object detection", CVPR 2021, §3.2–3.3.
  """
  check_int("num_classes", num_classes, lower=1)
  _check_eqlv2(gain, steepness, midpoint)

  def init():
    zeros = jnp.zeros((num_classes,), jnp.float32)
    return EQLv2State(zeros, zeros)

  def loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None):
    logits = float_logits(logits)
    labels = integer_labels(labels, logits)
    if logits.shape[-1] != num_classes:
      raise InputError(f"`logits` must have {num_classes} classes on the last axis; got {logits.shape[-1]}.")
    weights = jax.lax.stop_gradient(eqlv2_logit_weights(state, labels, gain=gain, steepness=steepness,
                                                        midpoint=midpoint))

    def per_logit(z):
      value, _ = _per_logit(base, params, z, labels, alpha, where, ignore_index)
      return value * weights.astype(value.dtype)

    mask = row_mask(labels, num_classes, where, ignore_index)
    positive, negative = _collect(per_logit, logits, labels, mask)
    new = EQLv2State(state.positive + positive, state.negative + negative)
    return per_logit(logits), jax.tree_util.tree_map(jax.lax.stop_gradient, new)

  return StatefulLoss(init, loss)


# ----------------------------------------------------------------------------- EFL


class EqualizedFocalState(NamedTuple):
  """EFL statistics: Σ|∂L/∂z_j| accumulated over positives and over negatives of class j.

  Attributes:
    positive: ``[C]`` accumulated positive gradient magnitudes.
    negative: ``[C]`` accumulated negative gradient magnitudes.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> sl = lt.equalized_focal(2)
    >>> values, state = sl.loss(jnp.zeros((1, 2)), jnp.array([0]), sl.init())
    >>> type(state).__name__, state.positive.shape
    ('EqualizedFocalState', (2,))
  """

  positive: jax.Array  # [C]
  negative: jax.Array  # [C]


def _check_efl(gamma, focus_scale):
  check_number("gamma", gamma, lower=0.0, lower_open=True)
  check_number("focus_scale", focus_scale, lower=0.0)


def equalized_focal_gammas(state: EqualizedFocalState, *, gamma: float = 2.0,
                           focus_scale: float = 8.0) -> jax.Array:
  """EFL's per-class focusing exponents γ_j = γ_b + s(1 - g_j), ``[C]``.

  .. math::
    g_j = \\mathrm{clip}\\Big(\\frac{\\sum |\\nabla^{pos}_j|}{\\sum |\\nabla^{neg}_j|}, 0, 1\\Big),
    \\qquad \\gamma_j = \\gamma_b + s\\,(1 - g_j)

  Before any negative gradient is collected g_j = 1 (γ_j = γ_b).

  Args:
    state: `EqualizedFocalState`.
    gamma: γ_b > 0, the catalog focusing exponent shared by all classes (2 in the paper).
    focus_scale: s ≥ 0 (8 in the paper).

  Returns:
    ``[C]`` exponents in [γ_b, γ_b + s].

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> s = lt.EqualizedFocalState(positive=jnp.array([5.0, 1.0]), negative=jnp.array([5.0, 4.0]))
    >>> lt.equalized_focal_gammas(s, gamma=2.0, focus_scale=8.0).tolist()
    [2.0, 8.0]

  References:
    Li, B. et al. "Equalized focal loss for dense long-tailed object detection", CVPR 2022,
    Eq. (5).
  """
  _check_efl(gamma, focus_scale)
  g = jnp.clip(_gradient_ratio(state, empty=1.0), 0.0, 1.0)
  return gamma + focus_scale * (1.0 - g)


def equalized_focal_logit_weights(state: EqualizedFocalState, logits: ArrayLike, labels: ArrayLike, *,
                                  gamma: float = 2.0, focus_scale: float = 8.0, base="focal") -> jax.Array:
  """EFL's weight on each logit relative to sigmoid cross-entropy: (γ_j/γ_b)·w_base(p_t; γ_j)/w_CE.

  w_CE = -1, so this is -(γ_j/γ_b)·w(p_t; γ_j) — the catalog's logit weight of ``base`` at the
  class's own γ_j, scaled by the weighting factor: ``[..., C]``, ≥ 0.

  Args:
    state: `EqualizedFocalState`.
    logits: ``[..., C]`` sigmoid logits.
    labels: ``[...]`` integer class ids.
    gamma: γ_b > 0.
    focus_scale: s ≥ 0.
    base: a catalog coefficient with a parameter ``gamma``.

  Returns:
    ``[..., C]`` weights.

  Example:
    Class 0 keeps γ = 2 (focal's w(0.5) = -0.5966); the rare class 1 gets γ = 8, times 8/2:

    >>> import jax.numpy as jnp, numpy as np, gradeng.longtail as lt
    >>> s = lt.EqualizedFocalState(positive=jnp.array([5.0, 1.0]), negative=jnp.array([5.0, 4.0]))
    >>> w = lt.equalized_focal_logit_weights(s, jnp.zeros((1, 2)), jnp.array([0]))
    >>> print(np.asarray(w, float).round(4))
    [[0.5966 0.1023]]
  """
  logits = float_logits(logits)
  labels = jnp.asarray(labels)
  gammas = equalized_focal_gammas(state, gamma=gamma, focus_scale=focus_scale)
  y = _one_hot(labels, logits.shape[-1])
  z = logits.astype(jnp.float32)
  p_t = jax.nn.sigmoid(jnp.where(y, z, -z))
  gamma_bc = jnp.broadcast_to(gammas, z.shape)
  return -(gamma_bc / gamma) * logit_weight(get_coefficient(base), p_t, gamma=gamma_bc)


def equalized_focal(num_classes: int, *, gamma: float = 2.0, focus_scale: float = 8.0,
                    base="focal", **params) -> StatefulLoss:
  """Equalized focal loss (Li et al. 2022): a focusing exponent and a weight per class.

  .. math::
    \\mathrm{EFL}(p_t) = -\\sum_{j=1}^{C} \\alpha_t\\,\\frac{\\gamma_j}{\\gamma_b}\\,
      (1 - p_t)^{\\gamma_j} \\log p_t, \\qquad \\gamma_j = \\gamma_b + s\\,(1 - g_j)

  (`equalized_focal_gammas`, state before the batch): a rare class (small g_j) gets a larger
  γ_j — its easy negatives are down-weighted harder — and the factor γ_j/γ_b lifts its hard
  examples back up. ``base`` may be any catalog coefficient with a ``gamma`` (``"maki"`` gives
  an equalized Maki loss), always through its injected derivative. The batch's |∂L/∂z_j| are
  then added to the per-class positive/negative sums.

  Args:
    num_classes: C ≥ 1.
    gamma: γ_b > 0.
    focus_scale: s ≥ 0.
    base: catalog coefficient with a parameter ``gamma``.
    **params: its other hyper-parameters.

  Returns:
    `StatefulLoss` with `EqualizedFocalState`: ``loss(logits [..., C], labels [...] int, state,
    *, alpha=None, where=None, ignore_index=None) -> (per-logit losses [..., C], state)``;
    ``alpha`` is focal loss's α_t (0.25 in the paper).

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> sl = lt.equalized_focal(2)
    >>> values, state = sl.loss(jnp.zeros((1, 2)), jnp.array([0]), sl.init(), alpha=0.25)
    >>> values.shape
    (1, 2)

  References:
    Li, B., Yao, Y., Tan, J., Zhang, G., Yu, F., Lu, J., Luo, Y. "Equalized focal loss for dense
    long-tailed object detection", CVPR 2022, Eq. (4)–(6).
  """
  check_int("num_classes", num_classes, lower=1)
  _check_efl(gamma, focus_scale)
  coefficient = get_coefficient(base)
  if "gamma" not in coefficient.params:
    raise InputError(f"`base` must have a parameter `gamma`; `{coefficient.name}` has {sorted(coefficient.params)}.")
  if "gamma" in params:
    raise TypeError("`gamma` is γ_b of the equalized focal loss; the per-class γ_j are set from the state.")

  def init():
    zeros = jnp.zeros((num_classes,), jnp.float32)
    return EqualizedFocalState(zeros, zeros)

  def loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None):
    logits = float_logits(logits)
    labels = integer_labels(labels, logits)
    if logits.shape[-1] != num_classes:
      raise InputError(f"`logits` must have {num_classes} classes on the last axis; got {logits.shape[-1]}.")
    gammas = jax.lax.stop_gradient(equalized_focal_gammas(state, gamma=gamma, focus_scale=focus_scale))
    gamma_bc = jnp.broadcast_to(gammas, logits.shape)

    def per_logit(z):
      value, _ = _per_logit(coefficient, {**params, "gamma": gamma_bc}, z, labels, alpha, where, ignore_index)
      return value * (gamma_bc / gamma).astype(value.dtype)

    mask = row_mask(labels, num_classes, where, ignore_index)
    positive, negative = _collect(per_logit, logits, labels, mask)
    new = EqualizedFocalState(state.positive + positive, state.negative + negative)
    return per_logit(logits), jax.tree_util.tree_map(jax.lax.stop_gradient, new)

  return StatefulLoss(init, loss)
