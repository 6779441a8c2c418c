"""Softmax losses with per-class logit offsets: logit adjustment, balanced softmax, LDAM (+ DRW).

Each is the catalog loss ``base`` (softmax head, injected derivative) evaluated at shifted logits
z̃ = z + δ_y, the offsets δ_{y,j} depending on the label y and the class j only. For cross-entropy
the gradient on a negative class j ≠ y is

.. math::
  \\frac{\\partial L}{\\partial z_j} = \\frac{S_{yj}\\,e^{z_j}}{e^{z_y} + \\sum_{k \\ne y} S_{yk}\\,e^{z_k}},
  \\qquad S_{yj} = e^{\\delta_{y,j} - \\delta_{y,y}},

so the offsets act as *pair weights* S_{yj} on the negative classes' exponentials — the class
analogue of w(p) = p·g(p), returned by the ``*_logit_weights`` functions: S_{yj} < 1 shields
class j's logit from the suppressing gradient of examples of class y (as Seesaw's factor).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradeng.longtail._balanced import drw_weights
from gradeng.longtail._checks import (base_loss, check_int, check_number, class_counts_array,
                                      compute_dtype, float_logits, integer_labels,
                                      log_floored_counts, log_priors, poison_counts, safe_labels)
from gradeng.runtime import StatefulLoss, StepState

__all__ = [
    "logit_adjustments", "adjust_logits", "logit_adjusted_loss", "logit_adjusted_logit_weights",
    "balanced_softmax_loss", "balanced_softmax_logit_weights",
    "ldam_margins", "ldam_loss", "ldam_logit_weights", "ldam_drw",
]


def _shifted_loss(logits, labels, shift, base, alpha, where, ignore_index, params):
  """``base`` (softmax head) at logits + shift, in the logits' dtype (computed in float32+)."""
  z = logits.astype(compute_dtype(logits)) + shift
  value = base_loss(base, "softmax", params)(z, labels, alpha=alpha, where=where, ignore_index=ignore_index)
  return value.astype(logits.dtype)


def _pair_weights(log_offsets_by_class):
  """S_{yj} = exp(δ_j - δ_y) for label-independent offsets δ ``[C]``."""
  return jnp.exp(log_offsets_by_class[None, :] - log_offsets_by_class[:, None])


# ----------------------------------------------------------------------------- logit adjustment


def logit_adjustments(class_counts: ArrayLike, *, tau: float = 1.0) -> jax.Array:
  """The logit-adjustment offsets τ·log π_j, π_j = n_j / Σ_k n_k (n ← max(n, 1)).

  Args:
    class_counts: n_j ≥ 0, ``[C]``.
    tau: the temperature τ ≥ 0.

  Returns:
    ``[C]`` offsets (≤ 0).

  Example:
    >>> import gradeng.longtail as lt
    >>> [round(float(d), 4) for d in lt.logit_adjustments([3, 1], tau=1.0)]
    [-0.2877, -1.3863]

  References:
    Menon, A.K. et al. "Long-tail learning via logit adjustment", ICLR 2021, Eq. (9)–(10).
  """
  check_number("tau", tau, lower=0.0)
  counts = class_counts_array(class_counts)
  return poison_counts(tau * log_priors(counts), counts)


def adjust_logits(logits: ArrayLike, class_counts: ArrayLike, *, tau: float = 1.0) -> jax.Array:
  """Post-hoc logit adjustment (Menon et al. 2021): predict argmax_j z_j - τ·log π_j.

  .. math:: \\hat y(x) = \\arg\\max_j\\; z_j(x) - \\tau \\log \\pi_j

  Args:
    logits: ``[..., C]`` float, of a model trained without adjustment.
    class_counts: n_j ≥ 0, ``[C]`` (training-set counts).
    tau: τ ≥ 0 (τ = 1 is the Bayes-optimal correction for the balanced error).

  Returns:
    Adjusted logits, shape and dtype of ``logits``.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> int(lt.adjust_logits(jnp.array([1.0, 0.5]), [100, 1]).argmax())
    1

  References:
    Menon, A.K. et al. "Long-tail learning via logit adjustment", ICLR 2021, Eq. (9).
  """
  logits = float_logits(logits)
  offsets = logit_adjustments(class_counts_array(class_counts, logits.shape[-1]), tau=tau)
  return (logits.astype(compute_dtype(logits)) - offsets).astype(logits.dtype)


