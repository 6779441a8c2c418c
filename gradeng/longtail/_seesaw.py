"""Seesaw loss: the negative gradient between two classes scaled by their counts and scores."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradeng.longtail._checks import (base_loss, check_int, check_number, class_counts_array,
                                      compute_dtype, float_logits, integer_labels,
                                      log_floored_counts, poison_counts, row_mask, safe_labels)
from gradeng.runtime import InputError, StatefulLoss

__all__ = ["SeesawState", "seesaw_log_weights", "seesaw_logit_weights", "seesaw"]


class SeesawState(NamedTuple):
  """Seesaw statistics: the number of examples of each class seen so far, ``[C]``.

  Attributes:
    counts: ``[C]`` float32 class counts N_j.

  Example:
    >>> import gradeng.longtail as lt
    >>> lt.seesaw(3).init().counts.tolist()
    [0.0, 0.0, 0.0]
  """

  counts: jax.Array


def _check(mitigation_power, compensation_power):
  check_number("mitigation_power", mitigation_power, lower=0.0)
  check_number("compensation_power", compensation_power, lower=0.0)


def seesaw_log_weights(logits: ArrayLike, labels: ArrayLike, class_counts: ArrayLike, *,
                       mitigation_power: float = 0.8, compensation_power: float = 2.0) -> jax.Array:
  """log S_{yj} = log M_{yj} + log C_{yj} (0 at j = y), ``[..., C]``, in log space.

  log M_{yj} = p·min(log N_j - log N_y, 0) and log C_{yj} = q·max(z_j - z_y, 0): the ratio of
  softmax scores σ_j/σ_y is e^{z_j - z_y}, so no probability is ever formed (the reference
  divides by σ_y clamped at 1e-2, which caps C at 10^{2q}; here C is exact). The logits are
  read without derivative (as the reference's ``detach``).

  .. math::
    \\log S_{yj} = p \\min(\\log N_j - \\log N_y, 0) + q \\max(z_j - z_y, 0)

  Args:
    logits: ``[..., C]`` softmax logits.
    labels: ``[...]`` integer class ids.
    class_counts: ``[C]`` counts N_j.
    mitigation_power: p ≥ 0.
    compensation_power: q ≥ 0.

  Returns:
    ``[..., C]`` log weights.

  Example:
    The rare class is scored above the true one: log M = 0.5·log(1/100), log C = 2·1:

    >>> import jax.numpy as jnp, numpy as np, gradeng.longtail as lt
    >>> w = lt.seesaw_log_weights(jnp.array([[0.0, 1.0]]), jnp.array([0]), [100, 1],
    ...                           mitigation_power=0.5)
    >>> print(np.asarray(w, float).round(4))
    [[ 0.     -0.3026]]
  """
  _check(mitigation_power, compensation_power)
  logits = float_logits(logits)
  labels = jnp.asarray(labels)
  num_classes = logits.shape[-1]
  counts = class_counts_array(class_counts, num_classes)
  safe = safe_labels(labels, num_classes)
  log_n = log_floored_counts(counts)
  log_mitigation = mitigation_power * jnp.minimum(log_n - log_n[safe][..., None], 0.0)
  z = jax.lax.stop_gradient(logits).astype(compute_dtype(logits))
  z_y = jnp.take_along_axis(z, safe[..., None], axis=-1)
  log_compensation = compensation_power * jnp.maximum(z - z_y, 0.0)
  target = safe[..., None] == jnp.arange(num_classes)
  return poison_counts(jnp.where(target, 0.0, log_mitigation + log_compensation), counts)


def seesaw_logit_weights(logits: ArrayLike, labels: ArrayLike, class_counts: ArrayLike, *,
                         mitigation_power: float = 0.8, compensation_power: float = 2.0) -> jax.Array:
  """Seesaw's pair weights S_{yj} = M_{yj}·C_{yj} on each negative class j of a class-y example.

  .. math::
    M_{yj} = \\begin{cases} (N_j/N_y)^p & N_j < N_y \\\\ 1 & \\text{else}\\end{cases}, \\qquad
    C_{yj} = \\begin{cases} (\\sigma_j/\\sigma_y)^q & \\sigma_j > \\sigma_y \\\\ 1 & \\text{else}\\end{cases}

  Args:
    logits: ``[..., C]`` float; σ = softmax(z).
    labels: ``[...]`` integer class ids y.
    class_counts: N_j, the examples of each class seen so far (N ← max(N, 1)).
    mitigation_power: p ≥ 0 (0.8 in the paper).
    compensation_power: q ≥ 0 (2).

  Returns:
    ``[..., C]`` weights, 1 at j = y (may overflow to inf where q·(z_j - z_y) > 88; the loss
    uses `seesaw_log_weights` and never does).

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> w = lt.seesaw_logit_weights(jnp.zeros((1, 2)), jnp.array([0]), [100, 1],
    ...                             mitigation_power=0.5)
    >>> [round(x, 4) for x in w[0].tolist()]  # (1/100)^0.5 on the rare class
    [1.0, 0.1]

  References:
    Wang, J. et al. "Seesaw loss for long-tailed instance segmentation", CVPR 2021, Eq. (2)–(5).
  """
  return jnp.exp(seesaw_log_weights(logits, labels, class_counts, mitigation_power=mitigation_power,
                                    compensation_power=compensation_power))


def seesaw(num_classes: int, *, mitigation_power: float = 0.8, compensation_power: float = 2.0,
           base="ce", **params) -> StatefulLoss:
  """Seesaw loss (Wang et al. 2021), softmax head, with the class counts N as state.

  .. math::
    L_{\\mathrm{seesaw}}(z) = -\\sum_{i} y_i \\log \\hat\\sigma_i, \\qquad
    \\hat\\sigma_i = \\frac{e^{z_i}}{\\sum_{j \\ne i} S_{ij}\\,e^{z_j} + e^{z_i}}, \\qquad
    \\frac{\\partial L}{\\partial z_j} = \\hat\\sigma_j \\;(j \\ne y)
    = \\frac{S_{yj}\\,e^{z_j}}{\\sum_{k \\ne y} S_{yk}\\,e^{z_k} + e^{z_y}}

  with S = M·C from `seesaw_logit_weights`: the negative gradient an example of a frequent
  class y puts on a rarer class j is mitigated by (N_j/N_y)^p, and raised again by
  (σ_j/σ_y)^q where class j is wrongly scored above y. It is the catalog loss ``base`` (softmax
  head, injected derivative) at z + log S_{y·} with S held constant (``stop_gradient``).
  N includes the current batch (as the reference updates its counts before the loss).

  Args:
    num_classes: C ≥ 1.
    mitigation_power: p ≥ 0.
    compensation_power: q ≥ 0.
    base: catalog loss or `ScaleCoefficient` (``"ce"`` is the paper's).
    **params: the base loss's hyper-parameters.

  Returns:
    `StatefulLoss` with `SeesawState`: ``loss(logits [..., C], labels [...] int, state, *,
    alpha=None, where=None, ignore_index=None) -> (per-example losses [...], state)``.

  Example:
    >>> import jax.numpy as jnp, gradeng.longtail as lt
    >>> sl = lt.seesaw(3)
    >>> values, state = sl.loss(jnp.zeros((2, 3)), jnp.array([0, 0]), sl.init())
    >>> state.counts.tolist()
    [2.0, 0.0, 0.0]

  References:
    Wang, J., Zhang, W., Zang, Y., Cao, Y., Pang, J., Gong, T., Chen, K., Liu, Z., Loy, C.C.,
    Lin, D. "Seesaw loss for long-tailed instance segmentation", CVPR 2021, §3.
  """
  check_int("num_classes", num_classes, lower=1)
  _check(mitigation_power, compensation_power)

  def init():
    return SeesawState(counts=jnp.zeros((num_classes,), jnp.float32))

  def loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None):
    logits = float_logits(logits)
    labels = integer_labels(labels, logits)
    if logits.shape[-1] != num_classes:
      raise InputError(f"`logits` must have {num_classes} classes on the last axis; got {logits.shape[-1]}.")
    mask = row_mask(labels, num_classes, where, ignore_index)
    seen = jnp.zeros((num_classes,), jnp.float32).at[safe_labels(labels, num_classes).ravel()].add(
        mask.ravel().astype(jnp.float32))
    counts = state.counts + seen
    log_s = jax.lax.stop_gradient(seesaw_log_weights(
        logits, labels, counts, mitigation_power=mitigation_power, compensation_power=compensation_power))
    z = logits.astype(compute_dtype(logits)) + log_s
    value = base_loss(base, "softmax", params)(z, labels, alpha=alpha, where=where, ignore_index=ignore_index)
    return value.astype(logits.dtype), SeesawState(counts=jax.lax.stop_gradient(counts))

  return StatefulLoss(init, loss)
