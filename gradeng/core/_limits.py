"""Time limits for SymPy (which can run for minutes on some integrals).

Each SymPy step of a derivation (an integration strategy, a limit, a simplification, a check)
runs under `time_limited`; `attempt` turns a time-out or a SymPy failure into a note and
``None`` so that the next strategy is tried. A `DerivationError` (e.g. a divergent integral)
ends the whole derivation instead.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: CPU seconds allowed for one SymPy integration attempt, and for one once a checked closed form
#: is in hand (looking for a simpler one: e.g. an elementary form besides the Lerch Φ one).
ATTEMPT_SECONDS = 30.0
IMPROVE_SECONDS = 5.0
#: CPU seconds allowed for one SymPy simplification, limit or symbolic check.
STEP_SECONDS = 8.0


class DerivationError(ValueError):
  """An error that ends a derivation (not just one attempt), e.g. a divergent integral."""


class _TimeUp(BaseException):
  """Raised inside a computation that ran past its time limit.

  A `BaseException`, so that SymPy's own ``except Exception`` clauses cannot swallow it.
  """


def _raise_time_up(signum, frame):  # pylint: disable=unused-argument
  raise _TimeUp()


def _with_alarm(fn: Callable[[], T], seconds: float) -> T:
  """``fn()`` interrupted by SIGVTALRM after ``seconds`` of CPU time (so that a busy machine does
  not change what is found); an outer timer of the same kind is kept and restored."""
  outer_handler = signal.signal(signal.SIGVTALRM, _raise_time_up)
  outer_delay, _ = signal.getitimer(signal.ITIMER_VIRTUAL)
  start = time.process_time()
  signal.setitimer(signal.ITIMER_VIRTUAL, min(seconds, outer_delay) if outer_delay > 0 else seconds)
  try:
    return fn()
  finally:
    signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    signal.signal(signal.SIGVTALRM, outer_handler)
    if outer_delay > 0:  # let the outer timer fire when it was due (at once if already due)
      used = time.process_time() - start
      signal.setitimer(signal.ITIMER_VIRTUAL, max(outer_delay - used, 1e-3))


def _with_thread(fn: Callable[[], T], seconds: float) -> T:
  """``fn()`` in a daemon thread, abandoned (not killed: Python threads cannot be) on time-out."""
  outcome: dict[str, Any] = {}

  def target():
    try:
      outcome["value"] = fn()
    except BaseException as error:  # pylint: disable=broad-except  # re-raised below
      outcome["error"] = error

  worker = threading.Thread(target=target, daemon=True)
  worker.start()
  worker.join(seconds)
  if worker.is_alive():
    raise _TimeUp()
  if "error" in outcome:
    raise outcome["error"]
  return outcome["value"]


def time_limited(fn: Callable[[], T], seconds: float) -> T:
  """``fn()``, or `_TimeUp` after ``seconds``.

  On the main thread of a POSIX process a CPU-time timer (SIGVTALRM) interrupts the computation;
  elsewhere it runs in a daemon thread that is abandoned after ``seconds`` of wall time (it
  keeps running in the background: Python threads cannot be killed).
  """
  if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
    return _with_alarm(fn, seconds)
  return _with_thread(fn, seconds)


def attempt(fn: Callable[[], T], seconds: float, notes: list[str], what: str) -> T | None:
  """``fn()`` under a time limit; ``None`` (with a note) on time-out or a SymPy failure."""
  try:
    return time_limited(fn, seconds)
  except _TimeUp:
    notes.append(f"{what}: gave up after {seconds:g} s")
  except DerivationError:
    raise
  except Exception as error:  # pylint: disable=broad-except
    # SymPy's internals fail in many ways (NotImplementedError, PolynomialError, KeyError, ...);
    # each only means "this attempt found nothing", so the next strategy is tried.
    notes.append(f"{what}: SymPy failed ({type(error).__name__})")
  return None
