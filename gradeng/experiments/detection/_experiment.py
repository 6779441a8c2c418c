"""The whole experiment: every (loss, seed) run, then the figure, CSV and final-mAP table.

The figure code reads only the saved ``metrics.jsonl`` / ``result.json`` files, so
`summarize` regenerates the outputs without retraining.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gradeng.experiments.common import atomic_write_json, to_jsonable
from gradeng.experiments.detection._config import ExperimentConfig
from gradeng.experiments.detection._report import summarize
from gradeng.experiments.detection._train import prepare_data, run_dir_for, select, train_run
from gradeng.runtime import InputError


def load_config(quick: bool = False, path: str | os.PathLike | None = None, *,
                variant: str = "paper") -> ExperimentConfig:
  """Calls ``get_config(quick)`` of an experiment config file, by default of the packaged
  `gradeng.experiments.detection.configs` (found by import, so a non-editable install works).

  ``variant`` other than ``"paper"`` is passed on as ``get_config(quick, variant=variant)``
  (the packaged configs know ``"engineering"`` and ``"converged"``).
  """
  if path is None:
    from gradeng.experiments.detection import configs as module
    path = Path(module.__file__)
  else:
    path = Path(path)
    if not path.is_file():
      raise InputError(f"experiment config file {str(path)!r} does not exist")
    spec = importlib.util.spec_from_file_location("gradeng_detection_experiment_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  config = module.get_config(quick) if variant == "paper" else module.get_config(quick, variant=variant)
  if not isinstance(config, ExperimentConfig):
    raise InputError(f"{path}: get_config returned {type(config).__name__}, not ExperimentConfig")
  return config


def run_experiment(config: ExperimentConfig, out_dir: str | os.PathLike, *,
                   seeds: Sequence[int] | None = None, losses: Sequence[str] | None = None,
                   figures_dir: str | os.PathLike | None = None,
                   progress: bool = True) -> dict[str, Any]:
  """Trains every (loss, seed) of ``config`` (resuming or reusing runs in ``out_dir``), then
  writes the figure, CSV and table to ``figures_dir`` (default ``out_dir``).

  Args:
    config: e.g. ``load_config(quick=True)``.
    out_dir: where the runs live (``out_dir/runs/<loss>/seed<k>/``).
    seeds: restrict to these seeds (default ``config.seeds``).
    losses: restrict to these loss names (default all of ``config.losses``).
    figures_dir: where ``<figure_stem>.png``, ``.csv`` and ``_table.md`` go.
    progress: show progress bars.

  Returns:
    The summary (also ``out_dir/<figure_stem>_summary.json``, so the paper and engineering
    variants can share ``out_dir`` and its runs): per loss the final mAP per seed, mean and
    spread, the anchor statistics, and the paths written.
  """
  config = select(config, seeds=seeds, losses=losses)
  out_dir = Path(out_dir)
  started = time.perf_counter()
  data = prepare_data(config)
  out_dir.mkdir(parents=True, exist_ok=True)
  atomic_write_json(out_dir / "data.json",
                    {"data": to_jsonable(config.data), "anchor_stats": data.stats}, newline=False)
  for spec in config.losses:
    for seed in config.seeds:
      train_run(config, spec, seed, data, run_dir_for(out_dir, spec, seed), progress=progress)
  summary = summarize(config, out_dir, figures_dir=figures_dir)
  summary["anchor_stats"] = data.stats
  summary["wall_seconds"] = time.perf_counter() - started
  atomic_write_json(summary_path(config, out_dir), summary, newline=False)
  return summary


def summary_path(config: ExperimentConfig, out_dir: str | os.PathLike) -> Path:
  """Where `run_experiment` saves the summary of ``config``."""
  return Path(out_dir) / f"{config.figure_stem}_summary.json"
