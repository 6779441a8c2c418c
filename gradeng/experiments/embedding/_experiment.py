"""`gradeng experiment embedding`: open-set retrieval on digits, one table and two figures.

Everything goes under ``out``: ``config.json``, ``runs/<loss>/seed<k>.json`` (metrics of one
training; a loss whose seeds all exist is skipped, so a killed run resumes), ``results.json``
and ``results.md`` (mean ± std over seeds, and the raw-pixel floor), and ``figures/`` (the 2-D
embeddings and the pair-weight curves, each with the data behind it). All writes are atomic.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from gradeng.experiments.common import atomic_write_json, atomic_write_text, claim_run_dir
from gradeng.experiments.embedding._config import ExperimentConfig, get_config
from gradeng.experiments.embedding._report import METRICS, _run_path, summarize


def run_experiment(config: ExperimentConfig, out, *, losses=None, progress: bool = True,
                   figures: bool = True, figures_dir=None) -> dict:
  """Trains every loss of ``config`` over its seeds (resuming finished ones), writes the table.

  ``figures_dir`` (default ``out/figures``) receives the two figures, their data and a copy of
  ``results.md``.

  Returns:
    The summary dict written to ``results.json`` (plus ``"paths"``, the files written).
  """
  from tqdm.auto import tqdm

  from gradeng.experiments.embedding._data import make_split
  from gradeng.experiments.embedding._metrics import retrieval_metrics
  from gradeng.experiments.embedding._train import LOSSES, embed_all, train

  out = Path(out)
  losses = tuple(losses or config.losses)
  unknown = [name for name in losses if name not in LOSSES]
  if unknown:
    raise ValueError(f"unknown loss(es) {unknown}; expected some of {sorted(LOSSES)}")
  claim_run_dir(out, dataclasses.asdict(config))  # another config's seeds would mix into the table
  start = time.perf_counter()
  train_x, train_y = make_split(config.data, "train")
  test_x, test_y = make_split(config.data, "test")
  seeds = config.train.seeds
  bar = tqdm(losses, desc="embedding", unit="loss", file=sys.stderr, disable=not progress,
             dynamic_ncols=True)
  for name in bar:
    bar.set_postfix_str(name)
    if all(_run_path(out, name, s).exists() for s in seeds):
      continue
    embed, params, values = train(name, train_x, train_y, config.train, seeds)
    embeddings = embed_all(embed, params, test_x)
    for k, seed in enumerate(seeds):
      record = {"loss": name, "seed": int(seed), "steps": config.train.steps,
                "final_train_loss": float(values[k, -1]),
                "finite": bool(np.all(np.isfinite(values[k])) and np.all(np.isfinite(embeddings[k])))}
      record.update(retrieval_metrics(embeddings[k], test_y) if record["finite"]
                    else {m: float("nan") for m in METRICS})
      atomic_write_json(_run_path(out, name, seed), record, sort_keys=True)
  bar.close()
  summary = summarize(config, out, losses, retrieval_metrics(test_x, test_y), len(test_y))
  paths = [out / "config.json", out / "results.json", out / "results.md"]
  if figures:
    from gradeng.experiments.embedding._report import embedding_figure, pair_weight_figure

    folder = Path(figures_dir) if figures_dir is not None else out / "figures"
    atomic_write_text(folder / "results.md", (out / "results.md").read_text())
    paths += [folder / "results.md"]
    paths += pair_weight_figure(folder)
    paths += embedding_figure(config, train_x, train_y, folder)
  summary["wall_seconds"] = time.perf_counter() - start
  summary["paths"] = [str(p) for p in paths]
  return summary


def load_config(quick: bool) -> ExperimentConfig:
  return get_config(quick)
