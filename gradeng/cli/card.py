"""``gradeng card "<formula>" --out card.html``: a self-contained HTML page about a loss.

The formula and its closed form, the verification, the property table, plots of g, L and
w = p·g next to CE, focal and Maki with a slider per parameter, and the §2.1 gradient budget
(`gradeng.symbolic.card.render_card`). The page needs no network. Example::

  gradeng card "-(1-p)**gamma/p" --param gamma=2 --out maki.html
  gradeng card "log(p)/p" --out qce.html --evaluation evaluation.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from gradeng.cli import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
  if hasattr(parser, "_negative_number_matcher"):  # "-(1-p)/p" is a formula, not an option
    parser._negative_number_matcher = re.compile(r"^-[^-]")  # pylint: disable=protected-access
  parser.add_argument("formula", help='g(p) = dL/dp in p and named parameters, e.g. "-(1-p)**gamma/p"')
  parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="a parameter's value (the slider starts there; 5/2 allowed); repeatable")
  parser.add_argument("--out", required=True, metavar="FILE", help="the HTML file to write")
  parser.add_argument("--evaluation", default=None, metavar="JSON",
                      help="a JSON file of results to show (e.g. gradeng evaluate's)")


def _params(items: list[str]) -> dict[str, float]:
  from gradeng.cli.derive import parse_value

  params: dict[str, float] = {}
  for item in items:
    name, sep, value = (part.strip() for part in item.partition("="))
    if not sep or not name or not value:
      raise UsageError(f"--param expects NAME=VALUE (e.g. gamma=2); got {item!r}.")
    if name in params:
      raise UsageError(f"--param {name} given twice.")
    params[name] = float(parse_value(name, value))
  return params


def run(args: argparse.Namespace) -> int:
  from gradeng.symbolic.card import write_card

  evaluation = None
  if args.evaluation is not None:
    try:
      with open(args.evaluation, encoding="utf-8") as f:
        evaluation = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
      raise UsageError(f"--evaluation {args.evaluation!r}: {error}") from None
  sys.stderr.write("card: deriving and evaluating (a few seconds)...\n")
  path = write_card(args.formula, params=_params(args.param), out=args.out, evaluation=evaluation)
  print(path)
  return 0
