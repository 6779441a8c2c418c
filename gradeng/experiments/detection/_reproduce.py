"""`gradeng reproduce` hook: the detection experiment (paper Figure 3 analogue)."""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  from gradeng.experiments.detection._experiment import run_experiment, summary_path
  from gradeng.experiments.detection.configs import reproduce_config

  out_dir = Path(out_dir)
  runs = out_dir / "runs" / ("detection_quick" if quick else "detection")
  figures = out_dir / "figures"
  config = reproduce_config(quick)
  summary = run_experiment(config, runs, figures_dir=figures, progress=False)
  return [Path(summary[k]) for k in ("figure", "csv", "table")] + [summary_path(config, runs)]
