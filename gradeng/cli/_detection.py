"""``gradeng experiment detection [--quick] [--variant NAME] [--out DIR] [--seeds ...]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--figures", default=None,
                      help="where the figure, CSV and final-mAP table go (default OUT)")
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


def run(args: argparse.Namespace, out: Path) -> int:
  from gradeng.experiments.detection import load_config, run_experiment

  config = load_config(args.quick, args.config, variant=args.variant)
  summary = run_experiment(config, out, seeds=args.seeds, losses=args.losses,
                           figures_dir=args.figures, progress=not args.no_progress)
  ratio = summary["anchor_stats"]["background_per_positive_anchor"]
  print(f"background:object anchor ratio {ratio:.0f}:1 "
        f"({summary['anchor_stats']['anchors_per_image']} anchors per image)")
  print(summary["table_markdown"])
  print(f"wrote {summary['figure']}, {summary['csv']}, {summary['table']}; "
        f"{summary['wall_seconds']:.0f} s")
  return 0
