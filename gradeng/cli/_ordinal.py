"""``gradeng experiment ordinal [--quick] [--out DIR] [--losses ...]``: count digits on canvases."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--quick", action="store_true",
                      help="seven objectives × 3 seeds, 400 steps (≤ 3 min on 2 CPU cores)")
  parser.add_argument("--out", default=None,
                      help="output directory: runs/ and the figure, CSV, table and results JSON "
                           "(default runs/ordinal_quick or runs/ordinal)")
  parser.add_argument("--losses", nargs="+", default=None,
                      help="loss names to run (default: all of the config's)")
  parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
  from gradeng.experiments.ordinal._config import get_config
  from gradeng.experiments.ordinal._experiment import run_experiment

  config = get_config(args.quick)
  out = args.out or ("runs/ordinal_quick" if args.quick else "runs/ordinal")
  summary = run_experiment(config, out, losses=args.losses, progress=not args.no_progress)
  print(summary["table_markdown"])
  print(f"wrote {', '.join(summary['paths'])}; {summary['wall_seconds']:.0f} s")
  return 0
