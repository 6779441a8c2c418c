"""Resume after a real kill: a subprocess running a toy sweep, a detection training or the
learn-coefficient outer loop is sent SIGKILL mid-run, the run is resumed, and the result is
bit-identical to an uninterrupted run.

The subprocess pauses in the test hook (``after_chunk`` / ``on_step`` / ``after_step``) once it has saved
something, so the kill lands after at least one chunk or checkpoint is on disk and well before
the run could finish; if it finishes anyway the test fails instead of passing vacuously.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from gradeng.experiments import toy
from gradeng.experiments.detection import _train, load_config
from gradeng.experiments.learn import learn
from gradeng.experiments.toy import _sweep
from tests.test_detection_train import TINY_SOURCE
from tests.test_learned_meta import TINY as TINY_LEARN

ROOT = Path(__file__).resolve().parent.parent
PAUSE = 5.0  # seconds the subprocess sleeps in its hook: the window in which it is killed
READY_TIMEOUT = 240.0  # JAX import + compilation in the subprocess, on a loaded 2-core machine

# 12 trainings in chunks of 2: 2 chunks of `ce`, 4 of `maki`.
SWEEP = toy.FreeLogitConfig(name="kill-free", losses=(("ce", (None,)), ("maki", (1.0, 2.0))),
                            imbalance=(10.0, 100.0), seeds=(0, 1), steps=20, chunk_size=2, batch=2)
CHUNK_NAME = re.compile(r"\d{5}\.npz")

_SWEEP_SCRIPT = """
import json, sys, time
import jax
from gradeng.experiments import toy
from gradeng.experiments.toy._config import config_from_dict
directory, pause = sys.argv[1], float(sys.argv[3])
config = config_from_dict(json.loads(sys.argv[2]))
toy.run_sweep(config, directory, devices=jax.devices()[:1], progress=False,
              after_chunk=lambda chunk: time.sleep(pause))
"""

_TRAIN_SCRIPT = """
import sys, time
from gradeng.experiments.detection import _train, load_config
from gradeng.experiments.learn import learn
config_path, run_dir, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
config = load_config(path=config_path)
data = _train.prepare_data(config)
first_checkpoint = config.train.checkpoint_every
_train.train_run(config, config.losses[0], 0, data, run_dir, progress=False,
                 on_step=lambda step: time.sleep(pause if step >= first_checkpoint else 0.0))
