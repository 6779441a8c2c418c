"""Report of the detection experiment: the figure, CSV and final-mAP table.

The figure shows mAP against the step (mean, min and max over seeds); everything is read from
the saved ``metrics.jsonl`` files only, so it regenerates without retraining.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import atomic_write_csv, atomic_write_text, save_figure
from gradeng.experiments.detection._config import ExperimentConfig
from gradeng.experiments.detection._train import METRICS, run_dir_for
from gradeng.runtime import InputError


def _read_runs(config: ExperimentConfig, out_dir: Path) -> dict[str, list[list[dict]]]:
  runs = {}
  for spec in config.losses:
    runs[spec.name] = []
    for seed in config.seeds:
      path = run_dir_for(out_dir, spec, seed) / METRICS
      if not path.exists():
        raise InputError(f"no metrics for loss {spec.name!r} seed {seed}: {path} is missing")
      runs[spec.name].append([json.loads(line) for line in path.read_text().splitlines() if line])
  return runs


def summarize(config: ExperimentConfig, out_dir: str | os.PathLike, *,
              figures_dir: str | os.PathLike | None = None) -> dict[str, Any]:
  """Figure (mAP vs step, mean ± min/max over seeds), CSV and final-mAP table from saved runs."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  out_dir = Path(out_dir)
  figures_dir = out_dir if figures_dir is None else Path(figures_dir)
  runs = _read_runs(config, out_dir)
  stem = figures_dir / config.figure_stem
  rows = []
  losses: dict[str, Any] = {}
  many = len(config.losses) > 6  # the legend goes beside the axes, colours from a larger palette
  fig, ax = plt.subplots(figsize=(9.6 if many else 6.4, 4.2))
  colors = plt.get_cmap("tab10" if len(config.losses) <= 10 else "tab20").colors
  for index, spec in enumerate(config.losses):
    histories = runs[spec.name]
    steps = sorted(set.intersection(*(set(h["step"] for h in hist) for hist in histories)))
    at = [{h["step"]: h for h in hist} for hist in histories]
    curves = np.array([[run[s]["map"] for s in steps] for run in at])
    confident = np.array([[run[s]["confident_per_image"] for s in steps] for run in at])
    mean = curves.mean(0)
    for k, (s, column) in enumerate(zip(steps, curves.T)):
      rows.append([spec.name, s, float(column.mean()), float(column.min()), float(column.max()),
                   float(column.std()), float(confident[:, k].mean()), len(column)]
                  + [float(v) for v in column])
    line, = ax.plot(steps, mean, marker="o", markersize=3, label=spec.label,
                    color=colors[index % len(colors)])
    if len(histories) > 1:
      ax.fill_between(steps, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2)
    finals = [hist[-1]["map"] for hist in histories]
    losses[spec.name] = {
        "label": spec.label, "final_map": finals, "mean": float(np.mean(finals)),
        "std": float(np.std(finals)), "min": float(np.min(finals)), "max": float(np.max(finals)),
        "steps": int(histories[0][-1]["step"]),
        "confident_per_image": float(np.mean([hist[-1]["confident_per_image"] for hist in histories])),
    }
    for key in ("map_75", "map_50_95"):  # final localisation quality (absent in older runs)
      if all(key in hist[-1] for hist in histories):
        losses[spec.name][f"final_{key}"] = float(np.mean([hist[-1][key] for hist in histories]))
  seeds_note = f"{len(config.seeds)} seed{'s' if len(config.seeds) > 1 else ''}"
  ax.set(xlabel="iteration", ylabel="mAP@0.5 (test canvases)",
         title=f"Detection on handwritten-digit canvases ({config.name}, {seeds_note})")
  ax.set_ylim(bottom=0)
  ax.grid(alpha=0.3)
  if many:
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
  else:
    ax.legend(fontsize=8)
  fig.tight_layout()
  figures_dir.mkdir(parents=True, exist_ok=True)
  save_figure(fig, stem.with_suffix(".png"))
  plt.close(fig)

  atomic_write_csv(stem.with_suffix(".csv"), rows,
                   ["loss", "step", "map_mean", "map_min", "map_max", "map_std",
                    "confident_per_image", "seeds"] + [f"map_seed{s}" for s in config.seeds])

  table = ["| loss | final mAP@0.5 (mean) | min | max | seeds | detections ≥ 0.5 per image |",
           "| --- | --- | --- | --- | --- | --- |"]
  # The IoU variant's question is localisation: its table adds mAP@0.75 and mAP@[.5:.95]
  # (the other variants' tables keep their committed columns).
  localisation = any(spec.box_loss != "smooth_l1" for spec in config.losses)
  if localisation:
    table = [table[0] + " mAP@0.75 | mAP@[.5:.95] |", table[1] + " --- | --- |"]
  for spec in config.losses:
    entry = losses[spec.name]
    row = (f"| {spec.label} | {entry['mean']:.3f} | {entry['min']:.3f} | {entry['max']:.3f} "
           f"| {len(entry['final_map'])} | {entry['confident_per_image']:.2f} |")
    if localisation:
      row += "".join(f" {entry[k]:.3f} |" if k in entry else " — |"
                     for k in ("final_map_75", "final_map_50_95"))
    table.append(row)
  table_path = figures_dir / f"{config.figure_stem}_table.md"
  atomic_write_text(table_path, "\n".join(table) + "\n")
  return {"config": config.name, "seeds": list(config.seeds), "losses": losses,
          "figure": str(stem.with_suffix(".png")), "csv": str(stem.with_suffix(".csv")),
          "table": str(table_path), "table_markdown": "\n".join(table)}
