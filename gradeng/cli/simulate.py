"""``gradeng simulate <name> [--quick] [--out DIR]``: run a toy imbalance sweep and its figures.

Examples::

  gradeng simulate free_logit --quick            # runs/toy/free_logit-quick, figures/toy_imbalance/...
  gradeng simulate all --quick                   # every preset, small
  gradeng simulate gaussian_mlp --set seeds=0,1,2 --set imbalance=10,1000
  gradeng simulate free_logit --coordinator HOST:PORT --num-processes 2 --process-id I  # process I
"""

from __future__ import annotations

import argparse

import jax

from gradeng.cli import _distributed
from gradeng.experiments.toy import PRESETS, simulate


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("name", help=f"simulation: one of {', '.join(sorted(PRESETS))}, or 'all'")
  parser.add_argument("--quick", action="store_true", help="the small version (20 trainings; mostly compile time)")
  parser.add_argument("--out", default="runs/toy",
                      help="results root; the sweep goes to OUT/<config name> (default: runs/toy)")
  parser.add_argument("--figures", default="figures",
                      help="figures root; figures go to FIGURES/toy_imbalance/<config name> (default: figures)")
  parser.add_argument("--no-figures", action="store_true", help="skip the figures")
  parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                      help="override a config field (repeatable), e.g. seeds=0,1 or losses=ce,focal:gamma=1|2")
  parser.add_argument("--no-progress", action="store_true", help="no progress bar")
  _distributed.configure(parser)


def run(args: argparse.Namespace) -> int:
  _distributed.initialize(args)  # before any JAX computation
  names = sorted(PRESETS) if args.name == "all" else [args.name]
  for name in names:
    result, figures = simulate(
        name, quick=args.quick, out=args.out, figures=None if args.no_figures else args.figures,
        overrides=args.set, progress=not args.no_progress)
    if jax.process_index() > 0:  # several processes: process 0 reports
      continue
    print(f"{result.summary['config']['name']}: {result.summary['n_trainings']} trainings, "
          f"{result.computed_chunks} chunk(s) computed in {result.seconds:.1f} s on "
          f"{jax.device_count()} device(s) -> {result.directory}")
    for path in figures:
      print(f"  {path}")
  return 0
