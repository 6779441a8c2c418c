"""Anchors, IoU, SSD matching, box encoding with variances, and non-maximum suppression.

Boxes are ``(x0, y0, x1, y1)`` in pixels (continuous coordinates: area = (x1-x0)(y1-y0),
as in COCO, without VOC's +1). Anchors and matching are JAX (jit/vmap-able); NMS is NumPy,
run on the few hundred candidates left after the top-k selection.

References:
  Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016 (matching, encoding, λ).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gradeng.experiments.detection._config import FeatureMap


def make_anchors(canvas_size: int, feature_maps: Sequence[FeatureMap]) -> np.ndarray:
  """All anchors, ordered map by map, then row, column, size, aspect ratio.

  This is the order in which `SSDLite` lays out its head outputs.

  Returns:
    float32 ``[A, 4]`` anchor boxes in pixels (they may extend past the canvas).
  """
  out = []
  for fm in feature_maps:
    if canvas_size % fm.stride:
      raise ValueError(f"canvas size {canvas_size} is not a multiple of stride {fm.stride}")
    cells = canvas_size // fm.stride
    centres = (np.arange(cells, dtype=np.float64) + 0.5) * fm.stride
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    shapes = [(s * np.sqrt(r), s / np.sqrt(r)) for s in fm.sizes for r in fm.aspect_ratios]
    w = np.array([w for w, _ in shapes])
    h = np.array([h for _, h in shapes])
    cx, cy = cx[..., None], cy[..., None]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    out.append(boxes.reshape(-1, 4))
  return np.concatenate(out).astype(np.float32)


def iou_matrix(a: jax.Array, b: jax.Array) -> jax.Array:
  """IoU of every box in ``a [N, 4]`` with every box in ``b [M, 4]`` → ``[N, M]``."""
  lt = jnp.maximum(a[:, None, :2], b[None, :, :2])
  rb = jnp.minimum(a[:, None, 2:], b[None, :, 2:])
  inter = jnp.prod(jnp.clip(rb - lt, 0.0), axis=-1)
  area_a = jnp.prod(a[:, 2:] - a[:, :2], axis=-1)
  area_b = jnp.prod(b[:, 2:] - b[:, :2], axis=-1)
  union = area_a[:, None] + area_b[None, :] - inter
  return inter / jnp.maximum(union, 1e-12)


def _centre_size(boxes: jax.Array) -> tuple[jax.Array, jax.Array]:
  return (boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]


def encode(boxes: jax.Array, anchors: jax.Array, variances: Sequence[float]) -> jax.Array:
  """SSD box encoding: ``((c - c_a) / (s_a v0), log(s / s_a) / v1)`` per axis → ``[..., 4]``."""
  c, s = _centre_size(boxes)
  ca, sa = _centre_size(anchors)
  return jnp.concatenate([(c - ca) / (sa * variances[0]), jnp.log(s / sa) / variances[1]], -1)


def decode(offsets: jax.Array, anchors: jax.Array, variances: Sequence[float]) -> jax.Array:
  """Inverse of `encode` → boxes ``[..., 4]``."""
  ca, sa = _centre_size(anchors)
  c = ca + offsets[..., :2] * variances[0] * sa
  s = sa * jnp.exp(offsets[..., 2:] * variances[1])
  return jnp.concatenate([c - s / 2, c + s / 2], -1)


def match(anchors: jax.Array, boxes: jax.Array, labels: jax.Array, valid: jax.Array, *,
          iou_threshold: float, variances: Sequence[float]) -> tuple[jax.Array, jax.Array]:
  """SSD matching of one image's ground truth to the anchors.

  An anchor is positive for the box it overlaps most if that IoU is at least
  ``iou_threshold``; in addition every ground-truth box claims its best anchor
  ("best-anchor forcing"), so no object is left without a positive anchor.

  Args:
    anchors: ``[A, 4]``.
    boxes: ``[M, 4]`` ground truth (padding rows allowed).
    labels: ``[M]`` classes in ``[0, C)``.
    valid: ``[M]`` False on padding rows.
    iou_threshold: the positive IoU threshold (0.5 in SSD).
    variances: encoding variances.

  Returns:
    ``(target_labels [A], target_offsets [A, 4])``: class ``label + 1`` for positives and 0
    (background) otherwise; encoded offsets of the matched box (zeros for background).
  """
  iou = jnp.where(valid[None, :], iou_matrix(anchors, boxes), -1.0)  # [A, M]
  best_box = jnp.argmax(iou, axis=1)
  best_iou = jnp.max(iou, axis=1)
  best_anchor = jnp.argmax(iou, axis=0)  # [M]
  forced = jnp.zeros(anchors.shape[0], bool).at[best_anchor].max(valid)
  forced_box = jnp.zeros(anchors.shape[0], jnp.int32).at[jnp.where(valid, best_anchor, anchors.shape[0])].set(
      jnp.arange(boxes.shape[0], dtype=jnp.int32), mode="drop")
  box_index = jnp.where(forced, forced_box, best_box)
  positive = forced | (best_iou >= iou_threshold)
  target_labels = jnp.where(positive, labels[box_index] + 1, 0).astype(jnp.int32)
  offsets = encode(boxes[box_index], anchors, variances)
  return target_labels, jnp.where(positive[:, None], offsets, 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
  """Greedy non-maximum suppression → indices kept, highest score first."""
  order = np.argsort(-scores, kind="stable")
  boxes = np.asarray(boxes, np.float64)[order]
  areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
  alive = np.ones(len(order), bool)
  keep = []
  for i in range(len(order)):
    if not alive[i]:
      continue
    keep.append(order[i])
    lt = np.maximum(boxes[i, :2], boxes[i + 1:, :2])
    rb = np.minimum(boxes[i, 2:], boxes[i + 1:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    iou = inter / np.maximum(areas[i] + areas[i + 1:] - inter, 1e-12)
    alive[i + 1:] &= iou <= iou_threshold
  return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                iou_threshold: float) -> np.ndarray:
  """Per-class NMS in one pass: boxes of different classes never suppress each other."""
  if len(scores) == 0:
    return np.zeros(0, np.int64)
  boxes = np.asarray(boxes, np.float64)
  shift = (boxes.max() - boxes.min() + 1.0) * np.asarray(classes, np.float64)
  return nms(boxes + shift[:, None], scores, iou_threshold)
