"""mAP@0.5 with Pascal VOC's all-point interpolation (VOC 2010+ devkit semantics).

Per class, detections from all images are sorted by score (stable); each is a true positive
if its highest-IoU ground-truth box of that class has IoU ≥ the threshold and was not
already taken by a higher-scored detection, otherwise a false positive. Difficult objects
are neither counted as positives nor penalise the detections that hit them. AP is the area
under the precision envelope:

.. math::
   \\mathrm{AP} = \\sum_k (r_k - r_{k-1})\\, \\max_{j \\ge k} p_j

and mAP is the mean over the classes that have at least one non-difficult object.
IoU uses continuous coordinates (no VOC +1), as COCO does.

References:
  Everingham et al., "The Pascal Visual Object Classes (VOC) Challenge", IJCV 2010.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from gradeng.runtime import InputError


@dataclasses.dataclass(frozen=True)
class Detections:
  """One image's detections: ``boxes [K, 4]``, ``scores [K]``, ``labels [K]`` (in [0, C))."""

  boxes: np.ndarray
  scores: np.ndarray
  labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class ClassCurve:
  """Precision/recall after each detection of one class (in score order)."""

  recall: np.ndarray
  precision: np.ndarray
  num_positives: int


@dataclasses.dataclass(frozen=True)
class MapResult:
  """``mean_ap``, ``ap [C]`` (NaN for classes without objects) and each class's curve."""

  mean_ap: float
  ap: np.ndarray
  curves: tuple[ClassCurve, ...]


def all_point_ap(recall: np.ndarray, precision: np.ndarray) -> float:
  """VOC all-point interpolated AP: area under the monotone precision envelope."""
  r = np.concatenate([[0.0], recall, [1.0]])
  p = np.concatenate([[0.0], precision, [0.0]])
  p = np.maximum.accumulate(p[::-1])[::-1]
  steps = np.flatnonzero(r[1:] != r[:-1])
  return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def _iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
  lt = np.maximum(box[:2], boxes[:, :2])
  rb = np.minimum(box[2:], boxes[:, 2:])
  inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
  union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1) - inter
  return inter / np.maximum(union, 1e-12)


def evaluate_map(detections: Sequence[Detections], gt_boxes: Sequence[np.ndarray],
                 gt_labels: Sequence[np.ndarray], *, num_classes: int,
                 gt_difficult: Sequence[np.ndarray] | None = None,
                 iou_threshold: float = 0.5) -> MapResult:
  """mAP over a set of images (VOC all-point interpolation).

  Args:
    detections: per image, its `Detections`.
    gt_boxes: per image, ``[M, 4]`` ground-truth boxes.
    gt_labels: per image, ``[M]`` classes in ``[0, num_classes)``.
    num_classes: number of object classes.
    gt_difficult: per image, ``[M]`` booleans; default none difficult.
    iou_threshold: IoU for a true positive (0.5 for mAP@0.5).

  Returns:
    A `MapResult`.
  """
  if not len(detections) == len(gt_boxes) == len(gt_labels):
    raise InputError(
        f"need one entry per image, got {len(detections)} detections, {len(gt_boxes)} box "
        f"sets and {len(gt_labels)} label sets")
  if gt_difficult is None:
    gt_difficult = [np.zeros(len(l), bool) for l in gt_labels]
  aps = np.full(num_classes, np.nan)
  curves = []
  for c in range(num_classes):
    gts = []
    num_pos = 0
    for boxes, labels, difficult in zip(gt_boxes, gt_labels, gt_difficult):
      mine = np.asarray(labels) == c
      gts.append((np.asarray(boxes, np.float64).reshape(-1, 4)[mine],
                  np.asarray(difficult, bool)[mine]))
      num_pos += int(np.sum(~np.asarray(difficult, bool)[mine]))
    image_ids, scores, boxes = [], [], []
    for i, det in enumerate(detections):
      mine = np.asarray(det.labels) == c
      image_ids.append(np.full(int(mine.sum()), i))
      scores.append(np.asarray(det.scores, np.float64)[mine])
      boxes.append(np.asarray(det.boxes, np.float64).reshape(-1, 4)[mine])
    image_ids = np.concatenate(image_ids).astype(int)
    scores = np.concatenate(scores)
    boxes = np.concatenate(boxes).reshape(-1, 4)
    order = np.argsort(-scores, kind="stable")
    taken = [np.zeros(len(g[0]), bool) for g in gts]
    tp = np.zeros(len(order))
    fp = np.zeros(len(order))
    for k, d in enumerate(order):
      g_boxes, g_difficult = gts[image_ids[d]]
      if len(g_boxes) == 0:
        fp[k] = 1
        continue
      iou = _iou_one_to_many(boxes[d], g_boxes)
      j = int(np.argmax(iou))
      if iou[j] < iou_threshold:
        fp[k] = 1
      elif g_difficult[j]:
        continue  # neither TP nor FP
      elif not taken[image_ids[d]][j]:
        tp[k] = 1
        taken[image_ids[d]][j] = True
      else:
        fp[k] = 1
    counted = (tp + fp) > 0
    tp, fp = np.cumsum(tp[counted]), np.cumsum(fp[counted])
    recall = tp / max(num_pos, 1)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    curves.append(ClassCurve(recall, precision, num_pos))
    if num_pos:
      aps[c] = all_point_ap(recall, precision)
  present = ~np.isnan(aps)
  mean_ap = float(np.mean(aps[present])) if present.any() else float("nan")
  return MapResult(mean_ap, aps, tuple(curves))


#: COCO's IoU thresholds of mAP@[.5:.95].
COCO_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def localisation_map(detections: Sequence[Detections], gt_boxes: Sequence[np.ndarray],
                     gt_labels: Sequence[np.ndarray], *, num_classes: int,
                     gt_difficult: Sequence[np.ndarray] | None = None) -> dict[str, float]:
  """mAP at COCO's IoU thresholds: how well the boxes are placed, not only found.

  `evaluate_map` (VOC all-point interpolation) at each of `COCO_THRESHOLDS`; pycocotools
  interpolates at 101 recall points instead, and its per-threshold precision/recall curves are
  the same (checked in the tests).

  Returns:
    ``{"map_50": ..., "map_75": ..., "map_50_95": mean over the ten thresholds}``.
  """
  maps = {t: evaluate_map(detections, gt_boxes, gt_labels, num_classes=num_classes,
                          gt_difficult=gt_difficult, iou_threshold=t).mean_ap
          for t in COCO_THRESHOLDS}
  return {"map_50": maps[0.5], "map_75": maps[0.75], "map_50_95": float(np.mean(list(maps.values())))}
