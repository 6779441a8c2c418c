"""The outer loop: learn θ (c = softmax(θ)) by meta-gradients or by evolution strategies.

One outer step evaluates the validation objective (`LearnConfig.objective` after an inner training, see
`make_train`) on ``len(train_ratios) × seeds_per_step`` fresh tasks, averages it, and takes an
Adam step on θ:

* ``"gradient"``: the exact gradient of the mean objective through the unrolled, jitted inner
  trainings (reverse mode through the ``lax.scan``, truncated and checkpointed as the task
  config says);
* ``"es"``: antithetic evolution strategies (Salimans et al. 2017), gradient-free,
  ĝ = Σ_j [f(θ + σε_j) - f(θ - σε_j)] ε_j / (2σJ), with ``es_pairs`` = J pairs, i.e. 2J forward
  trainings per task where the meta-gradient runs one forward and one backward pass.

The whole step is one ``jit``: the tasks are ``vmap``ped, and the task axis is sharded over a 1-D
`jax.sharding.Mesh` of all devices (padded to a multiple of the device count with zero-weight
copies), as in the toy sweeps. Every step's state (θ, the Adam state, the history) is saved
atomically to ``<out>/<method>/state.npz``; a killed run resumes from the last saved step and
produces bit-identical numbers (the tasks of step t depend only on t).

Several processes (`gradeng.experiments.common.initialize_distributed` first): the mesh spans
every process's devices; each process builds its shards of the step's tasks (`global_array`), θ
and the Adam state are replicated on every device, and only process 0 reads and writes the run
directory (the state to resume from is sent to the others), as in the toy sweeps. θ equals that of
one process with as many devices.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
import io
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from gradeng.runtime import weights_from_theta
from gradeng.experiments.common import (atomic_write_bytes, claim_run_dir, gather_to_host,
                                        global_array, is_main_process, on_main_process)

from ._config import META_SEED_BASE, LearnConfig
from ._train import make_train

METHODS = ("gradient", "es")
AXIS = "tasks"


def _mesh(devices: tuple) -> Mesh:
  return Mesh(np.array(devices), (AXIS,))


def step_tasks(config: LearnConfig, step: int, n_devices: int = 1):
  """(ratios, seeds, weights) of outer step ``step``, padded to a multiple of ``n_devices``."""
  ratios = np.repeat(np.asarray(config.train_ratios, np.float32), config.seeds_per_step)
  count = len(ratios)
  seeds = META_SEED_BASE + step * count + np.arange(count, dtype=np.int64)
  weights = np.ones(count, np.float32)
  pad = (-count) % n_devices
  if pad:
    ratios = np.concatenate([ratios, np.repeat(ratios[-1:], pad)])
    seeds = np.concatenate([seeds, np.repeat(seeds[-1:], pad)])
    weights = np.concatenate([weights, np.zeros(pad, np.float32)])
  return ratios, seeds.astype(np.uint32), weights


def make_outer_step(config: LearnConfig, method: str, devices: Sequence | None = None):
  """``step(theta, opt_state, ratios, seeds, weights, key) -> (theta, opt_state, objective, grad)``,
  jitted with the task axis sharded over ``devices`` (default: all), and the Adam optimizer on θ.

  Cached on the fields that define the step (task, basis, outer optimizer, ES settings), so
  configs that differ only in their evaluation share one compilation.
  """
  if method not in METHODS:
    raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")
  devices = tuple(jax.devices() if devices is None else devices)
  return _outer_step(config.task, config.exponents, config.outer_lr, config.es_pairs,
                     config.es_sigma, method, config.objective, devices)


@functools.lru_cache(maxsize=8)
def _outer_step(task, exponents, outer_lr, es_pairs, es_sigma, method, objective, devices):
  train = make_train(task, "mixture", exponents, objective)
  optimizer = optax.adam(outer_lr)

  def objective(theta, ratios, seeds, weights):
    values = jax.vmap(lambda r, s: train(weights_from_theta(theta), r, s)["val_objective"])(ratios, seeds)
    return jnp.sum(weights * values) / jnp.sum(weights)

  def estimate(theta, ratios, seeds, weights, key):
    if method == "gradient":
      return jax.value_and_grad(objective)(theta, ratios, seeds, weights)
    eps = jax.random.normal(key, (es_pairs, theta.shape[0]))
    thetas = jnp.concatenate([theta + es_sigma * eps, theta - es_sigma * eps])
    values = jax.vmap(objective, (0, None, None, None))(thetas, ratios, seeds, weights)
    plus, minus = values[:es_pairs], values[es_pairs:]
    grad = jnp.sum((plus - minus)[:, None] * eps, axis=0) / (2 * es_sigma * es_pairs)
    return jnp.mean(values), grad

  def step(theta, opt_state, ratios, seeds, weights, key):
    value, grad = estimate(theta, ratios, seeds, weights, key)
    updates, opt_state = optimizer.update(grad, opt_state, theta)
    return optax.apply_updates(theta, updates), opt_state, value, grad

  mesh = _mesh(devices)
  replicated = NamedSharding(mesh, PartitionSpec())
  sharded = NamedSharding(mesh, PartitionSpec(AXIS))
  return jax.jit(step, in_shardings=(replicated, replicated, sharded, sharded, sharded, replicated),
                 out_shardings=replicated), optimizer


def _save_state(path: Path, step: int, theta: np.ndarray, opt_leaves: list[np.ndarray],
                history: dict) -> None:
  arrays = {"step": np.asarray(step), "theta": np.asarray(theta),
            **{f"opt_{i}": np.asarray(leaf) for i, leaf in enumerate(opt_leaves)},
            **{f"history_{k}": np.asarray(v) for k, v in history.items()}}

  def write(f):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    f.write(buffer.getvalue())

  atomic_write_bytes(path, write)


def _load_state(path: Path, n_leaves: int):
  """(steps done, θ, the Adam state's leaves, history) saved in ``path``, or None if absent."""
  if not path.exists():
    return None
  with np.load(path) as data:
    leaves = [data[f"opt_{i}"] for i in range(n_leaves)]
    history = {k[len("history_"):]: data[k].tolist() for k in data.files if k.startswith("history_")}
    return int(data["step"]), data["theta"], leaves, history


def learn(config: LearnConfig, method: str, out_dir: Path, *, stop_after: int | None = None,
          progress: bool = True, after_step: Callable[[int], None] | None = None,
          devices: Sequence | None = None) -> dict:
  """Runs (or resumes) the outer loop of ``method``; returns θ, the weights and the history.

  Args:
    config: the experiment config.
    method: ``"gradient"`` (meta-gradient) or ``"es"`` (evolution strategies).
    out_dir: run directory; the state goes to ``out_dir/<method>/state.npz`` after every step.
    stop_after: stop once this many outer steps are done in total (simulates a kill; resume by
      calling again without it).
    progress: tqdm bar over the outer steps.
    after_step: called with the number of steps done after each step's state is saved.
    devices: the devices the task axis is sharded over (default: all, ``jax.devices()``, every
      process's in a multi-process run, where only process 0 reads and writes ``out_dir``).

  Returns:
    ``{"theta", "weights", "history": {"objective", "theta"}, "steps_done", "seconds"}``
    (``seconds``: wall time of the steps run by this call, compilation included).
  """
  out_dir = Path(out_dir)
  path = out_dir / method / "state.npz"
  devices = tuple(jax.devices() if devices is None else devices)
  step_fn, optimizer = make_outer_step(config, method, devices)
  mesh = _mesh(devices)
  replicated = NamedSharding(mesh, PartitionSpec())
  sharded = NamedSharding(mesh, PartitionSpec(AXIS))
  theta_host = np.zeros(len(config.exponents), np.float32)
  opt_leaves, opt_tree = jax.tree_util.tree_flatten(optimizer.init(jnp.asarray(theta_host)))
  opt_leaves = [np.asarray(leaf) for leaf in opt_leaves]
  history = {"objective": [], "theta": []}
  done = 0

  def claim_and_load():
    claim_run_dir(out_dir, config.to_dict())  # another config's directory is refused
    return _load_state(path, len(opt_leaves))

  saved = on_main_process(claim_and_load)  # every process resumes from process 0's state
  if saved is not None:
    done, theta_host, opt_leaves, history = saved
  theta = global_array(theta_host, replicated)
  opt_state = jax.tree_util.tree_unflatten(
      opt_tree, [global_array(leaf, replicated) for leaf in opt_leaves])
  last = config.outer_steps if stop_after is None else min(stop_after, config.outer_steps)
  n_devices = len(devices)
  key = jax.random.key(7 if method == "es" else 0)
  start = time.perf_counter()
  bar = tqdm(range(done, last), desc=f"learn θ ({method})", unit="step",
             disable=not progress or not is_main_process(), initial=done,
             total=config.outer_steps, dynamic_ncols=True)
  for step in bar:
    tasks = [global_array(x, sharded) for x in step_tasks(config, step, n_devices)]
    key_data = np.asarray(jax.random.key_data(jax.random.fold_in(key, step)))
    step_key = jax.random.wrap_key_data(global_array(key_data, replicated))  # the same everywhere
    theta, opt_state, value, _ = step_fn(theta, opt_state, *tasks, step_key)
    history["objective"].append(float(gather_to_host(value)))
    history["theta"].append(theta_host.tolist())
    theta_host, opt_leaves = gather_to_host((theta, jax.tree_util.tree_leaves(opt_state)))
    bar.set_postfix(objective=f"{history['objective'][-1]:.4f}")
    on_main_process(lambda: _save_state(path, step + 1, theta_host, opt_leaves, history))
    if after_step is not None:
      after_step(step + 1)
  bar.close()
  return {"theta": theta_host, "weights": np.asarray(weights_from_theta(jnp.asarray(theta_host))),
          "history": history, "steps_done": max(done, last), "seconds": time.perf_counter() - start}
