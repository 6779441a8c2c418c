"""Configurations of the crowded-scenes experiment (frozen dataclasses, JSON-serialisable).

Quick (the `gradeng reproduce` step; 36 s wall on 2 idle CPU cores)::

    gradeng experiment crowded --quick --out runs/crowded_quick --figures figures/crowded

CPU (the quick canvases trained 3,000 steps, set head with CE and with focal; 761 s on the
shared 2-core CPU) and long (10,000 steps, SSD-lite and the focal set head); resumable::

    gradeng experiment crowded --config cpu --out runs/crowded_cpu --figures figures/crowded
    gradeng experiment crowded --config long --out runs/crowded_long --figures figures/crowded

Full (48×48 canvases with up to 8 digits, three set-head losses, three seeds, 3,000 steps of
batch 32; meant for a GPU, resumable)::

    gradeng experiment crowded --out runs/crowded

Every configuration trains SSD-lite (CE + OHEM 1:1, the detection experiment's Table-1 settings)
and the set head on one mixture of crowded canvases (1 to ``max_train_objects`` digits, every
neighbour IoU of ``train_ious``) and tests them on canvases of increasing crowding: a fixed
number of digits at a fixed neighbour IoU per level (`CrowdingLevel`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import gradeng as ge
from gradeng.experiments.detection import DataConfig, FeatureMap, LossSpec, ModelConfig, TrainConfig
from gradeng.runtime import InputError


@dataclasses.dataclass(frozen=True)
class CrowdingLevel:
  """One test set: ``count`` digits per canvas, each after the first at neighbour IoU ``iou``
  (± the data's tolerance; `make_digit_canvases` with ``neighbour_iou``)."""

  count: int
  iou: float

  def __post_init__(self):
    if isinstance(self.count, bool) or int(self.count) != self.count or self.count < 1:
      raise InputError(f"`count` must be a positive integer, got {self.count!r}")
    if not 0.0 <= self.iou < 1.0:
      raise InputError(f"`iou` must be in [0, 1), got {self.iou!r}")

  @property
  def name(self) -> str:
    return f"n{self.count}_iou{self.iou:.2f}"


@dataclasses.dataclass(frozen=True)
class CrowdedData:
  """Training mixture and test levels of crowded digit canvases.

  Attributes:
    base: canvas size, digit sizes, noise, clutter, source split and seed (its object counts,
      ``max_overlap`` and set sizes are replaced per level).
    train_ious: neighbour IoUs of the training mixture; ``train_per_iou`` canvases each, with
      1 to ``max_train_objects`` digits (uniform).
    max_train_objects: the most digits on a training canvas.
    train_per_iou: training canvases per neighbour IoU.
    counts: test levels of the "number of objects" sweep, at neighbour IoU ``fixed_iou``.
    ious: test levels of the "overlap" sweep, with ``fixed_count`` digits.
    fixed_iou, fixed_count: the other coordinate of each sweep.
    test_per_level: test canvases per level.
    tolerance: half-width of the neighbour-IoU band.
  """

  base: DataConfig
  train_ious: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6)
  max_train_objects: int = 8
  train_per_iou: int = 1000
  counts: tuple[int, ...] = (1, 2, 4, 6, 8)
  ious: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6)
  fixed_iou: float = 0.3
  fixed_count: int = 4
  test_per_level: int = 200
  tolerance: float = 0.05

  def __post_init__(self):
    if not self.train_ious or any(not 0.0 <= t < 1.0 for t in self.train_ious):
      raise InputError(f"`train_ious` must be non-empty, in [0, 1), got {self.train_ious}")
    for name in ("max_train_objects", "train_per_iou", "fixed_count", "test_per_level"):
      value = getattr(self, name)
      if isinstance(value, bool) or int(value) != value or value < 1:
        raise InputError(f"`{name}` must be a positive integer, got {value!r}")
    if not self.counts or not self.ious:
      raise InputError("`counts` and `ious` must not be empty")
    self.levels()  # checks every level
    if not self.tolerance > 0:
      raise InputError(f"`tolerance` must be > 0, got {self.tolerance!r}")

  def levels(self) -> tuple[CrowdingLevel, ...]:
    """Every test level, the count sweep first; a level in both sweeps appears once."""
    out = [CrowdingLevel(n, self.fixed_iou) for n in self.counts]
    out += [CrowdingLevel(self.fixed_count, t) for t in self.ious]
    unique = []
    for level in out:
      if level not in unique:
        unique.append(level)
    return tuple(unique)

  @property
  def max_objects(self) -> int:
    return max(self.max_train_objects, *self.counts, self.fixed_count)


