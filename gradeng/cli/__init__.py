"""The `gradeng` command line: one sub-command per module, imported only when used.

Each sub-command module defines ``configure(parser)`` and ``run(args) -> int``. Bad input
raises `UsageError` (command-line input) or `gradeng.InputError` (the library's input checks),
printed as one line (``gradeng COMMAND: error: ...``) with exit code 2; any other exception is a
bug and keeps its traceback.

The commands that train (`DETERMINISTIC_COMMANDS`) run under the pinned XLA:CPU flags of
`gradeng.experiments.common.DETERMINISTIC_XLA_FLAGS` (set before JAX starts its backend; flags
the user set in ``XLA_FLAGS`` win), so their results do not depend on the host's instruction set.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gradeng.runtime import InputError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "derive": ("gradeng.cli.derive", "derive a loss from a scale-coefficient formula g(p)"),
    "budget": ("gradeng.cli.budget", "summed scale coefficients of easy vs hard groups (paper §2.1)"),
    "figures": ("gradeng.cli.figures", "regenerate the paper's figures 1-2 and extended figures"),
    "derivations": ("gradeng.cli.derivations", "write the derivation reports to derivations/"),
    "experiment": ("gradeng.cli.experiment", "run an experiment: gradeng experiment NAME --help"),
    "simulate": ("gradeng.cli.simulate", "one toy imbalance sweep (alias: gradeng experiment toy runs them all)"),
    "learn-coefficient": ("gradeng.cli.learn_coefficient", "alias of gradeng experiment learn"),
    "reproduce": ("gradeng.cli.reproduce", "regenerate everything (quick by default)"),
    "card": ("gradeng.cli.card", "write a self-contained HTML loss card for a formula g(p)"),
    "evaluate": ("gradeng.cli.evaluate", "evaluate your own loss g(p) against baselines through experiments"),
}


#: commands whose results are committed: run under `use_deterministic_xla`
DETERMINISTIC_COMMANDS = frozenset({"experiment", "reproduce", "simulate", "learn-coefficient",
                                    "evaluate"})


class UsageError(InputError):
  """Bad command-line input: reported in one line, exit code 2."""


#: optional dependency -> the extra that installs it (pyproject.toml)
_EXTRAS = {"flax": "experiments", "sklearn": "experiments", "tqdm": "experiments",
           "matplotlib": "paper"}


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="gradeng", description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
  argv = sys.argv[1:] if argv is None else argv
  wanted = argv[0] if argv and argv[0] in COMMANDS else None
  if wanted in DETERMINISTIC_COMMANDS:  # before any JAX computation: XLA reads its flags then
    from gradeng.experiments.common import use_deterministic_xla

    use_deterministic_xla()
  modules, parsers = {}, {}
  for name, (module_name, help_text) in COMMANDS.items():
    parsers[name] = sub.add_parser(name, help=help_text, description=help_text)
    if name == wanted:  # import only the module that will run
      modules[name] = importlib.import_module(module_name)
      modules[name].configure(parsers[name])
  args, unknown = parser.parse_known_args(argv)
  if unknown:  # a mistyped option: the usage of the (sub-)command it was given to
    nested = getattr(modules[args.command], "parser_for", lambda _: None)(args)
    (nested or parsers[args.command]).error(f"unrecognized arguments: {' '.join(unknown)}")
  try:
    return int(modules[args.command].run(args) or 0)
  except InputError as error:  # UsageError and the library's own input checks; not bugs
    parser.exit(2, f"gradeng {args.command}: error: {error}\n")
  except ModuleNotFoundError as error:  # an optional dependency of this command is missing
    extra = _EXTRAS.get((error.name or "").partition(".")[0])
    if extra is None:
      raise
    parser.exit(2, f"gradeng {args.command}: error: needs `{error.name}`, which is not installed; "
                   f"pip install 'gradeng[{extra}]' (or '.[{extra}]' in a checkout)\n")


if __name__ == "__main__":
  sys.exit(main())
