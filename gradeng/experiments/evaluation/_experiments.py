"""The experiments `evaluate` trains a user's loss in, each through its own public entry point.

An adapter takes the user's loss (a `Contender`), the baselines, the seeds and the experiment's
config, trains them all on the same data, seeds and budget (resuming finished runs under its
directory), and returns `Samples`: per metric and setting, one value per seed for every loss.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.runtime import InputError

#: the label of the user's loss in every table
YOURS = "yours"


@dataclasses.dataclass(frozen=True)
class Contender:
  """One loss of an evaluation: the user's formula or a catalog baseline.

  Attributes:
    label: its name in tables and figures (``"yours"``, ``"focal"``, ``"maki:gamma=2"``).
    name: a catalog name (``"ce"``, ``"focal"``, ...), or None for the user's formula.
    params: the hyper-parameters, fixed: sorted ``((name, value), ...)``.
    formula: g(p) of the user's loss (None for a baseline).
  """

  label: str
  name: str | None
  params: tuple[tuple[str, float], ...] = ()
  formula: str | None = None


@dataclasses.dataclass(frozen=True)
class Samples:
  """One metric of one setting: a value per seed for every loss.

  Attributes:
    experiment: the experiment (``"toy"``).
    setting: what was trained on, e.g. ``"gaussian_logreg-quick, 1:100"``.
    metric: the metric's name (``"average_precision"``).
    higher_is_better: the metric's direction.
    seeds: the seeds, in the order of the values.
    values: loss label -> ``[seeds]`` values.
  """

  experiment: str
  setting: str
  metric: str
  higher_is_better: bool
  seeds: tuple[int, ...]
  values: Mapping[str, np.ndarray]


Adapter = Callable[..., list[Samples]]

#: metric -> (higher is better, what it is), per toy simulation kind
_TOY_METRICS: dict[str, dict[str, tuple[bool, str]]] = {
    "classification": {
        "average_precision": (True, "average precision of the minority class"),
        "recall": (True, "minority recall at threshold 0.5"),
        "ece": (False, "expected calibration error (10 bins)"),
    },
    "free_logit": {
        "p_hard_final": (True, "final mean p_t of the hard group"),
        "p_easy_final": (True, "final mean p_t of the easy group"),
    },
}


def toy_baselines(baselines: Sequence[Contender]) -> None:
  """Raises `InputError` unless every baseline is a toy catalog loss with at most its swept
  hyper-parameter."""
  from gradeng.experiments import toy

  for baseline in baselines:
    if baseline.name not in toy.TOY_LOSSES:
      raise InputError(f"Baseline `{baseline.label}` is not a loss of the toy experiment; "
                       f"expected one of {sorted(toy.TOY_LOSSES)}.")
    swept = toy.TOY_LOSSES[baseline.name][1]
    extra = sorted({k for k, _ in baseline.params} - {swept})
    if extra:
      raise InputError(f"Baseline `{baseline.label}`: the toy experiment sets only "
                       f"`{swept}` of `{baseline.name}`; got {extra}.")


def _toy_grid(baselines: Sequence[Contender]) -> tuple[tuple, dict[str, tuple[str, float | None]]]:
  """The sweep's ``losses`` grid and label -> (loss name, hyper) for every baseline."""
  import gradeng as ge
  from gradeng.experiments import toy

  grid: dict[str, list] = {}
  where = {}
  for baseline in baselines:
    swept = toy.TOY_LOSSES[baseline.name][1]
    hyper = None
    if swept is not None:
      hyper = float(dict(baseline.params).get(swept, ge.CATALOG[baseline.name].defaults[swept]))
    values = grid.setdefault(baseline.name, [])
    if hyper not in values:
      values.append(hyper)
    where[baseline.label] = (baseline.name, hyper)
  return tuple((name, tuple(values)) for name, values in grid.items()), where