@dataclasses.dataclass(frozen=True)
class SetHeadConfig:
  """The set-prediction head on SSD-lite's backbone.

  Attributes:
    widths: backbone stages (as `ModelConfig.widths`; stage ``i`` has stride ``2**(i+1)``).
    stride: the stride of the map the head reads (a stage's: 2, 4, …, ``2**len(widths)``).
    per_cell: hypotheses per cell of that map; K = cells × per_cell.
    box_size: the side (pixels) of a hypothesis' box at zero output (the sizes are
      ``box_size · exp(·)``).
    prior: initial probability of each object class (RetinaNet's prior on the "no object"
      logit; most hypotheses are unmatched).
  """

  widths: tuple[int, ...] = (16, 32)
  stride: int = 4
  per_cell: int = 1
  box_size: float = 10.0
  prior: float = 0.01

  def __post_init__(self):
    if not self.widths or any(w < 1 for w in self.widths):
      raise InputError(f"`widths` must be positive, got {self.widths}")
    if self.stride not in [2 ** (i + 1) for i in range(len(self.widths))]:
      raise InputError(f"`stride` must be a stage's stride, 2 to 2**len(widths) = "
                       f"{2 ** len(self.widths)}, got {self.stride!r}")
    if isinstance(self.per_cell, bool) or int(self.per_cell) != self.per_cell or self.per_cell < 1:
      raise InputError(f"`per_cell` must be a positive integer, got {self.per_cell!r}")
    if not self.box_size > 0:
      raise InputError(f"`box_size` must be > 0, got {self.box_size!r}")
    if not 0.0 < self.prior < 0.1:
      raise InputError(f"`prior` must be in (0, 1/10), got {self.prior!r}")


@dataclasses.dataclass(frozen=True)
class SetLoss:
  """One set-head training: the classification loss inside `set_loss` and the optimiser.

  Attributes:
    name: run-directory name (letters, digits, '_').
    label: legend text.
    loss_fn: a catalog loss on the softmax head (``ge.cross_entropy_loss``, ``ge.focal_loss``,
      ``ge.maki_loss``, …).
    params: its hyper-parameters.
    learning_rate: Adam's.
    l1_weight, giou_weight, class_weight: the λs of the matching cost and the loss.
  """

  name: str
  label: str
  loss_fn: Callable[..., Any]
  params: Mapping[str, float] = dataclasses.field(default_factory=dict)
  learning_rate: float = 1e-3
  l1_weight: float = 5.0
  giou_weight: float = 2.0
  class_weight: float = 1.0

  def __hash__(self) -> int:  # `params` is a dict (jit static argument)
    import json

    from gradeng.experiments.common import to_jsonable
    return hash(json.dumps(to_jsonable(self), sort_keys=True))

  def __post_init__(self):
    if not self.name.replace("_", "").isalnum():
      raise InputError(f"`name` must be letters, digits and '_', got {self.name!r}")
    if not self.learning_rate > 0:
      raise InputError(f"`learning_rate` must be > 0, got {self.learning_rate!r}")


