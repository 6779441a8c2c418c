"""Training and evaluation of SSD-lite with one classification loss (paper §3.3, Figure 3).

The multibox loss of a batch is

.. math::
   L = L_\\mathrm{cls} + \\lambda\\, \\frac{1}{N_\\mathrm{pos}}
       \\sum_{a \\in \\mathrm{pos}} \\mathrm{SmoothL1}(\\hat t_a - t_a)

where ``L_cls`` is the catalog loss of every anchor (softmax head over background + 10
digits), reduced as its `LossSpec.normalization` says: OHEM (positives plus the hardest
negatives, divided by the number of positives), by positives (focal, Maki), or by the
number of elements (QCE).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gradeng as ge
from gradeng.boxes import BOX_LOSSES as IOU_LOSSES
from gradeng.experiments.detection import _boxes
from gradeng.experiments.common import (atomic_write_text, check_config, first_difference,
                                        load_checkpoint, read_checkpoint_config, save_checkpoint,
                                        to_jsonable)
from gradeng.experiments.detection._config import ExperimentConfig, LossSpec, TrainConfig
from gradeng.experiments.detection._data import DetectionDataset, make_digit_canvases, stack
from gradeng.experiments.detection._metrics import Detections, MapResult, evaluate_map, localisation_map
from gradeng.experiments.detection._model import init_model

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
RESULT = "result.json"
RUN_CONFIG = "config.json"


@dataclasses.dataclass(frozen=True)
class PreparedData:
  """Everything a run reads: images, matched targets for training, ground truth for test.

  Attributes:
    class_names: object classes (no background).
    anchors: ``[A, 4]``.
    train_images: ``[N, H, W, C]``.
    train_labels: ``[N, A]`` matched classes (0 = background, ``k + 1`` = class ``k``).
    train_offsets: ``[N, A, 4]`` encoded boxes of the matched objects.
    test_images: ``[T, H, W, C]``.
    test_boxes, test_labels, test_difficult: per test image, its ground truth.
    stats: anchor statistics of the training set (background:object ratio etc.).
  """

  class_names: tuple[str, ...]
  anchors: np.ndarray
  train_images: np.ndarray
  train_labels: np.ndarray
  train_offsets: np.ndarray
  test_images: np.ndarray
  test_boxes: tuple[np.ndarray, ...]
  test_labels: tuple[np.ndarray, ...]
  test_difficult: tuple[np.ndarray, ...]
  stats: dict[str, float]


def prepare_data(config: ExperimentConfig, *, train_set: DetectionDataset | None = None,
                 test_set: DetectionDataset | None = None) -> PreparedData:
  """Builds (or takes) the data sets, checks them, and matches the training boxes to anchors.

  Args:
    config: the experiment (its data, anchors and matching settings).
    train_set, test_set: any `DetectionDataset` of ``canvas_size × canvas_size × 1`` images;
      by default the digit canvases of ``config.data``.

  Returns:
    `PreparedData`; ``stats["background_per_object"]`` is the background:object anchor ratio.
  """
  side = config.data.canvas_size
  train_set = make_digit_canvases(config.data, "train") if train_set is None else train_set
  test_set = make_digit_canvases(config.data, "test") if test_set is None else test_set
  num_classes = len(train_set.class_names)
  if tuple(test_set.class_names) != tuple(train_set.class_names):
    raise ValueError(
        f"train and test class names differ: {train_set.class_names} vs {test_set.class_names}")
  shape = (side, side, 1)
  train = stack(train_set, num_classes=num_classes, image_shape=shape)
  test = stack(test_set, num_classes=num_classes, image_shape=shape)
  anchors = _boxes.make_anchors(side, config.model.feature_maps)
  match = jax.jit(jax.vmap(lambda b, l, v: _boxes.match(
      jnp.asarray(anchors), b, l, v, iou_threshold=config.train.iou_threshold,
      variances=config.train.variances)))
  labels, offsets = [], []
  for start in range(0, len(train["images"]), 512):
    part = slice(start, start + 512)
    l, o = match(train["boxes"][part], train["labels"][part], train["valid"][part])
    labels.append(np.asarray(l))
    offsets.append(np.asarray(o))
  labels = np.concatenate(labels)
  positives = int(np.sum(labels > 0))
  objects = int(np.sum(train["valid"]))
  total = labels.size
  stats = {
      "anchors_per_image": int(anchors.shape[0]),
      "objects": objects,
      "positive_anchors": positives,
      "background_anchors": total - positives,
      "positive_anchors_per_object": positives / objects,
      "background_per_positive_anchor": (total - positives) / max(positives, 1),
      "objects_per_image": objects / labels.shape[0],
  }
  valid = test["valid"]
  return PreparedData(
      class_names=tuple(train_set.class_names), anchors=anchors,
      train_images=train["images"], train_labels=labels, train_offsets=np.concatenate(offsets),
      test_images=test["images"],
      test_boxes=tuple(b[v] for b, v in zip(test["boxes"], valid)),
      test_labels=tuple(l[v] for l, v in zip(test["labels"], valid)),
      test_difficult=tuple(d[v] for d, v in zip(test["difficult"], valid)),
      stats=stats)


def classification_loss(spec: LossSpec, class_logits: jax.Array, target_labels: jax.Array,
                        loss_state: Any = ()) -> tuple[jax.Array, Any]:
  """Per-anchor classification losses ``[B, A]`` (softmax head) of ``spec``, unreduced, and the
  loss state after this batch.

  A ``stateful`` spec reads ``loss_state`` (its state before this batch, see `init_loss_state`)
  and returns the state after it (step counters, EMA statistics: computed once per step, with
  no gradient); a stateless spec returns ``loss_state`` unchanged.
  """
  if spec.stateful is None:
    return spec.loss_fn(class_logits, target_labels, head="softmax", **spec.params), loss_state
  return spec.stateful_loss().loss(class_logits, target_labels, loss_state)


def init_loss_state(spec: LossSpec) -> Any:
  """The classification loss's state before the first step (``()`` for a stateless loss)."""
  return () if spec.stateful is None else spec.stateful_loss().init()


