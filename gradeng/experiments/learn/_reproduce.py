"""`gradeng reproduce` hook: learn the coefficient (quick or full) and write its outputs.

The run state and ``results.json`` go to ``out_dir/runs/<config name>``; the figures and the
results table to ``out_dir/figures/learned`` (quick) or ``out_dir/figures/learned/full``; the
derivation report to ``out_dir/derivations/learned.md`` (quick) or ``learned_full.md``.
"""

from __future__ import annotations

from pathlib import Path

from gradeng.experiments.learn._config import get_config
from gradeng.experiments.learn._experiment import run_experiment


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  out_dir = Path(out_dir)
  config = get_config(quick)
  results = run_experiment(config, out_dir / "runs" / config.name,
                           figures_dir=out_dir / "figures" / "learned" / ("" if quick else "full"),
                           derivation_path=out_dir / "derivations" / f"learned{'' if quick else '_full'}.md",
                           progress=False)
  return [Path(p) for p in results["files"]]
