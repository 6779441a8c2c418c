"""``gradeng experiment toy [--quick] [--out DIR]``: every toy imbalance sweep and its figures.

One sweep with overrides: ``gradeng simulate NAME --set field=value`` (the alias of old).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gradeng.cli import _distributed


def configure(parser: argparse.ArgumentParser) -> None:
  _distributed.configure(parser)


def run(args: argparse.Namespace, out: Path) -> int:
  import dataclasses

  _distributed.initialize(args)  # before any JAX computation
  from gradeng.cli.experiment import seeded
  from gradeng.experiments import toy
  from gradeng.experiments.common import is_main_process

  config = toy.get_config(args.quick)
  config = dataclasses.replace(config, sweeps=tuple(seeded(s, args) for s in config.sweeps))
  summary = toy.run(config, out, progress=not args.no_progress)
  if not is_main_process():  # several processes: process 0 reports
    return 0
  for name, count in summary["sweeps"].items():
    print(f"{name}: {count} trainings -> {out / 'runs' / name}")
  print(f"wrote {len(summary['paths'])} figure files under {out / 'figures'}/")
  return 0
