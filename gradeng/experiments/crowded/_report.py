"""Report of the crowded experiment: figure, CSV, Markdown table and results JSON.

The figure shows recall and mAP@0.5 against crowding; everything is read from the saved
``levels.json`` and ``data.json`` only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import (atomic_write_csv, atomic_write_json, atomic_write_text,
                                        save_figure)
from gradeng.experiments.crowded._config import CrowdedConfig
from gradeng.experiments.crowded._train import LEVELS, run_dir_for
from gradeng.runtime import InputError


def _labels(config: CrowdedConfig) -> dict[str, str]:
  labels = {"ssd_nms": f"SSD-lite + NMS per class ({config.ssd_loss.label})",
            "ssd_nms_agnostic": "SSD-lite + class-agnostic NMS"}
  labels.update({s.name: s.label for s in config.set_losses})
  return labels


def summarize(config: CrowdedConfig, out_dir: str | os.PathLike, *,
              figures_dir: str | os.PathLike | None = None,
              methods: Sequence[str] | None = None) -> dict[str, Any]:
  """Figure (recall and mAP@0.5 vs number of objects and vs neighbour IoU), CSV, Markdown
  table and results JSON, from the saved ``levels.json`` and ``data.json`` only."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  out_dir = Path(out_dir)
  figures_dir = out_dir if figures_dir is None else Path(figures_dir)
  names = [config.ssd_loss.name] + [s.name for s in config.set_losses]
  names = [n for n in names if methods is None or n in methods]
  data_info = json.loads((out_dir / "data.json").read_text())
  ceiling = {(d["count"], d["iou"]): d for d in data_info["levels"]}
  curves: dict[str, dict[tuple[int, float], list[dict]]] = {}
  for name in names:
    for seed in config.seeds:
      path = run_dir_for(out_dir, name, seed) / LEVELS
      if not path.exists():
        raise InputError(f"no results for {name!r} seed {seed}: {path} is missing")
      for entry in json.loads(path.read_text())["levels"]:
        for key, metrics in entry.items():
          if isinstance(metrics, dict):
            curves.setdefault(key, {}).setdefault((entry["count"], entry["iou"]), []).append(metrics)
  labels = _labels(config)
  data = config.data
  sweeps = {"count": [(n, data.fixed_iou) for n in data.counts],
            "iou": [(data.fixed_count, t) for t in data.ious]}
  rows, results = [], {}
  for key, by_level in curves.items():
    results[key] = {"label": labels[key], "levels": []}
    for sweep, levels in sweeps.items():
      for level in levels:
        runs = by_level[level]
        entry = {"sweep": sweep, "count": level[0], "iou": level[1], "seeds": len(runs)}
        for metric in ("map50", "recall", "max_recall", "detections_per_image"):
          values = [r[metric] for r in runs]
          entry[metric] = float(np.mean(values))
          entry[f"{metric}_std"] = float(np.std(values))
        entry["nms_ceiling_per_class"] = ceiling[level]["nms_ceiling"]["per_class"]
        entry["nms_ceiling_agnostic"] = ceiling[level]["nms_ceiling"]["agnostic"]
        entry["measured_neighbour_iou"] = ceiling[level]["measured_neighbour_iou"]
        results[key]["levels"].append(entry)
        rows.append([key, sweep, level[0], level[1]] + [
            f"{entry[m]:.4f}" for m in ("map50", "map50_std", "recall", "recall_std", "max_recall",
                                        "detections_per_image", "nms_ceiling_per_class",
                                        "nms_ceiling_agnostic", "measured_neighbour_iou")]
                    + [entry["seeds"]])
  stem = figures_dir / config.figure_stem
  figures_dir.mkdir(parents=True, exist_ok=True)
  atomic_write_csv(stem.with_suffix(".csv"), rows,
                   ["method", "sweep", "objects", "neighbour_iou", "map50", "map50_std", "recall",
                    "recall_std", "max_recall", "detections_per_image", "nms_ceiling_per_class",
                    "nms_ceiling_agnostic", "measured_neighbour_iou", "seeds"])

  fig, axes = plt.subplots(2, 2, figsize=(9.6, 6.4), sharey="row")
  colors = plt.get_cmap("tab10").colors
  for column, (sweep, levels) in enumerate(sweeps.items()):
    xs = [lvl[0] if sweep == "count" else lvl[1] for lvl in levels]
    for row, metric in enumerate(("recall", "map50")):
      ax = axes[row, column]
      for index, key in enumerate(curves):
        entries = [e for e in results[key]["levels"] if e["sweep"] == sweep]
        mean = np.array([e[metric] for e in entries])
        std = np.array([e[f"{metric}_std"] for e in entries])
        ax.plot(xs, mean, marker="o", markersize=3, color=colors[index], label=labels[key])
        if len(config.seeds) > 1:
          ax.fill_between(xs, mean - std, mean + std, color=colors[index], alpha=0.2)
      if metric == "recall":
        ax.plot(xs, [ceiling[lvl]["nms_ceiling"]["agnostic"] for lvl in levels], ls=":",
                color="gray", label=f"NMS ceiling (class-agnostic, IoU {config.ssd_train.nms_iou})")
      ax.set_ylim(0, 1.02)
      ax.grid(alpha=0.3)
      ax.set_xlabel(f"objects per canvas (neighbour IoU {data.fixed_iou})" if sweep == "count"
                    else f"neighbour IoU ({data.fixed_count} objects)")
      if column == 0:
        ax.set_ylabel(f"recall (score ≥ {config.score_threshold})" if metric == "recall" else "mAP@0.5")
  # One legend below the panels, outside every axes, so it covers no data.
  handles, names = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, names, fontsize=7, loc="lower center", ncol=min(len(names), 3),
             frameon=False)
  seeds = f"{len(config.seeds)} seed{'s' if len(config.seeds) > 1 else ''}"
  fig.suptitle(f"Crowded digit canvases ({config.name}, {seeds}, {config.steps} steps)")
  fig.tight_layout(rect=(0.0, 0.03 * (1 + (len(names) - 1) // 3), 1.0, 1.0))
  save_figure(fig, stem.with_suffix(".png"))
  plt.close(fig)

  table = []
  for sweep, levels in sweeps.items():
    head = "objects" if sweep == "count" else "neighbour IoU"
    fixed = (f"neighbour IoU {data.fixed_iou}" if sweep == "count" else f"{data.fixed_count} objects")
    table += [f"Recall (score ≥ {config.score_threshold}) / mAP@0.5 vs {head} ({fixed}):", "",
              f"| {head} | " + " | ".join(labels[k] for k in curves) + " | NMS ceiling (agnostic) |",
              "| --- |" + " --- |" * (len(curves) + 1)]
    for lvl in levels:
      cells = []
      for key in curves:
        e = next(e for e in results[key]["levels"] if e["sweep"] == sweep
                 and (e["count"], e["iou"]) == lvl)
        cells.append(f"{e['recall']:.3f} / {e['map50']:.3f}")
      x = lvl[0] if sweep == "count" else f"{lvl[1]:.1f} ({ceiling[lvl]['measured_neighbour_iou']:.2f})"
      table.append(f"| {x} | " + " | ".join(cells)
                   + f" | {ceiling[lvl]['nms_ceiling']['agnostic']:.3f} |")
    table.append("")
  table_path = figures_dir / f"{config.figure_stem}_table.md"
  atomic_write_text(table_path, "\n".join(table))
  results_path = figures_dir / f"{config.figure_stem}_results.json"
  summary = {"config": config.name, "seeds": list(config.seeds), "steps": config.steps,
             "methods": results, "table_markdown": "\n".join(table)}
  atomic_write_json(results_path, summary, newline=False)
  summary["paths"] = [str(stem.with_suffix(".png")), str(stem.with_suffix(".csv")),
                      str(table_path), str(results_path)]
  return summary
