"""Retrieval and verification metrics on the unseen classes (cosine similarity of embeddings).

* Recall@1: the nearest other item has the query's class.
* MAP@R (Musgrave, Belongie, Lim, "A metric learning reality check", ECCV 2020): with R the
  number of other items of the query's class, (1/R) Σ_{i ≤ R} P@i · rel(i) over the top R.
* ROC AUC over all pairs i < j (same class = positive), and TAR at FAR = 1e-2: the fraction of
  positive pairs above the threshold that 1 % of negative pairs exceed.
"""

from __future__ import annotations

import numpy as np


def retrieval_metrics(embeddings: np.ndarray, labels: np.ndarray, *, far: float = 1e-2) -> dict:
  """Recall@1, MAP@R, ROC AUC and TAR@FAR of ``embeddings [N, D]`` (cosine) with ``labels [N]``."""
  from sklearn.metrics import roc_auc_score

  x = np.asarray(embeddings, np.float64)
  norm = np.linalg.norm(x, axis=1, keepdims=True)
  x = x / np.maximum(norm, 1e-12)
  s = x @ x.T
  labels = np.asarray(labels)
  n = len(labels)
  np.fill_diagonal(s, -np.inf)
  same = labels[:, None] == labels[None, :]
  np.fill_diagonal(same, False)
  order = np.argsort(-s, axis=1, kind="stable")
  relevant = np.take_along_axis(same, order, axis=1)
  recall_at_1 = float(np.mean(relevant[:, 0]))
  r = same.sum(1)
  ranks = np.arange(1, n + 1)
  ap = np.zeros(n)
  for i in range(n):
    top = relevant[i, :r[i]]
    if r[i]:
      ap[i] = np.sum(np.cumsum(top) / ranks[:r[i]] * top) / r[i]
  iu = np.triu_indices(n, 1)
  scores, positive = s[iu], same[iu]
  threshold = np.quantile(scores[~positive], 1.0 - far)
  return {
      "recall_at_1": recall_at_1,
      "map_at_r": float(np.mean(ap)),
      "roc_auc": float(roc_auc_score(positive, scores)),
      "tar_at_far": float(np.mean(scores[positive] > threshold)),
  }
