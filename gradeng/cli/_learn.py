"""``gradeng experiment learn [--quick] [--out DIR]``: learn the scale coefficient.

Also reached as ``gradeng learn-coefficient`` (the same options). A killed run resumes where it
stopped when started again with the same ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gradeng.cli import _distributed


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--objective", choices=("balanced_ce", "smooth_ap"), default="balanced_ce",
                      help="the validation objective θ is learned on and the baselines' γ picked "
                      "by: balanced cross-entropy (default) or 1 − smooth AP (ranking only); "
                      "smooth_ap runs are named <config>-smooth_ap")
  parser.add_argument("--stop-after", type=int, default=None, metavar="STEPS",
                      help="stop each outer loop after STEPS outer steps (resume by running again)")
  _distributed.configure(parser)


def run(args: argparse.Namespace, out: Path) -> int:
  from gradeng.cli import UsageError
  from gradeng.cli.experiment import seeded

  _distributed.initialize(args)  # before any JAX computation
  from gradeng.experiments import learn
  from gradeng.experiments.common import is_main_process

  config = seeded(learn.get_config(args.quick, args.objective), args)
  if args.stop_after is not None and args.stop_after < 1:
    raise UsageError(f"`--stop-after` must be ≥ 1; got {args.stop_after}.")
  results = learn.run(config, out, progress=not args.no_progress, stop_after=args.stop_after)
  if not is_main_process():  # several processes: process 0 reports
    return 0
  if not results["files"]:
    print(f"stopped after {args.stop_after} outer steps; run again to resume -> {out}")
    return 0
  for method, entry in results["learned"].items():
    print(f"{method}: g(p) = {entry['formula']}")
  print(f"{config.name}: {results['seconds']:.1f} s -> {out}")
  for path in results["files"]:
    print(f"  {path}")
  return 0
