"""`gradeng reproduce` hook: the long-tail experiment.

Quick: the quick configuration (9 losses × IF 10 and 100 × 3 seeds); full: the full one. Runs go
to ``out_dir/runs/longtail[_quick]``, the figure, CSV, tables and results JSON to
``out_dir/figures/longtail/``.
"""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  """Runs (or resumes) the experiment; returns the report files it wrote."""
  from gradeng.experiments.longtail._config import get_config
  from gradeng.experiments.longtail._experiment import run_experiment

  out_dir = Path(out_dir)
  summary = run_experiment(get_config(quick),
                           out_dir / "runs" / ("longtail_quick" if quick else "longtail"),
                           figures_dir=out_dir / "figures" / "longtail", progress=False)
  return [Path(p) for p in summary["paths"]]
