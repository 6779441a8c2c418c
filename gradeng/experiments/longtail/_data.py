"""Long-tailed training sets and a balanced test set from scikit-learn's digits (no download)."""

from __future__ import annotations

import dataclasses

import numpy as np

from gradeng.longtail import exponential_profile

#: the number of digit classes
NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class LongTailData:
  """One imbalance factor's data, features scaled to [0, 1] (``[N, 64]`` float32, 8×8 images).

  The training arrays are padded to ``capacity`` rows (the size of the balanced set, IF = 1) so
  that every imbalance factor has the same shapes and shares one compiled training program;
  only the first ``num_train`` rows are sampled.
  """

  x_train: np.ndarray
  y_train: np.ndarray
  num_train: int
  x_test: np.ndarray
  y_test: np.ndarray
  class_counts: np.ndarray


def prepare_data(imbalance: float, test_per_class: int, seed: int = 0) -> LongTailData:
  """The long-tailed training set of imbalance factor ``imbalance`` and the balanced test set.

  The test set takes ``test_per_class`` examples of every digit (the same ones for every
  imbalance factor); the training set keeps ``exponential_profile(10, n_max, imbalance)`` of the
  rest (n_max: the fewest remaining in any class), digit 0 the most frequent.
  """
  from sklearn.datasets import load_digits

  digits = load_digits()
  x, y = digits.data.astype(np.float32) / 16.0, digits.target.astype(np.int32)
  rng = np.random.default_rng(seed)
  by_class = [rng.permutation(np.flatnonzero(y == c)) for c in range(NUM_CLASSES)]
  n_max = min(len(idx) for idx in by_class) - test_per_class
  if n_max < 1:
    raise ValueError(f"`test_per_class` = {test_per_class} leaves no training digits "
                     f"(the rarest digit has {n_max + test_per_class} examples)")
  counts = exponential_profile(NUM_CLASSES, n_max, imbalance).astype(int)
  train_idx, test_idx = [], []
  for c, idx in enumerate(by_class):
    test_idx.extend(idx[:test_per_class])
    train_idx.extend(idx[test_per_class:test_per_class + counts[c]])
  train_idx, test_idx = np.array(train_idx), np.array(test_idx)
  capacity = NUM_CLASSES * n_max
  x_train = np.zeros((capacity, x.shape[1]), np.float32)
  y_train = np.zeros(capacity, np.int32)
  x_train[:len(train_idx)], y_train[:len(train_idx)] = x[train_idx], y[train_idx]
  return LongTailData(x_train, y_train, len(train_idx), x[test_idx], y[test_idx],
                      counts.astype(np.float32))
