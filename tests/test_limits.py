"""The SymPy time limit (`gradeng.symbolic._limits`): a worker process, no state changed in the caller.

The previous SIGVTALRM timer lived in the caller's process (its
exception could be swallowed, e.g. by a garbage-collector callback under ``gc.set_threshold(50)``,
and `derive` then returned a different form) and fell back to daemon threads off the main thread.
"""

import gc
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gradeng.symbolic import _limits
from gradeng.symbolic import derive
from gradeng.symbolic._limits import WorkerTimeout, _TimeUp, run_in_worker, time_limited


def _spin():
  """Endless, CPU-bound, no memory."""
  return sum(1 for _ in iter(int, 1))


def _answer():
  return 42


def _swallow():
  """A computation that swallows every exception (as SymPy's internals may) and returns late."""
  start = time.process_time()
  while time.process_time() - start < 1.0:
    try:
      sum(range(1000))
    except BaseException:  # pylint: disable=broad-except  # the point of the test
      pass
  return "finished late"


def _swallowed_in_worker():
  try:
    return time_limited(_swallow, 0.2)
  except _TimeUp:
    return "timed out"


def _caller_state():
  return (signal.getsignal(signal.SIGVTALRM), signal.getitimer(signal.ITIMER_VIRTUAL),
          threading.active_count(), gc.get_threshold())


def test_runaway_computation_is_ended_and_the_worker_replaced():
  with pytest.raises(_TimeUp):
    time_limited(_spin, 0.3)
  assert time_limited(_answer, 5.0) == 42  # a fresh worker


def test_a_swallowed_timer_still_ends_the_step():
  assert run_in_worker(_swallowed_in_worker) == "timed out"


def test_wall_clock_limit_for_a_waiting_task():
  with pytest.raises(WorkerTimeout, match="wall clock"):
    run_in_worker(time.sleep, (30,), wall_seconds=0.5)
  assert run_in_worker(_answer) == 42


def test_worker_errors_are_raised_in_the_caller():
  with pytest.raises(ZeroDivisionError):
    run_in_worker(divmod, (1, 0))


def test_derive_changes_no_state_of_the_caller():
  before = _caller_state()
  off_main = {}
  thread = threading.Thread(target=lambda: off_main.update(d=derive("-(1-p)**3/p")))
  thread.start()
  thread.join()
  assert off_main["d"].verified is True
  assert derive("-1/p").verified is True
  assert _caller_state() == before


def test_garbage_collector_settings_of_the_caller_do_not_reach_sympy():
  # The original report ran SymPy under gc.set_threshold(50); it now runs in a
  # fresh interpreter with the default settings, whatever the caller's.
  default = run_in_worker(gc.get_threshold)
  old = gc.get_threshold()
  gc.set_threshold(50)
  try:
    assert run_in_worker(gc.get_threshold) == default
  finally:
    gc.set_threshold(*old)


def test_derive_gives_up_at_the_timeout_with_a_note():
  # 60 s of SymPy before; a timeout ends it, the loss is left to quadrature.
  d = derive("-log(1+p**7+sin(p)**3)/p**1.5", timeout=1.0)
  assert d.method == "numeric" and d.loss is None
  assert any("gave up after 1 s (wall clock)" in note for note in d.notes)
  assert _limits._WORKER is None or _limits._WORKER.alive()
  assert derive("-1/p").verified is True


@pytest.mark.slow
def test_the_worker_is_ended_at_interpreter_exit(tmp_path):
  """A process that started the worker exits without ``ResourceWarning: subprocess … is still
  running`` (dev mode, ResourceWarning an error) and leaves no worker process behind."""
  code = ("import gradeng as ge\n"
          "from gradeng.symbolic import _limits\n"
          "assert ge.derive('-(1-p)**3/p').loss is not None\n"
          "print(_limits._WORKER.process.pid)\n")
  env = {**os.environ, "GRADENG_CACHE_DIR": str(tmp_path)}
  done = subprocess.run([sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", code],
                        capture_output=True, text=True, env=env, timeout=300)
  assert done.returncode == 0, done.stderr
  assert "ResourceWarning" not in done.stderr and "still running" not in done.stderr, done.stderr
  pid = int(done.stdout.split()[-1])
  with pytest.raises(ProcessLookupError):
    os.kill(pid, 0)
