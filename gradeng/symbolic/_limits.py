"""Limits for SymPy (which can run for minutes on some integrals), in a worker process.

SymPy runs in a separate worker process (a fresh interpreter started with `subprocess`), never
in the caller's: the caller's signal handlers, threads and garbage-collector settings are left alone,
and a computation past its limit is ended by killing the worker, which nothing inside SymPy can
swallow. `run_in_worker` sends one task (a module-level function and its arguments) and waits;
the worker is started on first use (~1-3 s: a fresh interpreter importing SymPy and gradeng),
reused for later tasks, replaced after a kill, and ended when the caller's interpreter exits
(`atexit`).

Inside the worker each SymPy step (an integration strategy, a limit, a simplification, a check)
runs under `time_limited`, bounded by its own *work*, not by time, so that what a derivation finds
does not depend on how loaded the machine is: the work is the number of garbage-collector runs
(the interpreter's count of container objects allocated and kept, one run per 700; SymPy allocates
without pause while it works), which is the same on a quiet and on a saturated machine for the same
computation. A limit of ``seconds`` allows `WORK_PER_SECOND` × ``seconds`` runs (calibrated so that
one unit is about a CPU second of SymPy on the 2-core reference machine). The worker runs with
``PYTHONHASHSEED=0`` and fixed collector thresholds, so that set orders and hence SymPy's paths
are the same in every worker; it builds SymPy's one-time tables when it starts (`_warm_up`) and
clears the recursion marks an interrupted step leaves in SymPy before each task
(`_reset_sympy_marks`), so that a task does the same work whatever the worker ran before. A step
past its budget is interrupted (a signal raised after the collector's callback has returned) and
its result discarded whatever happened after the budget ran out, so that the outcome is a
function of the work alone. A computation that allocates nothing for
long (pure integer arithmetic) is still ended by a CPU-time backstop at `BACKSTOP_FACTOR` × its
budget (SIGVTALRM); only that rare case depends on the machine. `attempt` turns a limit or a SymPy
failure into a note and ``None`` so that the next strategy is tried; a `DerivationError` (e.g. a
divergent integral) ends the whole derivation instead.
"""

from __future__ import annotations

import atexit
import gc
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from gradeng.runtime import DerivationError as DerivationError
from gradeng.runtime import InputError

T = TypeVar("T")

#: Work (in units of about a CPU second, see `WORK_PER_SECOND`) allowed for one SymPy integration
#: attempt, and for one once a checked closed form is in hand (looking for a simpler one: e.g. an
#: elementary form besides the Lerch Φ one).
ATTEMPT_SECONDS = 30.0
IMPROVE_SECONDS = 5.0
#: Work allowed for one integration attempt of a g without free parameters, which a fitted
#: approximant serves where SymPy finds nothing: every closed form SymPy found for the
#: benchmark's formulas took at most 2.6 units (117 collector runs), a failing attempt took
#: all it was given (30 units: ~80 s of a first build).
NUMERIC_ATTEMPT_SECONDS = 8.0
#: Work allowed for one SymPy simplification, limit or symbolic check.
STEP_SECONDS = 8.0
#: Garbage-collector runs per unit of work: SymPy's integration ran 42-48 per CPU second on the
#: 2-core reference machine (AMD EPYC, 2026-12), measured over `sympy.integrate` of four g.
WORK_PER_SECOND = 45
#: A step that allocates too little to be bounded by its work is ended after this many times its
#: budget in CPU seconds.
BACKSTOP_FACTOR = 4.0
#: Collector thresholds in the worker (CPython's defaults, fixed so that the work count is).
_GC_THRESHOLDS = (700, 10, 10)
#: CPU seconds after which a whole task in the worker is ended (a backstop above the sum of the
#: step limits a derivation can use), and the wall-clock backstop where CPU time is not readable.
TASK_SECONDS = 240.0
#: Wall seconds allowed for the worker to start (a fresh interpreter importing gradeng).
STARTUP_SECONDS = 300.0


class _TimeUp(BaseException):
  """Raised inside a computation that ran past its time limit.

  A `BaseException`, so that SymPy's own ``except Exception`` clauses cannot swallow it.
  """


