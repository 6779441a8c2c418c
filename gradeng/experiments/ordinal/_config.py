"""Configuration of the ordinal experiment: count the digits on a canvas.

Quick (seven losses × 3 seeds, 400 steps; part of `gradeng reproduce` in a smaller form)::

    gradeng experiment ordinal --quick

Full (more data and steps, σ swept wider)::

    gradeng experiment ordinal --out runs/ordinal

The target is the number of digits on a 32×32 canvas of scikit-learn's handwritten digits
(1…9, classes 0…8 = count − 1), an ordinal label: an answer one off is better than one five
off. Compared: hard-label cross-entropy, cross-entropy against Gaussian-blurred targets
(σ swept), L2 regression on the count, and focal / Maki on the blurred targets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from gradeng.experiments.common import to_jsonable
from gradeng.experiments.detection import DataConfig

KINDS = ("classification", "regression")


@dataclasses.dataclass(frozen=True)
class OrdinalLoss:
  """One training objective.

  Attributes:
    name: identifier (run directory, CSV column).
    label: legend text.
    kind: ``"classification"`` (softmax head over the C counts, a catalog loss) or
      ``"regression"`` (one output, squared error on the class index).
    loss: catalog loss name (`gradeng.LOSSES`) for classification; ``None`` for regression.
    params: the catalog loss's hyper-parameters.
    sigma: Gaussian blur of the target in classes (`gradeng.ordinal.gaussian_label_distribution`);
      ``None``: the integer label (one-hot).
    learning_rate: Adam learning rate.
  """

  name: str
  label: str
  kind: str
  loss: str | None = None
  params: Mapping[str, float] = dataclasses.field(default_factory=dict)
  sigma: float | None = None
  learning_rate: float = 3e-3

  def __post_init__(self):
    if not self.name.replace("_", "").isalnum():
      raise ValueError(f"`name` must be letters, digits and '_', got {self.name!r}")
    if self.kind not in KINDS:
      raise ValueError(f"`kind` must be one of {KINDS}, got {self.kind!r}")
    if (self.kind == "regression") != (self.loss is None):
      raise ValueError(f"loss {self.name!r}: a catalog `loss` is required for classification "
                       f"and only for it, got kind {self.kind!r} and loss {self.loss!r}")
    if self.sigma is not None and not (math.isfinite(self.sigma) and self.sigma > 0):
      raise ValueError(f"`sigma` must be a finite number > 0 or None, got {self.sigma!r}")
    if self.sigma is not None and self.kind == "regression":
      raise ValueError(f"loss {self.name!r}: `sigma` applies to classification only")
    if not self.learning_rate > 0:
      raise ValueError(f"`learning_rate` must be > 0, got {self.learning_rate!r}")

  def __hash__(self) -> int:  # `params` is a dict: hash the JSON form (a jit static argument)
    import json

    return hash(json.dumps(to_jsonable(self), sort_keys=True))


@dataclasses.dataclass(frozen=True)
class OrdinalConfig:
  """The whole experiment.

  Attributes:
    name: ``"quick"``, ``"full"`` or any label.
    data: the digit canvases (``min_objects..max_objects`` digits each; the count is the label).
    widths: channels of the four 3×3 conv layers (strides 2, 2, 2, 1), followed by a
      global sum-pool (counting is additive over the image) and a hidden dense layer.
    hidden: width of the dense layer.
    steps: Adam steps.
    batch_size: canvases per step.
    chunk: steps compiled into one `jax.lax.scan`; a checkpoint and a progress tick follow each.
    losses: the objectives compared.
    seeds: initialisation and batch-order seeds (trained together, vmapped).
    figure_stem: file stem of the figure, CSV and table.
  """

  name: str
  data: DataConfig
  losses: tuple[OrdinalLoss, ...]
  widths: tuple[int, ...] = (8, 16, 16, 32)
  hidden: int = 32
  steps: int = 400
  batch_size: int = 32
  chunk: int = 100
  seeds: tuple[int, ...] = (0, 1, 2)
  figure_stem: str = "ordinal"

  def __post_init__(self):
    if not self.losses:
      raise ValueError("`losses` must not be empty")
    names = [s.name for s in self.losses]
    if len(set(names)) != len(names):
      raise ValueError(f"loss names must be unique, got {names}")
    for field in ("steps", "batch_size", "chunk", "hidden"):
      value = getattr(self, field)
      if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"`{field}` must be a positive integer, got {value!r}")
    if len(self.widths) != 4 or any(w < 1 for w in self.widths):
      raise ValueError(f"`widths` must be four positive channel counts, got {self.widths}")
    if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
      raise ValueError(f"`seeds` must be distinct non-negative integers, got {self.seeds}")
    if self.data.canvas_size % 8:
      raise ValueError(f"`data.canvas_size` must be a multiple of 8, got {self.data.canvas_size}")

  @property
  def num_classes(self) -> int:
    return self.data.max_objects - self.data.min_objects + 1

  def loss(self, name: str) -> OrdinalLoss:
    for spec in self.losses:
      if spec.name == name:
        return spec
    raise ValueError(f"unknown loss {name!r}; this config has {[s.name for s in self.losses]}")


def _losses(sigmas: tuple[float, ...]) -> tuple[OrdinalLoss, ...]:
  blurred = tuple(
      OrdinalLoss(f"blur_{str(s).replace('.', 'p')}", f"CE, Gaussian targets σ={s:g}",
                  "classification", "ce", sigma=s) for s in sigmas)
  return (
      OrdinalLoss("ce", "CE, hard labels", "classification", "ce"),
      *blurred,
      OrdinalLoss("l2", "L2 regression", "regression"),
      OrdinalLoss("focal_blur", "focal γ=2, σ=1 targets", "classification", "focal",
                  {"gamma": 2.0}, sigma=1.0),
      OrdinalLoss("maki_blur", "Maki γ=1, σ=1 targets", "classification", "maki",
                  {"gamma": 1}, sigma=1.0),
  )


#: the losses of the smallest meaningful run (`gradeng reproduce`'s quick step).
REPRODUCE_LOSSES = ("ce", "blur_1p0", "l2", "maki_blur")


def get_config(quick: bool = False) -> OrdinalConfig:
  """The quick (≤ 3 min on 2 CPU cores) or full configuration."""
  data = DataConfig(canvas_size=32, digit_sizes=(6, 8), min_objects=1, max_objects=9,
                    max_overlap=0.0, noise_std=0.05, clutter=0,
                    num_train=2000 if quick else 8000, num_test=500 if quick else 2000, seed=0)
  if quick:
    return OrdinalConfig(name="quick", data=data, losses=_losses((0.5, 1.0, 2.0)), steps=400,
                         figure_stem="ordinal_quick")
  return OrdinalConfig(name="full", data=data, losses=_losses((0.5, 1.0, 2.0, 3.0)),
                       widths=(16, 32, 32, 64), hidden=64, steps=4000, batch_size=64, chunk=250,
                       seeds=(0, 1, 2, 3, 4), figure_stem="ordinal")
