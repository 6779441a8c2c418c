"""AP by frequency group (AP_r, AP_c, AP_f, mAP@0.5), the seed table and the figure.

Everything here reads the saved per-seed results only, so the table and the figure regenerate
without training.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import atomic_write_csv, atomic_write_text, save_figure

GROUPS = ("rare", "common", "frequent")
#: the table's columns: AP over each group's classes and mAP over all ten.
METRICS = ("ap_r", "ap_c", "ap_f", "map")
_LABELS = {"ap_r": "AP_r", "ap_c": "AP_c", "ap_f": "AP_f", "map": "mAP@0.5"}


def group_ap(ap: Sequence[float | None], groups: Mapping[str, Sequence[int]]) -> dict[str, float]:
  """AP_r, AP_c, AP_f (the mean AP over each group's classes) and mAP (over all classes).

  .. math::
     \\mathrm{AP}_g = \\frac{1}{|g|} \\sum_{c \\in g} \\mathrm{AP}_c, \\qquad
     \\mathrm{mAP} = \\frac{1}{C} \\sum_c \\mathrm{AP}_c

  as LVIS reports them. A class without test objects (AP ``None``/NaN) is left out of its
  means (a group without any measured class gives NaN).

  Args:
    ap: per class, its AP@0.5 (``None`` or NaN where unmeasured).
    groups: ``{"rare": classes, "common": classes, "frequent": classes}``.

  Returns:
    ``{"ap_r", "ap_c", "ap_f", "map"}``.

  Example:
    >>> from gradeng.experiments.longtail.detection import group_ap
    >>> group_ap([1.0, 0.5, 0.0, None], {"rare": [0], "common": [1, 3], "frequent": [2]})
    {'ap_r': 1.0, 'ap_c': 0.5, 'ap_f': 0.0, 'map': 0.5}
  """
  values = np.array([np.nan if a is None else float(a) for a in ap], np.float64)

  def mean(classes):
    chosen = values[list(classes)]
    chosen = chosen[~np.isnan(chosen)]
    return float(np.mean(chosen)) if chosen.size else float("nan")

  return {"ap_r": mean(groups["rare"]), "ap_c": mean(groups["common"]),
          "ap_f": mean(groups["frequent"]), "map": mean(range(len(values)))}


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (ddof = 1; NaN for one value)."""
  x = np.asarray(values, np.float64)
  return float(np.mean(x)), float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def summarize_results(results: Mapping[str, Sequence[dict[str, Any]]],
                      groups: Mapping[str, Sequence[int]]) -> dict[str, dict[str, Any]]:
  """Per loss: each metric's per-seed values and their mean and sample sd."""
  out = {}
  for name, records in results.items():
    per_seed = [group_ap(r["ap"], groups) for r in records]
    entry: dict[str, Any] = {"label": records[0]["label"], "seeds": [r["seed"] for r in records]}
    for metric in METRICS:
      values = [p[metric] for p in per_seed]
      mean, sd = mean_sd(values)
      entry[metric] = {"values": values, "mean": mean, "sd": sd}
    out[name] = entry
  return out


def table(summary: Mapping[str, dict[str, Any]]) -> str:
  """A Markdown table: per loss, mean ± sample sd over seeds of AP_r, AP_c, AP_f and mAP."""

  def cell(m):
    return f"{m['mean']:.3f} ± {m['sd']:.3f}" if not math.isnan(m["sd"]) else f"{m['mean']:.3f}"

  seeds = len(next(iter(summary.values()))["seeds"])
  lines = ["| loss | AP_r | AP_c | AP_f | mAP@0.5 |", "|---|---|---|---|---|"]
  for entry in summary.values():
    lines.append(f"| {entry['label']} | " + " | ".join(cell(entry[m]) for m in METRICS) + " |")
  return "\n".join(lines) + f"\n\nAP@0.5 (VOC all-point), mean ± sample sd over {seeds} seeds.\n"


def write_report(summary: Mapping[str, dict[str, Any]], out_dir: str | os.PathLike,
                 title: str) -> dict[str, str]:
  """Writes ``table.md``, ``results.csv`` (one row per loss and seed) and ``ap_groups.png``
  under ``out_dir``; returns their paths."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  out_dir = Path(out_dir)
  paths = {"table": out_dir / "table.md", "csv": out_dir / "results.csv",
           "figure": out_dir / "ap_groups.png"}
  atomic_write_text(paths["table"], f"# {title}\n\n" + table(summary))
  rows = [[name, seed, *(f"{entry[m]['values'][i]:.6f}" for m in METRICS)]
          for name, entry in summary.items() for i, seed in enumerate(entry["seeds"])]
  atomic_write_csv(paths["csv"], rows, header=["loss", "seed", *METRICS])
  figure, axis = plt.subplots(figsize=(8, 3.6))
  names = list(summary)
  width = 0.8 / len(METRICS)
  for k, metric in enumerate(METRICS):
    x = np.arange(len(names)) + (k - (len(METRICS) - 1) / 2) * width
    means = [summary[n][metric]["mean"] for n in names]
    sds = [np.nan_to_num(summary[n][metric]["sd"]) for n in names]
    axis.bar(x, means, width, yerr=sds, capsize=2, label=_LABELS[metric])
  axis.set_xticks(np.arange(len(names)), names)
  axis.set_ylabel("AP@0.5 (mean ± sd over seeds)")
  axis.set_title(title, fontsize=9)
  axis.legend(fontsize=7, ncol=4)
  figure.tight_layout()
  save_figure(figure, paths["figure"])
  plt.close(figure)
  return {k: os.fspath(v) for k, v in paths.items()}
