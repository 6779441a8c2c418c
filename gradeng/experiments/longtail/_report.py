"""Report of the long-tail experiment: top-1 accuracy overall and on many/medium/few-shot classes,
read back from the saved per-(imbalance, loss) records: CSV, Markdown tables (mean ± sample sd
over seeds), the differences that exceed the seed spread, results JSON and a figure."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import (atomic_write_csv, atomic_write_json, atomic_write_text,
                                        save_figure)
from gradeng.experiments.longtail._config import LABELS, LongTailConfig

#: class groups by training frequency (digit 0 is the most frequent, 9 the rarest)
GROUPS = {"many": (0, 1, 2), "medium": (3, 4, 5, 6), "few": (7, 8, 9)}

#: the reported accuracies, in table order
METRICS = ("overall", "many", "medium", "few")


def accuracies(predictions: np.ndarray, labels: np.ndarray) -> dict[str, list[float]]:
  """Top-1 accuracy per seed, overall and on each group of `GROUPS`.

  Args:
    predictions: predicted classes ``[S, N]`` (one row per seed).
    labels: true classes ``[N]``.

  Returns:
    ``{"overall" | "many" | "medium" | "few": [accuracy of seed 1, …]}``.
  """
  predictions, labels = np.asarray(predictions), np.asarray(labels)
  correct = predictions == labels[None, :]
  out = {"overall": correct.mean(1)}
  for group, classes in GROUPS.items():
    out[group] = correct[:, np.isin(labels, classes)].mean(1)
  return {k: [float(v) for v in values] for k, values in out.items()}


def mean_sd(values) -> tuple[float, float]:
  """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
  values = np.asarray(values, np.float64)
  return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def apart(a, b) -> bool:
  """Two samples' means further apart than their two sample sds together (the seed spread)."""
  (mean_a, sd_a), (mean_b, sd_b) = mean_sd(a), mean_sd(b)
  return abs(mean_a - mean_b) > sd_a + sd_b


def record_path(out_dir: str | os.PathLike, imbalance: int, loss: str) -> Path:
  """Where the record of one (imbalance factor, loss) run is saved."""
  return Path(out_dir) / "runs" / f"if{imbalance}" / f"{loss}.json"


def differences(results: dict[str, dict[str, dict[str, list[float]]]]) -> list[dict[str, Any]]:
  """Every pair of losses whose means differ by more than the seed spread, per imbalance factor
  and metric: ``a`` ahead of ``b``, with the paired (same seed) difference's mean and sample sd."""
  rows = []
  for imbalance, by_loss in results.items():
    for metric in METRICS:
      for a, b in itertools.combinations(by_loss, 2):
        x, y = by_loss[a][metric], by_loss[b][metric]
        if not apart(x, y):
          continue
        if np.mean(y) > np.mean(x):
          a, b, x, y = b, a, y, x
        delta = mean_sd(np.subtract(x, y))
        rows.append({"imbalance": int(imbalance), "metric": metric, "ahead": a, "behind": b,
                     "delta_mean": delta[0], "delta_sd": delta[1]})
  return rows


def _table(config: LongTailConfig, results) -> str:
  lines = []
  for imbalance in config.imbalance_factors:
    by_loss = results[str(imbalance)]
    lines += [f"| loss (IF {imbalance}) | overall | many | medium | few |",
              "|---|---:|---:|---:|---:|"]
    for name, acc in by_loss.items():
      cells = " | ".join("{:.3f} ± {:.3f}".format(*mean_sd(acc[m])) for m in METRICS)
      lines.append(f"| {LABELS.get(name, name)} | {cells} |")
    lines.append("")
  return "\n".join(lines)


def _differences_markdown(config: LongTailConfig, rows) -> str:
  lines = [f"# Differences beyond the seed spread ({len(config.seeds)} seeds)", "",
           "A pair is listed when its means differ by more than the two sample sds together; Δ is",
           "the paired (same seed: same initial weights and batches) difference, mean ± sample sd.",
           ""]
  for imbalance in config.imbalance_factors:
    for metric in METRICS:
      pairs = [r for r in rows if r["imbalance"] == imbalance and r["metric"] == metric]
      lines += [f"## IF {imbalance}, {metric}", ""]
      if not pairs:
        lines += ["No pair of losses differs beyond the spread.", ""]
        continue
      lines += ["| ahead | behind | Δ accuracy |", "|---|---|---:|"]
      lines += [f"| {LABELS.get(r['ahead'], r['ahead'])} | "
                f"{LABELS.get(r['behind'], r['behind'])} | "
                f"{r['delta_mean']:+.3f} ± {r['delta_sd']:.3f} |" for r in pairs]
      lines.append("")
  return "\n".join(lines)


