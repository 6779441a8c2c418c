"""Training: the set head with the Hungarian set loss and its detections (no NMS); SSD-lite's
detections with NMS; the per-level evaluation of both (`level_metrics`, `nms_ceiling`).


The loss of a batch is the mean over its images of `set_loss`: each image's ground truth is
matched one-to-one to the K hypotheses (`hungarian_match`), matched hypotheses are trained
towards their object's class (catalog loss on the softmax head) and box (L1 + GIoU), the
others towards "no object". A run is resumable like the detection experiment's: config,
atomic checkpoints, and a ``result.json`` that marks it finished.
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

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from gradeng.experiments.common import (atomic_write_json, check_config, claim_run_dir,
                                        load_checkpoint, read_checkpoint_config, save_checkpoint,
                                        to_jsonable)
from gradeng.experiments.crowded._config import CrowdedConfig, SetLoss
from gradeng.experiments.crowded._matching import set_loss
from gradeng.experiments.crowded._model import init_set_head
from gradeng.experiments.detection import (Detections, InMemoryDataset, accumulate, batch_indices,
                                           evaluate_map)

CHECKPOINT = "checkpoint.npz"
RESULT = "result.json"
RUN_CONFIG = "config.json"


@dataclasses.dataclass(frozen=True)
class SetData:
  """Training canvases with padded ground truth: ``images [N, H, W, 1]``, ``boxes [N, M, 4]``,
  ``labels [N, M]``, ``valid [N, M]`` (False on padding)."""

  images: np.ndarray
  boxes: np.ndarray
  labels: np.ndarray
  valid: np.ndarray


def batch_set_loss(spec: SetLoss, class_logits, boxes, gt_boxes, gt_labels, valid, *,
                   canvas_size: float) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Mean over the batch of `set_loss` → ``(total, {"cls", "l1", "giou"})``.

  Args:
    spec: the classification loss and the λs.
    class_logits: ``[B, K, C + 1]``; boxes ``[B, K, 4]``.
    gt_boxes: ``[B, M, 4]``; gt_labels ``[B, M]``; valid ``[B, M]``.
    canvas_size: the canvas side S (the L1 term is in units of S).
  """
  per_image = jax.vmap(functools.partial(
      set_loss, canvas_size=canvas_size, cls_loss=spec.loss_fn, cls_params=dict(spec.params),
      l1_weight=spec.l1_weight, giou_weight=spec.giou_weight, class_weight=spec.class_weight))
  total, parts, _ = per_image(class_logits, boxes, gt_boxes, gt_labels, valid)
  return jnp.mean(total), {k: jnp.mean(v) for k, v in parts.items()}


@functools.partial(jax.jit, static_argnames=("graphdef", "spec", "canvas_size"),
                   donate_argnums=(0, 1))
