"""Configuration of the long-tail experiment: long-tailed scikit-learn digits, balanced test set.

Quick (9 losses × imbalance 10 and 100 × 3 seeds, 300 steps; a few minutes on 2 CPU cores)::

    python -c "from gradeng.experiments import longtail as e; print(e.run(e.get_config(True), 'runs/longtail'))"

The training set keeps n_j = n_max·IF^{-j/9} examples of digit j (an exponential profile, IF the
imbalance factor); the test set has the same number of examples of every digit. Classes are
grouped by training frequency into many-shot (the 3 most frequent), medium-shot (the next 4) and
few-shot (the 3 rarest).
"""

from __future__ import annotations

import dataclasses

LOSSES = ("ce", "focal", "maki", "cb_focal", "balanced_softmax", "ldam_drw", "eqlv2", "seesaw", "efl")


@dataclasses.dataclass(frozen=True)
class LongTailConfig:
  """Attributes:
    imbalance_factors: IF = n_max / n_min of the training profiles.
    seeds: number of seeds (vmapped).
    steps: optimiser steps per run.
    batch: minibatch size (sampled uniformly from the long-tailed training set).
    learning_rate: Adam learning rate.
    hidden: hidden units of the MLP.
    test_per_class: held-out examples of every digit (balanced test set).
    losses: names from `LOSSES`.
    drw_fraction: LDAM-DRW switches re-weighting on after this fraction of the steps.
  """

  imbalance_factors: tuple = (10, 100)
  seeds: int = 3
  steps: int = 300
  batch: int = 64
  learning_rate: float = 3e-3
  hidden: int = 64
  test_per_class: int = 50
  losses: tuple = LOSSES
  drw_fraction: float = 0.8


def get_config(quick: bool = True) -> LongTailConfig:
  """The quick configuration (≤ 3 minutes on this CPU) or the full one (5 seeds, 2000 steps)."""
  if quick:
    return LongTailConfig()
  return LongTailConfig(seeds=5, steps=2000, hidden=128)
