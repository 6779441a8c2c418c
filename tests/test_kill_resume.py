"""The shared checkpoint writer survives a real kill: a subprocess saving checkpoints in a loop
is sent SIGKILL at a random moment (often mid-write); the checkpoint on disk is then a complete
earlier one, and a run resumes from it.

Resuming each experiment from its checkpoints is tested in-process next to the experiment
(toy: ``test_rerun_is_identical_and_resume_after_interrupt``; detection:
``test_resume_after_kill_reproduces_the_uninterrupted_run``; learn:
``test_outer_loop_resumes_bit_identically_after_a_stop``); what only a real kill can show is that
no write is ever seen half-done, and that is the shared writer's job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gradeng.experiments.common import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"name": "kill-test", "size": 400_000}
READY_TIMEOUT = 120.0  # the subprocess imports JAX first, on a loaded 2-core machine

_WRITER = """
import sys
import numpy as np
from gradeng.experiments.common import save_checkpoint
path, size = sys.argv[1], int(sys.argv[2])
config = {"name": "kill-test", "size": size}
step = 0
while True:  # every checkpoint holds its own step in every element: a torn write is visible
  save_checkpoint(path, {"w": np.full(size, step, np.int64), "b": np.full(7, -step)}, step=step,
                  config=config, extra={"history": list(range(step))})
  step += 1
"""


def _template():
  return {"w": np.zeros(CONFIG["size"], np.int64), "b": np.zeros(7, np.int64)}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_killed_writer_leaves_a_complete_checkpoint_to_resume_from(tmp_path, seed):
  path = tmp_path / "checkpoint.npz"
  process = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(CONFIG["size"])],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  try:
    deadline = time.monotonic() + READY_TIMEOUT
    while not path.exists():  # the first complete checkpoint is on disk
      assert process.poll() is None, process.stderr.read().decode()[-2000:]
      assert time.monotonic() < deadline, "the writer saved nothing"
      time.sleep(0.01)
    time.sleep(np.random.default_rng(seed).uniform(0.05, 0.5))  # several writes later
  finally:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    process.stderr.close()
  tree, step, extra = load_checkpoint(path, _template(), config=CONFIG)
  assert step >= 0
  np.testing.assert_array_equal(tree["w"], np.full(CONFIG["size"], step))
  np.testing.assert_array_equal(tree["b"], np.full(7, -step))
  assert extra == {"history": list(range(step))}
  # resume: the next checkpoint replaces it, and leftovers of the killed write are not read
  save_checkpoint(path, {"w": tree["w"] + 1, "b": tree["b"] - 1}, step=step + 1, config=CONFIG,
                  extra={"history": list(range(step + 1))})
  tree, resumed, _ = load_checkpoint(path, _template(), config=CONFIG)
  assert resumed == step + 1 and int(tree["w"][0]) == step + 1
