"""The options of the commands that run as one program over several processes (`jax.distributed`).

``gradeng simulate``, ``gradeng experiment toy``, ``gradeng experiment learn`` and ``gradeng
learn-coefficient`` take them (`configure`) and call `initialize` first thing in their ``run``,
before any JAX computation. Either the three explicit options or ``--distributed`` (JAX detects
a Cloud TPU pod, SLURM or Open MPI); without them the command runs as one process.
"""

from __future__ import annotations

import argparse

_OPTIONS = ("--coordinator", "--num-processes", "--process-id")


def configure(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group(
      "several processes", "run as one JAX program over several processes (one per host or per "
      "GPU), the same command in each; only process 0 writes (README: Beyond one machine)")
  group.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                     help="address of process 0's coordinator service, reachable from every "
                     "process (with --num-processes and --process-id)")
  group.add_argument("--num-processes", type=int, default=None, metavar="N",
                     help="number of processes")
  group.add_argument("--process-id", type=int, default=None, metavar="I",
                     help="this process's index, 0 … N-1 (0 writes the results)")
  group.add_argument("--distributed", action="store_true",
                     help="detect the processes from the cluster (Cloud TPU pod, SLURM, Open MPI)")


def initialize(args: argparse.Namespace) -> None:
  """Connects the processes if ``args`` ask for it (`initialize_distributed`); else nothing."""
  from gradeng.cli import UsageError

  values = (args.coordinator, args.num_processes, args.process_id)
  given = [option for option, value in zip(_OPTIONS, values) if value is not None]
  if args.distributed and given:
    raise UsageError(f"--distributed detects the processes itself; drop {', '.join(given)} or "
                     f"--distributed")
  if given and len(given) < len(_OPTIONS):
    missing = [option for option in _OPTIONS if option not in given]
    raise UsageError(f"{', '.join(_OPTIONS)} go together; missing {', '.join(missing)}")
  if not (given or args.distributed):
    return
  from gradeng.experiments.common import initialize_distributed

  initialize_distributed(*values)
