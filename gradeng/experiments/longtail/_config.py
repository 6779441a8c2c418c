"""Configuration of the long-tail experiment: long-tailed scikit-learn digits, balanced test set.

Quick (9 losses × imbalance 10 and 100 × 3 seeds, 1000 steps; the `gradeng reproduce` step)::

    gradeng experiment longtail --quick --out /tmp/longtail_quick

Full (10 seeds, 5000 steps of batch 128, a wider MLP; background, resumable)::

    nice -n 19 gradeng experiment longtail --out runs/longtail

Both then run the detection part (`gradeng.experiments.longtail.detection`, its configuration of
the same name) into ``out_dir/detection``; ``detection=None`` skips it.

The training set keeps n_j = n_max·IF^{-j/9} examples of digit j (an exponential profile, IF the
imbalance factor); the test set has the same number of examples of every digit. Classes are
grouped by training frequency into many-shot (the 3 most frequent), medium-shot (the next 4) and
few-shot (the 3 rarest).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from gradeng.runtime import InputError

#: the compared losses, in table order
LOSSES = ("ce", "focal", "maki", "cb_focal", "balanced_softmax", "ldam_drw", "eqlv2", "seesaw", "efl")

#: loss name -> its label in tables and figures (with the hyper-parameters used)
LABELS = {
    "ce": "CE", "focal": "focal γ=2", "maki": "Maki γ=1",
    "cb_focal": "class-balanced focal γ=2", "balanced_softmax": "balanced softmax",
    "ldam_drw": "LDAM-DRW", "eqlv2": "EQL v2", "seesaw": "Seesaw", "efl": "EFL",
}


def _positive_int(name: str, value: Any) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise InputError(f"`{name}` must be a positive integer, got {value!r}")


def _check_formulas(formulas: Any) -> None:
  """Raises `InputError` unless ``formulas`` is ``((name, g(p), ((param, value), ...)), ...)``
  with new, distinct names."""
  if not isinstance(formulas, tuple):
    raise InputError(f"`formulas` must be a tuple of (name, formula, params); got {formulas!r}")
  seen = set()
  for entry in formulas:
    if not (isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[0], str)
            and isinstance(entry[1], str) and entry[1].strip() and isinstance(entry[2], tuple)
            and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                    and isinstance(p[1], (int, float)) and not isinstance(p[1], bool)
                    for p in entry[2])):
      raise InputError(f"`formulas` entries must be (name, formula, ((param, value), ...)); got "
                       f"{entry!r}")
    name = entry[0]
    if not name.replace("_", "").isalnum() or name in LOSSES or name in seen:
      raise InputError(f"`formulas`: a name must be letters, digits and '_', new (not one of "
                       f"{LOSSES}) and distinct; got {name!r}")
    seen.add(name)


@dataclasses.dataclass(frozen=True)
class LongTailConfig:
  """The whole experiment.

  Attributes:
    name: ``"quick"``, ``"full"`` or any label (the figure stem is ``longtail_<name>``, or
      ``longtail`` for ``"full"``).
    imbalance_factors: IF = n_max / n_min of the training profiles (each ≥ 1).
    seeds: initialisation and minibatch seeds (vmapped; the same seed gives every loss the same
      initial weights and batches, so differences between losses are paired by seed).
    steps: Adam steps per run.
    batch: minibatch size (sampled uniformly with replacement from the long-tailed training set).
    learning_rate: Adam learning rate.
    hidden: hidden units of the MLP.
    test_per_class: held-out examples of every digit (the balanced test set).
    augment: shift every training image by a random −1, 0 or +1 pixel in each direction.
    losses: names from `LOSSES`.
    drw_fraction: LDAM-DRW switches re-weighting on after this fraction of the steps.
    detection: the detection part's config (`gradeng.experiments.longtail.detection`); ``None``
      skips it.
    formulas: user losses given by their scale coefficient, ``((name, g(p), ((param, value),
      ...)), ...)``: each ``name`` may then appear in ``losses`` and trains
      ``gradeng.loss_from_coefficient(gradeng.coefficient(g), head="softmax", **params)``
      averaged over the batch (``gradeng evaluate --on longtail`` uses it). Kept in the config
      JSON only when non-empty, so the run directories of the fixed losses stay valid.
  """

  name: str = "quick"
  imbalance_factors: tuple[int, ...] = (10, 100)
  seeds: tuple[int, ...] = (0, 1, 2)
  steps: int = 1000
  batch: int = 64
  learning_rate: float = 3e-3
  hidden: int = 64
  test_per_class: int = 50
  augment: bool = True
  losses: tuple[str, ...] = LOSSES
  drw_fraction: float = 0.8
  detection: Any = dataclasses.field(default=None, metadata={"omit_if_default": True})
  formulas: tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...] = dataclasses.field(
      default=(), metadata={"omit_if_default": True})

  def __post_init__(self):
    if not self.name.replace("_", "").isalnum():
      raise InputError(f"`name` must be letters, digits and '_', got {self.name!r}")
    if not self.imbalance_factors or any(
        isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in self.imbalance_factors):
      raise InputError(f"`imbalance_factors` must be integers ≥ 1, got {self.imbalance_factors}")
    if len(set(self.imbalance_factors)) != len(self.imbalance_factors):
      raise InputError(f"`imbalance_factors` must be distinct, got {self.imbalance_factors}")
    if (not self.seeds or len(set(self.seeds)) != len(self.seeds)
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds)):
      raise InputError(f"`seeds` must be distinct non-negative integers, got {self.seeds}")
    for field in ("steps", "batch", "hidden", "test_per_class"):
      _positive_int(field, getattr(self, field))
    if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
      raise InputError(f"`learning_rate` must be a finite number > 0, got {self.learning_rate!r}")
    if not 0.0 <= self.drw_fraction <= 1.0:
      raise InputError(f"`drw_fraction` must be in [0, 1], got {self.drw_fraction!r}")
    _check_formulas(self.formulas)
    names = LOSSES + tuple(entry[0] for entry in self.formulas)
    unknown = [n for n in self.losses if n not in names]
    if not self.losses or unknown or len(set(self.losses)) != len(self.losses):
      raise InputError(f"`losses` must be distinct names from {names}, got {self.losses}")

  @property
  def figure_stem(self) -> str:
    """File stem of the figure, CSV, tables and results JSON."""
    return "longtail" if self.name == "full" else f"longtail_{self.name}"

  @property
  def drw_step(self) -> int:
    """The step at which LDAM-DRW turns its class re-weighting on."""
    return int(self.drw_fraction * self.steps)


def with_seeds(config: LongTailConfig, seeds) -> LongTailConfig:
  """``config`` with ``seeds`` for the classification part and, when it runs, the detection part.

  Example:
    >>> from gradeng.experiments.longtail import get_config, with_seeds
    >>> with_seeds(get_config(True), [4, 5, 6]).seeds
    (4, 5, 6)
  """
  seeds = tuple(int(s) for s in seeds)
  detection = config.detection
  if detection is not None:
    detection = dataclasses.replace(detection, seeds=seeds)
  return dataclasses.replace(config, seeds=seeds, detection=detection)


def get_config(quick: bool = True) -> LongTailConfig:
  """The quick configuration (classification ≤ 75 s on 2 idle CPU cores) or the full one (10
  seeds, 5000 steps), each with the detection part's configuration of the same name.

  Example:
    >>> from gradeng.experiments.longtail import get_config
    >>> get_config(True).seeds, get_config(False).steps, get_config(True).detection.name
    ((0, 1, 2), 5000, 'quick')
  """
  from gradeng.experiments.longtail.detection import get_config as detection_config

  if quick:
    return LongTailConfig(detection=detection_config(True))
  return LongTailConfig(name="full", seeds=tuple(range(10)), steps=5000, batch=128, hidden=128,
                        detection=detection_config(False))
