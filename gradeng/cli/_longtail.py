"""``gradeng experiment longtail [--quick] [--out DIR] [--seeds ...] [--losses ...]``: long-tailed
digits (imbalance factors 10 and 100), balanced test set, nine losses.

``--quick``: 9 losses × IF 10 and 100 × 3 seeds, 1000 steps (under 75 s on 2 idle CPU cores),
then the detection part's quick configuration into ``OUT/detection`` (the `gradeng reproduce`
step). ``--seeds`` replaces the seeds of both parts.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--losses", nargs="+", default=None,
                      help="loss names to run (default: all of the config's)")
  parser.add_argument("--figures", default=None,
                      help="where the figure, CSV, tables and results JSON go (default OUT)")


def run(args: argparse.Namespace, out: Path) -> int:
  from gradeng.cli import UsageError
  from gradeng.experiments.longtail import LOSSES, get_config, run, with_seeds

  config = get_config(args.quick)
  if args.seeds is not None:
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
      raise UsageError(f"--seeds must be distinct, got {args.seeds}")
    config = with_seeds(config, args.seeds)
  unknown = [n for n in args.losses or () if n not in config.losses]
  if unknown:
    raise UsageError(f"--losses: unknown {unknown}; the losses are {', '.join(LOSSES)}")
  summary = run(config, out, losses=args.losses, figures_dir=args.figures,
                progress=not args.no_progress)
  print(summary["table_markdown"])
  if "detection" in summary:
    print(summary["detection"]["table"])
  print(f"wrote {', '.join(summary['paths'])}; {summary['wall_seconds']:.0f} s")
  return 0
