"""The ordinal experiment: train every objective on the digit-count task, evaluate, summarise.

Each loss is one run directory holding all seeds: the seeds' parameters are stacked and trained
together under `jax.vmap`, ``chunk`` steps per compiled `jax.lax.scan`; after each chunk the
stacked state is checkpointed atomically, so a killed run resumes where it stopped and gives
bit-identical results. The figure code reads only the saved ``result.json`` files.

Metrics on the test canvases, per seed: exact accuracy (predicted count = true count), mean
absolute error of the prediction in counts (argmax of the softmax; the rounded output for L2
regression), and for softmax heads the MAE of the expected count ``Σ_k k p_k``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import (atomic_write_csv, atomic_write_json, atomic_write_text,
                                        save_figure, to_jsonable)
from gradeng.experiments.ordinal._config import OrdinalConfig, OrdinalLoss

CHECKPOINT = "checkpoint.npz"
RESULT = "result.json"


@dataclasses.dataclass(frozen=True)
class CountData:
  """Images ``[N, H, W, 1]`` and count classes ``[N]`` (count − min_objects) per split."""

  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray


def prepare_data(config: OrdinalConfig) -> CountData:
  """The digit canvases of ``config.data``; the label of a canvas is its number of digits."""
  from gradeng.experiments.detection import make_digit_canvases

  out = {}
  for split in ("train", "test"):
    samples = make_digit_canvases(config.data, split).samples
    out[f"{split}_images"] = np.stack([s.image for s in samples]).astype(np.float32)
    out[f"{split}_labels"] = np.array([len(s.labels) - config.data.min_objects for s in samples],
                                      np.int32)
  return CountData(**out)


def init_params(config: OrdinalConfig, spec: OrdinalLoss, seed: int) -> dict[str, np.ndarray]:
  """LeCun-normal kernels (NumPy, from ``seed``) and zero biases of the counting network."""
  rng = np.random.default_rng([seed, 7])
  outputs = config.num_classes if spec.kind == "classification" else 1
  shapes = {}
  channels = 1
  for i, width in enumerate(config.widths):
    shapes[f"conv{i}"] = (3, 3, channels, width)
    channels = width
  shapes["dense"] = (channels, config.hidden)
  shapes["out"] = (config.hidden, outputs)
  params = {}
  for name, shape in shapes.items():
    fan_in = int(np.prod(shape[:-1]))
    params[f"{name}_w"] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    params[f"{name}_b"] = np.zeros(shape[-1], np.float32)
  return params


def forward(params, images):
  """``[B, H, W, 1]`` → ``[B, outputs]``: four 3×3 convs (strides 2, 2, 2, 1, ReLU), a global
  sum-pool scaled by 1/cells (a count is a sum over the image), a ReLU dense layer, the head."""
  import jax
  import jax.numpy as jnp

  x = images
  for i, stride in enumerate((2, 2, 2, 1)):
    x = jax.lax.conv_general_dilated(x, params[f"conv{i}_w"], (stride, stride), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = jax.nn.relu(x + params[f"conv{i}_b"])
  x = jnp.sum(x, axis=(1, 2)) * (64.0 / (x.shape[1] * x.shape[2]))
  x = jax.nn.relu(x @ params["dense_w"] + params["dense_b"])
  return x @ params["out_w"] + params["out_b"]


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


def run_experiment(config: OrdinalConfig, out_dir: str | os.PathLike, *,
                   losses: Sequence[str] | None = None, figures_dir: str | os.PathLike | None = None,
                   progress: bool = True) -> dict[str, Any]:
  """Trains every loss of ``config`` (resuming runs in ``out_dir/runs/<loss>``), then writes the
  figure, CSV, table and ``<figure_stem>_results.json`` to ``figures_dir`` (default ``out_dir``)."""
  if losses is not None:
    config = dataclasses.replace(config, losses=tuple(config.loss(n) for n in losses))
  out_dir = Path(out_dir)
  started = time.perf_counter()
  data = prepare_data(config)
  counts = np.bincount(data.train_labels, minlength=config.num_classes)
  for spec in config.losses:
    train_loss(config, spec, data, out_dir / "runs" / spec.name, progress=progress)
  summary = summarize(config, out_dir, figures_dir=figures_dir)
  summary["train_count_histogram"] = counts.tolist()
  summary["wall_seconds"] = time.perf_counter() - started
  return summary


def summarize(config: OrdinalConfig, out_dir: str | os.PathLike, *,
              figures_dir: str | os.PathLike | None = None) -> dict[str, Any]:
  """Figure (MAE and exact accuracy per loss, each seed a dot), CSV, Markdown table and results
  JSON from the saved ``result.json`` files."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  out_dir = Path(out_dir)
  figures_dir = out_dir if figures_dir is None else Path(figures_dir)
  results = {}
  for spec in config.losses:
    path = out_dir / "runs" / spec.name / RESULT
    if not path.exists():
      raise ValueError(f"no result for loss {spec.name!r}: {path} is missing")
    results[spec.name] = json.loads(path.read_text())
  keys = ("mae", "accuracy", "within_one", "mae_expected")
  table = {name: {k: [m[k] for m in r["metrics"]] for k in keys} for name, r in results.items()}

  fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
  names = [s.name for s in config.losses]
  x = np.arange(len(names))
  for ax, key, title in ((axes[0], "mae", "mean absolute error (counts) ↓"),
                         (axes[1], "accuracy", "exact accuracy ↑")):
    means = [np.mean(table[n][key]) for n in names]
    ax.bar(x, means, color="#9ecae1")
    for i, n in enumerate(names):
      ax.plot(np.full(len(table[n][key]), i), table[n][key], "k.", markersize=5)
    ax.set_xticks(x, [s.label for s in config.losses], rotation=35, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
  fig.suptitle(f"Counting digits (1–9) on 32×32 canvases ({config.name}, {len(config.seeds)} seeds, "
               f"{config.steps} steps)", fontsize=10)
  fig.tight_layout()
  stem = figures_dir / config.figure_stem
  figures_dir.mkdir(parents=True, exist_ok=True)
  save_figure(fig, stem.with_suffix(".png"))
  plt.close(fig)

  atomic_write_csv(stem.with_suffix(".csv"),
                   [[n, seed, *(f"{m[k]:.6f}" for k in keys)]
                    for n in names for seed, m in zip(config.seeds, results[n]["metrics"])],
                   ["loss", "seed", *keys])

  lines = ["| loss | MAE (mean ± std) | exact accuracy | within ±1 | MAE of expected count |",
           "| --- | --- | --- | --- | --- |"]
  for spec in config.losses:
    t = table[spec.name]
    expected = "—" if spec.kind == "regression" else f"{np.mean(t['mae_expected']):.3f}"
    lines.append(f"| {spec.label} | {np.mean(t['mae']):.3f} ± {np.std(t['mae']):.3f} | "
                 f"{np.mean(t['accuracy']):.3f} ± {np.std(t['accuracy']):.3f} | "
                 f"{np.mean(t['within_one']):.3f} | {expected} |")
  markdown = "\n".join(lines) + "\n"
  table_path = figures_dir / f"{config.figure_stem}_table.md"
  atomic_write_text(table_path, markdown)
  summary = {"config": config.name, "seeds": list(config.seeds), "steps": config.steps,
             "losses": {n: {"label": results[n]["label"], **{k: table[n][k] for k in keys},
                            **{f"{k}_mean": float(np.mean(table[n][k])) for k in keys}}
                        for n in names}}
  results_path = figures_dir / f"{config.figure_stem}_results.json"
  atomic_write_json(results_path, summary)
  return {**summary, "table_markdown": markdown,
          "paths": [str(p) for p in (stem.with_suffix(".png"), stem.with_suffix(".csv"),
                                     table_path, results_path)]}