@dataclasses.dataclass(frozen=True)
class CrowdedConfig:
  """The whole comparison.

  Attributes:
    name: ``"quick"``, ``"full"`` or any label.
    data: the crowded canvases.
    ssd_model: SSD-lite and its anchors.
    ssd_train: SSD's steps, batch, matching, NMS (`TrainConfig`; its ``steps``/``batch_size``
      are the set head's too).
    ssd_loss: SSD's classification loss (from the detection experiment's table).
    set_head: the set head.
    set_losses: the set-head trainings compared (one run each per seed).
    seeds: initialisation and batch-order seeds.
    score_threshold: the operating point of "recall": detections scoring at least this.
    figure_stem: stem of the figure, CSV and table.
  """

  name: str
  data: CrowdedData
  ssd_model: ModelConfig
  ssd_train: TrainConfig
  ssd_loss: LossSpec
  set_head: SetHeadConfig
  set_losses: tuple[SetLoss, ...]
  seeds: tuple[int, ...] = (0,)
  score_threshold: float = 0.5
  figure_stem: str = "crowded"

  def __post_init__(self):
    if self.data.base.canvas_size % self.set_head.stride:
      raise InputError(f"canvas size {self.data.base.canvas_size} is not a multiple of the set "
                       f"head's stride {self.set_head.stride}")
    cells = (self.data.base.canvas_size // self.set_head.stride) ** 2
    if cells * self.set_head.per_cell < self.data.max_objects:
      raise InputError(f"the set head has K = {cells * self.set_head.per_cell} hypotheses, fewer "
                       f"than the {self.data.max_objects} objects a canvas may hold")
    names = [s.name for s in self.set_losses]
    if not names or len(set(names)) != len(names) or self.ssd_loss.name in names:
      raise InputError(f"set-loss names must be non-empty, unique and not SSD's, got {names}")
    if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
      raise InputError(f"`seeds` must be non-empty, unique and >= 0, got {self.seeds}")
    if not 0.0 < self.score_threshold < 1.0:
      raise InputError(f"`score_threshold` must be in (0, 1), got {self.score_threshold!r}")

  @property
  def steps(self) -> int:
    return self.ssd_train.steps

  @property
  def batch_size(self) -> int:
    return self.ssd_train.batch_size


#: The set-head trainings: the classification part of `set_loss` through catalog losses
#: (focal and Maki with the detection experiment's hyper-parameters).
SET_LOSSES: dict[str, SetLoss] = {s.name: s for s in (
    SetLoss("set_ce", "set head, CE", ge.cross_entropy_loss),
    SetLoss("set_focal", "set head, focal (γ=2)", ge.focal_loss, {"gamma": 2.0}),
    SetLoss("set_maki", "set head, Maki (γ=1)", ge.maki_loss, {"gamma": 1}),
)}


def _ssd_loss() -> LossSpec:
  from gradeng.experiments.detection import DETECTION_LOSSES

  return DETECTION_LOSSES["ce_ohem"]


def get_config(quick: bool = False, name: str | None = None) -> CrowdedConfig:
  """A named configuration (`CONFIGS`): ``name``, else ``"quick"`` (the `gradeng reproduce`
  step) or ``"full"``."""
  name = name or ("quick" if quick else "full")
  if name not in CONFIGS:
    raise InputError(f"unknown crowded configuration {name!r}; expected one of {sorted(CONFIGS)}")
  return CONFIGS[name]()


def quick_config() -> CrowdedConfig:
  """32×32 canvases of up to 6 digits, 1,000 steps of batch 16, the set head with CE, one seed,
  40 test canvases per level (the `gradeng reproduce` step)."""
  base = DataConfig(canvas_size=32, digit_sizes=(8, 10, 12), noise_std=0.05, clutter=1,
                    num_train=1, num_test=1, seed=0)
  return CrowdedConfig(
      name="quick",
      data=CrowdedData(base, train_ious=(0.0, 0.2, 0.4, 0.6), max_train_objects=6,
                       train_per_iou=200, counts=(1, 2, 4, 6), ious=(0.0, 0.2, 0.4, 0.5, 0.6, 0.7),
                       fixed_iou=0.3, fixed_count=4, test_per_level=40),
      ssd_model=ModelConfig(widths=(16, 32, 48), feature_maps=(
          FeatureMap(4, (7.0, 10.0), (0.8, 0.5)),
          FeatureMap(8, (13.0,), (0.8, 0.5)),
      )),
      ssd_train=TrainConfig(steps=1000, batch_size=16, eval_every=1000, checkpoint_every=250,
                            score_threshold=0.05),
      ssd_loss=_ssd_loss(),
      set_head=SetHeadConfig(widths=(16, 32), stride=4, per_cell=1, box_size=10.0),
      set_losses=(SET_LOSSES["set_ce"],),
      seeds=(0,),
      figure_stem="crowded_quick",
  )


def cpu_config() -> CrowdedConfig:
  """The quick canvases and models trained 3,000 steps, the set head with CE and with focal,
  one seed, 100 test canvases per level: a long CPU run (resumable)."""
  quick = quick_config()
  return dataclasses.replace(
      quick, name="cpu",
      data=dataclasses.replace(quick.data, train_per_iou=1000, test_per_level=100),
      ssd_train=dataclasses.replace(quick.ssd_train, steps=3000, eval_every=3000,
                                    checkpoint_every=250),
      set_losses=tuple(SET_LOSSES[n] for n in ("set_ce", "set_focal")),
      figure_stem="crowded_cpu")


def long_config() -> CrowdedConfig:
  """The cpu configuration trained 10,000 steps, SSD-lite and the set head with focal only: does
  the set head, still learning at 3,000 steps, catch up? (A long CPU run, resumable.)"""
  cpu = cpu_config()
  return dataclasses.replace(
      cpu, name="long", ssd_train=dataclasses.replace(cpu.ssd_train, steps=10000, eval_every=10000,
                                                      checkpoint_every=500),
      set_losses=(SET_LOSSES["set_focal"],), figure_stem="crowded_long")


def full_config() -> CrowdedConfig:
  """48×48 canvases with up to 8 digits, 3,000 steps of batch 32, three set-head losses × 3 seeds."""
  base = DataConfig(canvas_size=48, digit_sizes=(10, 12, 14), noise_std=0.05, clutter=2,
                    num_train=1, num_test=1, seed=0)
  return CrowdedConfig(
      name="full",
      data=CrowdedData(base, train_ious=(0.0, 0.2, 0.4, 0.6), max_train_objects=8,
                       train_per_iou=1500, counts=(1, 2, 4, 6, 8), ious=(0.0, 0.2, 0.4, 0.5, 0.6, 0.7),
                       fixed_iou=0.3, fixed_count=4, test_per_level=200),
      ssd_model=ModelConfig(widths=(16, 32, 48), feature_maps=(
          FeatureMap(4, (8.0, 11.0), (0.8, 0.5)),
          FeatureMap(8, (15.0,), (0.8, 0.5)),
      )),
      ssd_train=TrainConfig(steps=3000, batch_size=32, eval_every=3000, checkpoint_every=250,
                            score_threshold=0.05),
      ssd_loss=_ssd_loss(),
      set_head=SetHeadConfig(widths=(16, 32), stride=4, per_cell=1, box_size=12.0),
      set_losses=tuple(SET_LOSSES[n] for n in ("set_ce", "set_focal", "set_maki")),
      seeds=(0, 1, 2),
      figure_stem="crowded",
  )


#: The named configurations.
CONFIGS: dict[str, Callable[[], CrowdedConfig]] = {"quick": quick_config, "cpu": cpu_config,
                                                   "long": long_config, "full": full_config}
