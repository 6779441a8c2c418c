"""``gradeng experiment embedding [--quick] [--out DIR] [--losses ...]``: open-set retrieval.

``--quick``: 12 losses × 3 seeds × 300 steps and the figures, 113 s of CPU time (measured on
the shared 2-core machine).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--losses", nargs="+", default=None,
                      help="loss names to run (default: all of the config's)")
  parser.add_argument("--figures", default=None,
                      help="where the figures, their data and results.md go (default OUT/figures)")
  parser.add_argument("--no-figures", action="store_true", help="skip the two figures")


def run(args: argparse.Namespace, out: Path) -> int:
  from gradeng.cli.experiment import seeded
  from gradeng.experiments.embedding import get_config, run

  summary = run(seeded(get_config(args.quick), args), out, losses=args.losses,
                progress=not args.no_progress, figures=not args.no_figures,
                figures_dir=args.figures)
  print(summary["table_markdown"])
  print(f"wrote {len(summary['paths'])} files under {out}/ in {summary['wall_seconds']:.0f} s")
  return 0
