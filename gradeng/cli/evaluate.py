"""``gradeng evaluate FORMULA [--param NAME=VALUE ...] [--against LOSS ...] [--on EXP ...]
[--seeds N] [--quick] [--set EXP.FIELD=VALUE ...] [--out DIR]``: evaluate your own loss against
baselines.

Trains the loss of g(p) = FORMULA and the baselines through the experiments with the same
seeds, data and budgets (`gradeng.experiments.evaluation.evaluate`), prints the tables and writes
``evaluation.json``, ``evaluation.md``, ``evaluation.png``, the card and the runs under ``--out``
(rerunning resumes). A formula that does not build, or whose loss is negative somewhere on
(0, 1), is refused before any training. ``--set`` changes a field of an experiment's config
(``toy.sweeps=free_logit`` keeps one sweep, ``toy.steps=3`` sets a field of every toy sweep, as
``gradeng simulate --set``; ``longtail.steps=100``). With ``--coordinator …`` (or
``--distributed``) the toy sweeps run as one program over several processes; process 0 alone
writes ``--out`` and prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import fractions
import re
from pathlib import Path
from typing import Any

from gradeng.cli import _distributed


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
  from gradeng.experiments.evaluation import DEFAULT_BASELINES

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
  parser.add_argument("--set", action="append", default=[], metavar="EXP.FIELD=VALUE",
                      help="override a field of an experiment's config (repeatable): "
                           "toy.sweeps=free_logit,gaussian_logreg keeps those sweeps, toy.FIELD="
                           "VALUE sets a field of every toy sweep (as gradeng simulate --set), "
                           "longtail.FIELD=VALUE a field of the long-tail config (e.g. steps=100)")
  parser.add_argument("--no-card", action="store_true", help="do not write the loss card")
  parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
  _distributed.configure(parser)


def _value(current: Any, text: str, assignment: str) -> Any:
  """``text`` read as the type of ``current`` (a number, flag, text or tuple of them)."""
  from gradeng.cli import UsageError

  try:
    if isinstance(current, tuple):
      kinds = {type(v) for v in current} or {str}
      kind = float if float in kinds else kinds.pop()
      return tuple(kind(t.strip()) for t in text.split(",") if t.strip())
    if isinstance(current, bool):
      return text.strip().lower() in ("1", "true", "yes")
    if isinstance(current, (int, float, str)):
      return type(current)(text.strip())
  except ValueError:
    kind = {int: "an integer", float: "a number"}.get(type(current), "of the field's type")
    raise UsageError(f"--set {assignment}: {text!r} is not {kind}") from None
  raise UsageError(f"--set {assignment}: that field cannot be set from the command line")


def _configs(assignments: list[str], on: tuple[str, ...], quick: bool) -> dict[str, Any]:
  """experiment -> its config with the ``--set EXP.FIELD=VALUE`` overrides applied."""
  import importlib

  from gradeng.cli import UsageError

  configs: dict[str, Any] = {}
  for assignment in assignments:
    target, sep, text = assignment.partition("=")
    experiment, dot, field = target.strip().partition(".")
    if not (sep and dot and field):
      raise UsageError(f"--set must be EXP.FIELD=VALUE (e.g. toy.steps=3); got {assignment!r}")
    if experiment not in on:
      raise UsageError(f"--set {assignment}: `{experiment}` is not one of --on {list(on)}")
    config = configs.get(experiment)
    if config is None:
      config = importlib.import_module(f"gradeng.experiments.{experiment}").get_config(quick)
    if experiment == "toy":
      from gradeng.experiments import toy

      if field == "sweeps":
        names = [n.strip() for n in text.split(",") if n.strip()]
        config = toy.ToyConfig(tuple(toy.get_preset(n, quick=quick) for n in names))
      else:
        config = toy.ToyConfig(tuple(toy.parse_override(s, f"{field}={text}")
                                     for s in config.sweeps))
    else:
      fields = {f.name for f in dataclasses.fields(config)}
      if field not in fields:
        raise UsageError(f"--set {assignment}: `{experiment}` has no field `{field}`; its "
                         f"fields: {sorted(fields)}")
      config = dataclasses.replace(config, **{field: _value(getattr(config, field), text,
                                                            assignment)})
    configs[experiment] = config
  return configs


def run(args: argparse.Namespace) -> int:
  _distributed.initialize(args)  # before any JAX computation
  from gradeng.experiments.evaluation import evaluate
  from gradeng.experiments import default_out
  from gradeng.experiments.common import is_main_process

  out = Path(args.out) if args.out is not None else default_out("evaluate", args.quick)
  on = _names(args.on)
  result = evaluate(args.formula, params=_params(args.param), against=_names(args.against),
                    on=on, seeds=args.seeds, quick=args.quick, out_dir=out,
                    configs=_configs(args.set, on, args.quick), card=not args.no_card,
                    progress=not args.no_progress)
  if not is_main_process():  # several processes: process 0 reports
    return 0
  print(result.to_markdown(), end="")
  print()
  for name, path in result.files.items():
    print(f"{name}: {path}")
  if "card" not in result.files and not args.no_card:
    print("card: not written (gradeng.symbolic.card is not installed)")
  return 0
