"""Long-tailed training sets and a balanced test set from scikit-learn's digits (no download)."""

from __future__ import annotations

import numpy as np

from gradeng.longtail import exponential_profile


def prepare_data(imbalance: float, test_per_class: int, seed: int = 0):
  """(x_train, y_train, x_test, y_test, class_counts), features scaled to [0, 1].

  The test set takes ``test_per_class`` examples of every digit; the training set keeps
  ``exponential_profile(10, n_max, imbalance)`` of the rest (n_max: the fewest remaining).
  """
  from sklearn.datasets import load_digits

  digits = load_digits()
  x, y = digits.data.astype(np.float32) / 16.0, digits.target.astype(np.int32)
  rng = np.random.default_rng(seed)
  train_idx, test_idx = [], []
  by_class = [rng.permutation(np.flatnonzero(y == c)) for c in range(10)]
  n_max = min(len(idx) for idx in by_class) - test_per_class
  counts = exponential_profile(10, n_max, imbalance).astype(int)
  for c, idx in enumerate(by_class):
    test_idx.extend(idx[:test_per_class])
    train_idx.extend(idx[test_per_class:test_per_class + counts[c]])
  train_idx, test_idx = np.array(train_idx), np.array(test_idx)
  return x[train_idx], y[train_idx], x[test_idx], y[test_idx], counts.astype(np.float32)
