"""Sweep configurations of the toy imbalance simulations: frozen dataclasses and named presets.

A config fixes everything that determines the numbers of a sweep: the grid (loss × hyper-parameter
× imbalance ratio × seed), the training (steps, learning rate, sizes), the chunking of the grid
into saved pieces (``chunk_size`` trainings) and ``batch``, the number of trainings one device
runs together as one ``vmap`` (the numbers do not depend on the device count). It is written to ``config.json`` in the results directory, and a directory
written by a different config is refused (`gradeng.experiments.common.claim_run_dir`).

A grid may train a user's own loss next to the catalog's: ``formulas`` names `FormulaLoss`
entries (g(p) as a formula, fixed parameters) that ``losses`` lists with ``(None,)``, e.g.
``losses=(("ce", (None,)), ("mine", (None,))), formulas=(("mine", FormulaLoss("-(1-p)**3/p")),)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from . import _losses

from gradeng.runtime import InputError
from gradeng.symbolic import parse_loss_spec

LossGrid = tuple[tuple[str, tuple[float | None, ...]], ...]
"""``((loss name, (hyper-parameter values...)), ...)``; ``(None,)`` for a loss without one."""
Formulas = tuple[tuple[str, _losses.FormulaLoss], ...]
"""``((name, FormulaLoss), ...)``: user losses a grid names next to the catalog's."""


def _check_positive(name: str, value: Any, *, integer: bool = False) -> None:
  ok_type = numbers.Integral if integer else numbers.Real
  if isinstance(value, bool) or not isinstance(value, ok_type) or not value > 0 or (
      not integer and not math.isfinite(value)):
    kind = "a positive integer" if integer else "a positive finite number"
    raise InputError(f"`{name}` must be {kind}; got {value!r}.")


def _normalise_formulas(formulas: Any) -> Formulas:
  if isinstance(formulas, Mapping):
    formulas = tuple(formulas.items())
  named = []
  for entry in formulas:
    if isinstance(entry, str) or len(entry) != 2:
      raise InputError(f"Each entry of `formulas` must be (name, FormulaLoss); got {entry!r}.")
    name, loss = entry
    if isinstance(loss, Mapping):  # read back from config.json
      loss = _losses.FormulaLoss.create(loss.get("formula"), loss.get("params"))
    if not isinstance(loss, _losses.FormulaLoss):
      raise InputError(f"`formulas[{name!r}]` must be a FormulaLoss; got {loss!r}.")
    if not isinstance(name, str) or not name or name in _losses.TOY_LOSSES:
      raise InputError(f"A formula loss needs a name that is not a catalog loss "
                       f"({sorted(_losses.TOY_LOSSES)}); got {name!r}.")
    if name in dict(named):
      raise InputError(f"Formula loss `{name}` is defined twice in `formulas`.")
    named.append((name, _losses.FormulaLoss.create(loss.formula, loss.params)))
  return tuple(named)


def _normalise_losses(losses: Any, formulas: Formulas = ()) -> LossGrid:
  if isinstance(losses, Mapping):
    losses = tuple(losses.items())
  grid = []
  seen = set()
  for entry in losses:
    if isinstance(entry, str) or len(entry) != 2:
      raise InputError(f"Each entry of `losses` must be (name, hyper-parameter values); got {entry!r}.")
    name, values = entry
    if name in seen:
      raise InputError(f"Loss `{name}` is listed twice in `losses`.")
    seen.add(name)
    if name in dict(formulas):
      if tuple(values) != (None,):
        raise InputError(f"Formula loss `{name}` has no swept hyper-parameter (its parameters "
                         f"are fixed in `formulas`): give `(None,)`; got {values!r}.")
      grid.append((name, (None,)))
      continue
    _losses.check_loss_name(name)
    grid.append((name, _losses.check_hypers(name, values)))
  if not grid:
    raise InputError("Empty grid: `losses` is empty.")
  return tuple(grid)


