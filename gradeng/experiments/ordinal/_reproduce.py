"""`gradeng reproduce` hook: the ordinal experiment.

Quick: the smallest meaningful comparison (hard CE, blurred CE σ=1, L2, Maki on blurred
targets; 3 seeds, 300 steps on 1,200 canvases) to stay inside the reproduce time budget; the
CLI's ``--quick`` runs all seven objectives. Full: the full configuration.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  from gradeng.experiments.ordinal._config import REPRODUCE_LOSSES, get_config
  from gradeng.experiments.ordinal._experiment import run_experiment

  out_dir = Path(out_dir)
  config = get_config(quick)
  if quick:
    config = dataclasses.replace(
        config, losses=tuple(config.loss(n) for n in REPRODUCE_LOSSES), steps=300,
        data=dataclasses.replace(config.data, num_train=1200, num_test=400),
        figure_stem="ordinal_reproduce")
  summary = run_experiment(config, out_dir / "runs" / ("ordinal_quick" if quick else "ordinal"),
                           figures_dir=out_dir / "figures" / "ordinal", progress=False)
  return [Path(p) for p in summary["paths"]]
