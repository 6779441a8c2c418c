"""Configuration of the engineering experiment: the sizes of its five studies, `QUICK` and `FULL`."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class EngineeringConfig:
  """Sizes of the five experiments (``quick``: ≲ 2 min on 2 CPU cores)."""

  seeds: tuple[int, ...] = tuple(range(8))
  steps: int = 300
  n_train: int = 1024
  ratios: tuple[float, ...] = (10.0, 100.0, 1000.0)
  warmup_lrs_momentum: tuple[float, ...] = (1.0, 3.0, 10.0)
  warmup_lrs_adam: tuple[float, ...] = (0.1, 0.3, 1.0)
  warmup_steps: int = 50
  warmup_bounds: tuple[float, ...] = (1.0, 0.25)
  periodic_optimizers: tuple[str, ...] = ("sgd", "momentum", "adam")
  fixed_gammas: tuple[float, ...] = (0, 1, 2, 4)
  adaptive_focal: bool = True
  minibatch_size: int = 64
  minibatch_ratio: float = 100.0
  adaptive_momenta: tuple[float, ...] = (0.0, 0.9, 0.99)
  ghm_momenta: tuple[float, ...] = (0.0, 0.75, 0.95)


QUICK = EngineeringConfig(seeds=tuple(range(4)), steps=200, n_train=512, ratios=(10.0, 100.0),
                          warmup_bounds=(1.0,), periodic_optimizers=("sgd", "adam"), fixed_gammas=(0, 2),
                          adaptive_focal=False)


FULL = EngineeringConfig()


def get_config(quick: bool = False) -> EngineeringConfig:
  """`QUICK` (≲ 2 min on 2 CPU cores) or `FULL`."""
  return QUICK if quick else FULL

#: A run is *collapsed* when its final train CE is above this fraction of the prior's CE (a model
#: stuck at, or near, the constant prediction, typically with dead ReLUs).
COLLAPSE_FRACTION = 0.9
