"""``gradeng learn-coefficient [--quick] [--out DIR]``: alias of ``gradeng experiment learn``.

Learns the weights of a Maki mixture g = -Σ c_k (1-p)^k / p by meta-gradients through unrolled
toy trainings and by evolution strategies, evaluates both on held-out imbalance ratios, XOR data
and logistic regression against CE, focal, Maki and GHM-C, and writes the learned closed form,
its derivation report, the figures and a results table under ``--out``. A killed run resumes
where it stopped when started again with the same ``--out``.

Examples::

  gradeng learn-coefficient --quick --out runs/learned-quick   # ~1 min on 2 CPU cores
  gradeng learn-coefficient                                     # the full configuration -> runs/learned
  gradeng learn-coefficient --objective smooth_ap               # learned for ranking (AP)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gradeng.cli import _learn


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--quick", action="store_true",
                      help="the small configuration (part of `gradeng reproduce`)")
  parser.add_argument("--out", default=None,
                      help="output directory; everything is written under it "
                      "(default: runs/<config name>, e.g. runs/learned-quick)")
  _learn.configure(parser)
  parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
  from gradeng.experiments import DEFAULT_ROOT, learn

  args.seeds, args.experiment = None, "learn"
  out = Path(args.out) if args.out else DEFAULT_ROOT / learn.get_config(args.quick, args.objective).name
  return _learn.run(args, out)
