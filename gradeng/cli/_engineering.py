"""``gradeng experiment engineering [--quick] [--out DIR]``: the stateful coefficients
on toy trainings: warm-up, periodic, adaptive γ and GHM-C. The detection variant is
``gradeng experiment detection --variant engineering``."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
  del parser  # the common options only


def run(args: argparse.Namespace, out: Path) -> int:
  from gradeng.cli.experiment import seeded
  from gradeng.experiments import engineering

  summary = engineering.run(seeded(engineering.get_config(args.quick), args), out)
  print(f"engineering: {sum(summary['seconds'].values()):.0f} s -> {out}")
  for path in summary["paths"]:
    print(f"  {path}")
  return 0
