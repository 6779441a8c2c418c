"""``gradeng experiment ordinal [--quick] [--out DIR] [--losses ...]``: count digits on canvases.

``--quick``: seven objectives × 3 seeds, 400 steps (≤ 3 min on 2 CPU cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--losses", nargs="+", default=None,
                      help="loss names to run (default: all of the config's)")


def run(args: argparse.Namespace, out: Path) -> int:
  from gradeng.cli.experiment import seeded
  from gradeng.experiments.ordinal import get_config, run_experiment

  config = seeded(get_config(args.quick), args)
  summary = run_experiment(config, out, losses=args.losses, progress=not args.no_progress)
  print(summary["table_markdown"])
  print(f"wrote {', '.join(summary['paths'])}; {summary['wall_seconds']:.0f} s")
  return 0
