"""Training one objective over its seeds: stacked states (vmap over seeds), chunked scans,
atomic checkpoints, and a ``result.json`` that marks a finished run."""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import atomic_write_json, to_jsonable
from gradeng.experiments.ordinal._config import OrdinalConfig, OrdinalLoss
from gradeng.experiments.ordinal._data import CountData
from gradeng.experiments.ordinal._model import forward, init_params


CHECKPOINT = "checkpoint.npz"


RESULT = "result.json"


def objective(spec: OrdinalLoss, num_classes: int, outputs, labels):
  """Mean loss of a batch: a catalog loss on the softmax head against the integer label or its
  Gaussian-blurred distribution, or the squared error of the regressed class index."""
  import jax.numpy as jnp

  import gradeng as ge
  from gradeng.ordinal import gaussian_label_distribution

  if spec.kind == "regression":
    return jnp.mean(jnp.square(outputs[:, 0] - labels.astype(outputs.dtype)))
  targets = labels if spec.sigma is None else gaussian_label_distribution(
      labels, num_classes, sigma=spec.sigma)
  return jnp.mean(ge.LOSSES[spec.loss](outputs, targets, head="softmax", **spec.params))


@functools.lru_cache(maxsize=None)
def _compiled_chunk(spec: OrdinalLoss, num_classes: int):
  """``(params, opt_state, images, labels, index [S, K, B]) -> (params, opt_state, losses [S, K])``:
  K Adam steps for each of S seeds (vmapped), compiled once per loss."""
  import jax
  import optax

  optimizer = optax.adam(spec.learning_rate)

  def run(params, opt_state, images, labels, index):
    def step(carry, batch):
      p, s = carry
      loss, grads = jax.value_and_grad(
          lambda q: objective(spec, num_classes, forward(q, images[batch]), labels[batch]))(p)
      updates, s = optimizer.update(grads, s, p)
      return (optax.apply_updates(p, updates), s), loss

    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), index)
    return params, opt_state, losses

  return jax.jit(jax.vmap(run, in_axes=(0, 0, None, None, 0))), optimizer


def _batch_index(config: OrdinalConfig, seed: int, start: int, count: int, n: int) -> np.ndarray:
  """Batch indices of steps ``start..start+count`` for one seed (epoch-wise permutations)."""
  per_epoch = max(n // config.batch_size, 1)
  rows = []
  for step in range(start, start + count):
    epoch, j = divmod(step, per_epoch)
    order = np.random.default_rng([seed, 5, epoch]).permutation(n)
    rows.append(order[j * config.batch_size:(j + 1) * config.batch_size])
  return np.stack(rows)


def evaluate(config: OrdinalConfig, spec: OrdinalLoss, params, images, labels) -> list[dict]:
  """Per seed: exact accuracy, MAE of the prediction and (softmax heads) of the expected count."""
  import jax

  from gradeng.ordinal import expected_class

  outputs = np.asarray(jax.jit(jax.vmap(forward, in_axes=(0, None)))(params, images))
  top = config.num_classes - 1
  out = []
  for o in outputs:
    if spec.kind == "regression":
      value = np.clip(o[:, 0], 0, top)
      predicted = np.rint(value).astype(np.int64)
    else:
      predicted = np.argmax(o, axis=-1)
      value = np.asarray(expected_class(o))
    error = np.abs(predicted - labels)
    out.append({"accuracy": float(np.mean(error == 0)), "mae": float(np.mean(error)),
                "within_one": float(np.mean(error <= 1)),
                "mae_expected": float(np.mean(np.abs(value - labels)))})
  return out


def run_config(config: OrdinalConfig, spec: OrdinalLoss) -> dict[str, Any]:
  """The JSON config a run's checkpoint and result are tied to."""
  fields = {k: getattr(config, k) for k in ("data", "widths", "hidden", "steps", "batch_size",
                                             "chunk", "seeds")}
  return to_jsonable({**fields, "loss": spec})


def train_loss(config: OrdinalConfig, spec: OrdinalLoss, data: CountData, run_dir: str | os.PathLike,
               *, progress: bool = True, on_chunk=None) -> dict[str, Any]:
  """Trains every seed of one loss (resuming from ``run_dir``), evaluates, writes ``result.json``.

  Args:
    config: the experiment.
    spec: the objective.
    data: from `prepare_data`.
    run_dir: the run's directory (a finished run with the same config is not retrained; one of a
      different config is refused).
    progress: show a tqdm bar.
    on_chunk: called with the step reached after each chunk (tests use it to simulate a kill).
  """
  import jax
  from tqdm.auto import tqdm

  from gradeng.experiments.common import (check_config, load_checkpoint, read_checkpoint_config,
                                          save_checkpoint)

  run_dir = Path(run_dir)
  expected = run_config(config, spec)
  if (run_dir / RESULT).exists():
    stored = json.loads((run_dir / RESULT).read_text())
    check_config(run_dir / RESULT, stored["config"], expected)
    return stored
  checkpoint = run_dir / CHECKPOINT
  if checkpoint.exists():
    check_config(checkpoint, read_checkpoint_config(checkpoint), expected)
  run_chunk, optimizer = _compiled_chunk(spec, config.num_classes)
  stacked = [init_params(config, spec, seed) for seed in config.seeds]
  params = jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *stacked)
  opt_state = jax.vmap(optimizer.init)(params)
  step, losses, wall = 0, [], 0.0
  if checkpoint.exists():
    (params, opt_state), step, extra = load_checkpoint(checkpoint, (params, opt_state),
                                                       config=expected)
    losses, wall = extra["losses"], extra["wall_seconds"]
  images, labels = jax.device_put(data.train_images), jax.device_put(data.train_labels)
  bar = tqdm(total=config.steps, initial=step, desc=f"ordinal {spec.name}", disable=not progress,
             dynamic_ncols=True, leave=False)
  started = time.perf_counter()
  try:
    while step < config.steps:
      count = min(config.chunk, config.steps - step)
      index = np.stack([_batch_index(config, seed, step, count, len(data.train_labels))
                        for seed in config.seeds])
      params, opt_state, chunk_losses = run_chunk(params, opt_state, images, labels, index)
      chunk_losses = np.asarray(chunk_losses)
      if not np.all(np.isfinite(chunk_losses)):
        raise FloatingPointError(f"ordinal {spec.name}: non-finite loss before step {step + count}")
      step += count
      losses.append([float(v) for v in chunk_losses.mean(axis=1)])  # per seed, this chunk
      run_dir.mkdir(parents=True, exist_ok=True)
      save_checkpoint(checkpoint, (params, opt_state), step=step, config=expected,
                      extra={"losses": losses, "wall_seconds": wall + time.perf_counter() - started})
      bar.update(count)
      bar.set_postfix(loss=f"{np.mean(losses[-1]):.3f}", refresh=False)
      if on_chunk is not None:
        on_chunk(step)
  finally:
    bar.close()
  metrics = evaluate(config, spec, params, data.test_images, data.test_labels)
  record = {"loss": spec.name, "label": spec.label, "seeds": list(config.seeds),
            "steps": config.steps, "metrics": metrics, "train_loss_per_chunk": losses,
            "config": expected}
  atomic_write_json(run_dir / RESULT, record, newline=False)
  return record
