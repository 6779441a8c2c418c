"""Data of the crowded experiment: one training set of crowded canvases and a test set per crowding
level (the detection experiment's `make_digit_canvases`), with the measured neighbour IoU."""

from __future__ import annotations

import dataclasses

import numpy as np

from gradeng.experiments.crowded._config import CrowdedConfig, CrowdingLevel
from gradeng.experiments.detection import InMemoryDataset, make_digit_canvases


@dataclasses.dataclass(frozen=True)
class CrowdedSets:
  """The training mixture and one test set per level."""

  train: InMemoryDataset
  tests: dict[CrowdingLevel, InMemoryDataset]


def build_data(config: CrowdedConfig) -> CrowdedSets:
  """The training mixture and the test levels of ``config.data``.

  Every neighbour IoU of the mixture and every test level is its own stream of
  `make_digit_canvases` (derived from the IoU and count, so a level's canvases do not depend
  on which other levels a config has); train and test use disjoint source digits.
  """
  data = config.data
  base = dataclasses.replace(data.base, min_objects=1, max_objects=data.max_train_objects,
                             num_train=data.train_per_iou, num_test=data.test_per_level)
  samples = []
  for t in data.train_ious:
    samples += make_digit_canvases(base, "train", neighbour_iou=t, iou_tolerance=data.tolerance,
                                   stream=1 + round(100 * t)).samples
  train = InMemoryDataset(tuple(str(d) for d in range(10)), tuple(samples))
  tests = {}
  for level in data.levels():
    level_config = dataclasses.replace(base, min_objects=level.count, max_objects=level.count)
    tests[level] = make_digit_canvases(level_config, "test", neighbour_iou=level.iou,
                                       iou_tolerance=data.tolerance,
                                       stream=1000 + 100 * level.count + round(100 * level.iou))
  return CrowdedSets(train, tests)


def _images(test: InMemoryDataset) -> np.ndarray:
  return np.stack([s.image for s in test]).astype(np.float32)


def _neighbour_iou(test: InMemoryDataset) -> float:
  """Mean over digits after the first of the highest IoU with the digits placed before it."""
  from gradeng.experiments.detection import pairwise_iou

  values = [pairwise_iou(s.boxes[i:i + 1], s.boxes[:i]).max()
            for s in test for i in range(1, len(s.boxes))]
  return float(np.mean(values)) if values else float("nan")
