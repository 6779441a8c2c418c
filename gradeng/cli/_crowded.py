"""``gradeng experiment crowded [--quick] [--out DIR]``: SSD-lite + NMS vs the set head on crowded canvases."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--config", default=None, choices=("quick", "cpu", "long", "full"),
                      help="a named configuration instead: cpu (the quick canvases trained 3,000 "
                           "steps, two set-head losses; 13 min on 2 shared CPU cores), long (10,000 "
                           "steps, SSD-lite and the focal set head) or full (48×48, 3 seeds, for a "
                           "GPU); default full, or quick with --quick (32×32 canvases, SSD-lite and "
                           "one set head, 1,000 steps, one seed; 36 s on 2 idle CPU cores)")
  parser.add_argument("--figures", default=None,
                      help="where the figure, CSV, table and results JSON go (default OUT)")
  parser.add_argument("--methods", nargs="+", default=None,
                      help="run names to run (default all: SSD's loss name and the set-head losses)")


def run(args: argparse.Namespace, out: Path) -> int:
  from gradeng.cli.experiment import seeded
  from gradeng.experiments.crowded import get_config, run_experiment

  config = seeded(get_config(args.quick, args.config), args)
  summary = run_experiment(config, out, figures_dir=args.figures,
                           methods=args.methods, progress=not args.no_progress)
  print(summary["table_markdown"])
  print(f"wrote {', '.join(summary['paths'])}; {summary['wall_seconds']:.0f} s")
  return 0
