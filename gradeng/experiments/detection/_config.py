"""Configuration types of the detection experiment (frozen dataclasses, JSON-serialisable).

The concrete experiments (quick and full) and the loss table live in
``experiments/detection/config.py``; this module only defines the shapes they take, their
checks. Configs become JSON with `gradeng.experiments.common.to_jsonable`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from gradeng.experiments.common import to_jsonable
from gradeng.runtime import InputError

#: Normalisations of the summed classification loss (paper §3.3).
NORMALIZATIONS = ("ohem", "positives", "elements")
#: Localisation losses: SSD's Smooth-L1 on the encoded offsets, or an IoU-family loss of the
#: decoded boxes (`gradeng.boxes.iou_loss`, `giou_loss`, `diou_loss`, `ciou_loss`).
BOX_LOSSES = ("smooth_l1", "iou", "giou", "diou", "ciou")

NUM_DIGIT_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """The synthetic detection set built from scikit-learn's handwritten digits.

  Attributes:
    canvas_size: side of the square canvas in pixels.
    digit_sizes: side lengths (pixels) a source 8×8 digit is resized to before placing.
    min_objects: fewest digits on a canvas (≥ 1).
    max_objects: most digits on a canvas.
    max_overlap: largest IoU allowed between two placed digit boxes (0 = no overlap).
    noise_std: standard deviation of the Gaussian pixel noise (images are in [0, 1]).
    clutter: number of digit fragments (not objects) scattered on each canvas.
    num_train: number of training canvases.
    num_test: number of test canvases.
    test_fraction: fraction of the 1,797 source digits reserved for test canvases.
    seed: seed of the source split and the canvases (the data is the same for every
      training seed, so runs differ only in initialisation and batch order).
  """

  canvas_size: int = 64
  digit_sizes: tuple[int, ...] = (8, 12, 16, 24)
  min_objects: int = 1
  max_objects: int = 6
  max_overlap: float = 0.2
  noise_std: float = 0.05
  clutter: int = 2
  num_train: int = 2000
  num_test: int = 300
  test_fraction: float = 0.3
  seed: int = 0

  def __post_init__(self):
    _check_positive_int("canvas_size", self.canvas_size)
    if not self.digit_sizes or any(int(s) != s or not 4 <= s <= self.canvas_size for s in self.digit_sizes):
      raise InputError(
          f"`digit_sizes` must be integers in [4, canvas_size={self.canvas_size}], got {self.digit_sizes}")
    if not 1 <= self.min_objects <= self.max_objects:
      raise InputError(
          f"need 1 <= `min_objects` <= `max_objects`, got {self.min_objects} and {self.max_objects}")
    if not 0.0 <= self.max_overlap < 1.0:
      raise InputError(f"`max_overlap` must be in [0, 1), got {self.max_overlap}")
    if not (self.noise_std >= 0 and math.isfinite(self.noise_std)):
      raise InputError(f"`noise_std` must be finite and >= 0, got {self.noise_std}")
    if self.clutter < 0:
      raise InputError(f"`clutter` must be >= 0, got {self.clutter}")
    _check_positive_int("num_train", self.num_train)
    _check_positive_int("num_test", self.num_test)
    if not 0.0 < self.test_fraction < 1.0:
      raise InputError(f"`test_fraction` must be in (0, 1), got {self.test_fraction}")


@dataclasses.dataclass(frozen=True)
class FeatureMap:
  """One SSD feature map: its stride and the anchors at each of its cells.

  Attributes:
    stride: down-sampling factor of the map w.r.t. the canvas (a power of two ≥ 2).
    sizes: anchor side lengths in pixels (the square root of the anchor area).
    aspect_ratios: anchor width / height ratios; every size is combined with every ratio.
  """

  stride: int
  sizes: tuple[float, ...]
  aspect_ratios: tuple[float, ...] = (1.0,)

  def __post_init__(self):
    if self.stride < 2 or self.stride & (self.stride - 1):
      raise InputError(f"`stride` must be a power of two >= 2, got {self.stride}")
    if not self.sizes or any(not s > 0 for s in self.sizes):
      raise InputError(f"`sizes` must be positive, got {self.sizes}")
    if not self.aspect_ratios or any(not r > 0 for r in self.aspect_ratios):
      raise InputError(f"`aspect_ratios` must be positive, got {self.aspect_ratios}")

  @property
  def anchors_per_cell(self) -> int:
    return len(self.sizes) * len(self.aspect_ratios)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """SSD-lite: a plain conv backbone (one stride-2 stage per width) and 2–3 feature maps.

  Attributes:
    widths: channels of the backbone stages; stage ``i`` has stride ``2**(i+1)``.
    feature_maps: the maps the heads read, each with its anchors.
  """

  widths: tuple[int, ...] = (16, 32, 48, 64)
  feature_maps: tuple[FeatureMap, ...] = (
      FeatureMap(4, (7.0, 10.0), (0.8, 0.5)),
      FeatureMap(8, (14.0, 20.0), (0.8, 0.5)),
      FeatureMap(16, (28.0,), (0.8, 0.5)),
  )

  def __post_init__(self):
    if not self.widths or any(w < 1 for w in self.widths):
      raise InputError(f"`widths` must be positive, got {self.widths}")
    if not self.feature_maps:
      raise InputError("`feature_maps` must not be empty")
    top = 2 ** len(self.widths)
    strides = [fm.stride for fm in self.feature_maps]
    if strides != sorted(set(strides)) or strides[-1] > top:
      raise InputError(
          f"feature-map strides must increase and be <= 2**len(widths)={top}, got {strides}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Optimisation, matching, decoding and evaluation settings shared by every loss.

  Attributes:
    steps: number of Adam steps.
    batch_size: canvases per step.
    eval_every: evaluate mAP@0.5 on the test canvases every this many steps (and at the end).
    checkpoint_every: write a checkpoint every this many steps (and at the end).
    iou_threshold: IoU at or above which an anchor is matched to a ground-truth box.
    variances: SSD box-encoding variances (centre, size).
    score_threshold: smallest class probability kept when decoding.
    nms_iou: IoU above which a lower-scored box of the same class is suppressed.
    max_detections: detections kept per image after NMS.
    pre_nms_top_k: (anchor, class) candidates per image handed to NMS.
  """

  steps: int = 3000
  batch_size: int = 32
  eval_every: int = 250
  checkpoint_every: int = 250
  iou_threshold: float = 0.5
  variances: tuple[float, float] = (0.1, 0.2)
  score_threshold: float = 0.01
  nms_iou: float = 0.45
  max_detections: int = 100
  pre_nms_top_k: int = 200

  def __post_init__(self):
    for name in ("steps", "batch_size", "eval_every", "checkpoint_every", "max_detections",
                 "pre_nms_top_k"):
      _check_positive_int(name, getattr(self, name))
    if not 0.0 < self.iou_threshold <= 1.0:
      raise InputError(f"`iou_threshold` must be in (0, 1], got {self.iou_threshold}")
    if len(self.variances) != 2 or any(not v > 0 for v in self.variances):
      raise InputError(f"`variances` must be two positive numbers, got {self.variances}")
    if not 0.0 <= self.score_threshold < 1.0:
      raise InputError(f"`score_threshold` must be in [0, 1), got {self.score_threshold}")
    if not 0.0 < self.nms_iou <= 1.0:
      raise InputError(f"`nms_iou` must be in (0, 1], got {self.nms_iou}")