def detection_loss(spec: LossSpec, class_logits: jax.Array, offsets: jax.Array,
                   target_labels: jax.Array, target_offsets: jax.Array, loss_state: Any = (),
                   *, anchors: jax.Array | None = None, variances: tuple[float, float] = (0.1, 0.2)
                   ) -> tuple[jax.Array, dict[str, jax.Array], Any]:
  """The multibox loss of a batch → ``(total, {"cls": ..., "loc": ...}, loss_state_after)``.

  Args:
    spec: the classification loss, its normalisation and λ.
    class_logits: ``[B, A, C + 1]`` (index 0 = background).
    offsets: ``[B, A, 4]`` predicted encoded boxes.
    target_labels: ``[B, A]`` int, 0 = background.
    target_offsets: ``[B, A, 4]``.
    loss_state: the state of a ``stateful`` spec before this batch (``()`` otherwise).
    anchors: ``[A, 4]``, required by an IoU-family ``spec.box_loss`` (boxes are decoded).
    variances: the box-encoding variances of the offsets.
  """
  positive = target_labels > 0
  per_anchor, loss_state = classification_loss(spec, class_logits, target_labels, loss_state)
  if spec.normalization == "ohem":
    hard = ge.ohem_mask(jax.lax.stop_gradient(per_anchor), positive,
                        neg_pos_ratio=spec.neg_pos_ratio)
    cls = ge.normalize_by_positives(per_anchor, positive, where=hard)
  elif spec.normalization == "positives":
    cls = ge.normalize_by_positives(per_anchor, positive)
  else:
    cls = ge.mean_over_elements(per_anchor)
  if spec.box_loss == "smooth_l1":
    per_box = optax.losses.huber_loss(offsets, target_offsets, delta=1.0).sum(-1)
  elif anchors is None:
    raise ValueError(f"loss {spec.name!r}: box_loss {spec.box_loss!r} needs the `anchors`")
  else:
    per_box = IOU_LOSSES[spec.box_loss](offsets, target_offsets, anchors=anchors,
                                        variances=variances)
  loc = ge.normalize_by_positives(per_box, positive, where=positive)
  return cls + spec.loc_weight * loc, {"cls": cls, "loc": loc}, loss_state


