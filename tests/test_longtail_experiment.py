"""The long-tail classification experiment: data profile, accuracies and spread by hand, a tiny
run end to end (hermetic, deterministic, resumable, refusing another config), one compiled
program per loss for both imbalance factors, the registry and the CLI."""

import dataclasses
import json

import numpy as np
import pytest

import gradeng as ge
from gradeng.cli import main
from gradeng.experiments import EXPERIMENTS, load
from gradeng.experiments import longtail as experiment
from gradeng.experiments.longtail import _report, _train, detection

#: one stateful loss that reads the class counts, both imbalance factors, 3 seeds
TINY = dataclasses.replace(experiment.get_config(True), name="tiny", seeds=(0, 1, 2), steps=200,
                           batch=16, hidden=16, losses=("ldam_drw",), detection=None)


def test_profile_and_balanced_test_set():
  data = experiment.prepare_data(100, 50)
  counts = data.class_counts
  assert counts[0] / counts[-1] >= 90 and list(counts) == sorted(counts, reverse=True)
  assert [int((data.y_test == c).sum()) for c in range(10)] == [50] * 10
  y = data.y_train[:data.num_train]
  assert [int((y == c).sum()) for c in range(10)] == [int(n) for n in counts]
  # Padded to the balanced size, so IF 10 has the same shapes; the test set is the same digits.
  other = experiment.prepare_data(10, 50)
  assert data.x_train.shape == other.x_train.shape == (10 * int(counts[0]), 64)
  assert other.num_train > data.num_train == int(counts.sum())
  np.testing.assert_array_equal(data.x_test, other.x_test)
  assert not data.x_train[data.num_train:].any()


def test_accuracies_by_hand():
  labels = np.arange(10)
  predictions = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9],    # all right
                          [0, 0, 0, 3, 3, 3, 3, 0, 0, 9]])   # 0, 3, 9 right
  acc = experiment.accuracies(predictions, labels)
  assert acc == {"overall": [1.0, 0.3], "many": [1.0, 1 / 3], "medium": [1.0, 0.25],
                 "few": [1.0, 1 / 3]}


def test_spread_and_differences_by_hand():
  assert _report.mean_sd([0.5, 0.7, 0.9]) == pytest.approx((0.7, 0.2))  # sample sd, ddof 1
  assert _report.mean_sd([0.4]) == (0.4, 0.0)
  # ce: 0.8 ± 0.1, focal: 0.5 ± 0.1 -> apart (0.3 > 0.2); maki: 0.65 ± 0.1 -> within both (0.15).
  results = {"10": {"ce": {m: [0.7, 0.8, 0.9] for m in experiment.METRICS},
                    "focal": {m: [0.4, 0.5, 0.6] for m in experiment.METRICS},
                    "maki": {m: [0.55, 0.65, 0.75] for m in experiment.METRICS}}}
  rows = experiment.differences(results)
  assert [(r["metric"], r["ahead"], r["behind"]) for r in rows] == [
      (m, "ce", "focal") for m in experiment.METRICS]
  assert rows[0]["delta_mean"] == pytest.approx(0.3) and rows[0]["delta_sd"] == pytest.approx(0.0)


def test_config_checks():
  with pytest.raises(ge.InputError, match="`losses`"):
    dataclasses.replace(TINY, losses=("ce", "bogus"))
  with pytest.raises(ge.InputError, match="`seeds`"):
    dataclasses.replace(TINY, seeds=(1, 1))
  with pytest.raises(ge.InputError, match="`imbalance_factors`"):
    dataclasses.replace(TINY, imbalance_factors=(0.5,))


def test_with_seeds_reaches_the_detection_part():
  @dataclasses.dataclass(frozen=True)
  class Detection:
    seeds: tuple = (0, 1, 2)

  config = experiment.with_seeds(dataclasses.replace(TINY, detection=Detection()), [7, 8])
  assert config.seeds == (7, 8) and config.detection.seeds == (7, 8)
  assert experiment.with_seeds(TINY, [3]).detection is None
  quick = experiment.get_config(True)  # carries the detection part's quick configuration
  assert quick.detection == detection.get_config(True)
  assert experiment.with_seeds(quick, [5, 6, 7]).detection.seeds == (5, 6, 7)


