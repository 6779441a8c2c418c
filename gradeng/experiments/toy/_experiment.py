"""Entry points: one named simulation (`simulate`) and the quick set for ``gradeng reproduce``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gradeng.experiments.common import on_main_process

from ._config import PRESETS, ToyConfig, get_preset, parse_override
from ._report import make_figures
from ._sweep import SweepResult, run_sweep


def simulate(name: str, *, quick: bool = False, out: str | os.PathLike = "runs/toy",
             figures: str | os.PathLike | None = "figures", overrides: Sequence[str] = (),
             progress: bool = True) -> tuple[SweepResult, list[Path]]:
  """Runs (or resumes) the preset sweep ``name`` and draws its figures.

  Args:
    name: a preset of `PRESETS` (``"free_logit"``, ``"gaussian_logreg"``, ...).
    quick: use the small version of the preset.
    out: results root; the sweep is saved in ``out/<config name>``.
    figures: figures root (figures in ``figures/toy_imbalance/<config name>``), or None.
    overrides: ``"field=value"`` strings applied to the config (see `parse_override`).
    progress: tqdm bar over chunks.

  Returns:
    The sweep result and the figure files written.
  """
  config = get_preset(name, quick=quick)
  for assignment in overrides:
    config = parse_override(config, assignment)
  result = run_sweep(config, Path(out) / config.name, progress=progress)
  if figures is None:
    return result, []
  return result, on_main_process(  # several processes: process 0 draws
      lambda: make_figures(result, Path(figures) / "toy_imbalance" / config.name))


def run(config: ToyConfig, out_dir: str | os.PathLike, *, progress: bool = False) -> dict:
  """Runs (or resumes) every sweep of ``config`` and draws its figures, all under ``out_dir``.

  Args:
    config: e.g. ``get_config(quick=True)``.
    out_dir: sweeps go to ``out_dir/runs/<sweep name>``, figures to ``out_dir/figures/<sweep name>``.
    progress: tqdm bars over chunks.

  Returns:
    ``{"sweeps": {name: number of trainings}, "paths": [figure files]}``.
  """
  out_dir = Path(out_dir)
  summary: dict = {"sweeps": {}, "paths": []}
  for sweep in config.sweeps:
    result = run_sweep(sweep, out_dir / "runs" / sweep.name, progress=progress)
    summary["sweeps"][sweep.name] = result.summary["n_trainings"]
    paths = on_main_process(lambda: make_figures(result, out_dir / "figures" / sweep.name))
    summary["paths"] += [str(p) for p in paths]
  return summary


def reproduce(*, quick: bool = True, out: str | os.PathLike = "runs/toy",
              figures: str | os.PathLike = "figures", progress: bool = False) -> list[Path]:
  """Every preset sweep (quick by default) and its figures; returns the figure files.

  This is what ``gradeng reproduce`` runs for the toy simulations. Finished sweeps are resumed
  (nothing recomputed); a results directory from a different config is refused.
  """
  paths = []
  for name in sorted(PRESETS):
    _, written = simulate(name, quick=quick, out=out, figures=figures, progress=progress)
    paths.extend(written)
  return paths