class WorkerTimeout(TimeoutError):
  """A task sent to the SymPy worker ran past its time and the worker was ended."""


# ---------------------------------------------------------------------------------------------
# Inside the worker: a CPU-time timer per step


_IN_WORKER = False
_CONNECTION = None  # the worker's end of the pipe (progress messages go through it)
_EXPIRED = False  # the CPU-time backstop fired (its exception may have been swallowed)
_WORK = 0  # garbage-collector runs in this worker so far
_DEADLINES: list[int] = []  # the work at which each enclosing step runs out, innermost last
_IN_CALLBACK = False


def _raise_time_up(signum, frame):  # pylint: disable=unused-argument
  global _EXPIRED
  _EXPIRED = True
  raise _TimeUp()


def _raise_out_of_work(signum, frame):  # pylint: disable=unused-argument
  if _IN_CALLBACK or frame is None or frame.f_code is _count_work.__code__:
    # inside the collector's callback an exception would be swallowed: a little later
    signal.setitimer(signal.ITIMER_REAL, 1e-4)
    return
  if _DEADLINES and _WORK >= min(_DEADLINES):
    raise _TimeUp()


def _count_work(phase: str, info: dict) -> None:  # pylint: disable=unused-argument
  """The collector's callback: count a run; past the innermost budget, ask for an interrupt."""
  global _WORK, _IN_CALLBACK
  if phase != "start":
    return
  _IN_CALLBACK = True
  try:
    _WORK += 1
    if _DEADLINES and _WORK >= min(_DEADLINES):
      signal.setitimer(signal.ITIMER_REAL, 1e-4)  # delivered once this callback has returned
  finally:
    _IN_CALLBACK = False


def work_done() -> int:
  """Garbage-collector runs in this worker so far (the unit of `time_limited`'s budgets)."""
  return _WORK


def _with_work_limit(fn: Callable[[], T], seconds: float) -> T:
  """``fn()`` within ``seconds`` × `WORK_PER_SECOND` collector runs; `_TimeUp` when it needs
  more, whether or not the interrupt reached it (the result of a step past its budget is
  discarded), so that the outcome depends on the work only."""
  deadline = _WORK + max(1, round(seconds * WORK_PER_SECOND))
  # Other callbacks (JAX registers one on import) would run after ours in the same collection,
  # where the interrupt could land and be swallowed; the worker holds no device buffers.
  gc.callbacks[:] = [_count_work]
  _DEADLINES.append(deadline)
  try:
    value = _with_alarm(fn, BACKSTOP_FACTOR * seconds)
    if _WORK >= deadline:
      raise _TimeUp()
    return value
  except _TimeUp:
    raise
  except BaseException:
    if _WORK >= deadline:  # an interrupt turned into another error inside SymPy
      raise _TimeUp() from None
    raise
  finally:
    _DEADLINES.pop()
    if not _DEADLINES:
      signal.setitimer(signal.ITIMER_REAL, 0)
    elif _WORK >= min(_DEADLINES):  # an enclosing step ran out meanwhile
      signal.setitimer(signal.ITIMER_REAL, 1e-4)


def _with_alarm(fn: Callable[[], T], seconds: float) -> T:
  """``fn()`` interrupted by SIGVTALRM after ``seconds`` of CPU time; an outer timer of the same
  kind is kept and restored. A timer that fired but whose exception was swallowed still ends the
  step (`_EXPIRED`)."""
  global _EXPIRED
  outer_handler = signal.signal(signal.SIGVTALRM, _raise_time_up)
  outer_delay, _ = signal.getitimer(signal.ITIMER_VIRTUAL)
  outer_expired, _EXPIRED = _EXPIRED, False
  start = time.process_time()
  signal.setitimer(signal.ITIMER_VIRTUAL, min(seconds, outer_delay) if outer_delay > 0 else seconds)
  try:
    value = fn()
    if _EXPIRED:
      raise _TimeUp()
    return value
  finally:
    signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    signal.signal(signal.SIGVTALRM, outer_handler)
    _EXPIRED = outer_expired
    if outer_delay > 0:  # let the outer timer fire when it was due (at once if already due)
      used = time.process_time() - start
      signal.setitimer(signal.ITIMER_VIRTUAL, max(outer_delay - used, 1e-3))


