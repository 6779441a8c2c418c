"""The crowded-scenes comparison: SSD-lite + NMS against the set head, by crowding level.

Both detectors are trained on one mixture of crowded canvases; each (method, seed) run is then
evaluated on every test level (a fixed number of digits at a fixed neighbour IoU) and its
per-level metrics are saved atomically in the run's ``levels.json``: a run with that file and
the same config is skipped, a half-trained one resumes from its checkpoint. The figure, CSV and
table are made from the saved files only (`summarize`).

Per level and method: mAP@0.5 (VOC all-point, `evaluate_map`), recall (the fraction of objects
found by a detection of their class at IoU ≥ 0.5 among the detections scoring at least
``score_threshold``), the largest recall over all detections, and detections per image. SSD's
detections go through non-maximum suppression at ``nms_iou`` (per class, as in the detection
experiment, and class-agnostic, as for a one-class crowd); the set head's hypotheses are used as
they are. The **NMS ceiling** of a level is the recall NMS leaves to a perfect detector: the
fraction of ground-truth boxes that survive NMS when the boxes themselves are the detections
(random scores): an object whose neighbour overlaps it by more than ``nms_iou`` may be
suppressed whatever the network does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import (atomic_write_csv, atomic_write_json, atomic_write_text,
                                        check_config, claim_run_dir, save_figure, to_jsonable)
from gradeng.experiments.crowded._config import CrowdedConfig, CrowdingLevel
from gradeng.experiments.detection import (Detections, ExperimentConfig, InMemoryDataset,
                                           evaluate_map, make_digit_canvases, stack)
from gradeng.runtime import InputError

LEVELS = "levels.json"
CROWDED_CONFIG = "crowded_config.json"
#: Validation canvases of SSD's own end-of-training evaluation (`train_run`), from the first level.
_VALIDATION = 16


@dataclasses.dataclass(frozen=True)
class CrowdedSets:
  """The training mixture and one test set per level."""

  train: InMemoryDataset
  tests: dict[CrowdingLevel, InMemoryDataset]


def build_data(config: CrowdedConfig) -> CrowdedSets:
  """The training mixture and the test levels of ``config.data``.

  Every neighbour IoU of the mixture and every test level is its own stream of
  `make_digit_canvases` (derived from the IoU and count, so a level's canvases do not depend
  on which other levels a config has); train and test use disjoint source digits.
  """
  data = config.data
  base = dataclasses.replace(data.base, min_objects=1, max_objects=data.max_train_objects,
                             num_train=data.train_per_iou, num_test=data.test_per_level)
  samples = []
  for t in data.train_ious:
    samples += make_digit_canvases(base, "train", neighbour_iou=t, iou_tolerance=data.tolerance,
                                   stream=1 + round(100 * t)).samples
  train = InMemoryDataset(tuple(str(d) for d in range(10)), tuple(samples))
  tests = {}
  for level in data.levels():
    level_config = dataclasses.replace(base, min_objects=level.count, max_objects=level.count)
    tests[level] = make_digit_canvases(level_config, "test", neighbour_iou=level.iou,
                                       iou_tolerance=data.tolerance,
                                       stream=1000 + 100 * level.count + round(100 * level.iou))
  return CrowdedSets(train, tests)


def ssd_experiment(config: CrowdedConfig) -> ExperimentConfig:
  """SSD-lite's side as a detection-experiment config (for `prepare_data` and `train_run`)."""
  data = dataclasses.replace(config.data.base, max_objects=config.data.max_train_objects,
                             num_train=len(config.data.train_ious) * config.data.train_per_iou,
                             num_test=_VALIDATION)
  return ExperimentConfig(name=f"crowded {config.name}", data=data, model=config.ssd_model,
                          train=config.ssd_train, losses=(config.ssd_loss,), seeds=config.seeds,
                          figure_stem=config.figure_stem)


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


def _images(test: InMemoryDataset) -> np.ndarray:
  return np.stack([s.image for s in test]).astype(np.float32)


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