def optimizer(spec: LossSpec) -> optax.GradientTransformation:
  """Adam at ``spec.learning_rate``, after a linear warm-up from 0 over ``spec.lr_warmup_steps``."""
  if not spec.lr_warmup_steps:
    return optax.adam(spec.learning_rate)
  return optax.adam(optax.linear_schedule(0.0, spec.learning_rate, spec.lr_warmup_steps))


@functools.partial(jax.jit, static_argnames=("graphdef", "spec", "variances"),
                   donate_argnums=(0, 1))
def train_step(params, opt_state, loss_state, images, labels, offsets, *, graphdef,
                spec: LossSpec, anchors=None, variances=(0.1, 0.2)):
  """One Adam step on the multibox loss, and the loss state after the batch; compiled once
  per (model structure, loss spec)."""

  def loss_fn(p):
    logits, predicted = nnx.merge(graphdef, p)(images)
    total, parts, new_state = detection_loss(spec, logits, predicted, labels, offsets, loss_state,
                                             anchors=anchors, variances=variances)
    return total, (parts, new_state)

  (loss, (parts, loss_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = optimizer(spec).update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss_state, {"loss": loss, **parts}


@functools.partial(jax.jit, static_argnames=("graphdef", "train", "side"))
def predict(params, images, anchors, *, graphdef, train: TrainConfig, side: float):
  """Top-k (box, score, class) candidates per image, before the score threshold and NMS."""
  logits, offsets = nnx.merge(graphdef, params)(images)
  probs = jax.nn.softmax(logits, axis=-1)[..., 1:]  # [B, A, C]
  boxes = jnp.clip(_boxes.decode(offsets, anchors, train.variances), 0.0, side)
  num_classes = probs.shape[-1]
  k = min(train.pre_nms_top_k, probs.shape[1] * num_classes)
  scores, flat = jax.lax.top_k(probs.reshape(probs.shape[0], -1), k)
  anchor, cls = flat // num_classes, flat % num_classes
  return jnp.take_along_axis(boxes, anchor[..., None], axis=1), scores, cls


def detect(graphdef, params, data: PreparedData, config: ExperimentConfig,
           batch_size: int = 256) -> list[Detections]:
  """The test images' detections: decoded, thresholded, per-class NMS, at most max_detections."""
  train = config.train
  detections = []
  for start in range(0, len(data.test_images), batch_size):
    boxes, scores, classes = (np.asarray(a) for a in predict(
        params, data.test_images[start:start + batch_size], data.anchors, graphdef=graphdef,
        train=train, side=float(config.data.canvas_size)))
    for b, s, c in zip(boxes, scores, classes):
      kept = s >= train.score_threshold
      b, s, c = b[kept], s[kept], c[kept]
      wide = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
      b, s, c = b[wide], s[wide], c[wide]
      keep = _boxes.batched_nms(b, s, c, train.nms_iou)[:train.max_detections]
      detections.append(Detections(b[keep], s[keep], c[keep]))
  return detections


def evaluate(graphdef, params, data: PreparedData, config: ExperimentConfig,
             batch_size: int = 256) -> tuple[MapResult, float]:
  """Decodes, applies per-class NMS, and computes mAP@0.5 on the test images.

  Returns:
    The `MapResult` and the mean number of detections per image scoring at least 0.5 (a
    model collapsed to background has almost none, whatever its mAP ranking).
  """
  detections = detect(graphdef, params, data, config, batch_size)
  result = evaluate_map(detections, data.test_boxes, data.test_labels,
                        num_classes=len(data.class_names), gt_difficult=data.test_difficult,
                        iou_threshold=0.5)
  confident = float(np.mean([np.sum(d.scores >= 0.5) for d in detections]))
  return result, confident


def run_config(config: ExperimentConfig, spec: LossSpec, seed: int) -> dict[str, Any]:
  """The JSON config of one (loss, seed) run: what its checkpoint and results are tied to."""
  return to_jsonable({"data": config.data, "model": config.model, "train": config.train,
                      "loss": spec, "seed": seed})


def batch_indices(seed: int, step: int, count: int, batch_size: int) -> np.ndarray:
  """The training images of ``step``: epoch-wise permutations drawn from ``(seed, epoch)`` only,
  so a resumed run sees the same batches as an uninterrupted one."""
  per_epoch = max(count // batch_size, 1)
  epoch, j = divmod(step, per_epoch)
  order = np.random.default_rng([seed, 2, epoch]).permutation(count)
  return order[j * batch_size:(j + 1) * batch_size]


def train_run(config: ExperimentConfig, spec: LossSpec, seed: int, data: PreparedData,
              run_dir: str | os.PathLike, *, progress: bool = True,
              on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
  """Trains one (loss, seed) run, resuming from ``run_dir``'s checkpoint if there is one.

  Writes ``config.json``, ``metrics.jsonl`` (one record per evaluation), ``checkpoint.npz``
  (every ``checkpoint_every`` steps, atomically) and finally ``result.json``. A finished run
  with the same config is not retrained; a run directory of a different config is refused.

  Args:
    config: the experiment.
    spec: the loss trained.
    seed: initialisation and batch-order seed.
    data: from `prepare_data`.
    run_dir: the run's directory.
    progress: show a tqdm bar with the loss and the last mAP.
    on_step: called with each finished step number (tests use it to simulate a kill).

  Returns:
    The result record (also in ``result.json``).
  """
  from tqdm.auto import tqdm

  run_dir = Path(run_dir)
  expected = run_config(config, spec, seed)
  checkpoint = run_dir / CHECKPOINT
  extending = False  # a shorter run of this experiment is continued to more steps
  for name in (RESULT, RUN_CONFIG):
    if (run_dir / name).exists():
      stored = json.loads((run_dir / name).read_text())
      stored = stored.get("config", stored)
      extending = extending or _is_prefix(stored, expected)
      if not extending:
        check_config(run_dir / name, stored, expected)
  if (run_dir / RESULT).exists() and not extending:
    return json.loads((run_dir / RESULT).read_text())
  if checkpoint.exists():  # checked before anything is written
    stored = read_checkpoint_config(checkpoint)
    if not _is_prefix(stored, expected):
      check_config(checkpoint, stored, expected)
    expected_for_checkpoint = stored
  else:
    expected_for_checkpoint = expected
  run_dir.mkdir(parents=True, exist_ok=True)
  atomic_write_text(run_dir / RUN_CONFIG, json.dumps(expected, indent=2, sort_keys=True))

  graphdef, params = init_model(config.model, len(data.class_names),
                                data.train_images.shape[-1], seed=seed, prior=spec.prior)
  opt_state = optimizer(spec).init(params)
  loss_state = init_loss_state(spec)
  history: list[dict[str, Any]] = []
  sums = {"loss": 0.0, "cls": 0.0, "loc": 0.0}  # since the last evaluation
  count = 0
  step = 0
  wall = 0.0
  if checkpoint.exists():
    state, step, extra = load_checkpoint(checkpoint, (params, opt_state, loss_state),
                                         config=expected_for_checkpoint)
    params, opt_state, loss_state = jax.device_put(state)
    history, wall = extra["history"], extra["wall_seconds"]
    sums, count = extra["loss_sums"], extra["loss_count"]

  train = config.train
  images = data.train_images
  last_map = history[-1]["map"] if history else float("nan")
  bar = tqdm(total=train.steps, initial=step, desc=f"{spec.name} seed {seed}", disable=not progress,
             dynamic_ncols=True, leave=False)
  started = time.perf_counter()
  try:
    while step < train.steps:
      index = batch_indices(seed, step, len(images), train.batch_size)
      params, opt_state, loss_state, parts = train_step(
          params, opt_state, loss_state, images[index], data.train_labels[index],
          data.train_offsets[index], graphdef=graphdef, spec=spec,
          **({} if spec.box_loss == "smooth_l1" else
             {"anchors": data.anchors, "variances": tuple(train.variances)}))
      step += 1
      parts = accumulate(parts, sums, name=spec.name, seed=seed, step=step)
      count += 1
      bar.update(1)
      bar.set_postfix(loss=f"{parts['loss']:.3f}", mAP=f"{last_map:.3f}", refresh=False)
      if step % train.eval_every == 0 or step == train.steps:
        result, confident = evaluate(graphdef, params, data, config)
        last_map = result.mean_ap
        history.append({"step": step, "map": last_map, "confident_per_image": confident,
                        "ap": [None if math.isnan(a) else float(a) for a in result.ap],
                        **{k: v / count for k, v in sums.items()},
                        **_state_record(loss_state),
                        "wall_seconds": wall + time.perf_counter() - started})
        if step == train.steps:  # localisation quality: mAP at stricter IoU thresholds
          history[-1].update(localisation_map(
              detect(graphdef, params, data, config), data.test_boxes, data.test_labels,
              num_classes=len(data.class_names), gt_difficult=data.test_difficult))
        sums = dict.fromkeys(sums, 0.0)
        count = 0
      if step % train.checkpoint_every == 0 or step == train.steps:
        elapsed = wall + time.perf_counter() - started
        save_checkpoint(checkpoint, (params, opt_state, loss_state), step=step, config=expected,
                        extra={"history": history, "wall_seconds": elapsed,
                               "loss_sums": sums, "loss_count": count})
        atomic_write_text(run_dir / METRICS, "".join(json.dumps(h) + "\n" for h in history))
      if on_step is not None:
        on_step(step)
  finally:
    bar.close()
  final = history[-1]
  record = {
      "loss": spec.name, "label": spec.label, "seed": seed, "steps": train.steps,
      "final_map": final["map"], "best_map": max(h["map"] for h in history),
      "final_confident_per_image": final["confident_per_image"],
      "test_objects_per_image": float(np.mean([len(l) for l in data.test_labels])),
      "final_ap": final["ap"], "wall_seconds": wall + time.perf_counter() - started,
      "anchor_stats": data.stats, "backend": jax.default_backend(), "config": expected,
  }
  atomic_write_text(run_dir / RESULT, json.dumps(record, indent=2))
  return record


def accumulate(parts: dict[str, Any], sums: dict[str, float], *, name: str, seed: int,
               step: int) -> dict[str, float]:
  """A step's loss parts as floats, each of ``sums``' keys added into ``sums`` (in place); a
  non-finite loss stops the run with `FloatingPointError` naming the run and step."""
  parts = {k: float(v) for k, v in parts.items()}
  if not math.isfinite(parts["loss"]):
    raise FloatingPointError(f"{name} seed {seed}: loss is {parts['loss']} at step {step}")
  for k in sums:
    sums[k] += parts[k]
  return parts


def _is_prefix(stored: dict[str, Any], expected: dict[str, Any]) -> bool:
  """Whether the run ``stored`` describes is the first steps of the run ``expected`` describes.

  True when the two configs differ only in ``train.steps``, ``stored`` having fewer, and nothing
  in the training depends on its length: batches depend on (seed, step) only, the learning rate
  is constant (no LR warm-up) and the loss has no step-scheduled state. Such a run -- finished
  or checkpointed -- is continued from its last checkpoint instead of being refused.
  """
  try:
    shorter = int(stored["train"]["steps"]) < int(expected["train"]["steps"])
  except (KeyError, TypeError, ValueError):
    return False
  length_free = not expected["loss"].get("lr_warmup_steps") and expected["loss"].get("stateful") is None
  same_otherwise = first_difference({**stored, "train": {**stored["train"], "steps": 0}},
                                    {**expected, "train": {**expected["train"], "steps": 0}}) is None
  return shorter and length_free and same_otherwise


def _state_record(loss_state: Any) -> dict[str, Any]:
  """The loss state as JSON (``{"loss_state": {field: value}}``), nothing for a stateless loss."""
  if not jax.tree_util.tree_leaves(loss_state):
    return {}
  return {"loss_state": {name: np.asarray(value).tolist()
                         for name, value in loss_state._asdict().items()}}


def run_dir_for(out_dir: str | os.PathLike, spec: LossSpec, seed: int) -> Path:
  return Path(out_dir) / "runs" / spec.name / f"seed{seed}"


def select(config: ExperimentConfig, *, seeds: Sequence[int] | None = None,
           losses: Sequence[str] | None = None) -> ExperimentConfig:
  """The same experiment restricted to some seeds and/or losses (names checked)."""
  chosen = config.losses if losses is None else tuple(config.loss(name) for name in losses)
  return dataclasses.replace(config, losses=chosen,
                             seeds=config.seeds if seeds is None else tuple(int(s) for s in seeds))
