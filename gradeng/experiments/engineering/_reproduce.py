"""Hook for `gradeng reproduce`: the engineering experiments (quick or full).

The toy evaluation (`run_engineering`); with ``quick=False`` also the detection experiment's
engineering variant (stateful coefficients next to CE + OHEM, Maki and focal), whose runs go to
the same directory as the paper variant's step, so the baseline runs trained there are reused.
The quick command leaves the detection variant to ``gradeng experiment detection --quick
--variant engineering`` to stay within its 15 minutes.
"""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  """Run both into ``out_dir/figures`` and return the files written."""
  from gradeng.experiments.detection import run_experiment
  from gradeng.experiments.detection.configs import reproduce_config
  from gradeng.experiments.engineering._experiment import run_engineering

  out_dir = Path(out_dir)
  figures = out_dir / "figures"
  summary = run_engineering(figures, quick=quick)
  files = [Path(p) for p in summary["files"]]
  if quick:
    return files
  detection = run_experiment(reproduce_config(quick, "engineering"), out_dir / "runs" / "detection",
                             figures_dir=figures, progress=False)
  return files + [Path(detection[k]) for k in ("figure", "csv", "table")]
