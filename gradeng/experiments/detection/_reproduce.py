"""`gradeng reproduce` hook: the detection experiment (paper Figure 3 analogue)."""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  from gradeng.experiments.detection._experiment import load_config, run_experiment, summary_path

  out_dir = Path(out_dir)
  runs = out_dir / "runs" / ("detection_quick" if quick else "detection")
  figures = out_dir / "figures"
  before = set(figures.glob("detection_map*")) if figures.is_dir() else set()
  config = load_config(quick=quick)
  run_experiment(config, runs, figures_dir=figures, progress=False)
  return sorted(set(figures.glob("detection_map*")) | before) + [summary_path(config, runs)]
