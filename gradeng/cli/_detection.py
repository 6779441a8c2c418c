"""``gradeng experiment detection [--quick] [--variant engineering] [--out DIR] [--seeds ...]``."""

from __future__ import annotations

import argparse

from gradeng.cli import UsageError

def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--quick", action="store_true",
                      help="the small CPU configuration (about 35 s per loss on 2 CPU cores)")
  parser.add_argument("--out", default=None,
                      help="run directory (default runs/detection_quick or runs/detection)")
  parser.add_argument("--figures", default="figures",
                      help="where the figure, CSV and final-mAP table go (default figures/)")
  parser.add_argument("--seeds", type=int, nargs="+", default=None,
                      help="training seeds (default: the config's)")
  parser.add_argument("--losses", nargs="+", default=None,
                      help="loss names to run (default: all of the config's)")
  parser.add_argument("--config", default=None,
                      help="experiment config file with get_config(quick) "
                           "(default: the packaged gradeng.experiments.detection.configs; "
                           "experiments/detection/config.py is the one to copy)")
  parser.add_argument("--variant", default="paper",
                      choices=("paper", "engineering", "converged", "iou", "learned"),
                      help="paper: the paper's losses (Figure 3); engineering: the stateful "
                           "coefficients (warm-up, periodic, adaptive γ, GHM-C) next to baselines; "
                           "converged: the paper's four losses × 3 seeds trained to convergence "
                           "on a 2-core CPU (about 2 h); iou: CE + OHEM with Smooth-L1 vs the "
                           "IoU, GIoU, DIoU and CIoU box losses; learned: the coefficient "
                           "learned on toy trainings (gradeng learn-coefficient) and Maki γ=8")
  parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
  from gradeng.experiments.detection._experiment import load_config, run_experiment

  if args.seeds is not None and any(s < 0 for s in args.seeds):
    raise UsageError(f"--seeds must be non-negative integers, got {args.seeds}")
  config = load_config(args.quick, args.config, variant=args.variant)
  out = args.out or ("runs/detection_quick" if args.quick else "runs/detection")
  summary = run_experiment(config, out, seeds=args.seeds, losses=args.losses,
                           figures_dir=args.figures, progress=not args.no_progress)
  ratio = summary["anchor_stats"]["background_per_positive_anchor"]
  print(f"background:object anchor ratio {ratio:.0f}:1 "
        f"({summary['anchor_stats']['anchors_per_image']} anchors per image)")
  print(summary["table_markdown"])
  print(f"wrote {summary['figure']}, {summary['csv']}, {summary['table']}; "
        f"{summary['wall_seconds']:.0f} s")
  return 0
