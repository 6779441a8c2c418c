"""Hook for `gradeng reproduce`: the engineering experiments (quick or full)."""

from __future__ import annotations

from pathlib import Path


def reproduce(out_dir: Path, *, quick: bool) -> list[Path]:
  """Run `run_engineering` into ``out_dir/figures`` and return the files written."""
  from gradeng.engineering._experiment import run_engineering

  summary = run_engineering(Path(out_dir) / "figures", quick=quick)
  return [Path(p) for p in summary["files"]]