def run_toy(yours: Contender, baselines: Sequence[Contender], *, seeds: Sequence[int],
            quick: bool, config: Any, out_dir: str | os.PathLike,
            progress: bool = False) -> list[Samples]:
  """Trains ``yours`` and the ``baselines`` in every sweep of the toy experiment.

  Each sweep of ``config`` (default: ``toy.get_config(quick)``) is run with its own data, steps
  and sizes, its ``losses`` replaced by the baselines and the user's `FormulaLoss`, and its seeds
  by ``seeds``; runs go to ``out_dir/runs/<sweep name>`` (`toy.run_sweep`: chunks resume).

  Returns:
    `Samples` per sweep, imbalance ratio and metric (see ``_TOY_METRICS``).
  """
  from gradeng.experiments import toy

  config = toy.get_config(quick) if config is None else config
  if not isinstance(config, toy.ToyConfig):
    raise InputError(f"The toy experiment's config must be a `ToyConfig`; got "
                     f"{type(config).__name__}.")
  grid, where = _toy_grid(baselines)
  user = toy.FormulaLoss.create(yours.formula, dict(yours.params))
  samples = []
  for sweep in config.sweeps:
    sweep = sweep.replace(losses=grid + ((YOURS, (None,)),), formulas=((YOURS, user),),
                          seeds=tuple(seeds))
    result = toy.run_sweep(sweep, Path(out_dir) / "runs" / sweep.name, progress=progress)
    arrays = result.arrays
    metrics = {"average_precision": arrays.get("average_precision"),
               "recall": arrays.get("recall"), "ece": arrays.get("ece")}
    if sweep.kind == "free_logit":
      metrics = {"p_hard_final": arrays["p_hard"][:, -1], "p_easy_final": arrays["p_easy"][:, -1]}
    rows = {YOURS: (YOURS, None), **where}
    for ratio in sweep.imbalance:
      for metric, (higher, _) in _TOY_METRICS[sweep.kind].items():
        values = {}
        for label, (loss, hyper) in rows.items():
          mask = (arrays["loss"] == loss) & (arrays["ratio"] == np.float32(ratio))
          mask &= np.isnan(arrays["hyper"]) if hyper is None else (
              arrays["hyper"] == np.float32(hyper))
          values[label] = np.asarray(metrics[metric][mask], np.float64)  # in `seeds` order
        samples.append(Samples("toy", f"{sweep.name}, 1:{ratio:g}", metric, higher,
                               tuple(int(s) for s in seeds), values))
  return samples


#: catalog name -> the detection loss (`DETECTION_LOSSES`) a baseline trains as: the paper's
#: Table 1 rows (CE with OHEM 1:1, focal, Maki, QCE with their learning rates, λ, normalisation)
DETECTION_BASELINES = {"ce": "ce_ohem", "focal": "focal", "maki": "maki", "qce": "qce"}
#: the row the user's loss trains as (sum over anchors / positives, lr 1e-3, λ 0.2)
DETECTION_USER_LIKE = "maki"


def detection_baselines(baselines: Sequence[Contender]) -> None:
  """Raises `InputError` unless every baseline is one of `DETECTION_BASELINES`."""
  for baseline in baselines:
    if baseline.name not in DETECTION_BASELINES:
      raise InputError(f"Baseline `{baseline.label}` is not a loss of the detection experiment; "
                       f"expected one of {sorted(DETECTION_BASELINES)}.")


def _spec_name(label: str) -> str:
  return "".join(c if c.isalnum() else "_" for c in label)


def run_detection(yours: Contender, baselines: Sequence[Contender], *, seeds: Sequence[int],
                  quick: bool, config: Any, out_dir: str | os.PathLike,
                  progress: bool = False) -> list[Samples]:
  """Trains ``yours`` and the ``baselines`` in the detection experiment (SSD-lite on digit
  canvases; default ``detection.get_config(quick)``): each baseline as its Table 1 row
  (`DETECTION_BASELINES`, its parameters replaced by the baseline's), yours as Maki's row
  (`LossSpec.from_formula`). Runs go to ``out_dir/runs/<loss>/seed<k>`` (checkpoints resume).

  Returns:
    One `Samples`: the final mAP@0.5 on the test canvases per seed.
  """
  import gradeng as ge
  from gradeng.experiments import detection

  config = detection.get_config(quick) if config is None else config
  if not isinstance(config, detection.ExperimentConfig):
    raise InputError(f"The detection experiment's config must be an `ExperimentConfig`; got "
                     f"{type(config).__name__}.")
  specs, names = [], {}
  for baseline in baselines:
    spec = detection.DETECTION_LOSSES[DETECTION_BASELINES[baseline.name]]
    if baseline.params:
      params = {**ge.CATALOG[baseline.name].defaults, **spec.params, **dict(baseline.params)}
      spec = dataclasses.replace(spec, name=_spec_name(baseline.label), label=baseline.label,
                                 params=params)
    specs.append(spec)
    names[baseline.label] = spec.name
  user = detection.LossSpec.from_formula(
      YOURS, yours.formula, dict(yours.params),
      like=detection.DETECTION_LOSSES[DETECTION_USER_LIKE])
  names[YOURS] = user.name
  config = dataclasses.replace(config, losses=(user, *specs), seeds=tuple(seeds))
  summary = detection.run(config, out_dir, progress=progress)
  values = {label: np.asarray(summary["losses"][name]["final_map"], np.float64)
            for label, name in names.items()}
  return [Samples("detection", f"{config.name}, {config.train.steps} steps", "final_map", True,
                  tuple(int(s) for s in seeds), values)]


