"""Set prediction: Hungarian matching optimal (brute force, scipy), the matching cost by hand,
and the set loss (targets, normalisation, gradients, empty ground truth)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import gradeng as ge
from gradeng.experiments.crowded import hungarian_match, matching_cost, set_loss

_match = jax.jit(hungarian_match)


def _total(cost, assignment):
  return sum(cost[k, j] for k, j in enumerate(assignment) if j >= 0)


@pytest.mark.parametrize("seed", range(6))
def test_matching_is_optimal_against_brute_force_and_scipy(seed):
  rng = np.random.default_rng(seed)
  k, m = 6, int(rng.integers(1, 5))
  cost = rng.normal(size=(k, m)).astype(np.float32)
  assignment = np.asarray(_match(jnp.asarray(cost), jnp.ones(m, bool)))
  assert sorted(j for j in assignment if j >= 0) == list(range(m))  # one-to-one, all objects
  best = min(sum(cost[r, j] for j, r in enumerate(rows)) for rows in itertools.permutations(range(k), m))
  assert _total(cost, assignment) == pytest.approx(best, abs=1e-5)
  rows, cols = linear_sum_assignment(cost)
  assert _total(cost, assignment) == pytest.approx(cost[rows, cols].sum(), abs=1e-5)
  np.testing.assert_array_equal(assignment[rows], cols)  # continuous costs: the optimum is unique


def test_padding_columns_do_not_change_the_valid_optimum():
  rng = np.random.default_rng(7)
  cost = rng.normal(size=(8, 5)).astype(np.float32)
  valid = np.array([True, False, True, True, False])
  assignment = np.asarray(_match(jnp.asarray(cost), jnp.asarray(valid)))
  rows, cols = linear_sum_assignment(cost[:, valid])
  np.testing.assert_array_equal(assignment[rows], np.flatnonzero(valid)[cols])
  assert np.sum(assignment >= 0) == 3 and not np.isin([1, 4], assignment).any()
  with pytest.raises(ValueError, match="at least as many hypotheses as objects"):
    hungarian_match(jnp.zeros((2, 3)), jnp.ones(3, bool))


def test_matching_cost_by_hand():
  logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))  # p(no object) = .5, p(class 0) = .25
  boxes = jnp.array([[0.0, 0.0, 2.0, 2.0]])
  gt = jnp.array([[1.0, 0.0, 3.0, 2.0]])
  # L1 = (1 + 0 + 1 + 0) / 10; GIoU loss = 1 - 1/3 + 0 (the union fills the enclosing box)
  cost = jax.jit(lambda *a: matching_cost(*a, canvas_size=10.0, l1_weight=5.0, giou_weight=2.0,
                                          class_weight=1.0))(logits, boxes, gt, jnp.array([0]))  # one compilation
  assert float(cost[0, 0]) == pytest.approx(5 * 0.2 + 2 * (2 / 3) - 0.25, rel=1e-6)


def test_set_loss_targets_normalisation_and_empty_ground_truth():
  rng = np.random.default_rng(3)
  logits = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
  xy = rng.uniform(0, 20, size=(5, 2))
  boxes = jnp.asarray(np.concatenate([xy, xy + rng.uniform(2, 8, size=(5, 2))], -1), jnp.float32)
  gt = jnp.array([[1.0, 1.0, 6.0, 7.0], [10.0, 12.0, 15.0, 20.0], [0.0, 0.0, 0.0, 0.0]])
  labels = jnp.array([2, 0, 0])
  valid = jnp.array([True, True, False])
  # jitted (one compilation, reused for the empty ground truth below): eagerly, every operation
  # of the matching compiles on its own
  ce_set_loss = jax.jit(lambda *a: set_loss(*a, canvas_size=32.0))
  total, parts, assignment = ce_set_loss(logits, boxes, gt, labels, valid)
  assignment = np.asarray(assignment)
  targets = np.where(assignment >= 0, np.asarray(labels)[np.maximum(assignment, 0)] + 1, 0)
  want_cls = float(ge.cross_entropy_loss(logits, jnp.asarray(targets), head="softmax").sum()) / 2
  assert float(parts["cls"]) == pytest.approx(want_cls, rel=1e-5)
  matched = np.flatnonzero(assignment >= 0)
  assert len(matched) == 2
  want_giou = float(ge.boxes.giou_loss(boxes[matched], gt[assignment[matched]]).sum()) / 2
  assert float(parts["giou"]) == pytest.approx(want_giou, rel=1e-5)
  grads = jax.jit(jax.grad(lambda l, b: set_loss(l, b, gt, labels, valid, canvas_size=32.0, cls_loss=ge.focal_loss,
                                                 cls_params={"gamma": 2.0})[0], argnums=(0, 1)))(logits, boxes)
  assert all(np.all(np.isfinite(g)) for g in grads)
  # unmatched hypotheses get no box gradient
  unmatched = np.flatnonzero(assignment < 0)
  np.testing.assert_array_equal(np.asarray(grads[1])[unmatched], 0.0)
  # no objects: every hypothesis is trained towards "no object", normalised by 1, no NaN
  total, parts, assignment = ce_set_loss(logits, boxes, gt, labels, jnp.zeros(3, bool))
  assert np.all(np.asarray(assignment) == -1) and float(parts["l1"]) == 0.0
  assert float(parts["cls"]) == pytest.approx(float(ge.cross_entropy_loss(logits, jnp.zeros(5, jnp.int32), head="softmax").sum()), rel=1e-5)


# --- crowded canvases, the set head, its training, the experiment -----------------

import dataclasses  # noqa: E402
import json  # noqa: E402

import optax  # noqa: E402
from flax import nnx  # noqa: E402

from gradeng.runtime._errors import InputError  # noqa: E402
from gradeng.experiments.crowded import _config as crowded_config  # noqa: E402
from gradeng.experiments import crowded  # noqa: E402
from gradeng.experiments.crowded import _train as crowded_train  # noqa: E402
from gradeng.experiments.crowded._model import init_set_head, num_hypotheses, slot_offsets  # noqa: E402
from gradeng.experiments.detection import DataConfig, FeatureMap, InMemoryDataset, ModelConfig, Sample, TrainConfig  # noqa: E402
from gradeng.experiments.detection import make_digit_canvases  # noqa: E402
from gradeng.experiments.detection import pairwise_iou  # noqa: E402


def _canvases(count, iou, n=12, **kw):
  config = DataConfig(canvas_size=32, digit_sizes=(8, 10, 12), min_objects=count, max_objects=count,
                      num_train=2, num_test=n, seed=0)
  return make_digit_canvases(config, "test", neighbour_iou=iou, **kw)


@pytest.mark.parametrize("count,iou", [(4, 0.0), (4, 0.4), (6, 0.6)])
def test_crowded_canvases_have_the_count_and_the_neighbour_iou(count, iou):
  canvases = _canvases(count, iou)
  assert [len(s.labels) for s in canvases] == [count] * 12
  for s in canvases:  # boxes are in placement order: each one's highest IoU with the earlier ones
    nearest = [pairwise_iou(s.boxes[i:i + 1], s.boxes[:i]).max() for i in range(1, count)]
    assert np.all(np.abs(np.array(nearest) - iou) <= 0.05 + 1e-6), nearest


def test_crowded_canvases_streams_and_bad_arguments():
  a, b = _canvases(3, 0.3, n=3), _canvases(3, 0.3, n=3, stream=7)
  assert not np.array_equal(a[0].image, b[0].image)
  np.testing.assert_array_equal(_canvases(3, 0.3, n=3)[2].boxes, a[2].boxes)  # deterministic
  with pytest.raises(InputError, match="`neighbour_iou` must be in"):
    _canvases(3, 1.0, n=1)
  with pytest.raises(InputError, match="`stream` must be an integer"):
    _canvases(3, 0.3, n=1, stream=-1)


def test_nms_ceiling_by_hand():
  box = np.array([[0.0, 0.0, 10.0, 10.0]], np.float32)
  same = Sample(np.zeros((16, 16, 1), np.float32), np.concatenate([box, box]),
                np.array([1, 1], np.int32), np.zeros(2, bool))
  other = dataclasses.replace(same, labels=np.array([1, 2], np.int32))
  apart = dataclasses.replace(same, boxes=np.array([[0, 0, 4, 4], [8, 8, 12, 12]], np.float32))
  ceiling = crowded.nms_ceiling
  assert ceiling(InMemoryDataset(("a",), (same,)), 0.45) == {"per_class": 0.5, "agnostic": 0.5}
  assert ceiling(InMemoryDataset(("a",), (other,)), 0.45) == {"per_class": 1.0, "agnostic": 0.5}
  assert ceiling(InMemoryDataset(("a",), (apart,)), 0.45) == {"per_class": 1.0, "agnostic": 1.0}


def _tiny_config():
  base = DataConfig(canvas_size=16, digit_sizes=(6, 8), noise_std=0.05, clutter=0, num_train=1,
                    num_test=1, seed=0)
  return crowded_config.CrowdedConfig(
      name="tiny",
      data=crowded_config.CrowdedData(base, train_ious=(0.0, 0.3), max_train_objects=3,
                                      train_per_iou=8, counts=(1, 3), ious=(0.0, 0.5),
                                      fixed_iou=0.3, fixed_count=3, test_per_level=3),
      ssd_model=ModelConfig(widths=(8, 8), feature_maps=(FeatureMap(4, (6.0,), (0.8,)),)),
      ssd_train=TrainConfig(steps=2, batch_size=4, eval_every=2, checkpoint_every=1),
      ssd_loss=crowded_config._ssd_loss(),
      set_head=crowded_config.SetHeadConfig(widths=(8, 8), stride=4, per_cell=2, box_size=6.0),
      set_losses=(crowded_config.SET_LOSSES["set_focal"],),
      figure_stem="crowded_tiny")


def test_set_head_shapes_prior_and_slots():
  config = _tiny_config()
  graphdef, params = init_set_head(config.set_head, 10, seed=0)
  logits, boxes = jax.jit(lambda p, x: nnx.merge(graphdef, p)(x))(params, jnp.zeros((2, 16, 16, 1)))  # one compilation
  k = num_hypotheses(config.set_head, 16)
  assert k == 4 * 4 * 2 and logits.shape == (2, k, 11) and boxes.shape == (2, k, 4)
  assert np.all(boxes[..., 2:] > boxes[..., :2])
  np.testing.assert_allclose(jax.nn.softmax(logits, -1)[..., 1:], 0.01, rtol=1e-4)  # the prior
  # zero input: each hypothesis starts at its cell centre plus its slot's offset, box_size wide
  centres = (boxes[0, :, :2] + boxes[0, :, 2:]) / 2
  np.testing.assert_allclose(centres[:2], np.array([[2.0, 2.0], [2.0, 2.0]]) + 4 * slot_offsets(2), atol=1e-5)
  with pytest.raises(InputError, match="`stride` must be a stage's stride"):
    crowded_config.SetHeadConfig(widths=(8, 8), stride=8 * 2)
  with pytest.raises(InputError, match="K = 4 hypotheses, fewer than the 5 objects"):
    dataclasses.replace(config, set_head=dataclasses.replace(config.set_head, stride=8, per_cell=1,
                                                             widths=(8, 8, 8)),
                        data=dataclasses.replace(config.data, max_train_objects=5))


def test_set_head_training_steps_decrease_the_loss():
  config = _tiny_config()
  sets = crowded.build_data(config)
  from gradeng.experiments.detection._data import stack

  arrays = stack(sets.train, num_classes=10, image_shape=(16, 16, 1), max_objects=3)
  spec = config.set_losses[0]  # the experiment test below reuses this compiled step (same shapes)
  graphdef, params = init_set_head(config.set_head, 10, seed=0)
  batch = [arrays[k][:config.batch_size] for k in ("images", "boxes", "labels", "valid")]

  opt_state = optax.adam(spec.learning_rate).init(params)
  losses = []
  for _ in range(10):  # the loss returned is the one before each update, on the same batch
    params, opt_state, parts = crowded_train._train_step(
        params, opt_state, *batch, graphdef=graphdef, spec=spec, canvas_size=16.0)
    losses.append(float(parts["loss"]))
  # a NaN or infinite gradient would have made Adam's updates, hence the parameters, non-finite
  assert all(np.all(np.isfinite(p)) for p in jax.tree_util.tree_leaves(params))
  assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses


def test_experiment_cli_writes_everything_under_out_and_skips_finished_runs(tmp_path, monkeypatch, capsys):
  from gradeng.cli import main

  monkeypatch.setitem(crowded_config.CONFIGS, "quick", _tiny_config)
  out = tmp_path / "crowded"
  assert main(["experiment", "crowded", "--quick", "--out", str(out), "--no-progress"]) == 0
  assert "set head, focal (γ=2)" in capsys.readouterr().out
  for name in ("crowded_tiny.png", "crowded_tiny.csv", "crowded_tiny_table.md",
               "crowded_tiny_results.json", "data.json", "runs/ce_ohem/seed0/levels.json",
               "runs/set_focal/seed0/levels.json", "runs/set_focal/seed0/checkpoint.npz"):
    assert (out / name).is_file(), name
  assert sorted(p.name for p in tmp_path.iterdir()) == ["crowded"]  # nothing outside --out
  results = json.loads((out / "crowded_tiny_results.json").read_text())
  assert set(results["methods"]) == {"ssd_nms", "ssd_nms_agnostic", "set_focal"}
  levels = results["methods"]["set_focal"]["levels"]
  assert [(e["sweep"], e["count"], e["iou"]) for e in levels] == [
      ("count", 1, 0.3), ("count", 3, 0.3), ("iou", 3, 0.0), ("iou", 3, 0.5)]
  assert all(0.0 <= e["recall"] <= e["max_recall"] + 1e-12 <= 1.0 + 1e-12 for e in levels)

  def refuse(*args, **kwargs):
    raise AssertionError("a finished run was trained again")

  monkeypatch.setattr(crowded_train, "train_set_head", refuse)
  monkeypatch.setattr("gradeng.experiments.detection._train.train_run", refuse)
  from gradeng.experiments.crowded import _report as crowded_report

  save, drawn = crowded_report.save_figure, []

  def save_covering_no_panel(fig, path, **kwargs):  # the legend sits outside every panel
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    for ax in fig.axes:
      assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    drawn.append(path)
    save(fig, path, **kwargs)

  monkeypatch.setattr(crowded_report, "save_figure", save_covering_no_panel)
  before = (out / "runs/set_focal/seed0/levels.json").read_text()
  summary = crowded.run(_tiny_config(), out, progress=False)
  assert drawn  # the figure was redrawn from the saved runs and checked
  assert (out / "runs/set_focal/seed0/levels.json").read_text() == before
  assert summary["methods"]["set_focal"]["levels"] == levels
  longer = dataclasses.replace(_tiny_config(), ssd_train=dataclasses.replace(_tiny_config().ssd_train, steps=3))
  with pytest.raises(ValueError, match="different config: `train.steps` is 2 there and 3 here"):
    crowded.run(longer, out, progress=False)
