"""Report of the ordinal experiment: the figure, CSV, table and results JSON, from the saved runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import (atomic_write_csv, atomic_write_json, atomic_write_text,
                                        save_figure)
from gradeng.experiments.ordinal._config import OrdinalConfig
from gradeng.experiments.ordinal._train import RESULT


def summarize(config: OrdinalConfig, out_dir: str | os.PathLike, *,
              figures_dir: str | os.PathLike | None = None) -> dict[str, Any]:
  """Figure (MAE and exact accuracy per loss, each seed a dot), CSV, Markdown table and results
  JSON from the saved ``result.json`` files."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  out_dir = Path(out_dir)
  figures_dir = out_dir if figures_dir is None else Path(figures_dir)
  results = {}
  for spec in config.losses:
    path = out_dir / "runs" / spec.name / RESULT
    if not path.exists():
      raise ValueError(f"no result for loss {spec.name!r}: {path} is missing")
    results[spec.name] = json.loads(path.read_text())
  keys = ("mae", "accuracy", "within_one", "mae_expected")
  table = {name: {k: [m[k] for m in r["metrics"]] for k in keys} for name, r in results.items()}

  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
  names = [s.name for s in config.losses]
  x = np.arange(len(names))
  for ax, key, title in ((axes[0], "mae", "mean absolute error (counts) ↓"),
                         (axes[1], "accuracy", "exact accuracy ↑")):
    means = [np.mean(table[n][key]) for n in names]
    ax.bar(x, means, color="#9ecae1")
    for i, n in enumerate(names):
      ax.plot(np.full(len(table[n][key]), i), table[n][key], "k.", markersize=5)
    ax.set_xticks(x, [s.label for s in config.losses], rotation=35, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
  fig.suptitle(f"Counting digits (1–9) on 32×32 canvases ({config.name}, {len(config.seeds)} seeds, "
               f"{config.steps} steps)", fontsize=10)
  fig.tight_layout()
  stem = figures_dir / config.figure_stem
  figures_dir.mkdir(parents=True, exist_ok=True)
  save_figure(fig, stem.with_suffix(".png"))
  plt.close(fig)

  atomic_write_csv(stem.with_suffix(".csv"),
                   [[n, seed, *(f"{m[k]:.6f}" for k in keys)]
                    for n in names for seed, m in zip(config.seeds, results[n]["metrics"])],
                   ["loss", "seed", *keys])

  lines = ["| loss | MAE (mean ± std) | exact accuracy | within ±1 | MAE of expected count |",
           "| --- | --- | --- | --- | --- |"]
  for spec in config.losses:
    t = table[spec.name]
    expected = "—" if spec.kind == "regression" else f"{np.mean(t['mae_expected']):.3f}"
    lines.append(f"| {spec.label} | {np.mean(t['mae']):.3f} ± {np.std(t['mae']):.3f} | "
                 f"{np.mean(t['accuracy']):.3f} ± {np.std(t['accuracy']):.3f} | "
                 f"{np.mean(t['within_one']):.3f} | {expected} |")
  markdown = "\n".join(lines) + "\n"
  table_path = figures_dir / f"{config.figure_stem}_table.md"
  atomic_write_text(table_path, markdown)
  summary = {"config": config.name, "seeds": list(config.seeds), "steps": config.steps,
             "losses": {n: {"label": results[n]["label"], **{k: table[n][k] for k in keys},
                            **{f"{k}_mean": float(np.mean(table[n][k])) for k in keys}}
                        for n in names}}
  results_path = figures_dir / f"{config.figure_stem}_results.json"
  atomic_write_json(results_path, summary)
  return {**summary, "table_markdown": markdown,
          "paths": [str(p) for p in (stem.with_suffix(".png"), stem.with_suffix(".csv"),
                                     table_path, results_path)]}