def longtail_baselines(baselines: Sequence[Contender]) -> None:
  """Raises `InputError` unless every baseline is a loss of the long-tail experiment
  (`gradeng.experiments.longtail.LOSSES`), without parameters (it trains them at fixed ones)."""
  from gradeng.experiments import longtail

  for baseline in baselines:
    if baseline.name not in longtail.LOSSES:
      raise InputError(f"Baseline `{baseline.label}` is not a loss of the long-tail experiment; "
                       f"expected one of {list(longtail.LOSSES)}.")
    if baseline.params:
      raise InputError(f"Baseline `{baseline.label}`: the long-tail experiment trains "
                       f"`{baseline.name}` at its fixed hyper-parameters "
                       f"({longtail.LABELS[baseline.name]}); give it without parameters.")


def run_longtail(yours: Contender, baselines: Sequence[Contender], *, seeds: Sequence[int],
                 quick: bool, config: Any, out_dir: str | os.PathLike,
                 progress: bool = False) -> list[Samples]:
  """Trains ``yours`` and the ``baselines`` in the classification part of the long-tail
  experiment (long-tailed digits, balanced test set; default ``longtail.get_config(quick)``,
  its detection part left out): yours as the config's user loss (`LongTailConfig.formulas`),
  every loss with the same seeds, initial weights and batches. Runs go to
  ``out_dir/runs/if<IF>/<loss>.json`` (finished ones are not trained again).

  Returns:
    `Samples` per imbalance factor and top-1 accuracy (overall, many-, medium-, few-shot).
  """
  from gradeng.experiments import longtail

  config = longtail.get_config(quick) if config is None else config
  if not isinstance(config, longtail.LongTailConfig):
    raise InputError(f"The long-tail experiment's config must be a `LongTailConfig`; got "
                     f"{type(config).__name__}.")
  names = {b.label: b.name for b in baselines}
  config = dataclasses.replace(
      config, seeds=tuple(int(s) for s in seeds), detection=None,
      losses=(YOURS, *dict.fromkeys(names.values())),
      formulas=((YOURS, yours.formula, tuple(yours.params)),))
  summary = longtail.run(config, out_dir, progress=progress)
  names = {YOURS: YOURS, **names}
  samples = []
  for imbalance in config.imbalance_factors:
    results = summary["results"][str(imbalance)]
    for metric in longtail.METRICS:
      values = {label: np.asarray(results[name][metric], np.float64)
                for label, name in names.items()}
      samples.append(Samples("longtail", f"{config.name}, IF {imbalance}", f"top1_{metric}",
                             True, tuple(int(s) for s in seeds), values))
  return samples


#: experiment -> (check of the baselines, runner); the experiments `evaluate` supports
ADAPTERS: dict[str, tuple[Callable[[Sequence[Contender]], None], Adapter]] = {
    "toy": (toy_baselines, run_toy),
    "detection": (detection_baselines, run_detection),
    "longtail": (longtail_baselines, run_longtail),
}

#: the experiments whose runs span several processes (`jax.distributed`); `evaluate` refuses the
#: others when more than one process runs, instead of running them once per process
MULTI_PROCESS = frozenset({"toy"})


def extra_baselines(on: Sequence[str]) -> frozenset[str]:
  """Baseline names that are not catalog losses but losses of an experiment of ``on`` (the
  long-tail experiment's re-weighting losses, e.g. ``balanced_softmax``)."""
  if "longtail" not in on:
    return frozenset()
  from gradeng.experiments import longtail

  return frozenset(longtail.LOSSES)


def metric_descriptions() -> dict[str, str]:
  """metric name -> what it measures (every supported experiment)."""
  described = {m: text for metrics in _TOY_METRICS.values() for m, (_, text) in metrics.items()}
  described["final_map"] = "mAP@0.5 on the test canvases after the last step"
  for metric, group in (("overall", "all classes"), ("many", "the 3 most frequent classes"),
                        ("medium", "the 4 middle classes"), ("few", "the 3 rarest classes")):
    described[f"top1_{metric}"] = f"top-1 accuracy on the balanced test set, {group}"
  return described
