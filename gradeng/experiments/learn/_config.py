"""Configurations of the learn-coefficient experiment: frozen dataclasses, a quick and a full one.

``QUICK`` is what ``gradeng learn-coefficient --quick`` and ``gradeng reproduce`` run; ``FULL``
the named full configuration (``gradeng learn-coefficient``). Everything that determines the
numbers is in the config; it is written to ``config.json`` in the output directory, and a
directory written by another config is refused on resume.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ._train import OBJECTIVES, TaskConfig
from gradeng.runtime import check_exponents


@dataclasses.dataclass(frozen=True)
class LearnConfig:
  """The meta-learning problem, its baselines and its held-out evaluation.

  Attributes:
    name: directory name of the run.
    exponents: Maki-basis exponents k of the learned family g = -Σ c_k (1-p)^k / p.
    task: the inner training θ is learned on (Gaussian data, MLP).
    train_ratios: imbalance ratios (majority:minority) the outer loop trains θ on.
    seeds_per_step: fresh data/initialisation seeds per ratio and outer step.
    outer_steps: outer (meta) steps, the same for the meta-gradient and for ES.
    outer_lr: Adam learning rate on θ (c = softmax(θ)).
    es_pairs: antithetic pairs per ES step (2·es_pairs forward trainings per task and step).
    es_sigma: ES perturbation scale on θ.
    eval_seeds: seeds of the evaluation trainings (disjoint from the meta-training seeds).
    heldout_ratios: imbalance ratios never seen by the outer loop.
    focal_gammas, maki_gammas: the sweeps the baselines' best γ is picked from (by validation
      `objective` on the training ratios); Maki γ must be basis exponents.
    heldout_tasks: name -> inner training of a held-out distribution or model, at ``heldout_ratio``.
    heldout_ratio: the imbalance ratio of ``heldout_tasks``.
    objective: what the outer loop minimises and the baselines' γ is picked by (`OBJECTIVES`):
      ``"balanced_ce"`` (calibration and ranking) or ``"smooth_ap"`` (1 − smooth AP, ranking).
  """

  name: str = "learned"
  exponents: tuple = (0, 1, 2, 3, 4)
  task: TaskConfig = TaskConfig()
  train_ratios: tuple[float, ...] = (10.0, 100.0)
  seeds_per_step: int = 4
  outer_steps: int = 150
  outer_lr: float = 0.1
  es_pairs: int = 2
  es_sigma: float = 0.3
  eval_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
  heldout_ratios: tuple[float, ...] = (30.0, 300.0, 1000.0)
  focal_gammas: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0)
  maki_gammas: tuple[int, ...] = (1, 2, 3, 4)
  heldout_tasks: tuple[tuple[str, TaskConfig], ...] = (
      ("xor (non-linear data)", TaskConfig(dataset="xor", separation=3.0, steps=150)),
      ("logistic regression", TaskConfig(hidden=())),
  )
  heldout_ratio: float = 100.0
  objective: str = "balanced_ce"

  def __post_init__(self):
    if self.objective not in OBJECTIVES:
      raise ValueError(f"`objective` must be one of {sorted(OBJECTIVES)}; got {self.objective!r}.")
    object.__setattr__(self, "exponents", check_exponents(self.exponents))
    missing = [g for g in self.maki_gammas if g not in self.exponents]
    if missing:
      raise ValueError(f"`maki_gammas` {missing} are not basis exponents {list(self.exponents)}.")
    if len(self.eval_seeds) < 3:
      raise ValueError(f"`eval_seeds` needs ≥ 3 seeds; got {list(self.eval_seeds)}.")
    if set(self.eval_seeds) & set(range(META_SEED_BASE, META_SEED_BASE + 10**6)):
      raise ValueError(f"`eval_seeds` must be < {META_SEED_BASE} (meta-training seeds start there).")
    for name in ("seeds_per_step", "outer_steps", "es_pairs"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    for name in ("outer_lr", "es_sigma"):
      if not getattr(self, name) > 0:
        raise ValueError(f"`{name}` must be > 0; got {getattr(self, name)!r}.")

  def to_dict(self) -> dict[str, Any]:
    """The config as plain JSON data."""
    return json.loads(json.dumps(dataclasses.asdict(self)))


#: Meta-training seeds are META_SEED_BASE + step · tasks + index: never an evaluation seed.
META_SEED_BASE = 100_000

FULL = LearnConfig(exponents=(0, 1, 2, 3, 4, 6, 8), maki_gammas=(1, 2, 3, 4, 6, 8),
                   focal_gammas=(0.5, 1.0, 2.0, 3.0, 5.0))
"""``gradeng learn-coefficient --out results/learned``: 150 outer steps × 8 trainings (gradient) or
32 (ES), 5 evaluation seeds. About 10 min on a 2-core CPU (measured in the README)."""

QUICK = LearnConfig(
    name="learned-quick",
    task=TaskConfig(n_train=256, n_val=128, steps=60, hidden=(8,)),
    seeds_per_step=2,
    outer_steps=25,
    eval_seeds=(0, 1, 2),
    heldout_ratios=(300.0,),
    focal_gammas=(1.0, 2.0),
    maki_gammas=(1, 2, 4),
    heldout_tasks=(("logistic regression", TaskConfig(hidden=(), n_train=256, n_val=128, steps=60)),),
)
"""``gradeng learn-coefficient --quick``: a smoke-sized run (part of ``gradeng reproduce``). Its cost
is compilation (~7 s of CPU per inner-training program, 5 programs); the XOR task is left to the
full config to stay within the 90 s budget."""


def get_config(quick: bool = False, objective: str = "balanced_ce") -> LearnConfig:
  """`QUICK` or `FULL`, with the meta-objective ``objective`` (named ``<name>-smooth_ap`` when
  it is not the default balanced CE, so the two never share a run directory)."""
  config = QUICK if quick else FULL
  if objective == config.objective:
    return config
  return dataclasses.replace(config, objective=objective, name=f"{config.name}-{objective}")
