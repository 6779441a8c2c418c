"""Data of the ordinal experiment: digit canvases (the detection experiment's) and their counts."""

from __future__ import annotations

import dataclasses

import numpy as np

from gradeng.experiments.ordinal._config import OrdinalConfig


@dataclasses.dataclass(frozen=True)
class CountData:
  """Images ``[N, H, W, 1]`` and count classes ``[N]`` (count − min_objects) per split."""

  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray


def prepare_data(config: OrdinalConfig) -> CountData:
  """The digit canvases of ``config.data``; the label of a canvas is its number of digits."""
  from gradeng.experiments.detection import make_digit_canvases

  out = {}
  for split in ("train", "test"):
    samples = make_digit_canvases(config.data, split).samples
    out[f"{split}_images"] = np.stack([s.image for s in samples]).astype(np.float32)
    out[f"{split}_labels"] = np.array([len(s.labels) - config.data.min_objects for s in samples],
                                      np.int32)
  return CountData(**out)
