"""Shared test configuration: a hermetic run (no writes to $HOME or the tree)."""

import collections
import gc
import os
import sys
import tempfile

import hypothesis
import hypothesis.configuration
import mpmath
import pytest

sys.dont_write_bytecode = True  # no __pycache__ written into the checkout by the tests
# Hypothesis keeps no example database in the working directory, and draws the same examples
# on every run (a failure reproduces; CI does not flake on a rare draw).
hypothesis.settings.register_profile("hermetic", database=None, derandomize=True)
hypothesis.settings.load_profile("hermetic")

# Before anything imports gradeng or matplotlib: caches go to one temporary directory of the
# run, made by the controlling process and removed when it exits, never to ~/.cache. The xdist
# workers inherit it: a derivation one worker stored (written atomically), the other reads.
if "GRADENG_TESTS_SCRATCH" not in os.environ:
  _SCRATCH = tempfile.TemporaryDirectory(prefix="gradeng-tests-")
  os.environ["GRADENG_TESTS_SCRATCH"] = _SCRATCH.name
_SCRATCH_DIR = os.environ["GRADENG_TESTS_SCRATCH"]
os.environ["GRADENG_CACHE_DIR"] = os.path.join(_SCRATCH_DIR, "gradeng")
os.environ["MPLCONFIGDIR"] = os.path.join(_SCRATCH_DIR, "matplotlib")
# Hypothesis keeps its own files (the constants it collects from the code under test, Unicode
# tables) in ./.hypothesis unless told otherwise, even with no example database.
hypothesis.configuration.set_hypothesis_home_dir(os.path.join(_SCRATCH_DIR, "hypothesis"))
os.environ.setdefault("MPLBACKEND", "Agg")
# mpmath's working precision for every test's references: 50 digits (modules used to set it at
# import, so that the one imported last decided it); a test wanting other digits says so locally
# (``mp.workdps``).
mpmath.mp.dps = 50
# No persistent JAX compilation cache (JAX's default: none, nothing written to ~/.cache). A
# cache shared by the two xdist workers was tried: serialising and writing each of the run's
# ~4,600 programs cost more than the ~1,000 the other worker loaded saved (601 -> 550 core-
# seconds of tests without it, on a 2-core machine).
# Two simulated CPU devices (one per core of the CI machine), set before JAX starts: the sharded
# sweeps and meta-gradient steps are tested against one device in-process, with no subprocess.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_force_host_platform_device_count=2").strip()
# XLA:CPU compiles the suite's ~5,000 programs with LLVM at -O1 instead of its default -O2: the
# same numbers (FMA contraction is on at both; -O0, which drops it, changes the last bits of
# log1p, exp and with them every loss) for 8% less CPU over the suite (633 -> 584 core-seconds,
# measured on a 2-core machine). Checked bit for bit by test_toy_sweep's 8-device process,
# which runs at the default level: the catalog's values and gradients and the toy sweeps' trainings.
if "xla_backend_optimization_level" not in os.environ["XLA_FLAGS"]:
  os.environ["XLA_FLAGS"] += " --xla_backend_optimization_level=1"


# Python's cyclic garbage collector at its default thresholds (700, 10, 10) ran ~1,900 times in
# 45 s of these tests, walking the large heap JAX, SymPy and mpmath build up; collecting less
# often saves ~3% of the suite's CPU. SymPy's own work budgets count collector runs, but only in
# its worker process, which starts at the default thresholds whatever the caller's
# (`test_limits.test_garbage_collector_settings_of_the_caller_do_not_reach_sympy`).
gc.set_threshold(50_000, 50, 100)


def pytest_collection_finish(session):
  """What collection imported (JAX, SymPy, the test modules) lives to the end of the run:
  moved out of the collector's generations, later collections do not walk it again."""
  gc.freeze()


def pytest_collection_modifyitems(items):
  """Files with a ``slow`` test first, then the rest, each group by its number of tests (most
  first), each file's tests in their own order. xdist hands out whole files in this order
  (``--dist loadfile --no-loadscope-reorder``): ordered by the number of tests alone, as xdist
  does by default, a long file of few tests (the build under load, the two-process run) came
  last and ran alone on one worker while the other had nothing left."""
  slow = {item.path for item in items if item.get_closest_marker("slow")}
  counts = collections.Counter(item.path for item in items)
  items.sort(key=lambda item: (item.path not in slow, -counts[item.path]))



@pytest.fixture(autouse=True)
def _mpmath_precision_left_as_found():
  """mpmath's precision is one global of the process: a test that leaves it changed changes the
  references of every later test in its worker (the catalog's 50-digit references, computed at
  30 digits after one such test, failed where they cancel). Set it with ``mp.workdps``."""
  before = mpmath.mp.prec
  yield
  assert mpmath.mp.prec == before, "this test left mpmath's global precision changed"


@pytest.fixture(autouse=True)
def _xla_flags_left_as_found():
  """The experiment commands pin the instruction set in ``XLA_FLAGS`` for the rest of their
  process (`gradeng.experiments.common`); run in a test process, that stayed for every later test
  and for the subprocesses those start. Put back after each test."""
  before = os.environ.get("XLA_FLAGS")
  yield
  if before is None:
    os.environ.pop("XLA_FLAGS", None)
  else:
    os.environ["XLA_FLAGS"] = before


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
  """An xdist worker ends here, its results already sent to the controller: without tearing down
  the run's thousands of compiled programs and the interpreter's heap, which took both workers
  ~7 s after their last test. Its SymPy worker is ended first (what its exit handler does)."""
  if "PYTEST_XDIST_WORKER" not in os.environ:
    return
  limits = sys.modules.get("gradeng.symbolic._limits")
  if limits is not None:
    limits._stop_worker()  # pylint: disable=protected-access
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(0)
