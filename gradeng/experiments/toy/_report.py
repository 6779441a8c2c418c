"""Figures of the toy sweeps, drawn only from the saved ``results.npz`` (no retraining).

Each figure is saved as PNG next to the data it plots (CSV for curves, JSON for heat-maps):

* free-logit: ``p_trajectories`` (mean p_t of the easy and hard groups per step),
  ``grad_share`` (hard group's share of Σ|dL/dz| per step), ``heatmap_p_hard_final``.
* classification: ``grad_share`` (minority share of Σ|dL/dz| per step) and ``heatmaps``
  (minority recall, average precision, ECE; loss setting × imbalance ratio).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gradeng.experiments.common import atomic_write_csv, atomic_write_json, save_figure

from . import _losses
from ._sweep import SweepResult, load_sweep

_SYMBOL = {"gamma": "γ", "epsilon": "ε", "q": "q"}


def setting_label(loss: str, hyper: float | None) -> str:
  """``"focal γ=2"``, ``"ce"``: how figures name a (loss, hyper-parameter) setting."""
  param = _losses.hyper_name(loss)
  return loss if param is None or hyper is None or np.isnan(hyper) else f"{loss} {_SYMBOL[param]}={hyper:g}"


def _settings(arrays):
  seen = {}
  for loss, hyper in zip(arrays["loss"].tolist(), arrays["hyper"].tolist()):
    key = (loss, None if np.isnan(hyper) else hyper)
    seen.setdefault(key, None)
  return list(seen)


def _mask(arrays, loss, hyper, ratio=None):
  mask = arrays["loss"] == loss
  mask &= np.isnan(arrays["hyper"]) if hyper is None else arrays["hyper"] == np.float32(hyper)
  if ratio is not None:
    mask &= arrays["ratio"] == np.float32(ratio)
  return mask


def _focus_ratio(ratios: np.ndarray) -> float:
  """The ratio curves are drawn at: 100 (the paper's 1000:10) if swept, else the largest."""
  values = np.unique(ratios)
  return 100.0 if np.any(values == 100.0) else float(values.max())


def _write_csv(path: Path, header: list[str], columns: list[np.ndarray]) -> None:
  atomic_write_csv(path, ([f"{v:.7g}" for v in row] for row in zip(*columns)), header,
                   lineterminator="\r\n")


def _curves(result: SweepResult, quantities: dict[str, tuple[str, str]], title: str,
            ylabel: str, path: Path) -> list[Path]:
  """Mean over seeds of per-step quantities for every setting at the focus ratio."""
  arrays = result.arrays
  ratio = _focus_ratio(arrays["ratio"])
  figure = Figure(figsize=(6.4, 4.2))
  axes = figure.add_subplot()
  header, columns = ["step"], []
  colours = {}
  for loss, hyper in _settings(arrays):
    mask = _mask(arrays, loss, hyper, ratio)
    label = setting_label(loss, hyper)
    for key, (suffix, style) in quantities.items():
      mean = np.nanmean(arrays[key][mask], axis=0)
      if not columns:
        columns.append(np.arange(mean.shape[0]))
      line, = axes.plot(columns[0], mean, style, color=colours.get(label),
                        label=f"{label}{suffix}")
      colours[label] = line.get_color()
      header.append(f"{label}{suffix}")
      columns.append(mean)
  axes.set_xlabel("gradient step")
  axes.set_ylabel(ylabel)
  axes.set_title(f"{title}\nimbalance 1:{ratio:g}, mean over seeds", fontsize=10)
  axes.legend(fontsize=7, ncol=2)
  axes.grid(alpha=0.3)
  figure.tight_layout()
  save_figure(figure, path.with_suffix(".png"))
  _write_csv(path.with_suffix(".csv"), header, columns)
  return [path.with_suffix(".png"), path.with_suffix(".csv")]


def _heatmaps(result: SweepResult, metrics: dict[str, str], path: Path) -> list[Path]:
  """Mean over seeds of scalar metrics, loss setting × imbalance ratio."""
  rows = result.summary["metrics"]
  settings = list(dict.fromkeys((r["loss"], r["hyper"]) for r in rows))
  ratios = list(dict.fromkeys(r["ratio"] for r in rows))
  labels = [setting_label(loss, hyper) for loss, hyper in settings]
  figure = Figure(figsize=(3.2 + 2.6 * len(metrics), 0.9 + 0.38 * len(settings)))
  data = {"settings": labels, "ratios": ratios, "metrics": {}}
  for i, (metric, title) in enumerate(metrics.items()):
    grid = np.full((len(settings), len(ratios)), np.nan)
    for r in rows:
      value = r[metric]["mean"]
      grid[settings.index((r["loss"], r["hyper"])), ratios.index(r["ratio"])] = (
          np.nan if value is None else value)
    data["metrics"][metric] = [[None if np.isnan(v) else float(v) for v in row] for row in grid]
    axes = figure.add_subplot(1, len(metrics), i + 1)
    image = axes.imshow(grid, aspect="auto", cmap="viridis")
    for (a, b), value in np.ndenumerate(grid):
      axes.text(b, a, "nan" if np.isnan(value) else f"{value:.2f}", ha="center", va="center",
                fontsize=7, color="white" if value < np.nanmean(grid) else "black")
    axes.set_xticks(range(len(ratios)), [f"1:{r:g}" for r in ratios])
    axes.set_yticks(range(len(settings)), labels if i == 0 else [""] * len(settings))
    axes.set_xlabel("imbalance")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.05)
  figure.tight_layout()
  save_figure(figure, path.with_suffix(".png"))
  atomic_write_json(path.with_suffix(".json"), data, indent=1)
  return [path.with_suffix(".png"), path.with_suffix(".json")]


def make_figures(results: str | os.PathLike | SweepResult, figures_dir: str | os.PathLike) -> list[Path]:
  """Draws the figures of a finished sweep into ``figures_dir``; returns the written paths.

  Args:
    results: a results directory (or its `SweepResult`); only its saved files are read.
    figures_dir: output folder (created).
  """
  result = load_sweep(results.directory if isinstance(results, SweepResult) else results)
  out = Path(figures_dir)
  out.mkdir(parents=True, exist_ok=True)
  kind = result.summary["config"]["kind"]
  if kind == "free_logit":
    return [
        *_curves(result, {"p_hard": (" hard", "-"), "p_easy": (" easy", ":")},
                 "Free logits: p_t of easy and hard groups", "mean p_t", out / "p_trajectories"),
        *_curves(result, {"share_logit": ("", "-")}, "Hard group's share of Σ|dL/dz|",
                 "gradient share", out / "grad_share"),
        *_heatmaps(result, {"p_hard_final": "final p_hard", "share_logit_final": "final hard share"},
                   out / "heatmap_p_hard_final"),
    ]
  return [
      *_curves(result, {"share_minority": ("", "-")}, "Minority share of Σ|dL/dz|",
               "gradient share", out / "grad_share"),
      *_heatmaps(result, {"recall": "minority recall @0.5", "average_precision": "average precision",
                          "ece": "ECE", "share_minority_mean": "mean minority grad share"},
                 out / "heatmaps"),
  ]