def time_limited(fn: Callable[[], T], seconds: float) -> T:
  """``fn()``, or `_TimeUp` past ``seconds`` of work.

  In the SymPy worker (where every derivation runs) the computation is bounded by its work
  (``seconds`` × `WORK_PER_SECOND` collector runs, see the module docstring), with a CPU-time
  backstop. Called in any other process, ``fn`` must be a picklable module-level function
  with no arguments bound by closures; it is sent to the worker, which is ended at the deadline
  (no signal handler or thread is installed in the caller).
  """
  if _IN_WORKER:
    return _with_work_limit(fn, seconds)
  try:
    return run_in_worker(fn, (), seconds=seconds)
  except WorkerTimeout:
    raise _TimeUp() from None


def gave_up_note(what: str, seconds: float) -> str:
  """The note `attempt` leaves when step ``what`` ran out of its budget."""
  return f"{what}: gave up after {seconds:g} s"


def attempt(fn: Callable[[], T], seconds: float, notes: list[str], what: str) -> T | None:
  """``fn()`` under a time limit; ``None`` (with a note) on time-out or a SymPy failure."""
  progress(what)
  try:
    return time_limited(fn, seconds)
  except _TimeUp:
    notes.append(gave_up_note(what, seconds))
  except DerivationError:
    raise
  except Exception as error:  # pylint: disable=broad-except
    # SymPy's internals fail in many ways (NotImplementedError, PolynomialError, KeyError, ...);
    # each only means "this attempt found nothing", so the next strategy is tried.
    notes.append(f"{what}: SymPy failed ({type(error).__name__})")
  return None


def progress(what: str) -> None:
  """Report the step the worker is on to the caller (shown by ``gradeng derive``)."""
  if _CONNECTION is not None:
    try:
      _CONNECTION.send(("progress", what))
    except (OSError, ValueError):
      pass


def _serve(inbox: Connection, outbox: Connection) -> None:
  """The worker's loop: receive (function, arguments), send back ("ok", value) or
  ("error", exception); progress messages go out in between."""
  global _IN_WORKER, _CONNECTION
  _IN_WORKER, _CONNECTION = True, outbox
  gc.set_threshold(*_GC_THRESHOLDS)
  # Only ours from the start (JAX, imported with `gradeng.runtime`, registers one; a step's
  # `_with_work_limit` drops it too), so that a task's first step sees what later ones see.
  gc.callbacks[:] = [_count_work]
  signal.signal(signal.SIGALRM, _raise_out_of_work)
  while True:
    try:
      fn, args = inbox.recv()
    except (EOFError, OSError):
      return  # the caller has gone
    _reset_sympy_marks()
    try:
      reply = ("ok", fn(*args))
    except BaseException as error:  # pylint: disable=broad-except  # re-raised in the caller
      reply = ("error", error)
    try:
      outbox.send(reply)
    except (pickle.PicklingError, TypeError, AttributeError):
      kind, value = reply
      outbox.send(("error", RuntimeError(f"{type(value).__name__}: {value}")
                   if kind == "error" else RuntimeError("the result cannot be sent back")))


#: SymPy modules imported on first use by its integration and its sets (their import would count
#: as the work of the first step that needs them, in the first task only).
_LAZY_MODULES = ("sympy.integrals.prde", "sympy.integrals.rde", "sympy.integrals.risch",
                 "sympy.polys.domains.old_fractionfield", "sympy.polys.domains.old_polynomialring",
                 "sympy.polys.polymatrix", "sympy.physics.units", "sympy.sets.handlers.functions",
                 "sympy.sets.handlers.issubset", "sympy.sets.setexpr", "sympy.assumptions.wrapper")