def logit_adjusted_loss(logits: ArrayLike, labels: ArrayLike, *, class_counts: ArrayLike,
                        tau: float = 1.0, base="ce", alpha=None, where=None,
                        ignore_index: int | None = None, **params) -> jax.Array:
  """Logit-adjusted loss (Menon et al. 2021): the catalog loss at z + τ·log π.

  .. math::
    \\ell(y, z) = -\\log \\frac{e^{z_y + \\tau \\log \\pi_y}}{\\sum_{j} e^{z_j + \\tau \\log \\pi_j}},
    \\qquad S_{yj} = (\\pi_j / \\pi_y)^{\\tau}

  (cross-entropy; ``base`` replaces -log p by any catalog L, still through its injected
  derivative). The pair weight S_{yj} < 1 for a class j rarer than y: examples of frequent
  classes push a rare class's logit down less.

  Args:
    logits: ``[..., C]`` float.
    labels: ``[...]`` integer class ids.
    class_counts: n_j ≥ 0, ``[C]``.
    tau: τ ≥ 0 (τ = 0: the base loss).
    base: catalog loss (``"ce"``, ``"focal"``, ``"maki"`` …) or `ScaleCoefficient`.
    alpha, where, ignore_index: as the catalog's softmax head.
    **params: the base loss's hyper-parameters.

  Returns:
    Per-example losses ``[...]``.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> round(float(lt.logit_adjusted_loss(jnp.zeros((1, 2)), jnp.array([1]),
    ...                                    class_counts=[3, 1])[0]), 4)  # -log(1/4)
    1.3863

  References:
    Menon, A.K., Jayasumana, S., Rawat, A.S., Jain, H., Veit, A., Kumar, S. "Long-tail learning
    via logit adjustment", ICLR 2021, Eq. (10).
  """
  logits = float_logits(logits)
  labels = integer_labels(labels, logits)
  offsets = logit_adjustments(class_counts_array(class_counts, logits.shape[-1]), tau=tau)
  return _shifted_loss(logits, labels, offsets, base, alpha, where, ignore_index, params)


def logit_adjusted_logit_weights(class_counts: ArrayLike, *, tau: float = 1.0) -> jax.Array:
  """Pair weights S_{yj} = (π_j/π_y)^τ of the logit-adjusted loss, ``[C, C]`` (row y = label).

  .. math::
    S_{yj} = \\left(\\frac{\\pi_j}{\\pi_y}\\right)^{\\tau}, \\qquad
    \\frac{\\partial L}{\\partial z_j} = \\frac{S_{yj} e^{z_j}}{\\sum_k S_{yk} e^{z_k}} \\ (j \\ne y)

  Args:
    class_counts: ``[C]`` training counts n_j (priors π_j = n_j / Σn).
    tau: τ ≥ 0.

  Returns:
    ``[C, C]`` weights, 1 on the diagonal.

  Example:
    >>> import numpy as np, gradeng.longtail as lt
    >>> print(np.asarray(lt.logit_adjusted_logit_weights([90, 10]), float).round(4))
    [[1.     0.1111]
     [9.     1.    ]]
    >>> print(np.asarray(lt.logit_adjusted_logit_weights([90, 10], tau=0.5), float).round(4))
    [[1.     0.3333]
     [3.     1.    ]]
  """
  return _pair_weights(logit_adjustments(class_counts, tau=tau))


def balanced_softmax_loss(logits: ArrayLike, labels: ArrayLike, *, class_counts: ArrayLike,
                          base="ce", alpha=None, where=None, ignore_index: int | None = None,
                          **params) -> jax.Array:
  """Balanced softmax (Ren et al. 2020): the softmax with each class's exponential times n_j.

  .. math::
    \\hat\\phi_y = \\frac{n_y\\,e^{z_y}}{\\sum_j n_j\\,e^{z_j}}, \\qquad
    \\ell = -\\log \\hat\\phi_y, \\qquad S_{yj} = n_j / n_y,

  i.e. the logit-adjusted loss with τ = 1 (log n and log π differ by a constant). ``base``
  replaces -log by any catalog L of φ̂_y.

  Args:
    logits: ``[..., C]`` float.
    labels: ``[...]`` integer class ids.
    class_counts: n_j ≥ 0, ``[C]`` (n ← max(n, 1)).
    base: catalog loss or `ScaleCoefficient`.
    alpha, where, ignore_index: as the catalog's softmax head.
    **params: the base loss's hyper-parameters.

  Returns:
    Per-example losses ``[...]``.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> round(float(lt.balanced_softmax_loss(jnp.zeros((1, 2)), jnp.array([0]),
    ...                                      class_counts=[3, 1])[0]), 4)  # -log(3/4)
    0.2877

  References:
    Ren, J. et al. "Balanced meta-softmax for long-tailed visual recognition", NeurIPS 2020,
    Eq. (4).
  """
  logits = float_logits(logits)
  labels = integer_labels(labels, logits)
  counts = class_counts_array(class_counts, logits.shape[-1])
  shift = poison_counts(log_floored_counts(counts), counts)
  return _shifted_loss(logits, labels, shift, base, alpha, where, ignore_index, params)


