"""Shared test configuration: a hermetic run (no writes to $HOME or the tree)."""

import os
import sys
import tempfile

import hypothesis

sys.dont_write_bytecode = True  # no __pycache__ written into the checkout by the tests
# Hypothesis keeps no example database in the working directory, and draws the same examples
# on every run (a failure reproduces; CI does not flake on a rare draw).
hypothesis.settings.register_profile("hermetic", database=None, derandomize=True)
hypothesis.settings.load_profile("hermetic")

# Before anything imports gradeng or matplotlib: caches go to one temporary directory per test
# process (xdist worker), removed at exit, never to ~/.cache.
_SCRATCH = tempfile.TemporaryDirectory(prefix="gradeng-tests-")
os.environ["GRADENG_CACHE_DIR"] = os.path.join(_SCRATCH.name, "gradeng")
os.environ["MPLCONFIGDIR"] = os.path.join(_SCRATCH.name, "matplotlib")
os.environ.setdefault("MPLBACKEND", "Agg")
# One compilation cache for the whole run, shared by the xdist workers (they inherit it from the
# controlling process, which removes it at exit): a program one worker compiled, the other loads
# (the eager operations at the shapes every test file uses, above all).
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(_SCRATCH.name, "jax")
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
# Two simulated CPU devices (one per core of the CI machine), set before JAX starts: the sharded
# sweeps and meta-gradient steps are tested against one device in-process, with no subprocess.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_force_host_platform_device_count=2").strip()