def _normalise_grid_axes(config) -> None:
  object.__setattr__(config, "formulas", _normalise_formulas(config.formulas))
  object.__setattr__(config, "losses", _normalise_losses(config.losses, config.formulas))
  imbalance = tuple(config.imbalance)
  if not imbalance:
    raise InputError("Empty grid: `imbalance` is empty.")
  for ratio in imbalance:
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not (
        math.isfinite(ratio) and ratio > 0):
      raise InputError(
          f"Imbalance ratios (majority:minority, e.g. 100 for 1:100) must be finite and > 0; "
          f"got {ratio!r}.")
  object.__setattr__(config, "imbalance", tuple(float(r) for r in imbalance))
  seeds = tuple(config.seeds)
  if not seeds:
    raise InputError("Empty grid: `seeds` is empty.")
  for seed in seeds:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
      raise InputError(f"Seeds must be integers in [0, 2**32); got {seed!r}.")
  if len(set(seeds)) != len(seeds):
    raise InputError(f"`seeds` has duplicates: {list(seeds)}.")
  object.__setattr__(config, "seeds", tuple(int(s) for s in seeds))
  _check_positive("steps", config.steps, integer=True)
  _check_positive("lr", config.lr)
  _check_positive("chunk_size", config.chunk_size, integer=True)
  _check_positive("batch", config.batch, integer=True)


class _ConfigMixin:
  kind: ClassVar[str]

  def to_dict(self) -> dict[str, Any]:
    """The config as plain JSON data (``kind`` included; ``formulas`` only when it has any, so
    a catalog-only config reads as it did before formula losses existed)."""
    data = {"kind": self.kind, **dataclasses.asdict(self)}
    if not data["formulas"]:
      del data["formulas"]
    return json.loads(json.dumps(data))

  def replace(self, **changes: Any):
    """A copy with some fields changed (validated again)."""
    return dataclasses.replace(self, **changes)

  @property
  def n_cells(self) -> int:
    """Number of trainings in the grid."""
    settings = sum(len(values) for _, values in self.losses)
    return settings * len(self.imbalance) * len(self.seeds)


@dataclasses.dataclass(frozen=True)
class FreeLogitConfig(_ConfigMixin):
  """Free-logit dynamics (paper §2.1 made dynamic).

  ``n_hard`` hard positives start at p_t ≈ ``p_hard``; ``ratio · n_hard`` easy negatives start at
  p_t ≈ ``p_easy`` (logits jittered by ``jitter``, seeded). Each example owns a logit θ_i and all
  share a bias b: z_i = θ_i + b. Gradient descent: θ_i ← θ_i - lr · dL_i/dz_i (each example on its
  own loss) and b ← b - bias_lr · mean_i dL_i/dz_i (the shared parameter on the mean loss, where
  the majority's gradient budget counts). The easy examples are simulated as ``easy_groups``
  groups of ``ratio · n_hard / easy_groups`` identical examples (exact: identical logits stay
  identical), so any ratio has the same array shapes.
  """

  kind: ClassVar[str] = "free_logit"
  name: str = "free_logit"
  losses: LossGrid = (("ce", (None,)), ("focal", (2.0,)), ("maki", (1.0,)), ("qce", (None,)))
  imbalance: tuple[float, ...] = (100.0,)
  seeds: tuple[int, ...] = (0,)
  steps: int = 200
  lr: float = 0.5
  bias_lr: float = 0.5
  n_hard: int = 10
  easy_groups: int = 10
  p_easy: float = 0.9
  p_hard: float = 0.3
  jitter: float = 0.2
  chunk_size: int = 64
  batch: int = 16
  formulas: Formulas = ()

  def __post_init__(self):
    _normalise_grid_axes(self)
    _check_positive("bias_lr", self.bias_lr)
    _check_positive("n_hard", self.n_hard, integer=True)
    _check_positive("easy_groups", self.easy_groups, integer=True)
    for name in ("p_easy", "p_hard"):
      value = getattr(self, name)
      if not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise InputError(f"`{name}` must be in (0, 1); got {value!r}.")
    if not isinstance(self.jitter, numbers.Real) or not (math.isfinite(self.jitter) and self.jitter >= 0):
      raise InputError(f"`jitter` must be a finite number >= 0; got {self.jitter!r}.")


DATASETS = ("gaussian", "xor")
MODELS = ("logreg", "mlp")