def balanced_softmax_logit_weights(class_counts: ArrayLike) -> jax.Array:
  """Pair weights S_{yj} = n_j / n_y of the balanced softmax, ``[C, C]`` (row y = label).

  Args:
    class_counts: ``[C]`` training counts n_j.

  Returns:
    ``[C, C]`` weights, 1 on the diagonal (`logit_adjusted_logit_weights` with τ = 1).

  Example:
    >>> import numpy as np, gradeng.longtail as lt
    >>> print(np.asarray(lt.balanced_softmax_logit_weights([90, 10]), float).round(4))
    [[1.     0.1111]
     [9.     1.    ]]
  """
  counts = class_counts_array(class_counts)
  return _pair_weights(poison_counts(log_floored_counts(counts), counts))


# ----------------------------------------------------------------------------- LDAM


def ldam_margins(class_counts: ArrayLike, *, max_margin: float = 0.5) -> jax.Array:
  """LDAM's label-distribution-aware margins Δ_j = C / n_j^{1/4}, the largest equal to ``max_margin``.

  .. math:: \\Delta_j = \\frac{C}{n_j^{1/4}}, \\qquad C = \\Delta_{\\max}\\,\\min_k n_k^{1/4}

  Args:
    class_counts: n_j ≥ 0, ``[C]`` (n ← max(n, 1)).
    max_margin: Δ_max > 0, the margin of the rarest class.

  Returns:
    ``[C]`` margins in (0, Δ_max].

  Example:
    >>> import gradeng.longtail as lt
    >>> [round(float(m), 4) for m in lt.ldam_margins([10000, 1], max_margin=0.5)]
    [0.05, 0.5]

  References:
    Cao, K. et al. "Learning imbalanced datasets with label-distribution-aware margin loss",
    NeurIPS 2019, Eq. (13).
  """
  check_number("max_margin", max_margin, lower=0.0, lower_open=True)
  counts = class_counts_array(class_counts)
  log_n = log_floored_counts(counts)
  return poison_counts(max_margin * jnp.exp(-0.25 * (log_n - jnp.min(log_n))), counts)


def ldam_loss(logits: ArrayLike, labels: ArrayLike, *, class_counts: ArrayLike,
              max_margin: float = 0.5, scale: float = 30.0, base="ce", alpha=None, where=None,
              ignore_index: int | None = None, **params) -> jax.Array:
  """LDAM loss (Cao et al. 2019): the catalog loss at s·(z - Δ_y e_y).

  .. math::
    \\mathcal L_{\\mathrm{LDAM}}(z, y) = -\\log \\frac{e^{s(z_y - \\Delta_y)}}
      {e^{s(z_y - \\Delta_y)} + \\sum_{j \\ne y} e^{s z_j}}, \\qquad
    S_{yj} = e^{s\\Delta_y}\\;(j \\ne y),

  Δ from `ldam_margins`: a rare class must win by a larger margin, so its examples keep
  pushing (every negative's exponential is weighted by e^{sΔ_y} relative to the target).
  The scale s multiplies the logits as in the reference code (whose logits are cosines of a
  normalised linear layer); the gradient w.r.t. z carries the factor s.

  Args:
    logits: ``[..., C]`` float.
    labels: ``[...]`` integer class ids.
    class_counts: n_j ≥ 0, ``[C]``.
    max_margin: Δ_max > 0 (0.5 in the paper).
    scale: s > 0 (30 in the reference code; 1 for unnormalised logits).
    base: catalog loss or `ScaleCoefficient`.
    alpha: the catalog's per-class weight (DRW passes its weights here, see `ldam_drw`).
    where, ignore_index: as the catalog's softmax head.
    **params: the base loss's hyper-parameters.

  Returns:
    Per-example losses ``[...]``.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> round(float(lt.ldam_loss(jnp.zeros((1, 2)), jnp.array([1]), class_counts=[16, 1],
    ...                          max_margin=0.5, scale=2.0)[0]), 4)  # log(1 + e^1)
    1.3133

  References:
    Cao, K., Wei, C., Gaidon, A., Arechiga, N., Ma, T. "Learning imbalanced datasets with
    label-distribution-aware margin loss", NeurIPS 2019, Eq. (13).
  """
  check_number("scale", scale, lower=0.0, lower_open=True)
  logits = float_logits(logits)
  labels = integer_labels(labels, logits)
  num_classes = logits.shape[-1]
  margins = ldam_margins(class_counts_array(class_counts, num_classes), max_margin=max_margin)
  target = safe_labels(labels, num_classes)[..., None] == jnp.arange(num_classes)
  z = logits.astype(compute_dtype(logits))
  shifted = scale * (z - jnp.where(target, margins[safe_labels(labels, num_classes)][..., None], 0.0))
  value = base_loss(base, "softmax", params)(shifted, labels, alpha=alpha, where=where,
                                             ignore_index=ignore_index)
  return value.astype(logits.dtype)


