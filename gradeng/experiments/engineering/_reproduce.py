"""Hook for `gradeng reproduce`: the engineering experiments (quick or full).

The toy evaluation (`run_engineering`) and the detection experiment's engineering variant
(stateful coefficients next to CE + OHEM, Maki and focal). The detection runs go to the same
directory as the paper variant's step, so the baseline runs trained there are reused.
"""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  """Run both into ``out_dir/figures`` and return the files written."""
  from gradeng.experiments.detection._experiment import run_experiment
  from gradeng.experiments.detection.configs import reproduce_config
  from gradeng.experiments.engineering._experiment import run_engineering

  out_dir = Path(out_dir)
  figures = out_dir / "figures"
  summary = run_engineering(figures, quick=quick)
  runs = out_dir / "runs" / ("detection_quick" if quick else "detection")
  detection = run_experiment(reproduce_config(quick, "engineering"), runs,
                             figures_dir=figures, progress=False)
  return ([Path(p) for p in summary["files"]]
          + [Path(detection[k]) for k in ("figure", "csv", "table")])