def _check_detection_part_runs_after_classification_into_its_folder(tmp_path, monkeypatch):
  """Called by the end-to-end test below, once its cold-cache trace count is done: the
  classification part here reuses the compiled trainer instead of compiling its own."""
  @dataclasses.dataclass(frozen=True)
  class Detection:
    seeds: tuple = (0, 1, 2)

  calls = []

  def fake_run(config, out_dir, *, progress):
    calls.append((config, out_dir, sorted(p.name for p in (tmp_path / "run").iterdir())))
    (out_dir / "table.md").parent.mkdir(parents=True)
    (out_dir / "table.md").write_text("| AP |")
    return {"table": "| AP |", "paths": {"table": str(out_dir / "table.md")}}

  monkeypatch.setattr(detection, "run", fake_run)
  config = dataclasses.replace(TINY, detection=Detection())
  summary = experiment.run(config, tmp_path / "run", figures_dir=tmp_path / "figures",
                           progress=False)
  [(passed, out_dir, before)] = calls
  assert passed == Detection() and out_dir == tmp_path / "run" / "detection"
  assert "runs" in before  # the classification part ran first
  copy = tmp_path / "figures" / f"{TINY.figure_stem}_detection" / "table.md"  # beside its stem
  assert copy.read_text() == "| AP |" and str(copy) in summary["paths"]
  assert summary["detection"]["table"] == "| AP |"


def test_tiny_run_end_to_end_resumes_refuses_repeats_and_runs_the_detection_part(tmp_path, monkeypatch):
  cwd = tmp_path / "cwd"
  cwd.mkdir()
  monkeypatch.chdir(cwd)
  # Count the traces of the training program (each builds the loss once): a fresh trainer cache.
  _train.compiled_trainer.cache_clear()
  traces = []
  objective = _train.objective
  monkeypatch.setattr(_train, "objective", lambda *a, **k: traces.append(a[0]) or objective(*a, **k))

  class Killed(Exception):
    pass

  def kill_after_first(imbalance, loss):
    raise Killed((imbalance, loss))

  run = tmp_path / "run"
  with pytest.raises(Killed):
    experiment.run(TINY, run, progress=False, on_record=kill_after_first)
  assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*.json")) == [
      "config.json", "runs/if10/ldam_drw.json"]
  summary = experiment.run(TINY, run, progress=False)
  assert summary["trained"] == [[100, "ldam_drw"]]
  stem = "longtail_tiny"
  assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()) == sorted([
      "config.json", "runs/if10/ldam_drw.json", "runs/if100/ldam_drw.json",
      f"{stem}.png", f"{stem}.csv", f"{stem}_table.md", f"{stem}_differences.md",
      f"{stem}_results.json"])
  assert not any(cwd.iterdir())  # nothing written outside out_dir
  # Both imbalance factors ran on one compiled program.
  assert traces == ["ldam_drw"]
  # The table is the mean ± sample sd of the per-seed records.
  record = json.loads((run / "runs" / "if100" / "ldam_drw.json").read_text())
  assert record["seeds"] == [0, 1, 2] and len(record["accuracy"]["few"]) == 3
  overall = record["accuracy"]["overall"]
  assert all(0.0 <= a <= 1.0 for a in overall)
  assert np.mean(overall) > 0.3  # 200 steps already learn something (chance: 0.1)
  row = f"| LDAM-DRW | {np.mean(overall):.3f} ± {np.std(overall, ddof=1):.3f} |"
  table = (run / f"{stem}_table.md").read_text()
  assert row in table.split("| loss (IF 100)")[1]
  # The same config twice, from scratch: identical numbers.
  again = experiment.run(TINY, tmp_path / "again", progress=False)
  assert again["results"] == summary["results"]
  assert (tmp_path / "again" / f"{stem}.csv").read_text() == (run / f"{stem}.csv").read_text()
  # Another config in the same directory is refused, naming what differs.
  with pytest.raises(ge.InputError, match="`steps` is 200 there and 201 here"):
    experiment.run(dataclasses.replace(TINY, steps=201), run, progress=False)
  # With a detection part (faked): it runs after the classification part, into its folder.
  _check_detection_part_runs_after_classification_into_its_folder(tmp_path / "with_detection",
                                                                  monkeypatch)


def test_registered_with_reproduce_and_cli(capsys):
  assert "longtail" in EXPERIMENTS
  assert EXPERIMENTS["longtail"].readme == "docs/experiments/longtail.md"
  module = load("longtail")
  assert callable(module.reproduce) and callable(module.run) and callable(module.get_config)
  from gradeng.cli import reproduce
  assert "longtail" in [s.name for s in reproduce.STEPS]
  with pytest.raises(SystemExit):
    main(["experiment", "longtail", "--help"])
  help_text = capsys.readouterr().out
  assert "--quick" in help_text and "--losses" in help_text and "--seeds" in help_text


@pytest.mark.parametrize("argv, message", [
    (["--losses", "ce", "bogus"], "--losses: unknown ['bogus']"),
    (["--seeds", "1", "1"], "--seeds must be distinct"),
])
def test_cli_bad_input_is_one_line(argv, message, tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    main(["experiment", "longtail", "--quick", "--out", str(tmp_path / "x"), *argv])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and message in err
  assert not (tmp_path / "x").exists()
