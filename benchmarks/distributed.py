"""Several processes against one: the same numbers, and what the processes cost on one machine.

Runs the same commands twice, as subprocesses, on local CPU devices:

* **one process** with N devices (``XLA_FLAGS=--xla_force_host_platform_device_count=N``);
* **N processes** with one device each, connected by ``--coordinator localhost:PORT
  --num-processes N --process-id I`` (`gradeng.experiments.common.initialize_distributed`),

each time ``gradeng simulate free_logit --quick --no-figures`` (the toy sweep) and ``gradeng
experiment learn --quick --stop-after STEPS`` (the learned coefficient's two outer loops, the
meta-gradient and ES, STEPS steps each), and checks that the toy results (``results.npz``) and
the outer loops' saved states (θ, Adam state and history in ``gradient/state.npz`` and
``es/state.npz``) are bit-identical between the two. Prints the wall time of each command.
``tests/test_distributed.py`` checks a tiny sweep the same way in the test suite; this script adds
the learn experiment, whose compilation is too slow for the suite.

Run::

  python benchmarks/distributed.py                      # 2 processes vs 1 process of 2 devices
  python benchmarks/distributed.py --processes 4 --stop-after 3
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _run(argv: list[str], out: Path, processes: int, devices: int, timeout: float) -> float:
  """Runs ``gradeng argv --out out`` in ``processes`` processes of ``devices`` CPU devices each."""
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
  command = [sys.executable, "-c", "import sys; from gradeng.cli import main; sys.exit(main())",
             *argv, "--out", str(out), "--no-progress"]
  if processes > 1:
    coordinator = f"127.0.0.1:{_free_port()}"
    commands = [command + ["--coordinator", coordinator, "--num-processes", str(processes),
                           "--process-id", str(i)] for i in range(processes)]
  else:
    commands = [command]
  start = time.perf_counter()
  started = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in commands]
  try:
    for i, process in enumerate(started):
      _, err = process.communicate(timeout=max(1.0, start + timeout - time.perf_counter()))
      if process.returncode != 0:
        raise SystemExit(f"process {i} of `gradeng {' '.join(argv)}` failed:\n{err[-3000:]}")
  finally:
    for process in started:
      if process.poll() is None:
        process.kill()
        process.wait()
  return time.perf_counter() - start


def _assert_same(a: Path, b: Path) -> int:
  """Asserts that two ``.npz`` files hold the same arrays; returns how many numbers they hold."""
  with np.load(a) as x, np.load(b) as y:
    assert sorted(x.files) == sorted(y.files), (a, b)
    for key in x.files:
      np.testing.assert_array_equal(x[key], y[key], err_msg=f"{a} vs {b}: {key}")
    return sum(x[key].size for key in x.files)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--processes", type=int, default=2, help="N (default 2)")
  parser.add_argument("--stop-after", type=int, default=2, metavar="STEPS",
                      help="outer steps of each learn loop (default 2)")
  parser.add_argument("--timeout", type=float, default=1800, help="seconds per command")
  args = parser.parse_args()
  n = args.processes
  commands = {"toy sweep": ["simulate", "free_logit", "--quick", "--no-figures"],
              "learn": ["experiment", "learn", "--quick", "--stop-after", str(args.stop_after)]}
  load = os.getloadavg()[0]
  with tempfile.TemporaryDirectory(prefix="gradeng-distributed-") as root:
    root = Path(root)
    seconds = {}
    for name, argv in commands.items():
      for label, processes, devices in (("1 process", 1, n), (f"{n} processes", n, 1)):
        out = root / label.replace(" ", "-") / name.replace(" ", "-")
        seconds[name, label] = _run(argv, out, processes, devices, args.timeout)
        print(f"{name}, {label} ({processes} × {devices} device(s)): "
              f"{seconds[name, label]:.1f} s", flush=True)
    one, many = root / "1-process", root / f"{n}-processes"
    numbers = _assert_same(one / "toy-sweep" / "free_logit-quick" / "results.npz",
                           many / "toy-sweep" / "free_logit-quick" / "results.npz")
    for method in ("gradient", "es"):
      numbers += _assert_same(one / "learn" / method / "state.npz",
                              many / "learn" / method / "state.npz")
  print(f"bit-identical: {numbers} numbers (toy results, both outer loops' θ, Adam state and "
        f"history); load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
  main()
