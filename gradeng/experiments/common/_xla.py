"""The XLA:CPU flags under which the experiments' committed numbers were produced.

XLA:CPU compiles every program for the host's instruction set: on a machine with AVX-512 it
uses 512-bit vectors and AVX-512's FMA and math paths, on one without it AVX2's. The roundings
differ, a few hundred optimiser steps amplify them, and a run on another machine of the "same
kind" (a 2-core x86-64 VM whose CPU model differs) ends with different weights and metrics.
Measured on the ordinal experiment (``docs/experiments/determinism.md``): capping the ISA at AVX2
changes the trained weights and the test MAE of one run by 0.03; single-threaded Eigen, XNNPACK
and oneDNN change nothing. Capping every run at AVX2 (`DETERMINISTIC_XLA_FLAGS`) makes the code
XLA generates the same on every x86-64 CPU that has AVX2, so results no longer depend on whether
the machine has AVX-512 (at no measurable speed cost on the 2-core CPU).

What this does not remove: XLA's CPU runtime splits work by the number of cores it sees, and a
run on 1 core differs from one on 2 (measured); the committed quick outputs are for 2 cores.

The flags are set in the environment before JAX starts its CPU backend (`XLA_FLAGS` is read
then, not at ``import jax``); a flag the user already set in ``XLA_FLAGS`` wins. ``gradeng
experiment``, ``gradeng reproduce``, ``gradeng simulate`` and ``gradeng learn-coefficient``
apply them (`gradeng.cli.main`); to run on the host's native ISA instead, set the cap yourself,
e.g. ``XLA_FLAGS=--xla_cpu_max_isa=AVX512 gradeng experiment ...``.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

#: Flags applied by the experiment commands (each ``--name=value``; the user's value wins).
DETERMINISTIC_XLA_FLAGS: tuple[str, ...] = ("--xla_cpu_max_isa=AVX2",)


def _flag_name(flag: str) -> str:
  return flag.partition("=")[0].lstrip("-")


def merge_xla_flags(user: str, defaults: tuple[str, ...] = DETERMINISTIC_XLA_FLAGS) -> str:
  """``user``'s ``XLA_FLAGS`` with each of ``defaults`` whose name it does not set appended.

  Args:
    user: the current value of ``XLA_FLAGS`` (may be empty).
    defaults: flags of the form ``--name=value``.

  Returns:
    The merged value: ``user``'s flags first and unchanged, then the missing defaults.

  Example::

    >>> merge_xla_flags("--xla_cpu_max_isa=SSE4_2 --xla_dump_to=/tmp/d")
    '--xla_cpu_max_isa=SSE4_2 --xla_dump_to=/tmp/d'
    >>> merge_xla_flags("")
    '--xla_cpu_max_isa=AVX2'
  """
  for flag in defaults:
    if not flag.startswith("--") or "=" not in flag:
      raise ValueError(f"an XLA flag must read `--name=value`, got {flag!r}")
  present = {_flag_name(f) for f in user.split()}
  missing = [f for f in defaults if _flag_name(f) not in present]
  return " ".join([user.strip()] + missing if user.strip() else missing)


def use_deterministic_xla(environ: MutableMapping[str, str] | None = None) -> str:
  """Sets ``XLA_FLAGS`` in ``environ`` (default ``os.environ``) to `merge_xla_flags` of it.

  Takes effect only if JAX has not yet started its CPU backend in this process (no array
  created, nothing compiled); ``import jax`` alone does not start it.

  Returns:
    The new value of ``XLA_FLAGS``.
  """
  environ = os.environ if environ is None else environ
  environ["XLA_FLAGS"] = merge_xla_flags(environ.get("XLA_FLAGS", ""))
  return environ["XLA_FLAGS"]
