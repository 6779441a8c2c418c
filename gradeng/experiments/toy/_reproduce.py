"""`gradeng reproduce` hook: every toy simulation preset and its figures."""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  from gradeng.experiments.toy._experiment import reproduce as run_presets

  out_dir = Path(out_dir)
  return run_presets(quick=quick, out=out_dir / "runs" / "toy", figures=out_dir / "figures")