@dataclasses.dataclass(frozen=True)
class LossSpec:
  """One classification loss as trained in the experiment (a row of the paper's Table 1).

  Attributes:
    name: short identifier, used for run directories and CSV columns.
    label: legend text.
    loss_fn: a catalog loss ``f(logits, labels, *, head="softmax", **params) -> losses``, or
      ``None`` for a coefficient with state (``stateful``).
    params: its hyper-parameters (e.g. ``{"gamma": 2.0}``); for a ``stateful`` factory, its
      keyword arguments (e.g. ``{"base": "ce", "bound": 2.0, "warmup_steps": 100}``).
    normalization: ``"ohem"`` (all positives plus the hardest ``neg_pos_ratio``×positives
      negatives, summed, divided by the number of positives), ``"positives"`` (sum over all
      anchors divided by the number of positives) or ``"elements"`` (mean over all anchors).
    neg_pos_ratio: hard negatives per positive for ``"ohem"``; ``None`` otherwise.
    learning_rate: Adam learning rate.
    loc_weight: λ, the weight of the Smooth-L1 localisation loss.
    stateful: a factory of a `gradeng.StatefulLoss` (``ge.warmup_coefficient``,
      ``ge.periodic_coefficient``, ``ge.adaptive_gamma_coefficient``, ``ge.ghm_coefficient``)
      called as ``stateful(head="softmax", **params)``; its state is threaded through the
      training steps and checkpointed with the model. ``None`` for a plain catalog loss.
    lr_warmup_steps: learning-rate warm-up: the rate grows linearly from 0 to
      ``learning_rate`` over this many steps (0: none).
    prior: RetinaNet's prior initialisation π: the class head starts with every object class
      at probability π (`gradeng.experiments.detection.background_bias`); ``None``: zero biases.
    box_loss: the localisation loss weighted by λ: ``"smooth_l1"`` (SSD, on the encoded
      offsets) or ``"iou"``, ``"giou"``, ``"diou"``, ``"ciou"`` (of the decoded boxes, through
      `gradeng.boxes.giou_loss` etc. with ``anchors=``); both summed over positives / N_pos.
  """

  name: str
  label: str
  loss_fn: Callable[..., Any]
  params: Mapping[str, float]
  normalization: str
  learning_rate: float
  loc_weight: float
  neg_pos_ratio: float | None = None
  stateful: Callable[..., Any] | None = None
  lr_warmup_steps: int = 0
  prior: float | None = None
  # Left out of the JSON config while it is the default, so runs from before the field existed
  # keep their identity (their run directories are still accepted and resumed).
  box_loss: str = dataclasses.field(default="smooth_l1", metadata={"omit_if_default": True})

  def __hash__(self) -> int:  # `params` is a dict; hash the JSON form (jit static argument)
    import json

    return hash(json.dumps(to_jsonable(self), sort_keys=True))

  def __post_init__(self):
    if not self.name.replace("_", "").isalnum():
      raise InputError(f"`name` must be letters, digits and '_', got {self.name!r}")
    if self.normalization not in NORMALIZATIONS:
      raise InputError(f"`normalization` must be one of {NORMALIZATIONS}, got {self.normalization!r}")
    if (self.normalization == "ohem") != (self.neg_pos_ratio is not None):
      raise InputError(
          f"`neg_pos_ratio` is required for normalization 'ohem' and only for it "
          f"(loss {self.name!r}: normalization {self.normalization!r}, neg_pos_ratio {self.neg_pos_ratio})")
    if self.neg_pos_ratio is not None and not self.neg_pos_ratio > 0:
      raise InputError(f"`neg_pos_ratio` must be > 0, got {self.neg_pos_ratio}")
    if not self.learning_rate > 0:
      raise InputError(f"`learning_rate` must be > 0, got {self.learning_rate}")
    if not self.loc_weight >= 0:
      raise InputError(f"`loc_weight` must be >= 0, got {self.loc_weight}")
    if (self.loss_fn is None) == (self.stateful is None):
      raise InputError(f"loss {self.name!r}: give exactly one of `loss_fn` (a catalog loss) and "
                       f"`stateful` (a StatefulLoss factory)")
    if isinstance(self.lr_warmup_steps, bool) or int(self.lr_warmup_steps) != self.lr_warmup_steps \
        or self.lr_warmup_steps < 0:
      raise InputError(f"`lr_warmup_steps` must be an integer >= 0, got {self.lr_warmup_steps!r}")
    if self.prior is not None and not 0.0 < self.prior < 1.0:  # < 1/K is checked at init
      raise InputError(f"`prior` must be in (0, 1), got {self.prior!r}")
    if self.box_loss not in BOX_LOSSES:
      raise InputError(f"`box_loss` must be one of {BOX_LOSSES}, got {self.box_loss!r}")
    if self.stateful is not None:
      self.stateful_loss()  # bad factory arguments fail here, not at the first training step

  def stateful_loss(self):
    """The `gradeng.StatefulLoss` of a ``stateful`` spec (softmax head); None otherwise."""
    return None if self.stateful is None else _stateful_loss(self)

  @classmethod
  def from_formula(cls, name: str, formula: str, params: Mapping[str, float] | None = None, *,
                   like: "LossSpec", label: str | None = None) -> "LossSpec":
    """A user's loss g(p) = ``formula`` trained as ``like`` trains its loss (normalisation,
    learning rate, λ, OHEM ratio, prior, box loss): `gradeng.evaluate`'s entry into detection.

    Its ``loss_fn`` is a `FormulaLossFn` (data: its config JSON names the formula and
    parameters, so a run directory belongs to one formula).

    Example:
      >>> from gradeng.experiments.detection import DETECTION_LOSSES, LossSpec
      >>> spec = LossSpec.from_formula("mine", "-(1-p)**3/p", like=DETECTION_LOSSES["maki"])
      >>> spec.loss_fn, spec.normalization, spec.loc_weight
      (FormulaLossFn(formula='-(1-p)**3/p', params=()), 'positives', 0.2)
    """
    if like.stateful is not None:
      raise InputError(f"`like` must be a loss without state; got {like.name!r}.")
    fn = FormulaLossFn(str(formula).strip(), tuple(sorted(
        (str(k), float(v)) for k, v in dict(params or {}).items())))
    return dataclasses.replace(like, name=name, label=label or f"g = {fn.formula}", loss_fn=fn,
                               params={})


