"""`gradeng reproduce` hook: the open-set embedding experiment (issue 11)."""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  from gradeng.experiments.embedding._experiment import load_config, run_experiment

  out = Path(out_dir) / "runs" / ("embedding_quick" if quick else "embedding")
  summary = run_experiment(load_config(quick), out, progress=False)
  return [Path(p) for p in summary["paths"]]