@dataclasses.dataclass(frozen=True)
class ClassificationConfig(_ConfigMixin):
  """Imbalanced binary classification on a synthetic 2-D problem.

  ``dataset``: ``"gaussian"`` (two overlapping unit Gaussians whose means are ``separation``
  apart) or ``"xor"`` (four unit Gaussians at (±s/2, ±s/2), the minority on one diagonal: not
  linearly separable). ``model``: ``"logreg"`` (logistic regression) or ``"mlp"`` (one hidden
  ReLU layer of ``hidden`` units, Flax NNX). The training set has ``n_train`` examples of which
  round(n_train / (1 + ratio)) (at least 1) are the minority (label 1); full-batch Adam on the
  mean loss. The test set has ``n_test`` examples of each class, the majority weighted by the
  ratio so that test metrics are those of the imbalanced distribution.
  """

  kind: ClassVar[str] = "classification"
  name: str = "gaussian_logreg"
  dataset: str = "gaussian"
  model: str = "logreg"
  losses: LossGrid = (("ce", (None,)), ("focal", (2.0,)), ("maki", (1.0,)), ("qce", (None,)))
  imbalance: tuple[float, ...] = (10.0, 100.0)
  seeds: tuple[int, ...] = (0,)
  steps: int = 300
  lr: float = 0.02
  hidden: int = 16
  n_train: int = 2048
  n_test: int = 2048
  separation: float = 3.0
  chunk_size: int = 64
  batch: int = 16
  formulas: Formulas = ()

  def __post_init__(self):
    _normalise_grid_axes(self)
    if self.dataset not in DATASETS:
      raise InputError(f"Unknown dataset `{self.dataset}`; expected one of {list(DATASETS)}.")
    if self.model not in MODELS:
      raise InputError(f"Unknown model `{self.model}`; expected one of {list(MODELS)}.")
    _check_positive("hidden", self.hidden, integer=True)
    _check_positive("n_test", self.n_test, integer=True)
    _check_positive("separation", self.separation)
    if isinstance(self.n_train, bool) or not isinstance(self.n_train, numbers.Integral) or self.n_train < 2:
      raise InputError(f"`n_train` must be an integer >= 2; got {self.n_train!r}.")


Config = FreeLogitConfig | ClassificationConfig

_FULL_LOSSES: LossGrid = (
    ("ce", (None,)), ("focal", (0.5, 1.0, 2.0, 5.0)), ("maki", (1.0, 2.0, 4.0)),
    ("qce", (None,)), ("poly1", (1.0,)), ("gce", (0.7,)))
_QUICK_LOSSES: LossGrid = (("ce", (None,)), ("focal", (2.0,)), ("maki", (1.0, 2.0)), ("qce", (None,)))
_FULL = dict(losses=_FULL_LOSSES, imbalance=(1.0, 10.0, 100.0, 1000.0), seeds=tuple(range(5)))
_QUICK = dict(losses=_QUICK_LOSSES, imbalance=(10.0, 100.0), seeds=(0, 1))

#: name -> (full config, quick config)
PRESETS: dict[str, tuple[Config, Config]] = {
    "free_logit": (
        FreeLogitConfig(name="free_logit", steps=300, **_FULL),
        FreeLogitConfig(name="free_logit-quick", steps=100, **_QUICK)),
    "gaussian_logreg": (
        ClassificationConfig(name="gaussian_logreg", dataset="gaussian", model="logreg", **_FULL),
        ClassificationConfig(name="gaussian_logreg-quick", dataset="gaussian", model="logreg",
                             steps=100, n_train=512, n_test=512, **_QUICK)),
    "gaussian_mlp": (
        ClassificationConfig(name="gaussian_mlp", dataset="gaussian", model="mlp", **_FULL),
        ClassificationConfig(name="gaussian_mlp-quick", dataset="gaussian", model="mlp",
                             steps=100, n_train=512, n_test=512, **_QUICK)),
    "xor_mlp": (
        ClassificationConfig(name="xor_mlp", dataset="xor", model="mlp", **_FULL),
        ClassificationConfig(name="xor_mlp-quick", dataset="xor", model="mlp",
                             steps=100, n_train=512, n_test=512, **_QUICK)),
}


