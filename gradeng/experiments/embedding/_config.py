"""Configuration of the open-set embedding experiment (frozen dataclasses; quick and full)."""

from __future__ import annotations

import dataclasses

#: Digits the network trains on; the test classes are the others (never seen in training).
TRAIN_CLASSES = (0, 1, 2, 3, 4, 5)
TEST_CLASSES = (6, 7, 8, 9)


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Digits made harder: each 8×8 digit resized to one of ``digit_sizes``, placed at a random
  position on a ``canvas`` × ``canvas`` image with ``clutter`` fragments of other digits and
  Gaussian noise. ``train_copies`` augmented images per training digit; one per test digit
  (copies of one source digit would be near-duplicates that any method, raw pixels included,
  retrieves as the nearest neighbour: Recall@1 would measure duplicate finding)."""

  canvas: int = 12
  digit_sizes: tuple[int, ...] = (8, 10)
  clutter: int = 1
  noise_std: float = 0.05
  train_copies: int = 4
  seed: int = 0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """The same network, embedding size, optimiser and budget for every loss (Musgrave et al.)."""

  embedding_dim: int = 8
  hidden: tuple[int, ...] = (256, 128)
  steps: int = 300
  per_class: int = 16  # batch = per_class × 6 training classes
  learning_rate: float = 1e-3
  seeds: tuple[int, ...] = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  data: DataConfig = DataConfig()
  train: TrainConfig = TrainConfig()
  losses: tuple[str, ...] = (
      "softmax", "normface", "sphereface", "cosface", "arcface", "arcface+focal",
      "center+softmax", "contrastive", "triplet", "triplet-drop", "multi-similarity", "circle",
  )
  figure_losses: tuple[str, ...] = ("softmax", "center+softmax", "arcface")
  figure_steps: int = 300
  name: str = "embedding"


def get_config(quick: bool = False) -> ExperimentConfig:
  """``gradeng experiment embedding --quick`` (3 seeds, 300 steps) or the full configuration
  (5 seeds, 3,000 steps, 20 augmented copies per training digit)."""
  if quick:
    return ExperimentConfig(name="embedding_quick")
  return ExperimentConfig(
      data=DataConfig(train_copies=20),
      train=TrainConfig(steps=3000, seeds=(0, 1, 2, 3, 4)),
      figure_steps=3000,
  )
