"""`gradeng experiment embedding`: open-set retrieval on digits, one table and two figures.

Everything goes under ``out``: ``config.json``, ``runs/<loss>/seed<k>.json`` (metrics of one
training; a loss whose seeds all exist is skipped, so a killed run resumes), ``results.json``
and ``results.md`` (mean ± std over seeds, and the raw-pixel floor), and ``figures/`` (the 2-D
embeddings and the pair-weight curves, each with the data behind it). All writes are atomic.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from gradeng.experiments.common import atomic_write_json, atomic_write_text, claim_run_dir
from gradeng.experiments.embedding._config import ExperimentConfig, get_config

METRICS = ("recall_at_1", "map_at_r", "roc_auc", "tar_at_far")
HEADERS = {"recall_at_1": "Recall@1", "map_at_r": "MAP@R", "roc_auc": "ROC AUC",
           "tar_at_far": "TAR@FAR=1e-2"}


def _run_path(out: Path, loss: str, seed: int) -> Path:
  return out / "runs" / loss.replace("+", "_") / f"seed{seed}.json"


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
    from gradeng.experiments.embedding._figures import embedding_figure, pair_weight_figure

    folder = Path(figures_dir) if figures_dir is not None else out / "figures"
    atomic_write_text(folder / "results.md", (out / "results.md").read_text())
    paths += [folder / "results.md"]
    paths += pair_weight_figure(folder)
    paths += embedding_figure(config, train_x, train_y, folder)
  summary["wall_seconds"] = time.perf_counter() - start
  summary["paths"] = [str(p) for p in paths]
  return summary


def summarize(config: ExperimentConfig, out: Path, losses, raw: dict, test_items: int) -> dict:
  """Reads ``runs/`` and writes ``results.json`` and ``results.md`` (mean ± std over seeds)."""
  rows = []
  for name in losses:
    records = [json.loads(_run_path(out, name, s).read_text()) for s in config.train.seeds]
    row = {"loss": name, "seeds": len(records)}
    for m in METRICS:
      values = np.array([r[m] for r in records], float)
      row[m] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))
                if len(values) > 1 else 0.0, "values": values.tolist()}
    rows.append(row)
  summary = {"config": config.name, "raw_pixels": raw, "losses": rows,
             "test_items": test_items, "note": "mean ± sample std over seeds; cosine similarity"}
  lines = [f"| loss | {' | '.join(HEADERS[m] for m in METRICS)} |",
           "|---|" + "---:|" * len(METRICS),
           "| raw pixels (floor) | " + " | ".join(f"{raw[m]:.3f}" for m in METRICS) + " |"]
  for row in rows:
    lines.append(f"| {row['loss']} | " + " | ".join(
        f"{row[m]['mean']:.3f} ± {row[m]['std']:.3f}" for m in METRICS) + " |")
  summary["table_markdown"] = "\n".join(lines)
  atomic_write_json(out / "results.json", {k: v for k, v in summary.items() if k != "table_markdown"},
                    sort_keys=True)
  header = (f"# Open-set retrieval on digits 6–9 after training on 0–5 ({config.name})\n\n"
            f"{len(config.train.seeds)} seeds, {config.train.steps} steps, embedding size "
            f"{config.train.embedding_dim}; mean ± std over seeds. Generated by `gradeng "
            f"experiment embedding`.\n\n")
  atomic_write_text(out / "results.md", header + summary["table_markdown"] + "\n")
  return summary


def load_config(quick: bool) -> ExperimentConfig:
  return get_config(quick)
