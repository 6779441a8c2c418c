"""`run(config, out_dir)`: every loss on every imbalance factor; everything written under out_dir."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from gradeng.experiments.longtail._data import prepare_data
from gradeng.experiments.longtail._report import accuracies, table
from gradeng.experiments.longtail._train import train_loss


def run_experiment(config, out_dir) -> dict:
  """Train each loss of ``config`` on each imbalance factor over its seeds; write
  ``config.json``, ``results.json`` and ``table.md`` under ``out_dir``; return the results
  ({imbalance: {loss: {group: [mean, std]}}} plus ``seconds``)."""
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  (out_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
  start = time.perf_counter()
  results = {}
  for imbalance in config.imbalance_factors:
    data = prepare_data(imbalance, config.test_per_class)
    results[str(imbalance)] = {
        name: accuracies(train_loss(name, data, config, range(config.seeds)), data[3])
        for name in config.losses}
  (out_dir / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
  (out_dir / "table.md").write_text(table(results))
  return {**results, "seconds": time.perf_counter() - start}
