"""``gradeng evaluate FORMULA [--param NAME=VALUE ...] [--against LOSS ...] [--on EXP ...]
[--seeds N] [--quick] [--out DIR]``: evaluate your own loss against baselines.

Trains the loss of g(p) = FORMULA and the baselines through the experiments with the same
seeds, data and budgets (`gradeng.evaluation.evaluate`), prints the tables and writes
``evaluation.json``, ``evaluation.md``, ``evaluation.png``, the card and the runs under ``--out``
(rerunning resumes). A formula that does not build, or whose loss is negative somewhere on
(0, 1), is refused before any training.
"""

from __future__ import annotations

import argparse
import fractions
import re
from pathlib import Path


def _names(values: list[str]) -> tuple[str, ...]:
  """``["toy,detection", "ordinal"]`` -> ("toy", "detection", "ordinal")."""
  return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def _params(assignments: list[str]) -> dict[str, float]:
  from gradeng.cli import UsageError

  params = {}
  for assignment in assignments:
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
      raise UsageError(f"--param must be NAME=VALUE (e.g. gamma=3); got {assignment!r}")
    try:
      params[key.strip()] = float(fractions.Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
      raise UsageError(f"--param {key.strip()}: {text!r} is not a number (e.g. 3, 0.5, "
                       "1/3)") from None
  return params


def configure(parser: argparse.ArgumentParser) -> None:
  from gradeng.evaluation import DEFAULT_BASELINES

  # Formulas usually start with a minus ("-1/p"): read any "-x..." that is not one of our
  # options as a value, as `gradeng derive` does ("--" also works).
  if hasattr(parser, "_negative_number_matcher"):
    parser._negative_number_matcher = re.compile(r"^-[^-]")  # pylint: disable=protected-access
  parser.add_argument("formula", metavar="FORMULA",
                      help='g(p) = dL/dp of your loss, e.g. "-(1-p)**3/p" (quote it)')
  parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="a value of the formula's parameter (repeat for several)")
  parser.add_argument("--against", nargs="+", default=list(DEFAULT_BASELINES), metavar="LOSS",
                      help="baselines: catalog losses, optionally with parameters "
                           f"(focal:gamma=1); default {' '.join(DEFAULT_BASELINES)}")
  parser.add_argument("--on", nargs="+", default=["toy"], metavar="EXPERIMENT",
                      help="experiments to train in (space- or comma-separated); default toy")
  parser.add_argument("--seeds", type=int, default=3, metavar="N",
                      help="number of seeds, the same for every loss (default 3)")
  parser.add_argument("--quick", action="store_true",
                      help="the experiments' quick budgets (default: their full ones)")
  parser.add_argument("--out", default=None,
                      help="directory for everything it writes (default runs/evaluate or "
                           "runs/evaluate_quick); rerunning resumes, another evaluation's "
                           "directory is refused")
  parser.add_argument("--no-card", action="store_true", help="do not write the loss card")
  parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
  from gradeng.evaluation import evaluate
  from gradeng.experiments import default_out

  out = Path(args.out) if args.out is not None else default_out("evaluate", args.quick)
  result = evaluate(args.formula, params=_params(args.param), against=_names(args.against),
                    on=_names(args.on), seeds=args.seeds, quick=args.quick, out_dir=out,
                    card=not args.no_card, progress=not args.no_progress)
  print(result.to_markdown(), end="")
  print()
  for name, path in result.files.items():
    print(f"{name}: {path}")
  if "card" not in result.files and not args.no_card:
    print("card: not written (gradeng.card is not installed)")
  return 0
