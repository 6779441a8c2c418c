"""Outer (meta) steps per second: one jitted, vmapped outer step vs a Python loop of trainings.

The same outer step of `gradeng.experiments.learn` (the meta-gradient of the mean validation
objective over len(train_ratios) × seeds_per_step unrolled inner trainings, then an Adam step
on θ), two ways, in the same run:

* **jitted**: `make_outer_step` — the tasks ``vmap``ped inside one ``jit`` (sharded over a 1-D
  mesh of the devices; one CPU device here unless ``XLA_FLAGS`` says otherwise);
* **loop**: a Python ``for`` over the tasks calling a jitted ``value_and_grad`` of *one* unrolled
  training (the very `make_train` the step vmaps), gradients averaged on the host, the Adam
  update jitted.

Both are compiled before timing; median of ``--repeats`` steps; the two gradients are checked
equal (same tasks, same θ). The ES step (2·es_pairs forward trainings per task) is timed too.

Run::

  python benchmarks/meta_step.py              # the quick config's tasks (4 trainings per step)
  python benchmarks/meta_step.py --full       # the full config's tasks (8 trainings per step)
  python benchmarks/meta_step.py --record     # also write the section in benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradeng.runtime import weights_from_theta
from gradeng.experiments.learn import FULL, QUICK, make_outer_step, make_train
from gradeng.experiments.learn._meta import step_tasks

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- meta_step:begin -->", "<!-- meta_step:end -->"


def _median_seconds(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--full", action="store_true", help="the full config's tasks")
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--record", action="store_true", help="write the section in RESULTS.md")
  args = parser.parse_args()
  config = FULL if args.full else QUICK
  load = os.getloadavg()[0]
  theta = jnp.linspace(-0.5, 0.5, len(config.exponents))
  ratios, seeds, weights = step_tasks(config, 0, jax.device_count())

  jitted = {}
  for method in ("gradient", "es"):
    step, optimizer = make_outer_step(config, method)
    opt_state = optimizer.init(theta)
    call = lambda step=step, opt_state=opt_state: step(theta, opt_state, ratios, seeds, weights,
                                                       jax.random.key(0))
    start = time.perf_counter()
    jitted[method] = jax.block_until_ready(call())
    compile_seconds = time.perf_counter() - start
    jitted[method] = (_median_seconds(call, args.repeats), compile_seconds, jitted[method])

  train = make_train(config.task, "mixture", config.exponents)
  one = jax.jit(jax.value_and_grad(lambda t, r, s: train(weights_from_theta(t), r, s)["val_ce"]))
  optimizer = optax.adam(config.outer_lr)
  update = jax.jit(lambda g, state, t: optax.apply_updates(t, optimizer.update(g, state, t)[0]))
  opt_state = optimizer.init(theta)
  real = [i for i, w in enumerate(weights) if w > 0]

  def loop():
    grads = [one(theta, ratios[i], seeds[i])[1] for i in real]
    grad = jnp.mean(jnp.stack(grads), axis=0)
    return update(grad, opt_state, theta), grad

  start = time.perf_counter()
  _, loop_grad = jax.block_until_ready(loop())
  loop_compile = time.perf_counter() - start
  loop_seconds = _median_seconds(loop, args.repeats)
  np.testing.assert_allclose(np.asarray(loop_grad), np.asarray(jitted["gradient"][2][3]), rtol=2e-4,
                             atol=1e-7)
  load_end = os.getloadavg()[0]

  tasks = len(real)
  gradient_seconds, gradient_compile, _ = jitted["gradient"]
  es_seconds, es_compile, _ = jitted["es"]
  rows = [
      ("meta-gradient, jitted + vmapped outer step", gradient_seconds, gradient_compile, tasks),
      ("meta-gradient, Python loop over jitted per-task value_and_grad", loop_seconds, loop_compile,
       tasks),
      ("ES (antithetic), jitted + vmapped outer step", es_seconds, es_compile,
       tasks * 2 * config.es_pairs),
  ]
  header = (f"config `{config.name}`: {tasks} tasks per outer step, inner training "
            f"{config.task.steps} steps × {config.task.n_train} examples, MLP {config.task.hidden}; "
            f"jax {jax.__version__}, {platform.machine()} {os.cpu_count()}-core CPU, "
            f"{jax.device_count()} {jax.default_backend()} device(s) "
            f"({jax.devices()[0].device_kind}); load average {load:.1f} at start, {load_end:.1f} at end; "
            f"median of {args.repeats} steps")
  lines = [header, "", "| outer step | ms / step | steps / s | vs loop | first call (compile) s | trainings / step |",
           "|---|---:|---:|---:|---:|---:|"]
  for name, seconds, compile_seconds, trainings in rows:
    lines.append(f"| {name} | {1e3 * seconds:.1f} | {1 / seconds:.1f} | "
                 f"{loop_seconds / seconds:.2f}× | {compile_seconds:.1f} | {trainings} |")
  text = "\n".join(lines)
  print(text)
  if args.record:
    command = "python benchmarks/meta_step.py" + (" --full" if args.full else "") + f" --repeats {args.repeats}"
    section = "\n".join([
        BEGIN, "## Meta-gradient outer step (`benchmarks/meta_step.py`)", "",
        f"Command: `{command}`, {datetime.date.today().isoformat()}. The gradients of the two "
        "meta-gradient variants are asserted equal in the run. \"vs loop\" = the loop's time / this "
        "row's time (> 1: faster than the loop).", "", text, "", END])
    current = RESULTS.read_text()
    if BEGIN in current:
      before, rest = current.split(BEGIN, 1)
      current = before + section + rest.split(END, 1)[1]
    else:
      current = current.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(current)


if __name__ == "__main__":
  main()
