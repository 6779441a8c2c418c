"""``gradeng experiment NAME [--quick] [--out DIR] [--seeds S ...] [options]``: run one experiment.

The experiments are those of the registry `gradeng.experiments.EXPERIMENTS` (``gradeng
reproduce`` reads the same registry). Every experiment takes ``--quick`` (its small
configuration), ``--out DIR`` (everything the run writes goes under DIR; default
``runs/NAME_quick`` or ``runs/NAME``), ``--seeds`` (replace the config's training seeds) and
``--no-progress``; its own options come from ``gradeng.cli._<name>`` (``configure(parser)`` adds
them, ``run(args, out) -> int`` runs it). Those modules import nothing heavy at module level,
so configuring every sub-parser stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

#: NAME -> its sub-parser (so a bad option prints that sub-command's usage)
PARSERS: dict[str, argparse.ArgumentParser] = {}


def _cli_module(name: str):
  return importlib.import_module(f"gradeng.cli._{name}")


def configure(parser: argparse.ArgumentParser) -> None:
  from gradeng.experiments import EXPERIMENTS, default_out

  sub = parser.add_subparsers(dest="experiment", required=True, metavar="NAME",
                              title="experiments")
  for name, experiment in EXPERIMENTS.items():
    command = sub.add_parser(name, help=experiment.help, description=experiment.help)
    PARSERS[name] = command
    command.add_argument("--quick", action="store_true",
                         help="the small configuration (the `gradeng reproduce` one where noted)")
    command.add_argument("--out", default=None,
                         help="directory for everything the run writes: runs, figures, tables "
                              f"(default {default_out(name, True)} or {default_out(name, False)}); "
                              "rerunning resumes, a directory of another config is refused")
    command.add_argument("--seeds", type=int, nargs="+", default=None,
                         help="training seeds (default: the config's)")
    command.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _cli_module(name).configure(command)


def parser_for(args: argparse.Namespace) -> argparse.ArgumentParser | None:
  """The sub-command parser ``args`` were parsed by (for usage errors)."""
  return PARSERS.get(getattr(args, "experiment", None))


def run(args: argparse.Namespace) -> int:
  from gradeng.cli import UsageError
  from gradeng.experiments import default_out

  if args.seeds is not None and any(s < 0 for s in args.seeds):
    raise UsageError(f"--seeds must be non-negative integers, got {args.seeds}")
  out = Path(args.out) if args.out is not None else default_out(args.experiment, args.quick)
  return int(_cli_module(args.experiment).run(args, out) or 0)


def seeded(config, args: argparse.Namespace):
  """``config`` with ``--seeds`` applied (unchanged without it)."""
  from gradeng.cli import UsageError
  from gradeng.experiments import with_seeds

  if args.seeds is None:
    return config
  try:
    return with_seeds(config, args.seeds)
  except ValueError as error:
    raise UsageError(f"--seeds: experiment {args.experiment!r} cannot take them ({error})") from None