def run_ssd(config: CrowdedConfig, seed: int, sets: CrowdedSets, out_dir: Path, *,
            progress: bool = True) -> dict[str, Any]:
  """Trains SSD-lite (the detection experiment's `train_run`) and evaluates it on every level."""
  import jax

  from gradeng.experiments.common import load_checkpoint
  from gradeng.experiments.detection import (CHECKPOINT, init_loss_state, init_model, optimizer,
                                             prepare_data, run_config, train_run)

  spec = config.ssd_loss
  run_dir = run_dir_for(out_dir, spec.name, seed)
  expected = _method_config(config, spec.name, seed)
  if (done := _finished(run_dir, expected)) is not None:
    return done
  run_dir.mkdir(parents=True, exist_ok=True)
  _claim(run_dir, expected)
  experiment = ssd_experiment(config)
  first = next(iter(sets.tests.values()))
  validation = InMemoryDataset(first.class_names, first.samples[:_VALIDATION])
  data = prepare_data(experiment, train_set=sets.train, test_set=validation)
  record = train_run(experiment, spec, seed, data, run_dir, progress=progress)
  graphdef, params = init_model(experiment.model, 10, 1, seed=seed, prior=spec.prior)
  template = (params, optimizer(spec).init(params), init_loss_state(spec))
  (params, _, _), _, _ = load_checkpoint(run_dir / CHECKPOINT, template,
                                         config=run_config(experiment, spec, seed))
  params = jax.device_put(params)
  levels = []
  for level, test in sets.tests.items():
    images = _images(test)
    entry = {"count": level.count, "iou": level.iou}
    for key, agnostic in (("ssd_nms", False), ("ssd_nms_agnostic", True)):
      detections = ssd_detections(graphdef, params, images, data.anchors, config,
                                  class_agnostic=agnostic)
      entry[key] = level_metrics(detections, test, score_threshold=config.score_threshold)
    levels.append(entry)
  result = {"config": expected, "method": spec.name, "seed": seed, "levels": levels,
            "train_wall_seconds": record["wall_seconds"], "anchor_stats": data.stats}
  atomic_write_text(run_dir / LEVELS, json.dumps(result, indent=2))
  return result


def run_set_head(config: CrowdedConfig, name: str, seed: int, sets: CrowdedSets, out_dir: Path, *,
                 progress: bool = True) -> dict[str, Any]:
  """Trains one set-head run (`train_set_head`) and evaluates it on every level."""
  from gradeng.experiments.crowded._train import SetData, set_detections, train_set_head

  spec = next(s for s in config.set_losses if s.name == name)
  run_dir = run_dir_for(out_dir, name, seed)
  expected = _method_config(config, name, seed)
  if (done := _finished(run_dir, expected)) is not None:
    return done
  run_dir.mkdir(parents=True, exist_ok=True)
  _claim(run_dir, expected)
  shape = (config.data.base.canvas_size,) * 2 + (1,)
  arrays = stack(sets.train, num_classes=10, image_shape=shape,
                 max_objects=config.data.max_objects)
  data = SetData(arrays["images"], arrays["boxes"], arrays["labels"], arrays["valid"])
  record, graphdef, params = train_set_head(config, spec, seed, data, run_dir, progress=progress)
  levels = []
  for level, test in sets.tests.items():
    detections = set_detections(graphdef, params, _images(test),
                                canvas_size=float(config.data.base.canvas_size))
    levels.append({"count": level.count, "iou": level.iou,
                   name: level_metrics(detections, test, score_threshold=config.score_threshold)})
  result = {"config": expected, "method": name, "seed": seed, "levels": levels,
            "train_wall_seconds": record["wall_seconds"], "history": record["history"]}
  atomic_write_text(run_dir / LEVELS, json.dumps(result, indent=2))
  return result