def _train_step(params, opt_state, images, gt_boxes, gt_labels, valid, *, graphdef,
                spec: SetLoss, canvas_size: float):
  """One Adam step on the set loss of a batch."""

  def loss_fn(p):
    logits, boxes = nnx.merge(graphdef, p)(images)
    return batch_set_loss(spec, logits, boxes, gt_boxes, gt_labels, valid, canvas_size=canvas_size)

  (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = optax.adam(spec.learning_rate).update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, {"loss": loss, **parts}


def run_config(config: CrowdedConfig, spec: SetLoss, seed: int) -> dict[str, Any]:
  """The JSON config a set-head run's checkpoint and result are tied to."""
  return to_jsonable({"data": config.data, "model": config.set_head, "steps": config.steps,
                      "batch_size": config.batch_size, "loss": spec, "seed": seed})


def train_set_head(config: CrowdedConfig, spec: SetLoss, seed: int, data: SetData,
                   run_dir: str | os.PathLike, *, progress: bool = True,
                   on_step=None) -> tuple[dict[str, Any], nnx.GraphDef, nnx.State]:
  """Trains (or resumes, or reloads) one set-head run.

  Writes ``config.json``, ``checkpoint.npz`` (every ``ssd_train.checkpoint_every`` steps and at
  the end, atomically) and ``result.json`` (the loss history). A finished run is not retrained:
  its final parameters are read back from the checkpoint. A run directory of a different
  config is refused, naming the first difference.

  Returns:
    ``(result, graphdef, params)``.
  """
  from tqdm.auto import tqdm

  run_dir = Path(run_dir)
  expected = run_config(config, spec, seed)
  checkpoint = run_dir / CHECKPOINT
  if (run_dir / RESULT).exists():
    check_config(run_dir / RESULT, json.loads((run_dir / RESULT).read_text())["config"], expected)
  if checkpoint.exists():
    check_config(checkpoint, read_checkpoint_config(checkpoint), expected)
  claim_run_dir(run_dir, expected, filename=RUN_CONFIG, newline=False)

  side = float(config.data.base.canvas_size)
  graphdef, params = init_set_head(config.set_head, 10, data.images.shape[-1], seed=seed)
  opt_state = optax.adam(spec.learning_rate).init(params)
  step, wall, history = 0, 0.0, []
  if checkpoint.exists():
    state, step, extra = load_checkpoint(checkpoint, (params, opt_state), config=expected)
    params, opt_state = jax.device_put(state)
    wall, history = extra["wall_seconds"], extra["history"]
  if (run_dir / RESULT).exists() and step == config.steps:
    return json.loads((run_dir / RESULT).read_text()), graphdef, params

  every = config.ssd_train.checkpoint_every
  bar = tqdm(total=config.steps, initial=step, desc=f"{spec.name} seed {seed}",
             disable=not progress, dynamic_ncols=True, leave=False)
  started = time.perf_counter()
  sums, count = {"loss": 0.0, "cls": 0.0, "l1": 0.0, "giou": 0.0}, 0
  try:
    while step < config.steps:
      index = batch_indices(seed, step, len(data.images), config.batch_size)
      params, opt_state, parts = _train_step(
          params, opt_state, data.images[index], data.boxes[index], data.labels[index],
          data.valid[index], graphdef=graphdef, spec=spec, canvas_size=side)
      step += 1
      parts = accumulate(parts, sums, name=spec.name, seed=seed, step=step)
      count += 1
      bar.update(1)
      bar.set_postfix(loss=f"{parts['loss']:.3f}", refresh=False)
      if step % every == 0 or step == config.steps:
        history.append({"step": step, **{k: v / count for k, v in sums.items()}})
        sums, count = dict.fromkeys(sums, 0.0), 0
        save_checkpoint(checkpoint, (params, opt_state), step=step, config=expected,
                        extra={"history": history,
                               "wall_seconds": wall + time.perf_counter() - started})
      if on_step is not None:
        on_step(step)
  finally:
    bar.close()
  record = {"loss": spec.name, "label": spec.label, "seed": seed, "steps": config.steps,
            "history": history, "wall_seconds": wall + time.perf_counter() - started,
            "backend": jax.default_backend(), "config": expected}
  atomic_write_json(run_dir / RESULT, record, newline=False)
  return record, graphdef, params


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _predict(params, images, *, graphdef):
  logits, boxes = nnx.merge(graphdef, params)(images)
  probs = jax.nn.softmax(logits, axis=-1)[..., 1:]
  return boxes, jnp.max(probs, axis=-1), jnp.argmax(probs, axis=-1)


def set_detections(graphdef, params, images: np.ndarray, *, canvas_size: float,
                   score_threshold: float = 0.01, batch_size: int = 256) -> list[Detections]:
  """The set head's detections, no NMS: one per hypothesis, its most probable object class
  and that probability as score (DETR's convention), boxes clipped to the canvas; hypotheses
  scoring below ``score_threshold`` or with an empty clipped box are dropped."""
  out = []
  for start in range(0, len(images), batch_size):
    boxes, scores, classes = (np.asarray(a) for a in _predict(
        params, images[start:start + batch_size], graphdef=graphdef))
    boxes = np.clip(boxes, 0.0, canvas_size)
    for b, s, c in zip(boxes, scores, classes):
      kept = (s >= score_threshold) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
      order = np.argsort(-s[kept], kind="stable")
      out.append(Detections(b[kept][order], s[kept][order], c[kept][order].astype(np.int64)))
  return out


LEVELS = "levels.json"


CROWDED_CONFIG = "crowded_config.json"


def _method_config(config: CrowdedConfig, name: str, seed: int) -> dict[str, Any]:
  """What a run's ``levels.json`` is tied to: the data, the method's model and training."""
  if name == config.ssd_loss.name:
    method = {"model": config.ssd_model, "train": config.ssd_train, "loss": config.ssd_loss}
  else:
    method = {"model": config.set_head, "steps": config.steps, "batch_size": config.batch_size,
              "loss": next(s for s in config.set_losses if s.name == name)}
  return to_jsonable({"data": config.data, **method, "seed": seed,
                      "score_threshold": config.score_threshold})


def run_dir_for(out_dir: str | os.PathLike, name: str, seed: int) -> Path:
  return Path(out_dir) / "runs" / name / f"seed{seed}"


def recall(result, num_objects: int) -> float:
  """Objects found / objects, from an `evaluate_map` result (each class's last recall)."""
  found = sum(round(c.recall[-1] * c.num_positives) for c in result.curves if len(c.recall))
  return found / max(num_objects, 1)


def level_metrics(detections: Sequence[Detections], test: InMemoryDataset, *,
                  score_threshold: float) -> dict[str, float]:
  """mAP@0.5, recall at ``score_threshold``, the largest recall, detections per image."""
  boxes = [s.boxes for s in test]
  labels = [s.labels for s in test]
  objects = sum(len(l) for l in labels)
  everything = evaluate_map(detections, boxes, labels, num_classes=10, iou_threshold=0.5)
  confident = [Detections(d.boxes[d.scores >= score_threshold], d.scores[d.scores >= score_threshold],
                          d.labels[d.scores >= score_threshold]) for d in detections]
  kept = evaluate_map(confident, boxes, labels, num_classes=10, iou_threshold=0.5)
  return {"map50": everything.mean_ap, "recall": recall(kept, objects),
          "max_recall": recall(everything, objects),
          "detections_per_image": float(np.mean([len(d.scores) for d in confident])),
          "objects_per_image": objects / len(labels)}


def nms_ceiling(test: InMemoryDataset, nms_iou: float, *, seed: int = 0) -> dict[str, float]:
  """The recall NMS leaves a perfect detector: ground-truth boxes (random scores) kept by NMS."""
  from gradeng.experiments.detection import batched_nms, nms

  rng = np.random.default_rng([seed, 11])
  per_class = agnostic = total = 0
  for sample in test:
    scores = rng.permutation(len(sample.labels)).astype(np.float64)
    per_class += len(batched_nms(sample.boxes, scores, sample.labels, nms_iou))
    agnostic += len(nms(sample.boxes, scores, nms_iou))
    total += len(sample.labels)
  return {"per_class": per_class / total, "agnostic": agnostic / total}


def ssd_detections(graphdef, params, images: np.ndarray, anchors: np.ndarray,
                   config: CrowdedConfig, *, class_agnostic: bool,
                   batch_size: int = 256) -> list[Detections]:
  """SSD-lite's detections: the detection experiment's decoding and top-k (`predict`), score
  threshold, then NMS at ``nms_iou`` per class (the detection experiment's `detect`) or over
  all classes at once."""
  from gradeng.experiments.detection import batched_nms, predict

  train = config.ssd_train
  out = []
  for start in range(0, len(images), batch_size):
    boxes, scores, classes = (np.asarray(a) for a in predict(
        params, images[start:start + batch_size], anchors, graphdef=graphdef, train=train,
        side=float(config.data.base.canvas_size)))
    for b, s, c in zip(boxes, scores, classes):
      kept = (s >= train.score_threshold) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
      b, s, c = b[kept], s[kept], c[kept]
      groups = np.zeros_like(c) if class_agnostic else c
      keep = batched_nms(b, s, groups, train.nms_iou)[:train.max_detections]
      out.append(Detections(b[keep], s[keep], c[keep]))
  return out


def _finished(run_dir: Path, expected: dict[str, Any]) -> dict[str, Any] | None:
  """The saved ``levels.json`` of a finished run with this config; None if not finished."""
  path = run_dir / LEVELS
  if not path.exists():
    return None
  stored = json.loads(path.read_text())
  check_config(path, stored["config"], expected)
  return stored


def _claim(run_dir: Path, expected: dict[str, Any]) -> None:
  """Ties ``run_dir`` to this config (refusing a directory of another one)."""
  claim_run_dir(run_dir, expected, filename=CROWDED_CONFIG, newline=False)
