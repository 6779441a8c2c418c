"""`run(config, out_dir)`: every loss over its seeds, then the table and the figure.

``out_dir`` holds ``config.json`` (`claim_run_dir`: a directory of another config is refused,
the same config resumes), ``data.json`` (the training canvases per digit and group),
``runs/<loss>/`` (checkpoint and per-seed results, see `train_loss`), ``summary.json``,
``table.md``, ``results.csv`` and ``ap_groups.png``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gradeng.experiments.common import atomic_write_json, claim_run_dir, to_jsonable
from gradeng.experiments.longtail.detection._config import LongTailDetectionConfig
from gradeng.experiments.longtail.detection._data import long_tail_canvases
from gradeng.experiments.longtail.detection._report import summarize_results, table, write_report
from gradeng.experiments.longtail.detection._train import finished, prepare, train_loss


def run(config: LongTailDetectionConfig, out_dir: str | os.PathLike, *,
        progress: bool = False) -> dict[str, Any]:
  """Trains (or resumes) every (loss, seed) of ``config`` and writes the report under ``out_dir``.

  Args:
    config: e.g. ``get_config(quick=True)``.
    out_dir: everything is written here (see the module docstring).
    progress: tqdm bars (losses, steps).

  Returns:
    ``{"name", "summary": {loss: {metric: {"values", "mean", "sd"}}}, "table": Markdown,
    "image_counts", "instance_counts", "paths", "wall_seconds"}``.
  """
  from tqdm.auto import tqdm

  started = time.perf_counter()
  out_dir = claim_run_dir(out_dir, to_jsonable(config))
  groups = {"rare": config.rare, "common": config.common, "frequent": config.frequent}
  data = None
  results = {}
  bar = tqdm(config.losses, desc="longtail detection", unit="loss", disable=not progress,
             dynamic_ncols=True)
  for loss in bar:
    bar.set_postfix_str(loss.name)
    done = finished(config, loss, out_dir)
    if done is None and data is None:
      canvases = long_tail_canvases(config)
      atomic_write_json(out_dir / "data.json", {
          "image_counts": canvases.image_counts.tolist(),
          "instance_counts": canvases.instance_counts.tolist(), "groups": groups,
          "train_canvases": len(canvases.train), "test_canvases": len(canvases.test)})
      data = prepare(config, canvases)
    results[loss.name] = done if done is not None else train_loss(config, loss, data, out_dir,
                                                                  progress=progress)
  bar.close()
  summary = summarize_results(results, groups)
  atomic_write_json(out_dir / "summary.json", summary)
  title = (f"Long-tailed detection ({config.name}): rare digits {list(config.rare)}, "
           f"common {list(config.common)}, frequent {list(config.frequent)}")
  paths = write_report(summary, out_dir, title)
  counts = {}
  if (out_dir / "data.json").exists():
    import json

    counts = {k: v for k, v in json.loads((out_dir / "data.json").read_text()).items()
              if k in ("image_counts", "instance_counts")}
  return {"name": config.name, "summary": summary, "table": table(summary), **counts,
          "paths": paths, "wall_seconds": time.perf_counter() - started}
