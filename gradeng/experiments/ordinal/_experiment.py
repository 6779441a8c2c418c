"""The ordinal experiment: train every objective on the digit-count task, evaluate, summarise.

Each loss is one run directory holding all seeds: the seeds' parameters are stacked and trained
together under `jax.vmap`, ``chunk`` steps per compiled `jax.lax.scan`; after each chunk the
stacked state is checkpointed atomically, so a killed run resumes where it stopped and gives
bit-identical results. The figure code reads only the saved ``result.json`` files.

Metrics on the test canvases, per seed: exact accuracy (predicted count = true count), mean
absolute error of the prediction in counts (argmax of the softmax; the rounded output for L2
regression), and for softmax heads the MAE of the expected count ``Σ_k k p_k``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.ordinal._config import OrdinalConfig
from gradeng.experiments.ordinal._data import prepare_data
from gradeng.experiments.ordinal._report import summarize
from gradeng.experiments.ordinal._train import train_loss


def run_experiment(config: OrdinalConfig, out_dir: str | os.PathLike, *,
                   losses: Sequence[str] | None = None, figures_dir: str | os.PathLike | None = None,
                   progress: bool = True) -> dict[str, Any]:
  """Trains every loss of ``config`` (resuming runs in ``out_dir/runs/<loss>``), then writes the
  figure, CSV, table and ``<figure_stem>_results.json`` to ``figures_dir`` (default ``out_dir``)."""
  if losses is not None:
    config = dataclasses.replace(config, losses=tuple(config.loss(n) for n in losses))
  out_dir = Path(out_dir)
  started = time.perf_counter()
  data = prepare_data(config)
  counts = np.bincount(data.train_labels, minlength=config.num_classes)
  for spec in config.losses:
    train_loss(config, spec, data, out_dir / "runs" / spec.name, progress=progress)
  summary = summarize(config, out_dir, figures_dir=figures_dir)
  summary["train_count_histogram"] = counts.tolist()
  summary["wall_seconds"] = time.perf_counter() - started
  return summary
