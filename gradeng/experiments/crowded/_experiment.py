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

from gradeng.experiments.common import atomic_write_text, to_jsonable
from gradeng.experiments.crowded._config import CrowdedConfig
from gradeng.experiments.crowded._data import CrowdedSets, _images, _neighbour_iou, build_data
from gradeng.experiments.crowded._report import summarize
from gradeng.experiments.crowded._train import (LEVELS, _claim, _finished, _method_config,
                                                level_metrics, nms_ceiling, run_dir_for,
                                                ssd_detections)
from gradeng.experiments.detection import ExperimentConfig, InMemoryDataset, stack
from gradeng.runtime import InputError


#: Validation canvases of SSD's own end-of-training evaluation (`train_run`), from the first level.
_VALIDATION = 16


def ssd_experiment(config: CrowdedConfig) -> ExperimentConfig:
  """SSD-lite's side as a detection-experiment config (for `prepare_data` and `train_run`)."""
  data = dataclasses.replace(config.data.base, max_objects=config.data.max_train_objects,
                             num_train=len(config.data.train_ious) * config.data.train_per_iou,
                             num_test=_VALIDATION)
  return ExperimentConfig(name=f"crowded {config.name}", data=data, model=config.ssd_model,
                          train=config.ssd_train, losses=(config.ssd_loss,), seeds=config.seeds,
                          figure_stem=config.figure_stem)


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
