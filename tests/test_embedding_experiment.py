"""The open-set embedding experiment: metrics by hand, data split, a tiny resumable run, the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gradeng.experiments.common import claim_run_dir
from gradeng.experiments.embedding import _config, _data, _experiment
from gradeng.experiments.embedding._metrics import retrieval_metrics


def test_retrieval_metrics_by_hand():
  # 1-D "embeddings" on the circle: angles give cosine similarities.
  angles = np.array([0.0, 0.1, 1.6, 1.7, 3.0])
  x = np.stack([np.cos(angles), np.sin(angles)], 1)
  y = np.array([0, 0, 1, 1, 0])
  m = retrieval_metrics(x, y, far=0.2)
  # nearest neighbours: 0→1 ✓, 1→0 ✓, 2→3 ✓, 3→2 ✓, 4→3 ✗
  assert m["recall_at_1"] == pytest.approx(4 / 5)
  # MAP@R: items 0, 1 (R=2): ranked [1, 2, ...]/[0, 2, ...] → (1 + 0)/2 = 0.5 each;
  # 2, 3 (R=1): 1 each; 4 (R=2): ranking 3, 2, 1, 0 → relevant at ranks 3, 4 → 0
  assert m["map_at_r"] == pytest.approx((0.5 + 0.5 + 1 + 1 + 0) / 5)
  # perfectly separable would give AUC 1; here 3 of 4 positive pairs are not the top scores
  assert 0.0 < m["roc_auc"] < 1.0


def test_perfect_embedding_scores_one():
  y = np.repeat(np.arange(4), 5)
  x = np.eye(4)[y] + 1e-3 * np.random.default_rng(0).normal(size=(20, 4))
  m = retrieval_metrics(x, y)
  assert m == pytest.approx({"recall_at_1": 1.0, "map_at_r": 1.0, "roc_auc": 1.0, "tar_at_far": 1.0})


def test_open_set_split_is_disjoint_and_deterministic():
  config = dataclasses.replace(_config.DataConfig(), train_copies=1)
  x_train, y_train = _data.make_split(config, "train")
  x_test, y_test = _data.make_split(config, "test")
  assert set(np.unique(y_train)) == set(_config.TRAIN_CLASSES)
  assert set(np.unique(y_test)) == set(_config.TEST_CLASSES)
  assert x_train.shape[1] == config.canvas ** 2 and x_train.dtype == np.float32
  assert 0.0 <= x_train.min() and x_train.max() <= 1.0
  np.testing.assert_array_equal(_data.make_split(config, "test")[0], x_test)


@pytest.mark.slow
def test_tiny_run_writes_table_and_resumes(tmp_path):
  config = _config.ExperimentConfig(
      data=_config.DataConfig(train_copies=1),
      train=_config.TrainConfig(steps=20, seeds=(0, 1, 2), hidden=(32,)),
      losses=("softmax", "triplet"), name="tiny")
  summary = _experiment.run_experiment(config, tmp_path, progress=False, figures=False)
  records = sorted(tmp_path.glob("runs/*/seed*.json"))
  assert len(records) == 6
  first = json.loads(records[0].read_text())
  assert first["finite"] and 0.0 <= first["recall_at_1"] <= 1.0
  table = (tmp_path / "results.md").read_text()
  assert "| raw pixels (floor) |" in table and "| triplet |" in table
  assert [row["loss"] for row in summary["losses"]] == ["softmax", "triplet"]
  # a second run finds every seed's JSON and trains nothing: the files are untouched
  stamps = [p.stat().st_mtime_ns for p in records]
  _experiment.run_experiment(config, tmp_path, progress=False, figures=False)
  assert [p.stat().st_mtime_ns for p in records] == stamps


def test_pair_weight_curves_have_the_designed_signs():
  from gradeng.experiments.embedding._report import pair_weight_curves

  curves = pair_weight_curves(num=21)
  for name, data in curves["losses"].items():
    pos, neg = np.array(data["positive"]), np.array(data["negative"])
    assert np.all(np.isfinite(pos)) and np.all(np.isfinite(neg))
    assert np.all(pos <= 1e-6), name  # positives are pulled: ∂L/∂s ≤ 0
    assert np.all(neg >= -1e-6), name  # negatives are pushed: ∂L/∂s ≥ 0
  # contrastive: a negative beyond the margin (d > 1, i.e. s < 0.5) has weight exactly 0
  s = np.array(curves["s"])
  np.testing.assert_array_equal(np.array(curves["losses"]["contrastive (m=1)"]["negative"])[s < 0.49], 0.0)


def test_cli_rejects_unknown_loss(tmp_path):
  with pytest.raises(ValueError, match="unknown loss"):
    _experiment.run_experiment(_config.get_config(True), tmp_path, losses=["nope"], progress=False)


def test_a_directory_of_another_config_is_refused(tmp_path):
  quick = _config.get_config(True)
  claim_run_dir(tmp_path, dataclasses.asdict(quick))
  claim_run_dir(tmp_path, dataclasses.asdict(quick))  # same config: resumes
  other = dataclasses.replace(quick, train=dataclasses.replace(quick.train, steps=301))
  with pytest.raises(ValueError, match=r"different config: `train.steps` is 300 there and 301 here"):
    _experiment.run_experiment(other, tmp_path, progress=False, figures=False)


def test_one_augmented_image_per_test_digit():
  x_test, y_test = _data.make_split(_config.get_config(False).data, "test")
  counts = np.bincount(y_test)[list(_config.TEST_CLASSES)]
  np.testing.assert_array_equal(counts, [181, 179, 174, 180])  # scikit-learn's digits 6–9, once


def test_circle_report_integrates_its_weight_and_shows_the_detach():
  import mpmath

  from gradeng.experiments.embedding._derivations import _library_pair, render_report

  # Sun et al.'s one positive pair (γ = 80, m = 0.4, the negative at s_n = m): by hand,
  # w(s) = −γ α_p σ(−γ α_p (s − (1 − m))) with α_p = 1 + m − s held constant.
  w = lambda s: -80 * (1.4 - s) / (1 + mpmath.exp(80 * (1.4 - s) * (s - 0.6)))  # noqa: E731
  for s in (-0.5, 0.0, 0.4, 0.9):
    value, weight = _library_pair(("circle", "s", (80.0, 0.4), "positive"), s)
    assert weight == pytest.approx(float(w(s)), rel=1e-5, abs=1e-5)
    # the reported value is softplus(−γ α_p (s − 1 + m)), not ∫ w
    assert value == pytest.approx(float(mpmath.log1p(mpmath.exp(-80 * (1.4 - s) * (s - 0.6)))), rel=1e-5)
  report = render_report("circle")
  phi = float(mpmath.quad(w, [1, -0.5]))
  assert f"{phi:.6f}" in report and "not a constant" in report and "no closed form" in report


def test_contrastive_report_derives_phi_and_agrees_with_the_library():
  from gradeng.experiments.embedding._derivations import render_report

  report = render_report("contrastive")
  assert "\\varphi(d) = \\int_{0}^{d} w(t)\\,dt = \\frac{d^{2}}{2}$$" in report
  assert "\\frac{d^{2}}{2} - d + \\frac{1}{2}$$" in report  # ½(d − m)² with m = 1, 0 at d = m
  assert report.count("a constant, the two agree") == 2 and "NOT constant" not in report
