"""The long-tail experiment skeleton runs a tiny config end to end and writes only under out_dir."""

import dataclasses
import json

from gradeng.experiments import longtail as experiment


def test_tiny_config_runs_and_writes_results(tmp_path):
  config = dataclasses.replace(experiment.get_config(True), imbalance_factors=(100,), seeds=3, steps=5,
                               batch=16, losses=("ce", "seesaw", "eqlv2"))
  results = experiment.run(config, tmp_path / "run")
  assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "results.json", "table.md"]
  saved = json.loads((tmp_path / "run" / "results.json").read_text())
  assert set(saved["100"]) == {"ce", "seesaw", "eqlv2"}
  for acc in saved["100"].values():
    assert set(acc) == {"overall", "many", "medium", "few"}
    assert all(0.0 <= mean <= 1.0 for mean, _ in acc.values())
  assert results["seconds"] > 0


def test_profile_and_balanced_test_set():
  x_train, y_train, x_test, y_test, counts = experiment.prepare_data(100, 50)
  assert counts[0] / counts[-1] >= 90 and list(counts) == sorted(counts, reverse=True)
  assert [int((y_test == c).sum()) for c in range(10)] == [50] * 10
  assert [int((y_train == c).sum()) for c in range(10)] == [int(n) for n in counts]