def _warm_up() -> None:
  """Build SymPy's one-time tables before the first task, so that every task starts from the
  same state whatever the worker did before.

  SymPy builds them on first use: the modules it imports lazily (`_LAZY_MODULES`), the Meijer
  G lookup table of `meijerint` (filled in place, so that a step interrupted at its budget while
  building it leaves it half built for every later task), the formula collections of
  `hyperexpand`, the special-function patterns of `manualintegrate`, the patterns of
  `trigsimp`. Without this the outcome of a budgeted step
  depended on the worker's history (tested in ``tests/test_build_timeout.py``).
  """
  import importlib

  import sympy as sp
  # (`sympy.simplify` is also a function: the modules are looked up by name.)
  heurisch, manualintegrate, meijerint, hyperexpand, trigsimp = (
      importlib.import_module(f"sympy.{name}") for name in (
          "integrals.heurisch", "integrals.manualintegrate", "integrals.meijerint",
          "simplify.hyperexpand", "simplify.trigsimp"))

  for name in _LAZY_MODULES:
    importlib.import_module(name)
  # pylint: disable=protected-access
  x = sp.Dummy("x", positive=True)
  meijerint._rewrite_single(x, x)  # builds `_lookup_table`
  hyperexpand.hyperexpand(sp.hyper([1, 1], [2], x))  # `_collection`
  hyperexpand.hyperexpand(sp.meijerg([], [], [0], [], x))  # `_meijercollection`
  trigsimp._trigpats()
  manualintegrate.special_function_rule(manualintegrate.IntegralInfo(sp.exp(x) / x, x))
  heurisch.DiffCache(x)  # `_bessel_table`
  sp.core.cache.clear_cache()
  gc.collect()


def _reset_sympy_marks() -> None:
  """Forget what earlier tasks left in SymPy's module-level recursion marks, so that each task
  starts from the same state (`_warm_up` built the one-time tables).

  `manualintegrate` marks an integrand as in progress in ``_integral_cache`` and unmarks it on
  return, not when an exception (a step's budget, or SymPy's own failure) passes through; a
  marked integrand is given up at once by every later `manualintegrate`, so that a derivation
  after an interrupted one did less work and could find something else.
  """
  module = sys.modules.get("sympy.integrals.manualintegrate")
  for name in ("_integral_cache", "_parts_u_cache"):
    marks = getattr(module, name, None)
    if isinstance(marks, dict):
      marks.clear()


def _main() -> None:
  """Entry point of the worker process: ``python -c ... <inbox fd> <outbox fd>``."""
  inbox, outbox = (int(fd) for fd in sys.argv[1:3])
  outbox_connection = Connection(outbox, readable=False)
  try:
    _warm_up()
  except Exception:  # pylint: disable=broad-except  # another SymPy: its tables build on use
    pass
  outbox_connection.send(("ready", None))
  _serve(Connection(inbox, writable=False), outbox_connection)


# ---------------------------------------------------------------------------------------------
# In the caller: one worker process, ended at a deadline


def _cpu_seconds(pid: int) -> float | None:
  """User + system CPU seconds of process ``pid`` (Linux ``/proc``), None where unreadable."""
  try:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
      fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
  except (OSError, ValueError, IndexError):
    return None


#: The worker's program. The `gradeng` package is registered without running its
#: ``__init__`` (which imports JAX and the experiments): the worker needs only SymPy, mpmath and
#: the symbolic modules, and starts in about a second instead of several.
_BOOTSTRAP = """
import importlib.util, sys, types
spec = importlib.util.find_spec("gradeng")
package = types.ModuleType("gradeng")
package.__path__, package.__spec__, package.__file__ = (
    list(spec.submodule_search_locations), spec, spec.origin)
sys.modules["gradeng"] = package
from gradeng.symbolic._limits import _main
_main()
"""


