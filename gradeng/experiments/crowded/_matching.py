"""Set prediction for crowded scenes: the matching cost, Hungarian matching, and the set loss.

A set head outputs a fixed number K of hypotheses (class logits with index 0 = "no object",
and a box). Each image's ground truth is matched one-to-one to the hypotheses by minimising

.. math::
   C_{kj} = \\lambda_{L1} \\frac{\\lVert b_k - g_j \\rVert_1}{S}
          + \\lambda_{GIoU} L_\\mathrm{GIoU}(b_k, g_j) - \\lambda_{cls}\\, p_k(c_j)

(S the canvas side, p_k the hypothesis' softmax) with the Hungarian algorithm
(`optax.assignment.hungarian_algorithm`, jittable). The loss is then generated per hypothesis:
matched hypotheses are trained towards their object's class and box, unmatched ones towards
"no object" — the classification part through any catalog loss, so focal / Maki / QCE apply
to the set head as to SSD's anchors.

References:
  Stewart, Andriluka, Ng, "End-to-end people detection in crowded scenes", CVPR 2016.
  Carion et al., "End-to-End Object Detection with Transformers" (DETR), ECCV 2020 (the cost's
  L1 + GIoU + class form).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import gradeng as ge


def matching_cost(class_logits, boxes, gt_boxes, gt_labels, *, canvas_size: float,
                  l1_weight: float = 5.0, giou_weight: float = 2.0,
                  class_weight: float = 1.0) -> jax.Array:
  """The ``[K, M]`` cost of assigning each of K hypotheses to each of M ground-truth objects.

  Args:
    class_logits: ``[K, C + 1]`` (index 0 = no object).
    boxes: ``[K, 4]`` predicted ``(x1, y1, x2, y2)`` in pixels.
    gt_boxes: ``[M, 4]``.
    gt_labels: ``[M]`` classes in ``[0, C)``.
    canvas_size: S, which makes the L1 term scale-free.
    l1_weight, giou_weight, class_weight: the λs.
  """
  l1 = jnp.abs(boxes[:, None, :] - gt_boxes[None, :, :]).sum(-1) / canvas_size
  giou = ge.boxes.giou_loss(boxes[:, None, :], gt_boxes[None, :, :])
  prob = jax.nn.softmax(class_logits, axis=-1)[:, gt_labels + 1]
  return l1_weight * l1 + giou_weight * giou - class_weight * prob


def hungarian_match(cost, valid) -> jax.Array:
  """Optimal one-to-one assignment of the valid ground truth to the hypotheses.

  Args:
    cost: ``[K, M]`` with ``K >= M`` (padding columns allowed).
    valid: ``[M]`` False on padding columns. Padding columns get one constant cost, which
      changes every complete assignment's total by the same amount, so the optimum among the
      valid columns is the optimum of the valid sub-problem.

  Returns:
    ``[K]`` int: the ground-truth index matched to each hypothesis, -1 for "no object".
  """
  num_hypotheses, num_objects = cost.shape
  if num_hypotheses < num_objects:
    raise ValueError(f"need at least as many hypotheses as objects, got K={num_hypotheses} "
                     f"< M={num_objects}")
  cost = jnp.where(valid[None, :], cost, 0.0)
  rows, cols = optax.assignment.hungarian_algorithm(cost)
  target = jnp.full(num_hypotheses, -1, jnp.int32)
  return target.at[rows].set(jnp.where(valid[cols], cols, -1).astype(jnp.int32))


def set_loss(class_logits, boxes, gt_boxes, gt_labels, valid, *, canvas_size: float,
             cls_loss=ge.cross_entropy_loss, cls_params=None, l1_weight: float = 5.0,
             giou_weight: float = 2.0, class_weight: float = 1.0):
  """The set loss of one image → ``(total, parts, assignment)``.

  Classification: the catalog loss ``cls_loss`` on the softmax head of every hypothesis, target
  ``label + 1`` for a matched hypothesis and 0 ("no object") otherwise, summed and divided by
  ``max(1, #objects)`` (as focal/Maki are by positives). Boxes: L1 (in canvas units) and GIoU of
  the matched hypotheses, same normalisation. An image without objects trains every hypothesis
  towards "no object".
  """
  cost = jax.lax.stop_gradient(matching_cost(class_logits, boxes, gt_boxes, gt_labels,
                                             canvas_size=canvas_size, l1_weight=l1_weight,
                                             giou_weight=giou_weight, class_weight=class_weight))
  assignment = hungarian_match(cost, valid)
  matched = assignment >= 0
  index = jnp.maximum(assignment, 0)
  targets = jnp.where(matched, gt_labels[index] + 1, 0)
  count = jnp.maximum(jnp.sum(valid), 1)
  cls = jnp.sum(cls_loss(class_logits, targets, head="softmax", **(cls_params or {}))) / count
  target_boxes = jnp.where(matched[:, None], gt_boxes[index], boxes)  # unmatched: zero loss
  l1 = jnp.where(matched, jnp.abs(boxes - target_boxes).sum(-1) / canvas_size, 0.0).sum() / count
  giou = jnp.where(matched, ge.boxes.giou_loss(boxes, jax.lax.stop_gradient(target_boxes)), 0.0).sum() / count
  total = class_weight * cls + l1_weight * l1 + giou_weight * giou
  return total, {"cls": cls, "l1": l1, "giou": giou}, assignment
