"""One program over several processes (`jax.distributed`): 2 local CPU processes of one device
each give the numbers of 1 process with 2 devices, for ``gradeng evaluate --on toy --coordinator
...`` (a tiny toy sweep: its runs and its evaluation files) and the toy sweep's resumption; only
process 0 writes and prints; an error in process 0 is raised in both; an experiment that runs in
one process only is refused. Plus the option checks (no JAX)."""

from __future__ import annotations

import doctest
import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import gradeng as ge
from gradeng import InputError
from gradeng import cli as _cli
from gradeng.experiments.common import _distributed, initialize_distributed

#: The tiny sweep: 4 trainings per loss kind in 2 chunks of 2, one per device.
SWEEP = ["losses=ce", "steps=3", "imbalance=10,100", "seeds=0,1", "chunk_size=2",
         "batch=1"]
#: The same sweep evaluated: the user's "-1/p" (CE's formula, built without SymPy integration)
#: against CE, seeds 0 and 1 (`evaluate` sets the losses and seeds itself).
EVALUATE = ["evaluate", "-1/p", "--quick", "--on", "toy", "--against", "ce", "--seeds", "2",
            "--no-card", "--no-progress", "--set", "toy.sweeps=free_logit",
            *[a for o in SWEEP[1:] if not o.startswith("seeds=") for a in ("--set", f"toy.{o}")]]

