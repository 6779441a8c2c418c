"""``gradeng experiment toy [--quick] [--out DIR]``: every toy imbalance sweep and its figures.

One sweep with overrides: ``gradeng simulate NAME --set field=value`` (the alias of old).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
  del parser  # the common options only


def run(args: argparse.Namespace, out: Path) -> int:
  import dataclasses

  from gradeng.cli.experiment import seeded
  from gradeng.experiments import toy

  config = toy.get_config(args.quick)
  config = dataclasses.replace(config, sweeps=tuple(seeded(s, args) for s in config.sweeps))
  summary = toy.run(config, out, progress=not args.no_progress)
  for name, count in summary["sweeps"].items():
    print(f"{name}: {count} trainings -> {out / 'runs' / name}")
  print(f"wrote {len(summary['paths'])} figure files under {out / 'figures'}/")
  return 0