class _Worker:
  """A fresh interpreter running `_serve` (started with `subprocess`, so that the caller's
  ``__main__`` is never re-imported, unlike `multiprocessing`'s spawn), with two pipes."""

  def __init__(self):
    inbox_read, inbox_write = os.pipe()
    outbox_read, outbox_write = os.pipe()
    # A fixed hash seed: SymPy iterates over sets of symbols, so their order (and with it the
    # path SymPy takes and the work it does) must not change from one worker to the next.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
           "PYTHONHASHSEED": "0"}
    self.owner = os.getpid()  # a forked child must not use (or end) its parent's worker
    self.process = subprocess.Popen(
        [sys.executable, "-c", _BOOTSTRAP, str(inbox_read), str(outbox_write)],
        pass_fds=(inbox_read, outbox_write), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, env=env)
    os.close(inbox_read)
    os.close(outbox_write)
    self.inbox = Connection(inbox_write, readable=False)
    self.outbox = Connection(outbox_read, writable=False)
    # Wait until the worker has imported SymPy and gradeng, so that start-up time is not
    # counted against the first task's limit.
    if not self.outbox.poll(STARTUP_SECONDS) or self.outbox.recv() != ("ready", None):
      self.stop()
      raise RuntimeError(f"the SymPy worker process did not start within {STARTUP_SECONDS:g} s.")

  def alive(self) -> bool:
    return self.process.poll() is None

  def stop(self) -> None:
    if self.alive():
      self.process.kill()
    self.process.wait()
    self.inbox.close()
    self.outbox.close()


_WORKER: _Worker | None = None
_LOCK = threading.Lock()


def _stop_worker() -> None:
  """End this process's worker, if one runs (at interpreter exit: a worker left running would be
  reported as ``ResourceWarning: subprocess ... is still running``)."""
  global _WORKER
  # A daemon thread may still hold the lock mid-task at exit: do not wait for it for long.
  locked = _LOCK.acquire(timeout=1.0)
  try:
    worker, _WORKER = _WORKER, None
    if worker is not None and worker.owner == os.getpid():
      worker.stop()
  finally:
    if locked:
      _LOCK.release()


atexit.register(_stop_worker)


def run_in_worker(fn: Callable[..., T], args: tuple[Any, ...] = (), *, seconds: float = TASK_SECONDS,
                  wall_seconds: float | None = None,
                  on_progress: Callable[[str], None] | None = None) -> T:
  """``fn(*args)`` in the SymPy worker process; its exceptions are re-raised here.

  Args:
    fn: a module-level (picklable) function.
    args: its (picklable) arguments.
    seconds: CPU seconds the task may use (wall seconds where CPU time cannot be read).
    wall_seconds: an additional wall-clock limit (the user's ``--timeout``), or None.
    on_progress: called with each step the worker reports.

  Raises:
    WorkerTimeout: past either limit; the worker is ended (a new one starts on the next call).
  """
  global _WORKER
  if _IN_WORKER:
    return fn(*args)
  if os.name != "posix":  # no inheritable pipe descriptors: run here, without a time limit
    return fn(*args)
  with _LOCK:
    if _WORKER is None or _WORKER.owner != os.getpid() or not _WORKER.alive():
      _WORKER = _Worker()
    worker = _WORKER
    start_wall = time.monotonic()
    start_cpu = _cpu_seconds(worker.process.pid)
    worker.inbox.send((fn, args))
    while True:
      if worker.outbox.poll(0.05):
        try:
          kind, value = worker.outbox.recv()
        except (EOFError, OSError):
          worker.stop()
          _WORKER = None
          raise RuntimeError("the SymPy worker process ended unexpectedly") from None
        if kind == "progress":
          if on_progress is not None:
            on_progress(value)
          continue
        if kind == "error":
          raise value
        return value
      elapsed = time.monotonic() - start_wall
      cpu = _cpu_seconds(worker.process.pid)
      used = elapsed if cpu is None or start_cpu is None else cpu - start_cpu
      over_wall = wall_seconds is not None and elapsed > wall_seconds
      # A wall-clock backstop too, in case the worker waits rather than computes.
      if not worker.alive():
        worker.stop()
        _WORKER = None
        raise RuntimeError("the SymPy worker process ended unexpectedly")
      if used > seconds or over_wall or elapsed > 4 * seconds + 30:
        worker.stop()
        _WORKER = None
        limit = (f"{wall_seconds:g} s (wall clock)" if over_wall
                 else f"{seconds:g} s of CPU time")
        raise WorkerTimeout(f"the SymPy worker gave up after {limit}.")
