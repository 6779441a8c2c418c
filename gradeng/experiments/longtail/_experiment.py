"""`run(config, out_dir)`: every loss on every imbalance factor; everything written under out_dir.

``out_dir`` holds ``config.json`` (a directory of another config is refused, the same config
resumes), ``runs/if<IF>/<loss>.json`` (the per-seed accuracies of one (imbalance factor, loss)
pair, written atomically as soon as it is trained: a killed run retrains only what it had not
saved, and gives the same numbers), the report (`summarize`; in ``figures_dir``, default
``out_dir``) and, when ``config.detection`` is set, the detection part under ``detection/``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.experiments.common import atomic_write_bytes, atomic_write_json, claim_run_dir
from gradeng.experiments.longtail._config import LongTailConfig
from gradeng.experiments.longtail._data import prepare_data
from gradeng.experiments.longtail._report import accuracies, record_path, summarize
from gradeng.experiments.longtail._train import train_loss


def run_experiment(config: LongTailConfig, out_dir: str | os.PathLike, *,
                   losses: Sequence[str] | None = None,
                   figures_dir: str | os.PathLike | None = None, progress: bool = True,
                   on_record: Callable[[int, str], None] | None = None) -> dict[str, Any]:
  """Trains each loss of ``config`` on each imbalance factor over its seeds (resuming), then
  writes the report and runs the detection part if ``config.detection`` is set.

  Args:
    config: the experiment.
    out_dir: the run directory (claimed for ``config``).
    losses: train and report only these (default: ``config.losses``).
    figures_dir: where the figure, CSV, tables and results JSON go (default ``out_dir``).
    progress: show a tqdm bar.
    on_record: called with ``(imbalance, loss)`` after each record is saved (tests use it to
      simulate a kill).

  Returns:
    The report's summary (`summarize`) plus ``wall_seconds``, ``trained`` (the (IF, loss) pairs
    trained by this call) and, with a detection part, ``detection`` (its summary; its report
    files are copied to ``figures_dir/detection`` when ``figures_dir`` is given; ``paths`` lists
    them, or the originals, too).
  """
  from tqdm.auto import tqdm

  out_dir = Path(out_dir)
  claim_run_dir(out_dir, config)
  if losses is not None:
    unknown = [n for n in losses if n not in config.losses]
    if unknown:
      raise ValueError(f"unknown loss(es) {unknown}; this config has {list(config.losses)}")
    config = dataclasses.replace(config, losses=tuple(losses))
  started = time.perf_counter()
  pairs = [(imbalance, name) for imbalance in config.imbalance_factors for name in config.losses]
  todo = [pair for pair in pairs if not record_path(out_dir, *pair).exists()]
  bar = tqdm(total=len(pairs), initial=len(pairs) - len(todo), desc="longtail", unit="run",
             file=sys.stderr, disable=not progress, dynamic_ncols=True)
  data = {}
  try:
    for imbalance, name in todo:
      bar.set_postfix_str(f"IF {imbalance} {name}")
      if imbalance not in data:
        data[imbalance] = prepare_data(imbalance, config.test_per_class)
      run_started = time.perf_counter()
      predictions, final = train_loss(name, data[imbalance], config)
      if not np.all(np.isfinite(final)):
        raise FloatingPointError(f"longtail {name} at IF {imbalance}: non-finite training loss "
                                 f"{final.tolist()}")
      record = {"loss": name, "imbalance": imbalance, "seeds": list(config.seeds),
                "steps": config.steps, "class_counts": data[imbalance].class_counts.tolist(),
                "accuracy": accuracies(predictions, data[imbalance].y_test),
                "final_train_loss": [float(v) for v in final],
                "seconds": time.perf_counter() - run_started}
      atomic_write_json(record_path(out_dir, imbalance, name), record, sort_keys=True)
      bar.update(1)
      if on_record is not None:
        on_record(imbalance, name)
  finally:
    bar.close()
  summary = summarize(config, out_dir, figures_dir=figures_dir)
  summary["trained"] = [list(pair) for pair in todo]
  if config.detection is not None:
    from gradeng.experiments.longtail import detection

    result = detection.run(config.detection, out_dir / "detection", progress=progress)
    reported = result["paths"]
    reported = [str(p) for p in (reported.values() if isinstance(reported, dict) else reported)]
    if figures_dir is not None:  # its report beside the classification one
      copies = [Path(figures_dir) / f"{config.figure_stem}_detection" / Path(p).name for p in reported]
      for path, copy in zip(reported, copies):
        atomic_write_bytes(copy, lambda f, path=path: f.write(Path(path).read_bytes()))
      reported = [str(c) for c in copies]
    summary["detection"] = result
    summary["paths"] += reported
  summary["wall_seconds"] = time.perf_counter() - started
  return summary