# Runs in each process: the CLI's evaluation (which connects the processes from its options
# before any JAX computation) and its rerun (everything loaded, nothing trained), an evaluation
# on an experiment that runs in one process only, then through the library a sweep killed after
# its first chunk and resumed, a refused directory, a value process 0 cannot send, and a
# replicated array read back on every host. (The learned coefficient's outer loop is checked the
# same way by benchmarks/distributed.py: its compilation alone would double this test's time.)
_WORKER = textwrap.dedent("""
    import json, pickle, sys
    from gradeng import cli
    out, report, overrides, flags = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
    evaluate_argv = json.loads(flags.pop(0))
    assert cli.main(evaluate_argv + ["--out", out] + flags) == 0
    assert cli.main(evaluate_argv + ["--out", out] + flags) == 0  # resumed: nothing left to train

    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from gradeng import InputError, evaluate
    from gradeng.experiments import toy
    from gradeng.experiments.common import gather_to_host, global_array, on_main_process

    single = None
    if jax.process_count() > 1:  # in one process it would train
      try:
        evaluate("-1/p", on=("toy", "longtail"), out_dir=f"{out}/single")
      except InputError as error:
        single = str(error)

    class Stop(Exception):
      pass

    def stop(chunk):
      raise Stop

    config = toy.get_preset("free_logit", quick=True)
    for assignment in overrides:
      config = toy.parse_override(config, assignment)
    # the evaluation's sweep (its compiled trainings are reused): CE and the user's "-1/p"
    config = config.replace(losses=(("ce", (None,)), ("yours", (None,))),
                            formulas=(("yours", toy.FormulaLoss.create("-1/p")),))
    try:
      toy.run_sweep(config, f"{out}/resumed", progress=False, after_chunk=stop)
    except Stop:
      pass
    resumed = toy.run_sweep(config, f"{out}/resumed", progress=False)
    try:
      toy.run_sweep(config.replace(steps=4), f"{out}/resumed", progress=False)
      refused = None
    except ValueError as error:
      refused = str(error)
    try:
      on_main_process(lambda: lambda: None)  # process 0 cannot send a function: both raise
      unsent = None
    except RuntimeError as error:
      unsent = str(error)
    mesh = Mesh(np.array(jax.devices()), ("x",))
    replicated = gather_to_host(global_array(np.arange(3.0), NamedSharding(mesh, P())))
    with open(report, "wb") as f:
      pickle.dump({"devices": jax.device_count(), "processes": jax.process_count(),
                   "resumed": resumed.arrays, "resumed_chunks": resumed.computed_chunks,
                   "refused": refused, "unsent": unsent, "replicated": replicated,
                   "single": single}, f)
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(out: Path, report: Path, devices: int, flags: list[str]) -> subprocess.Popen:
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
  return subprocess.Popen([sys.executable, "-c", _WORKER, str(out), str(report), " ".join(SWEEP),
                           json.dumps(EVALUATE), *flags], env=env, cwd=out.parent,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_same(a: dict, b: dict) -> None:
  assert sorted(a) == sorted(b)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.slow
def test_two_processes_give_the_numbers_of_one_process_with_two_devices(tmp_path):
  # The user's "-1/p" built here first, into the run's cache (`GRADENG_CACHE_DIR`, which the
  # processes inherit): each of the three loads it instead of starting a SymPy worker of its own
  # to derive it (~3 CPU seconds each, on the two cores the processes share).
  ge.loss_from_coefficient(ge.coefficient("-1/p"))
  coordinator = f"127.0.0.1:{_free_port()}"
  runs = {  # name -> (output directory, devices per process, options)
      "process 0": (tmp_path / "p0", 1, ["--coordinator", coordinator, "--num-processes", "2",
                                         "--process-id", "0"]),
      "process 1": (tmp_path / "p1", 1, ["--coordinator", coordinator, "--num-processes", "2",
                                         "--process-id", "1"]),
      "one process": (tmp_path / "one", 2, []),
  }
  started = {name: _start(out, tmp_path / f"{out.name}.pkl", devices, flags)
             for name, (out, devices, flags) in runs.items()}
  outputs, deadline = {}, time.monotonic() + 240  # a hung coordinator fails, not hangs, the test
  try:
    for name, process in started.items():
      outputs[name] = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
      assert process.returncode == 0, f"{name}:\n{outputs[name][1][-3000:]}"
  finally:
    for process in started.values():
      if process.poll() is None:
        process.kill()
        process.wait()
  reports = {name: pickle.loads((tmp_path / f"{out.name}.pkl").read_bytes())
             for name, (out, _, _) in runs.items()}

  # the mesh spans both processes: 2 devices in every run
  assert [(r["devices"], r["processes"]) for r in reports.values()] == [(2, 2), (2, 2), (2, 1)]
  # the evaluation's sweep: process 0 wrote it, bit-identical to one process; so are the
  # evaluation's files; process 1 wrote nothing and printed nothing
  one, two = tmp_path / "one", tmp_path / "p0"
  sweep = Path("toy", "runs", "free_logit-quick")
  assert sorted(p.name for p in (two / sweep / "chunks").iterdir()) == [
      "00000.npz", "00001.npz", "00002.npz", "00003.npz"]  # ce, then yours: 2 chunks each
  _assert_same(np.load(two / sweep / "results.npz"), np.load(one / sweep / "results.npz"))
  assert (two / sweep / "summary.json").read_text() == (one / sweep / "summary.json").read_text()
  for name in ("evaluation.md", "evaluation_config.json"):
    assert (two / name).read_text() == (one / name).read_text(), name
  evaluation = json.loads((two / "evaluation.json").read_text())
  assert evaluation == json.loads((one / "evaluation.json").read_text().replace("/one/", "/p0/"))
  assert [row["setting"] for row in evaluation["rows"]] == ["free_logit-quick, 1:10"] * 2 + [
      "free_logit-quick, 1:100"] * 2
  for row in evaluation["rows"]:  # "-1/p" trained as CE: the same numbers on both seeds
    assert row["values"]["yours"] == row["values"]["ce"] and len(set(row["values"]["ce"])) == 2
  assert not (tmp_path / "p1").exists()
  printed = outputs["process 0"][0]
  assert printed.count("# Evaluation of `g(p) = -1/p`") == 2  # the run and its rerun
  assert f"json: {two / 'evaluation.json'}" in printed
  gloo = "[Gloo] Rank 1 is connected"  # gloo's own line is the only one process 1 prints
  assert [line for line in outputs["process 1"][0].splitlines() if gloo not in line] == []
  # an experiment that does not span processes is refused in both, before anything is written
  assert reports["process 0"]["single"] == reports["process 1"]["single"]
  assert "2 processes are running, but ['longtail'] run(s) in one process only" in (
      reports["process 0"]["single"])
  assert not (two / "single").exists()
  # the same sweep killed after its first chunk and resumed: process 0's listing (3 chunks left)
  # in both; the numbers of the uninterrupted run of one process
  for report in reports.values():
    assert report["resumed_chunks"] == 3
    _assert_same(report["resumed"], dict(np.load(one / sweep / "results.npz")))
  # process 0 refused the directory of another config, and process 1 raised its error too
  refusals = [r["refused"] for r in reports.values()]
  assert refusals[0] == refusals[1] == refusals[2].replace("/one/", "/p0/")
  assert "different config: `steps` is 3 there and 4 here" in refusals[0]
  unsent = [r["unsent"] for r in reports.values()]
  assert unsent[0] == unsent[1] and unsent[2] is None  # one process returns the function itself
  assert unsent[0].startswith("process 0 could not send its value to the other processes: ")
  assert "lambda" in unsent[0]  # pickle's reason names the function
  for report in reports.values():
    np.testing.assert_array_equal(report["replicated"], [0.0, 1.0, 2.0])


@pytest.mark.parametrize("options, message", [
    (["--coordinator", "localhost:1234"], "missing --num-processes, --process-id"),
    (["--distributed", "--process-id", "1"], "drop --process-id or --distributed"),
    (["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"],
     "must read HOST:PORT"),
    (["--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "2"],
     "`process_id` must be in [0, num_processes=2); got 2"),
    (["--coordinator", "localhost:70000", "--num-processes", "2", "--process-id", "0"],
     "must be in [1, 65535]; got 70000"),
])
def test_bad_process_options_exit_2_before_jax_starts(options, message, tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    _cli.main(["simulate", "free_logit", "--out", str(tmp_path), "--no-figures", *options])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("gradeng simulate: error:") and message in err and err.count("\n") == 1
  assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, message", [
    ({"num_processes": 0}, "`num_processes` must be an integer ≥ 1; got 0"),
    ({"process_id": -1}, "`process_id` must be an integer ≥ 0; got -1"),
    ({"coordinator_address": "10.0.0.1:12355", "initialization_timeout": 0}, "> 0 seconds"),
])
def test_initialize_distributed_refuses_bad_arguments(kwargs, message):
  with pytest.raises(InputError, match=message.replace("[", r"\[").replace(")", r"\)")):
    initialize_distributed(**kwargs)


def test_single_process_helpers_are_the_identity_and_their_examples_run():
  assert _distributed.broadcast_from_main({"a": [1, 2]}) == {"a": [1, 2]}
  with pytest.raises(KeyError):  # an error raised in process 0 is raised as is
    _distributed.on_main_process(lambda: {}["missing"])
  assert [_distributed._bucket(n) for n in (0, 256, 257, 5000)] == [256, 256, 512, 8192]
  failures, tried = doctest.testmod(_distributed, optionflags=doctest.ELLIPSIS)
  assert tried >= 8 and failures == 0
