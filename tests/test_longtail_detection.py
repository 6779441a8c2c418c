"""LVIS-style long-tailed detection (gradeng.experiments.longtail.detection): AP by frequency
group on a hand-made example, the long-tailed training canvases, and a tiny run end to end
(resume after a kill, refusal of another config, determinism)."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge
from gradeng.experiments.detection import (DataConfig, Detections, FeatureMap, ModelConfig,
                                           TrainConfig, evaluate_map)
from gradeng.experiments.longtail import detection as ltd
from gradeng.experiments.longtail.detection._train import prepare, train_loss
from gradeng.runtime import InputError

GROUPS = {"rare": (7, 8, 9), "common": (3, 4, 5, 6), "frequent": (0, 1, 2)}


def tiny_config(**changes) -> ltd.LongTailDetectionConfig:
  config = ltd.LongTailDetectionConfig(
      name="tiny",
      data=DataConfig(canvas_size=32, digit_sizes=(10, 14), min_objects=1, max_objects=2,
                      clutter=0, num_train=60, num_test=10, seed=0),
      model=ModelConfig(widths=(4, 8), feature_maps=(FeatureMap(4, (10.0,), (0.8,)),)),
      train=TrainConfig(steps=4, batch_size=4, eval_every=4, checkpoint_every=2,
                        pre_nms_top_k=20, max_detections=10),
      losses=(ltd.LOSSES["eqlv2"],),
      seeds=(0, 1, 2), common_images=5, rare_images=2, pool_factor=8)
  return dataclasses.replace(config, **changes)


def test_group_ap_on_hand_made_detections():
  box = lambda x: np.array([[x, 0.0, x + 10.0, 10.0]])
  gt_boxes = [np.concatenate([box(0), box(20), box(40)]), box(0)]
  gt_labels = [np.array([7, 0, 3]), np.array([7])]
  # class 7 (rare): TP 0.9, FP 0.8, TP 0.7 → P = 1, 1/2, 2/3 at R = 1/2, 1/2, 1 → AP = 1/2 + 1/2·2/3
  # class 0 (frequent): its one object found → AP 1; class 3 (common): IoU 1/3 < 0.5 → AP 0
  found = [Detections(np.concatenate([box(0), box(60), box(20), box(45)]),
                      np.array([0.9, 0.8, 0.6, 0.5]), np.array([7, 7, 0, 3])),
           Detections(box(0), np.array([0.7]), np.array([7]))]
  ap = evaluate_map(found, gt_boxes, gt_labels, num_classes=10).ap
  groups = ltd.group_ap([None if np.isnan(a) else a for a in ap], GROUPS)
  assert groups["ap_r"] == pytest.approx(0.5 + 0.5 * 2 / 3)
  assert groups["ap_c"] == 0.0
  assert groups["ap_f"] == 1.0
  assert groups["map"] == pytest.approx((0.5 + 0.5 * 2 / 3 + 0.0 + 1.0) / 3)


def test_summary_mean_and_sample_sd():
  records = [{"label": "x", "seed": s, "ap": [a] * 10} for s, a in enumerate((0.2, 0.4, 0.9))]
  entry = ltd.summarize_results({"x": records}, GROUPS)["x"]
  assert entry["map"]["mean"] == pytest.approx(0.5)
  assert entry["ap_r"]["sd"] == pytest.approx(np.sqrt(((0.3**2) + 0.1**2 + 0.4**2) / 2))
  assert "0.500 ± 0.361" in ltd.table({"x": entry})


@pytest.fixture(scope="module")
def canvases():
  return ltd.long_tail_canvases(tiny_config())


def test_long_tailed_frequencies_are_the_configured_caps(canvases):
  config = tiny_config()
  data = canvases
  counts = ltd.image_counts(data.train)
  assert len(data.train) == 60
  assert [counts[d] for d in config.rare] == [2, 2, 2]
  assert [counts[d] for d in config.common] == [5, 5, 5, 5]
  assert min(counts[d] for d in config.frequent) > 5
  assert counts.tolist() == data.image_counts.tolist()
  assert ltd.instance_counts(data.train).sum() == sum(len(s.labels) for s in data.train)
  with pytest.raises(InputError, match="pool_factor"):
    ltd.long_tail_canvases(dataclasses.replace(config, pool_factor=1))


def test_sigmoid_head_starts_at_the_prior():
  _, params = ltd.init_detector(tiny_config().model, ltd.LOSSES["focal"], seed=0)
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  biases = [np.asarray(v).reshape(-1, 11) for path, v in flat
            if "class_heads" in jax.tree_util.keystr(path) and "bias" in jax.tree_util.keystr(path)]
  assert biases and all(np.all(b[:, 0] == 0.0) for b in biases)  # background output unused
  for b in biases:
    np.testing.assert_allclose(1 / (1 + np.exp(-b[:, 1:])), 0.01, rtol=1e-6)


def test_eql_without_rare_classes_is_sigmoid_bce():
  logits = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 11)), jnp.float32)  # no RNG program
  labels = jnp.array([[0, 3, 0, 0, 8], [1, 0, 0, 0, 0]])
  counts = jnp.ones(10)
  loss = dataclasses.replace(ltd.LOSSES["eql"], params={"frequency_threshold": 0.0})
  values, kept, _ = jax.jit(lambda z: ltd.anchor_losses(loss, z, labels, (), counts))(logits)
  bce = ge.cross_entropy_loss(logits[..., 1:], jax.nn.one_hot(labels, 11)[..., 1:].astype(int))
  np.testing.assert_allclose(values, jnp.where(kept, bce.sum(-1), 0.0), rtol=1e-5)
  # OHEM 1:3: row 0 has 2 positives and only 3 negatives (all kept), row 1 one positive and
  # its 3 hardest of 4 negatives
  negatives = np.asarray(bce.sum(-1))[1, 1:]
  easiest = int(np.argmin(negatives))
  assert kept.tolist() == [[True] * 5, [True] + [k != easiest for k in range(4)]]


def test_tiny_run_resumes_refuses_and_is_deterministic(tmp_path, canvases):
  config = tiny_config()
  summary = ltd.run(config, tmp_path / "a")
  assert set(summary["summary"]) == {"eqlv2"}
  for entry in summary["summary"].values():
    for metric in ("ap_r", "ap_c", "ap_f", "map"):
      assert len(entry[metric]["values"]) == 3
      assert all(0.0 <= v <= 1.0 for v in entry[metric]["values"])
  for name in ("table.md", "results.csv", "ap_groups.png", "summary.json", "data.json"):
    assert (tmp_path / "a" / name).exists()
  assert "AP_r" in summary["table"] and summary["image_counts"][7] == 2
  # the same config again: read back, not retrained
  assert ltd.run(config, tmp_path / "a")["summary"] == summary["summary"]
  # another config in that directory is refused, naming the difference
  with pytest.raises(InputError, match="train.steps"):
    ltd.run(dataclasses.replace(config, train=dataclasses.replace(config.train, steps=6)),
            tmp_path / "a")
  # killed after the first checkpoint, resumed: the same numbers as the uninterrupted run
  loss = config.losses[0]
  data = prepare(config, canvases)

  def kill(step):
    if step == 3:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    train_loss(config, loss, data, tmp_path / "b", on_step=kill)
  assert not (tmp_path / "b" / "runs" / loss.name / "seed0.json").exists()
  resumed = train_loss(config, loss, data, tmp_path / "b")
  first = [json.loads((tmp_path / "a" / "runs" / loss.name / f"seed{s}.json").read_text())
           for s in config.seeds]
  for a, b in zip(first, resumed):
    assert a["ap"] == b["ap"] and a["final_loss"] == b["final_loss"]
  assert len({json.dumps(r["final_loss"]) for r in first}) == 3  # the seeds differ
