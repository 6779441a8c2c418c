"""One loss trained over all its seeds at once (vmapped), checkpointed, evaluated per seed.

The multibox loss of a batch is the detection experiment's:

.. math::
   L = L_\\mathrm{cls} + \\lambda\\, \\frac{1}{N_\\mathrm{pos}}
       \\sum_{a \\in \\mathrm{pos}} \\mathrm{SmoothL1}(\\hat t_a - t_a)

with ``L_cls`` the per-anchor classification loss of the `DetectionLoss` (`anchor_losses`),
summed over every anchor (``"positives"``) or over the positives and the hardest
``neg_pos_ratio``× negatives (``"ohem"``), and divided by N_pos. The class statistics of
EQL v2, EFL and Seesaw are threaded through the steps (one state per seed) and checkpointed
with the model.

A loss's seeds are one run: ``runs/<loss>/`` holds its ``config.json``, an atomic
``checkpoint.npz`` every ``checkpoint_every`` steps (a killed run resumes from it, seeing the
same batches: they depend on (seed, step) only) and, once trained, ``seed<k>.json`` per seed
(written atomically) with the AP of every class.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gradeng as ge
import gradeng.longtail as lt
from gradeng.experiments.common import (atomic_write_json, claim_run_dir, load_checkpoint,
                                        save_checkpoint, to_jsonable)
from gradeng.experiments.detection import (DETECTION_LOSSES, Detections, ExperimentConfig,
                                           batch_indices, batched_nms, decode, evaluate_map,
                                           prepare_data)
from gradeng.experiments.longtail.detection._config import DetectionLoss, LongTailDetectionConfig
from gradeng.experiments.longtail.detection._data import LongTailCanvases
from gradeng.experiments.longtail.detection._model import class_scores, init_detector, stack_trees

CHECKPOINT = "checkpoint.npz"
NUM_CLASSES = 10


def stateful_loss(loss: DetectionLoss) -> ge.StatefulLoss | None:
  """The `gradeng.StatefulLoss` of EQL v2, EFL and Seesaw (None for the others): EQL v2 and EFL
  on the ``C + 1`` sigmoid outputs (the background column's share is dropped), Seesaw on the
  ``C`` object classes."""
  p = dict(loss.params)
  if loss.kind == "eqlv2":
    return lt.eqlv2(NUM_CLASSES + 1, **p)
  if loss.kind == "efl":
    return lt.equalized_focal(NUM_CLASSES + 1, gamma=p["gamma"], focus_scale=p["focus_scale"])
  if loss.kind == "seesaw":
    return lt.seesaw(NUM_CLASSES, **p)
  return None


def init_loss_state(loss: DetectionLoss) -> Any:
  """The loss's state before the first step (``()`` for a stateless loss)."""
  stateful = stateful_loss(loss)
  return () if stateful is None else stateful.init()


def anchor_losses(loss: DetectionLoss, logits: jax.Array, labels: jax.Array, state: Any,
                  class_counts: jax.Array) -> tuple[jax.Array, jax.Array, Any]:
  """Per-anchor classification losses ``[B, A]``, the anchors they are summed over, the state.

  Args:
    loss: the loss.
    logits: ``[B, A, C + 1]`` (index 0 = background).
    labels: ``[B, A]`` matched classes, 0 = background, ``k + 1`` = digit ``k``.
    state: the loss's state before this batch.
    class_counts: ``[C]`` training objects per digit (EQL's n_j).

  Returns:
    ``(losses [B, A], kept [B, A] bool, state after the batch)``. Sigmoid kinds sum the
    one-vs-all losses of the ``C`` object outputs (a background anchor is a negative of every
    class). ``"ohem"`` keeps the positives and the ``neg_pos_ratio``× negatives with the largest
    plain loss (sigmoid BCE summed over classes, softmax CE, Seesaw's objectness CE), as the
    1:3 sampler of a two-stage detector's RoI head; ``"positives"`` keeps every anchor.
  """
  positive = labels > 0
  p = dict(loss.params)
  targets = jax.nn.one_hot(labels, NUM_CLASSES + 1, dtype=jnp.int32)[..., 1:]
  objects = logits[..., 1:]
  if loss.kind == "seesaw":  # softmax head = objectness (bg vs any object) × p(class | object)
    pair = jnp.stack([logits[..., 0], jax.nn.logsumexp(objects, axis=-1)], axis=-1)
    mining = ge.cross_entropy_loss(pair, positive.astype(jnp.int32), head="softmax")
  elif loss.head == "softmax":
    mining = ge.cross_entropy_loss(logits, labels, head="softmax")
  else:
    mining = ge.cross_entropy_loss(objects, targets).sum(-1)
  if loss.normalization == "ohem":
    kept = ge.ohem_mask(jax.lax.stop_gradient(mining), positive, neg_pos_ratio=loss.neg_pos_ratio)
  else:
    kept = jnp.ones_like(positive)
  if loss.kind == "ce_ohem":
    return mining, kept, state
  if loss.kind == "focal":
    return ge.focal_loss(objects, targets, head="sigmoid", **p).sum(-1), kept, state
  if loss.kind == "eql":
    counts = jnp.concatenate([jnp.zeros(1, class_counts.dtype), class_counts])
    values = lt.equalization_loss(logits, labels, class_counts=counts, foreground=positive,
                                  where=kept, **p)
    return values[..., 1:].sum(-1), kept, state
  stateful = stateful_loss(loss)
  if loss.kind == "seesaw":
    values, state = stateful.loss(objects, jnp.maximum(labels - 1, 0), state, where=positive)
    return mining + jnp.where(positive, values, 0.0), kept, state
  extra = {"alpha": p["alpha"]} if loss.kind == "efl" else {}
  values, state = stateful.loss(logits, labels, state, where=kept, **extra)
  return values[..., 1:].sum(-1), kept, state


def multibox_loss(loss: DetectionLoss, logits, offsets, labels, target_offsets, state,
                  class_counts) -> tuple[jax.Array, Any]:
  """``(L_cls + λ L_loc, state after the batch)`` of one batch (see the module docstring)."""
  positive = labels > 0
  values, kept, state = anchor_losses(loss, logits, labels, state, class_counts)
  cls = ge.normalize_by_positives(values, positive, where=kept)
  per_box = optax.losses.huber_loss(offsets, target_offsets, delta=1.0).sum(-1)
  loc = ge.normalize_by_positives(per_box, positive, where=positive)
  return cls + loss.loc_weight * loc, state


@functools.partial(jax.jit, static_argnames=("graphdef", "loss"), donate_argnums=(0, 1, 2))
def train_step(params, opt_state, loss_state, images, labels, offsets, class_counts, *,
               graphdef, loss: DetectionLoss):
  """One Adam step of every seed (leading axis of all but ``class_counts``): compiled once
  per loss, the seeds vmapped."""

  def one(params, opt_state, loss_state, images, labels, offsets):
    def objective(p):
      logits, predicted = nnx.merge(graphdef, p)(images)
      return multibox_loss(loss, logits, predicted, labels, offsets, loss_state, class_counts)

    (value, new_state), grads = jax.value_and_grad(objective, has_aux=True)(params)
    updates, opt_state = optax.adam(loss.learning_rate).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, new_state, value

  return jax.vmap(one)(params, opt_state, loss_state, images, labels, offsets)


@functools.partial(jax.jit, static_argnames=("graphdef", "head", "top_k", "side", "variances"))
def predict(params, images, anchors, *, graphdef, head: str, top_k: int, side: float,
            variances: tuple[float, float]):
  """Every seed's top-k (box, score, class) candidates per image, before NMS:
  ``[S, N, k, 4]``, ``[S, N, k]``, ``[S, N, k]``."""

  def one(p):
    logits, offsets = nnx.merge(graphdef, p)(images)
    scores = class_scores(logits, head)
    boxes = jnp.clip(decode(offsets, anchors, variances), 0.0, side)
    k = min(top_k, scores.shape[1] * scores.shape[2])
    best, flat = jax.lax.top_k(scores.reshape(scores.shape[0], -1), k)
    anchor, cls = flat // scores.shape[2], flat % scores.shape[2]
    return jnp.take_along_axis(boxes, anchor[..., None], axis=1), best, cls

  return jax.vmap(one)(params)


def detections(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, *,
               score_threshold: float, nms_iou: float, max_detections: int) -> list[Detections]:
  """One seed's candidates ``[N, k, ...]`` → per image: thresholded, per-class NMS, capped."""
  out = []
  for b, s, c in zip(boxes, scores, classes):
    kept = (s >= score_threshold) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    b, s, c = b[kept], s[kept], c[kept]
    keep = batched_nms(b, s, c, nms_iou)[:max_detections]
    out.append(Detections(b[keep], s[keep], c[keep]))
  return out


@dataclasses.dataclass(frozen=True)
class TrainData:
  """Matched training targets and test ground truth (from the detection experiment's
  `prepare_data`) and the training objects per digit."""

  anchors: np.ndarray
  train_images: np.ndarray
  train_labels: np.ndarray
  train_offsets: np.ndarray
  test_images: np.ndarray
  test_boxes: tuple[np.ndarray, ...]
  test_labels: tuple[np.ndarray, ...]
  class_counts: np.ndarray
  stats: dict[str, float]


def detection_experiment(config: LongTailDetectionConfig) -> ExperimentConfig:
  """The detection experiment's config of this data, model and training (for `prepare_data`)."""
  return ExperimentConfig(name=f"longtail detection {config.name}", data=config.data,
                          model=config.model, train=config.train,
                          losses=(DETECTION_LOSSES["ce_ohem"],), seeds=config.seeds)


def prepare(config: LongTailDetectionConfig, canvases: LongTailCanvases) -> TrainData:
  """Matches the training boxes to the anchors and collects the test ground truth."""
  data = prepare_data(detection_experiment(config), train_set=canvases.train,
                      test_set=canvases.test)
  return TrainData(data.anchors, data.train_images, data.train_labels, data.train_offsets,
                   data.test_images, data.test_boxes, data.test_labels,
                   canvases.instance_counts.astype(np.float32), data.stats)


def run_config(config: LongTailDetectionConfig, loss: DetectionLoss) -> dict[str, Any]:
  """What a loss's run directory is tied to: data, groups, model, training, loss and seeds."""
  return to_jsonable({"data": config.data, "frequent": config.frequent, "common": config.common,
                      "rare": config.rare, "common_images": config.common_images,
                      "rare_images": config.rare_images, "pool_factor": config.pool_factor,
                      "model": config.model, "train": config.train, "loss": loss,
                      "seeds": config.seeds})


def run_dir_for(out_dir: str | os.PathLike, loss: DetectionLoss) -> Path:
  return Path(out_dir) / "runs" / loss.name


def seed_result_path(run_dir: Path, seed: int) -> Path:
  return run_dir / f"seed{seed}.json"


def finished(config: LongTailDetectionConfig, loss: DetectionLoss,
             out_dir: str | os.PathLike) -> list[dict[str, Any]] | None:
  """The saved per-seed results of a finished run with this config; None if not finished."""
  run_dir = run_dir_for(out_dir, loss)
  paths = [seed_result_path(run_dir, s) for s in config.seeds]
  if not all(p.exists() for p in paths):
    return None
  claim_run_dir(run_dir, run_config(config, loss), write=False)
  return [json.loads(p.read_text()) for p in paths]


def train_loss(config: LongTailDetectionConfig, loss: DetectionLoss, data: TrainData,
               out_dir: str | os.PathLike, *, progress: bool = False,
               on_step: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
  """Trains (or resumes, or reads back) every seed of ``loss`` and evaluates each.

  Args:
    config: the experiment.
    loss: the loss trained.
    data: from `prepare`.
    out_dir: the experiment's directory (the run goes to ``runs/<loss>/``).
    progress: a tqdm bar over the steps.
    on_step: called with each finished step (tests use it to simulate a kill).

  Returns:
    Per seed, its result: ``{"loss", "seed", "ap": [10 floats or None], "map", ...}``.
  """
  from tqdm.auto import tqdm

  expected = run_config(config, loss)
  run_dir = claim_run_dir(run_dir_for(out_dir, loss), expected)
  if (done := finished(config, loss, out_dir)) is not None:
    return done
  inits = [init_detector(config.model, loss, s) for s in config.seeds]
  graphdef = inits[0][0]
  params = stack_trees([p for _, p in inits])
  opt_state = jax.vmap(optax.adam(loss.learning_rate).init)(params)
  loss_state = stack_trees([init_loss_state(loss)] * len(config.seeds))
  step, wall, last = 0, 0.0, [None] * len(config.seeds)
  checkpoint = run_dir / CHECKPOINT
  if checkpoint.exists():
    state, step, extra = load_checkpoint(checkpoint, (params, opt_state, loss_state),
                                         config=expected)
    params, opt_state, loss_state = jax.device_put(state)
    wall, last = extra["wall_seconds"], extra.get("last_loss", last)
  train = config.train
  counts = jnp.asarray(data.class_counts)
  count = len(data.train_images)
  bar = tqdm(total=train.steps, initial=step, desc=f"{loss.name} ×{len(config.seeds)} seeds",
             disable=not progress, dynamic_ncols=True, leave=False)
  started = time.perf_counter()
  try:
    while step < train.steps:
      index = np.stack([batch_indices(s, step, count, train.batch_size) for s in config.seeds])
      params, opt_state, loss_state, value = train_step(
          params, opt_state, loss_state, data.train_images[index], data.train_labels[index],
          data.train_offsets[index], counts, graphdef=graphdef, loss=loss)
      step += 1
      bar.update(1)
      if step % train.checkpoint_every == 0 or step == train.steps:
        last = np.asarray(value).tolist()
        if not np.all(np.isfinite(last)):
          raise FloatingPointError(f"{loss.name}: loss is {last} at step {step}")
        bar.set_postfix(loss=f"{float(np.mean(last)):.3f}", refresh=False)
        save_checkpoint(checkpoint, (params, opt_state, loss_state), step=step, config=expected,
                        extra={"wall_seconds": wall + time.perf_counter() - started,
                               "last_loss": last})
      if on_step is not None:
        on_step(step)
  finally:
    bar.close()
  wall += time.perf_counter() - started
  candidates = [np.asarray(a) for a in predict(
      params, data.test_images, data.anchors, graphdef=graphdef, head=loss.head,
      top_k=train.pre_nms_top_k, side=float(config.data.canvas_size),
      variances=tuple(train.variances))]
  results = []
  for i, seed in enumerate(config.seeds):
    found = detections(*(a[i] for a in candidates), score_threshold=train.score_threshold,
                       nms_iou=train.nms_iou, max_detections=train.max_detections)
    result = evaluate_map(found, data.test_boxes, data.test_labels, num_classes=NUM_CLASSES,
                          iou_threshold=0.5)
    record = {"loss": loss.name, "label": loss.label, "seed": seed, "steps": train.steps,
              "ap": [None if math.isnan(a) else float(a) for a in result.ap],
              "map": result.mean_ap, "final_loss": last[i],
              "detections_per_image": float(np.mean([len(d.scores) for d in found])),
              "train_wall_seconds": wall, "backend": jax.default_backend(), "config": expected}
    atomic_write_json(seed_result_path(run_dir, seed), record)
    results.append(record)
  return results
