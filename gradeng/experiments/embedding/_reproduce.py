"""`gradeng reproduce` hook: the open-set embedding experiment and the pair-loss derivations."""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  from gradeng.experiments.embedding._derivations import write_reports
  from gradeng.experiments.embedding._experiment import load_config, run_experiment

  out_dir = Path(out_dir)
  out = out_dir / "runs" / ("embedding_quick" if quick else "embedding")
  summary = run_experiment(load_config(quick), out, progress=False,
                           figures_dir=out_dir / "figures" / "embedding")
  return [Path(p) for p in summary["paths"]] + write_reports(out_dir / "derivations" / "embedding")