@dataclasses.dataclass(frozen=True)
class FormulaLossFn:
  """A loss from a formula for g(p), called as the catalog losses are:
  ``f(logits, labels, *, head="softmax", **params) -> per-anchor losses``.

  Built once per (formula, head, parameters) by `gradeng.coefficient` and
  `gradeng.loss_from_coefficient` (SymPy runs ahead of time; the kernel is cached).

  Attributes:
    formula: g(p) as text.
    params: the formula's parameters, sorted ``((name, value), ...)``.
  """

  formula: str
  params: tuple[tuple[str, float], ...] = ()

  def __call__(self, logits, labels, *, head: str = "softmax", **params):
    merged = tuple(sorted({**dict(self.params), **params}.items()))
    return _formula_loss(self.formula, head, merged)(logits, labels)


@functools.lru_cache(maxsize=32)
def _formula_loss(formula: str, head: str, params: tuple):
  import gradeng as ge

  return ge.loss_from_coefficient(ge.coefficient(formula), head=head, **dict(params))


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  """A whole experiment: data, model, training, the losses compared and the seeds.

  Attributes:
    name: ``"quick"`` or ``"full"`` (or any label); recorded in every result.
    data: the synthetic data set.
    model: the SSD-lite network and its anchors.
    train: optimisation and evaluation settings.
    losses: the classification losses compared (one curve each).
    seeds: training seeds (initialisation and batch order); one run per (loss, seed).
    figure_stem: file stem of the figure/CSV/table written to the figures directory.
  """

  name: str
  data: DataConfig
  model: ModelConfig
  train: TrainConfig
  losses: tuple[LossSpec, ...]
  seeds: tuple[int, ...] = (0,)
  figure_stem: str = "detection_map"

  def __post_init__(self):
    if not self.losses:
      raise InputError("`losses` must not be empty")
    names = [spec.name for spec in self.losses]
    if len(set(names)) != len(names):
      raise InputError(f"loss names must be unique, got {names}")
    if not self.seeds or len(set(self.seeds)) != len(self.seeds):
      raise InputError(f"`seeds` must be non-empty and unique, got {self.seeds}")
    if any(int(s) != s or s < 0 for s in self.seeds):
      raise InputError(f"`seeds` must be non-negative integers, got {self.seeds}")

  def loss(self, name: str) -> LossSpec:
    for spec in self.losses:
      if spec.name == name:
        return spec
    raise InputError(f"unknown loss {name!r}; this config has {[s.name for s in self.losses]}")


@functools.lru_cache(maxsize=None)
def _stateful_loss(spec: LossSpec) -> Any:  # keyed by the spec (hashable, compared by value)
  return spec.stateful(head="softmax", **spec.params)


def _check_positive_int(name: str, value: Any) -> None:
  if isinstance(value, bool) or int(value) != value or value < 1:
    raise InputError(f"`{name}` must be a positive integer, got {value!r}")