"""

_LEARN_SCRIPT = """
import sys, time
from gradeng.experiments.learn import learn
from tests.test_learned_meta import TINY
out_dir, method, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
learn(TINY, method, out_dir, progress=False, after_step=lambda done: time.sleep(pause))
"""


def _start(script: str, args: list[object], log: Path) -> subprocess.Popen:
  env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
  with open(log, "wb") as out:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT)


def _kill_when(process: subprocess.Popen, ready, finished, log: Path) -> None:
  """SIGKILLs ``process`` as soon as ``ready()``; fails if it exits or ``finished()`` first."""
  deadline = time.monotonic() + READY_TIMEOUT
  try:
    while not ready():
      if process.poll() is not None or finished():
        pytest.fail(f"subprocess finished or exited (rc {process.returncode}) before it saved "
                    f"anything to resume from:\n{log.read_text()[-3000:]}")
      if time.monotonic() > deadline:
        pytest.fail(f"subprocess saved nothing in {READY_TIMEOUT:.0f} s:\n"
                    f"{log.read_text()[-3000:]}")
      time.sleep(0.02)
    if process.poll() is not None or finished():
      pytest.fail(f"subprocess finished (rc {process.returncode}) before it could be killed "
                  f"mid-run:\n{log.read_text()[-3000:]}")
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL, log.read_text()[-3000:]
  finally:
    if process.poll() is None:
      process.kill()
      process.wait(timeout=60)


def test_toy_sweep_resumes_after_sigkill(tmp_path):
  chunks = _sweep.plan_chunks(SWEEP)
  assert len(chunks) == 6
  directory = tmp_path / "killed"
  chunk_dir = directory / "chunks"

  def saved():
    return sorted(p.name for p in chunk_dir.glob("*.npz") if CHUNK_NAME.fullmatch(p.name))

  log = tmp_path / "sweep.log"
  process = _start(_SWEEP_SCRIPT, [directory, json.dumps(SWEEP.to_dict()), PAUSE], log)
  _kill_when(process, lambda: len(saved()) >= 1, (directory / "results.npz").exists, log)

  done = saved()
  assert 1 <= len(done) < len(chunks), done
  assert done == [c.filename for c in chunks[:len(done)]]  # chunks are saved in order
  assert not (directory / "results.npz").exists() and not (directory / "summary.json").exists()
  others = [p.name for p in chunk_dir.iterdir() if p.name not in done]
  assert all(name.endswith(".tmp") for name in others), others  # only atomic-write leftovers
  before = {name: (chunk_dir / name).read_bytes() for name in done}
  for chunk in chunks[:len(done)]:  # every saved chunk is complete
    np.testing.assert_array_equal(_sweep.load_npz(chunk_dir / chunk.filename)["cell_index"],
                                  np.arange(chunk.start, chunk.stop))
  # What a kill inside an atomic write leaves behind: a truncated temp file beside the target.
  # It must not be taken for the chunk.
  target = chunks[len(done)].filename
  (chunk_dir / f"{target}.killed.tmp").write_bytes(before[done[0]][:100])

  device = jax.devices()[:1]
  resumed = toy.run_sweep(SWEEP, directory, devices=device, progress=False)
  assert resumed.computed_chunks == len(chunks) - len(done)
  assert {name: (chunk_dir / name).read_bytes() for name in done} == before  # loaded, not redone
  straight = toy.run_sweep(SWEEP, tmp_path / "straight", devices=device, progress=False)
  assert straight.computed_chunks == len(chunks)
  assert sorted(resumed.arrays) == sorted(straight.arrays)
  for key, value in straight.arrays.items():
    np.testing.assert_array_equal(resumed.arrays[key], value, err_msg=key)
  on_disk = _sweep.load_npz(directory / "results.npz")
  for key, value in straight.arrays.items():
    np.testing.assert_array_equal(on_disk[key], value, err_msg=key)
  assert resumed.summary == straight.summary


def _without_wall(record):
  if isinstance(record, dict):
    return {k: _without_wall(v) for k, v in record.items() if k != "wall_seconds"}
  if isinstance(record, list):
    return [_without_wall(v) for v in record]
  return record


def _checkpoint(path: Path) -> dict[str, np.ndarray]:
  with np.load(path) as stored:
    return {name: stored[name] for name in stored.files}


def test_detection_training_resumes_after_sigkill(tmp_path):
  config_path = tmp_path / "tiny_config.py"
  config_path.write_text(TINY_SOURCE)
  config = load_config(path=config_path)
  spec, steps = config.losses[0], config.train.steps
  assert config.train.checkpoint_every < steps
  run_dir = tmp_path / "killed"

  log = tmp_path / "train.log"
  process = _start(_TRAIN_SCRIPT, [config_path, run_dir, PAUSE], log)
  _kill_when(process, (run_dir / _train.CHECKPOINT).exists, (run_dir / _train.RESULT).exists, log)

  assert not (run_dir / _train.RESULT).exists()
  assert int(_checkpoint(run_dir / _train.CHECKPOINT)["step"]) == config.train.checkpoint_every
  known = {_train.RUN_CONFIG, _train.CHECKPOINT, _train.METRICS}
  others = [p.name for p in run_dir.iterdir() if p.name not in known]
  assert all(name.endswith(".tmp") for name in others), others  # only atomic-write leftovers

  data = _train.prepare_data(config)
  ran = []
  resumed = _train.train_run(config, spec, 0, data, run_dir, progress=False, on_step=ran.append)
  assert ran == list(range(config.train.checkpoint_every + 1, steps + 1))  # only the rest
  straight = _train.train_run(config, spec, 0, data, tmp_path / "straight", progress=False)
  assert _without_wall(resumed) == _without_wall(straight)
  assert json.loads((run_dir / _train.RESULT).read_text()) == resumed
  metrics = [[_without_wall(json.loads(line))
              for line in (d / _train.METRICS).read_text().splitlines()]
             for d in (run_dir, tmp_path / "straight")]
  assert [m["step"] for m in metrics[0]] == list(range(config.train.eval_every, steps + 1,
                                                       config.train.eval_every))
  assert metrics[0] == metrics[1]
  a = _checkpoint(run_dir / _train.CHECKPOINT)
  b = _checkpoint(tmp_path / "straight" / _train.CHECKPOINT)
  assert sorted(a) == sorted(b) and any(name.startswith("leaf_") for name in a)
  for name in a:
    if name != "extra_json":  # holds wall-clock times
      np.testing.assert_array_equal(a[name], b[name], err_msg=name)
  extra = [_without_wall(json.loads(str(c["extra_json"]))) for c in (a, b)]
  assert extra[0] == extra[1]


def test_learn_coefficient_outer_loop_resumes_after_sigkill(tmp_path):
  # The meta-gradient loop; ES saves and resumes through the same code (test_learned_meta).
  method = "gradient"
  run_dir = tmp_path / "killed"
  state = run_dir / method / "state.npz"

  def steps_saved():
    try:
      return int(_checkpoint(state)["step"])
    except (OSError, ValueError, KeyError):  # not there yet, or (never: atomic) half written
      return 0

  log = tmp_path / "learn.log"
  process = _start(_LEARN_SCRIPT, [run_dir, method, PAUSE], log)
  _kill_when(process, lambda: steps_saved() >= 1,
             lambda: steps_saved() >= TINY_LEARN.outer_steps, log)

  saved = _checkpoint(state)
  assert 1 <= int(saved["step"]) < TINY_LEARN.outer_steps
  others = [p.name for p in state.parent.iterdir() if p.name != state.name]
  assert all(name.endswith(".tmp") for name in others), others  # only atomic-write leftovers

  ran = []
  resumed = learn(TINY_LEARN, method, run_dir, progress=False, after_step=ran.append)
  assert ran == list(range(int(saved["step"]) + 1, TINY_LEARN.outer_steps + 1))  # only the rest
  straight = learn(TINY_LEARN, method, tmp_path / "straight", progress=False)
  np.testing.assert_array_equal(resumed["theta"], straight["theta"])
  assert resumed["history"] == straight["history"]
  assert not np.array_equal(straight["theta"], np.zeros_like(straight["theta"]))  # θ moved
