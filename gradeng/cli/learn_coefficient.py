"""``gradeng learn-coefficient [--quick] [--out DIR]``: learn the scale coefficient (issue 13).

Learns the weights of a Maki mixture g = -Σ c_k (1-p)^k / p by meta-gradients through unrolled
toy trainings and by evolution strategies, evaluates both on held-out imbalance ratios, XOR data
and logistic regression against CE, focal, Maki and GHM-C, and writes the learned closed form,
its derivation report, the figures and a results table under ``--out``. A killed run resumes
where it stopped when started again with the same ``--out``.

Examples::

  gradeng learn-coefficient --quick --out results/learned-quick   # ~1 min on 2 CPU cores
  gradeng learn-coefficient --out results/learned                 # the full configuration
  gradeng learn-coefficient --objective smooth_ap                  # learned for ranking (AP)
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--quick", action="store_true",
                      help="the small configuration (part of `gradeng reproduce`)")
  parser.add_argument("--out", default=None,
                      help="output directory; everything is written under it "
                      "(default: results/learned or results/learned-quick)")
  parser.add_argument("--objective", choices=("balanced_ce", "smooth_ap"), default="balanced_ce",
                      help="the validation objective θ is learned on and the baselines' γ picked "
                      "by: balanced cross-entropy (default) or 1 − smooth AP (ranking only); "
                      "smooth_ap runs are named <config>-smooth_ap")
  parser.add_argument("--stop-after", type=int, default=None, metavar="STEPS",
                      help="stop each outer loop after STEPS outer steps (resume by running again)")
  parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
  from pathlib import Path

  from gradeng.cli import UsageError
  from gradeng.experiments.learn._experiment import get_config, run_experiment

  config = get_config(args.quick, args.objective)
  if args.stop_after is not None and args.stop_after < 1:
    raise UsageError(f"`--stop-after` must be ≥ 1; got {args.stop_after}.")
  out = Path(args.out or f"results/{config.name}")
  results = run_experiment(config, out, progress=not args.no_progress, stop_after=args.stop_after)
  if not results["files"]:
    print(f"stopped after {args.stop_after} outer steps; run again to resume -> {out}")
    return 0
  for method, entry in results["learned"].items():
    print(f"{method}: g(p) = {entry['formula']}")
  print(f"{config.name}: {results['seconds']:.1f} s -> {out}")
  for path in results["files"]:
    print(f"  {path}")
  return 0