def get_preset(name: str, *, quick: bool = False) -> Config:
  """The preset sweep ``name`` (one of `PRESETS`), or its small ``quick`` version."""
  if name not in PRESETS:
    raise InputError(f"Unknown simulation `{name}`; expected one of {sorted(PRESETS)}.")
  return PRESETS[name][1 if quick else 0]


@dataclasses.dataclass(frozen=True)
class ToyConfig:
  """The toy experiment: every preset sweep of one size (`gradeng experiment toy`).

  Attributes:
    sweeps: the sweep configs, run in this order.
  """

  sweeps: tuple[Config, ...]


def get_config(quick: bool = False) -> ToyConfig:
  """Every preset of `PRESETS` (sorted by name), full or ``quick``."""
  return ToyConfig(tuple(get_preset(name, quick=quick) for name in sorted(PRESETS)))


def config_from_dict(data: Mapping[str, Any]) -> Config:
  """Inverse of ``config.to_dict()``."""
  data = dict(data)
  kind = data.pop("kind", None)
  classes = {cls.kind: cls for cls in (FreeLogitConfig, ClassificationConfig)}
  if kind not in classes:
    raise InputError(f"Unknown config kind {kind!r}; expected one of {sorted(classes)}.")
  return classes[kind](**data)


def _loss_item(item: str) -> tuple[str, tuple[float | None, ...]]:
  """``focal:gamma=1|2`` -> ("focal", (1.0, 2.0)): the loss-spec syntax of every command
  (`gradeng.symbolic.parse_loss_spec`, as ``gradeng budget --loss focal:gamma=2``)."""
  name, spec = parse_loss_spec(item)
  param = _losses.hyper_name(name)
  example = f"{name}:{param or 'gamma'}=1|2"
  if param is None:
    if spec:
      raise InputError(f"Loss `{name}` has no hyper-parameter; got {sorted(spec)} in {item!r}.")
    return name, (None,)
  if set(spec) != {param}:
    raise InputError(f"Loss `{name}` sweeps `{param}`: write `{example}` (one or more values "
                     f"separated by `|`); got {item!r}.")
  return name, tuple(float(v) for v in spec[param])


def parse_override(config: Config, assignment: str) -> Config:
  """``config`` with one ``field=value`` override from the command line applied.

  Tuple fields take comma-separated values (``seeds=0,1,2``, ``imbalance=10,100``); ``losses``
  takes loss specifications as everywhere on the command line, several values of the swept
  parameter separated by ``|`` (``losses=ce,focal:gamma=1|2,maki:gamma=1``).
  """
  key, sep, text = assignment.partition("=")
  fields = {f.name: f for f in dataclasses.fields(config)}
  if not sep or key not in fields:
    raise InputError(f"Override must be `field=value` with a field of {sorted(fields)}; got {assignment!r}.")
  items = [t for t in text.split(",") if t.strip()] if text.strip() else []
  current = getattr(config, key)
  try:
    if key == "losses":
      value = [_loss_item(item) for item in items]
    elif key == "imbalance":
      value = tuple(float(t) for t in items)
    elif key == "seeds":
      value = tuple(int(t) for t in items)
    elif isinstance(current, bool):
      value = text.lower() in ("1", "true", "yes")
    elif isinstance(current, int):
      value = int(text)
    elif isinstance(current, float):
      value = float(text)
    else:
      value = text
  except ValueError as error:
    if "could not convert" in str(error) or "invalid literal" in str(error):
      raise InputError(f"Bad value in override {assignment!r}: {error}.") from None
    raise
  return config.replace(**{key: value})


def grid_cells(config: Config) -> list[tuple[str, float | None, float, int]]:
  """The grid in its fixed order: (loss, hyper-parameter, imbalance ratio, seed) per training."""
  return [(loss, hyper, ratio, seed)
          for loss, hypers in config.losses for hyper in hypers
          for ratio in config.imbalance for seed in config.seeds]


def settings(config: Config) -> Sequence[tuple[str, float | None]]:
  """The (loss, hyper-parameter) settings in grid order."""
  return [(loss, hyper) for loss, hypers in config.losses for hyper in hypers]
