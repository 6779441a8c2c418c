"""Configuration of the LVIS-style long-tailed detection experiment (frozen dataclasses).

Quick (six losses × 3 seeds vmapped, 48×48 canvases, 120 steps of batch 8; 68 s on a 2-core
CPU at load ≈ 2, 157 s at load ≈ 11; the detection part of the ``longtail`` experiment)::

    python -c "from gradeng.experiments.longtail import detection as e; print(e.run(e.get_config(True), 'runs/longtail_detection', progress=True)['table'])"

Full (the same losses and canvases, 1,200 training canvases, 5 seeds, 1,200 steps of batch 8;
22 min (1,321 s) on a 2-core CPU shared with other jobs under ``nice -n 19``; resumable)::

    python -c "from gradeng.experiments.longtail import detection as e; print(e.run(e.get_config(False), 'runs/longtail_detection_full', progress=True)['table'])"

Training canvases are drawn from a pool of ordinary digit canvases so that, as in LVIS, each
*rare* digit appears on at most ``rare_images`` training canvases, each *common* digit on at
most ``common_images``, and the *frequent* digits on all the others (`long_tail_canvases`); the
test canvases are ordinary ones, every digit about equally often.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from gradeng.experiments.common import to_jsonable
from gradeng.experiments.detection import DataConfig, FeatureMap, ModelConfig, TrainConfig
from gradeng.runtime import InputError

#: loss kinds: the head they train and what they are built from.
KINDS = {
    "eql": "sigmoid",          # gradeng.longtail.equalization_loss
    "eqlv2": "sigmoid",        # gradeng.longtail.eqlv2
    "efl": "sigmoid",          # gradeng.longtail.equalized_focal
    "focal": "sigmoid",        # gradeng.focal_loss, RetinaNet's sigmoid head
    "seesaw": "softmax",       # gradeng.longtail.seesaw over the object classes + objectness CE
    "ce_ohem": "softmax",      # gradeng.cross_entropy_loss with OHEM (the detection experiment's)
}
#: reductions of the per-anchor classification loss: OHEM (positives and the hardest
#: ``neg_pos_ratio``×positives negatives, / N_pos) or every anchor / N_pos.
NORMALIZATIONS = ("ohem", "positives")


@dataclasses.dataclass(frozen=True)
class DetectionLoss:
  """One classification loss of the comparison.

  Attributes:
    name: identifier (run directories, table rows).
    label: legend text.
    kind: one of `KINDS`; its head is ``KINDS[kind]``.
    params: the loss's hyper-parameters (e.g. ``{"gamma": 2.0, "alpha": 0.25}``).
    normalization: one of `NORMALIZATIONS`.
    neg_pos_ratio: hard negatives per positive for ``"ohem"``, None otherwise.
    learning_rate: Adam learning rate.
    loc_weight: λ of the Smooth-L1 box loss.
    prior: π of RetinaNet's prior initialisation (every object class starts at probability π),
      or None (zero biases).
  """

  name: str
  label: str
  kind: str
  params: Mapping[str, Any]
  normalization: str
  learning_rate: float
  loc_weight: float = 1.0
  neg_pos_ratio: float | None = None
  prior: float | None = None

  @property
  def head(self) -> str:
    return KINDS[self.kind]

  def __hash__(self) -> int:  # `params` is a dict: hash the JSON form (a jit static argument)
    return hash(json.dumps(to_jsonable(self), sort_keys=True))

  def __post_init__(self):
    if not self.name.replace("_", "").isalnum():
      raise InputError(f"`name` must be letters, digits and '_', got {self.name!r}")
    if self.kind not in KINDS:
      raise InputError(f"`kind` must be one of {sorted(KINDS)}, got {self.kind!r}")
    if self.normalization not in NORMALIZATIONS:
      raise InputError(f"`normalization` must be one of {NORMALIZATIONS}, got {self.normalization!r}")
    if (self.normalization == "ohem") != (self.neg_pos_ratio is not None):
      raise InputError(f"loss {self.name!r}: `neg_pos_ratio` is required for 'ohem' and only "
                       f"for it, got {self.neg_pos_ratio!r} with {self.normalization!r}")
    if self.neg_pos_ratio is not None and not self.neg_pos_ratio > 0:
      raise InputError(f"`neg_pos_ratio` must be > 0, got {self.neg_pos_ratio}")
    if not self.learning_rate > 0:
      raise InputError(f"`learning_rate` must be > 0, got {self.learning_rate}")
    if not self.loc_weight >= 0:
      raise InputError(f"`loc_weight` must be >= 0, got {self.loc_weight}")
    if self.prior is not None and not 0.0 < self.prior < 0.1:
      raise InputError(f"`prior` must be in (0, 0.1) (ten classes), got {self.prior!r}")


#: The compared losses. Sigmoid heads start at π = 0.01 (RetinaNet's recipe, shared by EFL and
#: focal); EQL and EQL v2 were designed for a two-stage detector's sampled RoIs (1 positive : 3
#: negatives), so they see positives and the 3× hardest negatives, as CE + OHEM 1:3 does
#: (EQL's λ = 0.1 lies between the common digits' instance frequency, ≤ 0.07, and the
#: frequent ones', ≥ 0.2, so it suppresses rare and common digits, as on LVIS);
#: focal and EFL see every anchor, divided by the positives (RetinaNet).
LOSSES: dict[str, DetectionLoss] = {loss.name: loss for loss in (
    DetectionLoss("ce_ohem", "CE + OHEM 1:3 (softmax)", "ce_ohem", {}, "ohem",
                  learning_rate=1e-3, neg_pos_ratio=3.0),
    DetectionLoss("focal", "focal γ=2, α=0.25, prior (sigmoid)", "focal",
                  {"gamma": 2.0, "alpha": 0.25}, "positives", learning_rate=1e-3, prior=0.01),
    DetectionLoss("eql", "EQL λ=0.1 (sigmoid, 1:3)", "eql", {"frequency_threshold": 0.1},
                  "ohem", learning_rate=1e-3, neg_pos_ratio=3.0, prior=0.01),
    DetectionLoss("eqlv2", "EQL v2 (sigmoid, 1:3)", "eqlv2",
                  {"gain": 4.0, "steepness": 12.0, "midpoint": 0.8}, "ohem",
                  learning_rate=1e-3, neg_pos_ratio=3.0, prior=0.01),
    DetectionLoss("efl", "EFL γ_b=2, s=8 (sigmoid)", "efl",
                  {"gamma": 2.0, "focus_scale": 8.0, "alpha": 0.25}, "positives",
                  learning_rate=1e-3, prior=0.01),
    DetectionLoss("seesaw", "Seesaw + objectness OHEM 1:3 (softmax)", "seesaw",
                  {"mitigation_power": 0.8, "compensation_power": 2.0}, "ohem",
                  learning_rate=1e-3, neg_pos_ratio=3.0),
)}


@dataclasses.dataclass(frozen=True)
class LongTailDetectionConfig:
  """The whole experiment.

  Attributes:
    name: ``"quick"``, ``"full"`` or any label.
    data: the digit canvases (``num_train`` training canvases are kept from a pool of
      ``pool_factor × num_train``; ``num_test`` test canvases).
    frequent, common, rare: the digits of each frequency group (disjoint, together 0–9).
    common_images: training canvases on which each common digit appears (its cap).
    rare_images: training canvases on which each rare digit appears (its cap).
    pool_factor: the pool of candidate training canvases, as a multiple of ``num_train``.
    model: SSD-lite (the detection experiment's).
    train: steps, batch, matching, decoding (the detection experiment's `TrainConfig`).
    losses: the compared losses.
    seeds: initialisation and batch-order seeds (trained together, vmapped).
  """

  name: str
  data: DataConfig
  model: ModelConfig
  train: TrainConfig
  losses: tuple[DetectionLoss, ...]
  seeds: tuple[int, ...] = (0, 1, 2)
  frequent: tuple[int, ...] = (0, 1, 2)
  common: tuple[int, ...] = (3, 4, 5, 6)
  rare: tuple[int, ...] = (7, 8, 9)
  common_images: int = 60
  rare_images: int = 8
  pool_factor: int = 6

  def __post_init__(self):
    if not self.losses:
      raise InputError("`losses` must not be empty")
    names = [loss.name for loss in self.losses]
    if len(set(names)) != len(names):
      raise InputError(f"loss names must be unique, got {names}")
    if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(
        isinstance(s, bool) or int(s) != s or s < 0 for s in self.seeds):
      raise InputError(f"`seeds` must be distinct non-negative integers, got {self.seeds}")
    groups = (*self.frequent, *self.common, *self.rare)
    if sorted(groups) != list(range(10)) or not (self.frequent and self.common and self.rare):
      raise InputError(f"`frequent`, `common` and `rare` must split the digits 0-9 into three "
                       f"non-empty groups, got {self.frequent}, {self.common}, {self.rare}")
    if not 1 <= self.rare_images <= self.common_images:
      raise InputError(f"need 1 <= `rare_images` <= `common_images`, got {self.rare_images} "
                       f"and {self.common_images}")
    if isinstance(self.pool_factor, bool) or int(self.pool_factor) != self.pool_factor \
        or self.pool_factor < 1:
      raise InputError(f"`pool_factor` must be a positive integer, got {self.pool_factor!r}")

  def caps(self) -> tuple[float, ...]:
    """Per digit, the most training canvases it may appear on (inf for frequent digits)."""
    return tuple(float(self.rare_images) if d in self.rare else
                 float(self.common_images) if d in self.common else float("inf")
                 for d in range(10))

  def group_of(self, digit: int) -> str:
    """``"rare"``, ``"common"`` or ``"frequent"``."""
    return "rare" if digit in self.rare else "common" if digit in self.common else "frequent"


def get_config(quick: bool = True) -> LongTailDetectionConfig:
  """The quick configuration (≤ 100 s on an idle 2-core CPU) or the full one (about an hour)."""
  if quick:
    return LongTailDetectionConfig(
        name="quick",
        data=DataConfig(canvas_size=48, digit_sizes=(10, 14, 20), min_objects=1, max_objects=3,
                        clutter=1, num_train=400, num_test=150, seed=0),
        model=ModelConfig(widths=(16, 24, 32), feature_maps=(
            FeatureMap(4, (9.0, 13.0), (0.8, 0.5)),
            FeatureMap(8, (18.0, 25.0), (0.8, 0.5)),
        )),
        train=TrainConfig(steps=120, batch_size=8, eval_every=120, checkpoint_every=60),
        losses=tuple(LOSSES.values()),
        common_images=30, rare_images=5, pool_factor=5,
    )
  return LongTailDetectionConfig(
      name="full",
      data=DataConfig(canvas_size=48, digit_sizes=(10, 14, 20), min_objects=1, max_objects=3,
                      clutter=1, num_train=1200, num_test=300, seed=0),
      model=ModelConfig(widths=(16, 24, 32), feature_maps=(
          FeatureMap(4, (9.0, 13.0), (0.8, 0.5)),
          FeatureMap(8, (18.0, 25.0), (0.8, 0.5)),
      )),
      train=TrainConfig(steps=1200, batch_size=8, eval_every=1200, checkpoint_every=100),
      losses=tuple(LOSSES.values()), seeds=(0, 1, 2, 3, 4),
      common_images=60, rare_images=8, pool_factor=8,
  )
