"""`gradeng reproduce` hook: the crowded-scenes comparison.

Quick: the quick configuration (SSD-lite + NMS and the set head, one seed) into
``figures/crowded/``; full: the full configuration. Runs go to ``runs/crowded[_quick]`` and are
skipped when finished.
"""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  from gradeng.experiments.crowded._config import get_config
  from gradeng.experiments.crowded._experiment import run_experiment

  out_dir = Path(out_dir)
  summary = run_experiment(get_config(quick), out_dir / "runs" / ("crowded_quick" if quick else "crowded"),
                           figures_dir=out_dir / "figures" / "crowded", progress=False)
  return [Path(p) for p in summary["paths"]]
