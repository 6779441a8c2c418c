"""``gradeng experiment embedding [--quick] [--out DIR] [--losses ...]``: open-set retrieval."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--quick", action="store_true",
                      help="the small CPU configuration: 12 losses × 3 seeds × 300 steps and the figures, "
                           "113 s of CPU time (measured on the shared 2-core machine)")
  parser.add_argument("--out", default=None,
                      help="directory for everything the run writes (default runs/embedding_quick "
                           "or runs/embedding); rerunning resumes")
  parser.add_argument("--losses", nargs="+", default=None,
                      help="loss names to run (default: all of the config's)")
  parser.add_argument("--figures", default=None,
                      help="where the figures, their data and results.md go (default OUT/figures)")
  parser.add_argument("--no-figures", action="store_true", help="skip the two figures")
  parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
  from gradeng.experiments.embedding._experiment import load_config, run_experiment

  out = args.out or ("runs/embedding_quick" if args.quick else "runs/embedding")
  summary = run_experiment(load_config(args.quick), out, losses=args.losses,
                           progress=not args.no_progress, figures=not args.no_figures,
                           figures_dir=args.figures)
  print(summary["table_markdown"])
  print(f"wrote {len(summary['paths'])} files under {out}/ in {summary['wall_seconds']:.0f} s")
  return 0
