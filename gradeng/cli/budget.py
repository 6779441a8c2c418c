"""`gradeng budget`: summed scale coefficients of easy vs hard groups (paper §2.1).

Prints `gradeng.paper.GradientBudget.to_table`, the table of the README's §2.1 (a row per loss:
Σ g per group, the paper's numbers for its groups, the hard/easy ratios of Σ g and Σ w);
``--json`` gives every value. Example (the paper's numbers: CE −1111 vs −33, focal γ=2 −32
vs −33)::

  gradeng budget --group easy=1000@0.9 --group hard=10@0.3 \\
      --loss ce --loss focal:gamma=2 --loss maki:gamma=1 --loss qce [--json]
  gradeng budget --loss="-(1-p)**gamma/p:gamma=1" --loss="log(p)/p"   # formulas for g(p)
"""

from __future__ import annotations

import argparse
import json
import re

from gradeng.paper import PAPER_GROUPS, PAPER_LOSSES, gradient_budget
from gradeng.runtime import CATALOG
from gradeng.cli import UsageError
from gradeng.runtime import ScaleCoefficient
from gradeng.symbolic import check_coefficient
from gradeng.runtime import InputError
from gradeng.symbolic import FormulaError, coefficient, parse_loss_spec, parse_value
from gradeng.symbolic import expression, substitute

_GROUP = re.compile(r"^(?P<name>[^=@\s]+)=(?P<count>[^@\s]+)@(?P<p>\S+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_group(text: str) -> tuple[str, float, float]:
  """``NAME=COUNT@P`` -> (name, count, p), e.g. ``easy=1000@0.9``."""
  match = _GROUP.match(text.strip())
  if not match:
    raise UsageError(f"malformed --group {text!r}; expected NAME=COUNT@P, e.g. easy=1000@0.9")
  name = match["name"]
  count = _number(match["count"], f"count in --group {text!r}")
  p = _number(match["p"], f"p in --group {text!r}")
  if not count > 0:
    raise UsageError(f"count in --group {text!r} must be > 0; got {match['count']}")
  if not 0 < p < 1:
    raise UsageError(f"p in --group {text!r} must be in (0, 1); got {match['p']}")
  return name, count, p


def parse_loss(text: str) -> tuple[str | ScaleCoefficient, dict[str, float]]:
  """``NAME[:KEY=VALUE[,KEY=VALUE...]]`` -> (name, params), e.g. ``focal:gamma=2``.

  The syntax of `gradeng.symbolic.parse_loss_spec` (shared with ``gradeng simulate``; values
  such as ``1/3`` are exact). NAME is a catalog loss or a formula for g(p), parsed through the
  whitelist of `gradeng.coefficient` (e.g. ``"-(1-p)**gamma/p:gamma=2"``; formulas have no
  ``:``) and checked like ``gradeng derive`` checks it (defined and continuous on (0, 1)).
  """
  try:
    name, spec = parse_loss_spec(text)
  except FormulaError as error:
    raise UsageError(f"--loss: {error}") from None
  loss: str | ScaleCoefficient = name
  if _NAME.match(name) and name not in CATALOG:  # a bare word is a name, not a formula
    raise UsageError(f"unknown loss {name!r} in --loss {text!r}; the catalog has {sorted(CATALOG)} "
                     f"(or give a formula for g(p))")
  several = sorted(key for key, values in spec.items() if len(values) != 1)
  if several:
    raise UsageError(f"--loss {text!r}: give one value per parameter here ({several} have several).")
  params = {key: float(values[0]) for key, values in spec.items()}
  if name not in CATALOG:
    try:
      loss = coefficient(name)
      check_coefficient(substitute(loss, **params) if set(params) == set(loss.params)
                        else expression(loss))
    except (FormulaError, InputError, TypeError) as error:
      raise UsageError(f"--loss {text!r} is neither a catalog loss ({', '.join(sorted(CATALOG))}) "
                       f"nor a usable formula for g(p): {error}") from None
  return loss, params


def _number(text: str, what: str) -> float:
  try:
    return float(parse_value(text, what))
  except FormulaError as error:
    raise UsageError(str(error)) from None


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
      "--group", action="append", metavar="NAME=COUNT@P",
      help="a group of COUNT examples at probability P of the true class (repeatable); "
           "default: the paper's easy=1000@0.9 and hard=10@0.3")
  parser.add_argument(
      "--loss", action="append", metavar="NAME[:K=V,...]",
      help=f"a catalog loss with parameters, e.g. focal:gamma=2 (repeatable; one of "
           f"{', '.join(sorted(CATALOG))}), or a formula for g(p), e.g. "
           f"--loss='-(1-p)**gamma/p:gamma=2' (write --loss=... when it starts with '-'); "
           f"default: ce, focal:gamma=2, maki:gamma=1, qce")
  parser.add_argument("--json", action="store_true",
                      help="print JSON (one record per group × loss: g, Σ g, w = p·g, Σ w and "
                           "shares) instead of the table")


def run(args: argparse.Namespace) -> int:
  groups = [parse_group(g) for g in args.group] if args.group else list(PAPER_GROUPS)
  losses = [parse_loss(s) for s in args.loss] if args.loss else list(PAPER_LOSSES)
  budget = gradient_budget(groups, losses)
  if args.json:
    print(json.dumps(budget.records(), indent=2))
  else:
    print(budget.to_table(), end="")  # the README's §2.1 table (tests/test_budget.py checks)
  return 0