def run_experiment(config: CrowdedConfig, out_dir: str | os.PathLike, *,
                   figures_dir: str | os.PathLike | None = None, progress: bool = True,
                   methods: Sequence[str] | None = None) -> dict[str, Any]:
  """Every (method, seed) run (skipping finished ones), then the figure, CSV and tables.

  Args:
    config: e.g. ``get_config(quick=True)``.
    out_dir: runs go to ``out_dir/runs/<method>/seed<k>/``, the data summary to
      ``out_dir/data.json``.
    figures_dir: where ``<figure_stem>.png``, ``.csv``, ``_table.md`` and ``_results.json`` go
      (default ``out_dir``).
    progress: progress bars.
    methods: restrict to these run names (SSD's loss name and/or set-loss names).

  Returns:
    The summary of `summarize`, with ``wall_seconds`` and ``paths``.
  """
  from tqdm.auto import tqdm

  names = [config.ssd_loss.name] + [s.name for s in config.set_losses]
  chosen = names if methods is None else list(methods)
  unknown = [m for m in chosen if m not in names]
  if unknown:
    raise InputError(f"unknown method(s) {unknown}; this config has {names}")
  out_dir = Path(out_dir)
  started = time.perf_counter()
  pending = [(m, s) for m in chosen for s in config.seeds
             if not (run_dir_for(out_dir, m, s) / LEVELS).exists()]
  data_path = out_dir / "data.json"
  stale = not data_path.exists() or json.loads(data_path.read_text())["data"] != to_jsonable(config.data)
  if pending or stale:
    sets = build_data(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(data_path, json.dumps({
        "data": to_jsonable(config.data), "train_canvases": len(sets.train),
        "levels": [{"count": level.count, "iou": level.iou,
                    "measured_neighbour_iou": _neighbour_iou(test),
                    "nms_ceiling": nms_ceiling(test, config.ssd_train.nms_iou)}
                   for level, test in sets.tests.items()]}, indent=2))
  runs = [(m, s) for m in chosen for s in config.seeds]
  bar = tqdm(runs, desc="crowded", unit="run", disable=not progress, dynamic_ncols=True)
  for name, seed in bar:
    bar.set_postfix_str(f"{name} seed {seed}")
    if name == config.ssd_loss.name:
      run_ssd(config, seed, sets if (name, seed) in pending else None, out_dir, progress=progress)
    else:
      run_set_head(config, name, seed, sets if (name, seed) in pending else None, out_dir,
                   progress=progress)
  bar.close()
  summary = summarize(config, out_dir, figures_dir=figures_dir, methods=chosen)
  summary["wall_seconds"] = time.perf_counter() - started
  return summary


def _neighbour_iou(test: InMemoryDataset) -> float:
  """Mean over digits after the first of the highest IoU with the digits placed before it."""
  from gradeng.experiments.detection import pairwise_iou

  values = [pairwise_iou(s.boxes[i:i + 1], s.boxes[:i]).max()
            for s in test for i in range(1, len(s.boxes))]
  return float(np.mean(values)) if values else float("nan")


def _labels(config: CrowdedConfig) -> dict[str, str]:
  labels = {"ssd_nms": f"SSD-lite + NMS per class ({config.ssd_loss.label})",
            "ssd_nms_agnostic": "SSD-lite + class-agnostic NMS"}
  labels.update({s.name: s.label for s in config.set_losses})
  return labels


def summarize(config: CrowdedConfig, out_dir: str | os.PathLike, *,
              figures_dir: str | os.PathLike | None = None,
              methods: Sequence[str] | None = None) -> dict[str, Any]:
  """Figure (recall and mAP@0.5 vs number of objects and vs neighbour IoU), CSV, Markdown
  table and results JSON, from the saved ``levels.json`` and ``data.json`` only."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  out_dir = Path(out_dir)
  figures_dir = out_dir if figures_dir is None else Path(figures_dir)
  names = [config.ssd_loss.name] + [s.name for s in config.set_losses]
  names = [n for n in names if methods is None or n in methods]
  data_info = json.loads((out_dir / "data.json").read_text())
  ceiling = {(d["count"], d["iou"]): d for d in data_info["levels"]}
  curves: dict[str, dict[tuple[int, float], list[dict]]] = {}
  for name in names:
    for seed in config.seeds:
      path = run_dir_for(out_dir, name, seed) / LEVELS
      if not path.exists():
        raise InputError(f"no results for {name!r} seed {seed}: {path} is missing")
      for entry in json.loads(path.read_text())["levels"]:
        for key, metrics in entry.items():
          if isinstance(metrics, dict):
            curves.setdefault(key, {}).setdefault((entry["count"], entry["iou"]), []).append(metrics)
  labels = _labels(config)
  data = config.data
  sweeps = {"count": [(n, data.fixed_iou) for n in data.counts],
            "iou": [(data.fixed_count, t) for t in data.ious]}
  rows, results = [], {}
  for key, by_level in curves.items():
    results[key] = {"label": labels[key], "levels": []}
    for sweep, levels in sweeps.items():
      for level in levels:
        runs = by_level[level]
        entry = {"sweep": sweep, "count": level[0], "iou": level[1], "seeds": len(runs)}
        for metric in ("map50", "recall", "max_recall", "detections_per_image"):
          values = [r[metric] for r in runs]
          entry[metric] = float(np.mean(values))
          entry[f"{metric}_std"] = float(np.std(values))
        entry["nms_ceiling_per_class"] = ceiling[level]["nms_ceiling"]["per_class"]
        entry["nms_ceiling_agnostic"] = ceiling[level]["nms_ceiling"]["agnostic"]
        entry["measured_neighbour_iou"] = ceiling[level]["measured_neighbour_iou"]
        results[key]["levels"].append(entry)
        rows.append([key, sweep, level[0], level[1]] + [
            f"{entry[m]:.4f}" for m in ("map50", "map50_std", "recall", "recall_std", "max_recall",
                                        "detections_per_image", "nms_ceiling_per_class",
                                        "nms_ceiling_agnostic", "measured_neighbour_iou")]
                    + [entry["seeds"]])
  stem = figures_dir / config.figure_stem
  figures_dir.mkdir(parents=True, exist_ok=True)
  atomic_write_csv(stem.with_suffix(".csv"), rows,
                   ["method", "sweep", "objects", "neighbour_iou", "map50", "map50_std", "recall",
                    "recall_std", "max_recall", "detections_per_image", "nms_ceiling_per_class",
                    "nms_ceiling_agnostic", "measured_neighbour_iou", "seeds"])

  fig, axes = plt.subplots(2, 2, figsize=(9.6, 6.4), sharey="row")
  colors = plt.get_cmap("tab10").colors
  for column, (sweep, levels) in enumerate(sweeps.items()):
    xs = [lvl[0] if sweep == "count" else lvl[1] for lvl in levels]
    for row, metric in enumerate(("recall", "map50")):
      ax = axes[row, column]
      for index, key in enumerate(curves):
        entries = [e for e in results[key]["levels"] if e["sweep"] == sweep]
        mean = np.array([e[metric] for e in entries])
        std = np.array([e[f"{metric}_std"] for e in entries])
        ax.plot(xs, mean, marker="o", markersize=3, color=colors[index], label=labels[key])
        if len(config.seeds) > 1:
          ax.fill_between(xs, mean - std, mean + std, color=colors[index], alpha=0.2)
      if metric == "recall":
        ax.plot(xs, [ceiling[lvl]["nms_ceiling"]["agnostic"] for lvl in levels], ls=":",
                color="gray", label=f"NMS ceiling (class-agnostic, IoU {config.ssd_train.nms_iou})")
      ax.set_ylim(0, 1.02)
      ax.grid(alpha=0.3)
      ax.set_xlabel(f"objects per canvas (neighbour IoU {data.fixed_iou})" if sweep == "count"
                    else f"neighbour IoU ({data.fixed_count} objects)")
      if column == 0:
        ax.set_ylabel(f"recall (score ≥ {config.score_threshold})" if metric == "recall" else "mAP@0.5")
  # One legend below the panels, outside every axes, so it covers no data.
  handles, names = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, names, fontsize=7, loc="lower center", ncol=min(len(names), 3),
             frameon=False)
  seeds = f"{len(config.seeds)} seed{'s' if len(config.seeds) > 1 else ''}"
  fig.suptitle(f"Crowded digit canvases ({config.name}, {seeds}, {config.steps} steps)")
  fig.tight_layout(rect=(0.0, 0.03 * (1 + (len(names) - 1) // 3), 1.0, 1.0))
  save_figure(fig, stem.with_suffix(".png"))
  plt.close(fig)

  table = []
  for sweep, levels in sweeps.items():
    head = "objects" if sweep == "count" else "neighbour IoU"
    fixed = (f"neighbour IoU {data.fixed_iou}" if sweep == "count" else f"{data.fixed_count} objects")
    table += [f"Recall (score ≥ {config.score_threshold}) / mAP@0.5 vs {head} ({fixed}):", "",
              f"| {head} | " + " | ".join(labels[k] for k in curves) + " | NMS ceiling (agnostic) |",
              "| --- |" + " --- |" * (len(curves) + 1)]
    for lvl in levels:
      cells = []
      for key in curves:
        e = next(e for e in results[key]["levels"] if e["sweep"] == sweep
                 and (e["count"], e["iou"]) == lvl)
        cells.append(f"{e['recall']:.3f} / {e['map50']:.3f}")
      x = lvl[0] if sweep == "count" else f"{lvl[1]:.1f} ({ceiling[lvl]['measured_neighbour_iou']:.2f})"
      table.append(f"| {x} | " + " | ".join(cells)
                   + f" | {ceiling[lvl]['nms_ceiling']['agnostic']:.3f} |")
    table.append("")
  table_path = figures_dir / f"{config.figure_stem}_table.md"
  atomic_write_text(table_path, "\n".join(table))
  results_path = figures_dir / f"{config.figure_stem}_results.json"
  summary = {"config": config.name, "seeds": list(config.seeds), "steps": config.steps,
             "methods": results, "table_markdown": "\n".join(table)}
  atomic_write_json(results_path, summary, newline=False)
  summary["paths"] = [str(stem.with_suffix(".png")), str(stem.with_suffix(".csv")),
                      str(table_path), str(results_path)]
  return summary