def ldam_logit_weights(class_counts: ArrayLike, *, max_margin: float = 0.5,
                       scale: float = 30.0) -> jax.Array:
  """Pair weights of LDAM on the scaled logits: S_{yj} = e^{sΔ_y} for j ≠ y, 1 on the diagonal.

  Args:
    class_counts: ``[C]`` training counts n_j (margins Δ_j ∝ n_j^{-1/4}, `ldam_margins`).
    max_margin: the largest margin Δ (of the rarest class).
    scale: s, the logit scale.

  Returns:
    ``[C, C]`` weights.

  Example:
    Margins 0.05 and 0.5 (10000 vs 1 examples) with s = 2: e^{0.1} and e^{1}:

    >>> import numpy as np, gradeng.longtail as lt
    >>> w = lt.ldam_logit_weights([10000, 1], max_margin=0.5, scale=2.0)
    >>> print(np.asarray(w, float).round(4))
    [[1.     1.1052]
     [2.7183 1.    ]]
  """
  check_number("scale", scale, lower=0.0, lower_open=True)
  margins = ldam_margins(class_counts, max_margin=max_margin)
  eye = jnp.eye(margins.shape[0], dtype=bool)
  return jnp.where(eye, 1.0, jnp.exp(scale * margins)[:, None] * jnp.ones_like(eye, margins.dtype))


def ldam_drw(class_counts: ArrayLike, *, drw_step: int, max_margin: float = 0.5,
             scale: float = 30.0, beta: float = 0.9999, base="ce", **params) -> StatefulLoss:
  """LDAM with deferred re-weighting (Cao et al. 2019): `ldam_loss` × `drw_weights` (step state).

  .. math::
    \\mathcal L_t(z, y) = w_y(t)\\,\\mathcal L_{\\mathrm{LDAM}}(z, y), \\qquad
    w(t) = 1 \\;(t < T_{\\mathrm{drw}}), \\quad
    w_j(t) = C\\,\\frac{(1-\\beta)/(1-\\beta^{n_j})}{\\sum_k (1-\\beta)/(1-\\beta^{n_k})}
    \\;(t \\ge T_{\\mathrm{drw}}).

  Args:
    class_counts: n_j ≥ 0, ``[C]``.
    drw_step: T_drw ≥ 0, the first re-weighted step.
    max_margin, scale, base, **params: as `ldam_loss`.
    beta: β ∈ [0, 1) of the re-weighting.

  Returns:
    `StatefulLoss` with `StepState`: ``loss(logits, labels, state, *, alpha=None, where=None,
    ignore_index=None) -> (per-example losses, state)``; ``alpha`` multiplies the DRW weights.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> sl = lt.ldam_drw([100, 1], drw_step=1, scale=1.0)
    >>> values, state = sl.loss(jnp.zeros((1, 2)), jnp.array([1]), sl.init())
    >>> int(state.step)
    1

  References:
    Cao, K. et al. "Learning imbalanced datasets with label-distribution-aware margin loss",
    NeurIPS 2019, §3.3 and Algorithm 1.
  """
  check_int("drw_step", drw_step)
  check_number("beta", beta, lower=0.0, upper=1.0, upper_open=True)
  counts = class_counts_array(class_counts)
  ldam_margins(counts, max_margin=max_margin)
  check_number("scale", scale, lower=0.0, lower_open=True)

  def init():
    return StepState(step=jnp.zeros((), jnp.int32))

  def loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None):
    weights = drw_weights(state.step, counts, drw_step=drw_step, beta=beta)
    weights = weights if alpha is None else jnp.asarray(alpha) * weights
    value = ldam_loss(logits, labels, class_counts=counts, max_margin=max_margin, scale=scale,
                      base=base, alpha=weights, where=where, ignore_index=ignore_index, **params)
    return value, StepState(step=state.step + 1)

  return StatefulLoss(init, loss)