def _figure(config: LongTailConfig, results, path: Path) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  colors = {"overall": "#636363", "many": "#3182bd", "medium": "#9ecae1", "few": "#e6550d"}
  rows = len(config.imbalance_factors)
  fig, axes = plt.subplots(rows, 1, figsize=(11, 3.3 * rows), squeeze=False, sharex=True)
  width = 0.2
  for ax, imbalance in zip(axes[:, 0], config.imbalance_factors):
    by_loss = results[str(imbalance)]
    x = np.arange(len(by_loss))
    for k, metric in enumerate(METRICS):
      stats = [mean_sd(acc[metric]) for acc in by_loss.values()]
      ax.bar(x + (k - 1.5) * width, [m for m, _ in stats], width, yerr=[s for _, s in stats],
             capsize=2, color=colors[metric], label=metric, error_kw={"linewidth": 0.8})
    ax.set_ylim(0, 1)
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(f"imbalance factor {imbalance}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.set_xticks(x, [LABELS.get(n, n) for n in by_loss], rotation=25, ha="right", fontsize=8)
  axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))
  fig.suptitle(f"Long-tailed digits, balanced test set ({config.name}: {len(config.seeds)} seeds, "
               f"{config.steps} steps; bars: mean, whiskers: sample sd)", fontsize=10)
  fig.tight_layout()
  save_figure(fig, path)
  plt.close(fig)


def summarize(config: LongTailConfig, out_dir: str | os.PathLike, *,
              figures_dir: str | os.PathLike | None = None) -> dict[str, Any]:
  """Figure, CSV, table, differences and results JSON (in ``figures_dir``, default ``out_dir``)
  from the saved records of every (imbalance factor, loss) of ``config``."""
  out_dir = Path(out_dir)
  figures_dir = out_dir if figures_dir is None else Path(figures_dir)
  results: dict[str, dict[str, dict[str, list[float]]]] = {}
  for imbalance in config.imbalance_factors:
    results[str(imbalance)] = {}
    for name in config.losses:
      path = record_path(out_dir, imbalance, name)
      if not path.exists():
        raise ValueError(f"no result for loss {name!r} at IF {imbalance}: {path} is missing")
      results[str(imbalance)][name] = json.loads(path.read_text())["accuracy"]
  stem = figures_dir / config.figure_stem
  paths = {"figure": stem.with_suffix(".png"), "csv": stem.with_suffix(".csv"),
           "table": figures_dir / f"{config.figure_stem}_table.md",
           "differences": figures_dir / f"{config.figure_stem}_differences.md",
           "results": figures_dir / f"{config.figure_stem}_results.json"}
  atomic_write_csv(paths["csv"], [
      [imbalance, name, seed, *(f"{by_loss[name][m][k]:.6f}" for m in METRICS)]
      for imbalance, by_loss in results.items() for name in by_loss
      for k, seed in enumerate(config.seeds)], ["imbalance", "loss", "seed", *METRICS])
  markdown = _table(config, results)
  atomic_write_text(paths["table"], markdown)
  rows = differences(results)
  atomic_write_text(paths["differences"], _differences_markdown(config, rows))
  summary = {"config": config.name, "seeds": list(config.seeds), "steps": config.steps,
             "imbalance_factors": list(config.imbalance_factors),
             "results": {imbalance: {name: {"label": LABELS.get(name, name), **acc,
                                            **{f"{m}_mean": mean_sd(acc[m])[0] for m in METRICS},
                                            **{f"{m}_sd": mean_sd(acc[m])[1] for m in METRICS}}
                                     for name, acc in by_loss.items()}
                         for imbalance, by_loss in results.items()},
             "apart": rows}
  atomic_write_json(paths["results"], summary)
  _figure(config, results, paths["figure"])
  return {**summary, "table_markdown": markdown, "paths": [str(p) for p in paths.values()]}
