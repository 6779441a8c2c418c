"""The `gradeng` command line: one sub-command per module, imported only when used.

Each sub-command module defines ``configure(parser)`` and ``run(args) -> int``. Bad input
raises `UsageError` (command-line input) or `gradeng.InputError` (the library's input checks),
printed as one line (``gradeng COMMAND: error: ...``) with exit code 2; any other exception is a
bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gradeng.runtime._errors import InputError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "derive": ("gradeng.cli.derive", "derive a loss from a scale-coefficient formula g(p)"),
    "budget": ("gradeng.cli.budget", "summed scale coefficients of easy vs hard groups (paper §2.1)"),
    "figures": ("gradeng.cli.figures", "regenerate the paper's figures 1-2 and extended figures"),
    "derivations": ("gradeng.cli.derivations", "write the derivation reports to derivations/"),
    "simulate": ("gradeng.cli.simulate", "run a toy imbalance simulation sweep"),
    "experiment": ("gradeng.cli.experiment", "run an experiment: gradeng experiment NAME --help"),
    "learn-coefficient": ("gradeng.cli.learn_coefficient", "learn the scale coefficient by meta-gradients (issue 13)"),
    "reproduce": ("gradeng.cli.reproduce", "regenerate everything (quick by default)"),
}


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
  modules = {}
  for name, (module_name, help_text) in COMMANDS.items():
    command_parser = sub.add_parser(name, help=help_text, description=help_text)
    if name == wanted:  # import only the module that will run
      modules[name] = importlib.import_module(module_name)
      modules[name].configure(command_parser)
  args = parser.parse_args(argv)
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
