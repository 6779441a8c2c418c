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
  cost = matching_cost(logits, boxes, gt, jnp.array([0]), canvas_size=10.0, l1_weight=5.0,
                       giou_weight=2.0, class_weight=1.0)
  assert float(cost[0, 0]) == pytest.approx(5 * 0.2 + 2 * (2 / 3) - 0.25, rel=1e-6)


def test_set_loss_targets_normalisation_and_empty_ground_truth():
  rng = np.random.default_rng(3)
  logits = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
  xy = rng.uniform(0, 20, size=(5, 2))
  boxes = jnp.asarray(np.concatenate([xy, xy + rng.uniform(2, 8, size=(5, 2))], -1), jnp.float32)
  gt = jnp.array([[1.0, 1.0, 6.0, 7.0], [10.0, 12.0, 15.0, 20.0], [0.0, 0.0, 0.0, 0.0]])
  labels = jnp.array([2, 0, 0])
  valid = jnp.array([True, True, False])
  total, parts, assignment = jax.jit(lambda *a: set_loss(*a, canvas_size=32.0))(logits, boxes, gt, labels, valid)
  assignment = np.asarray(assignment)
  targets = np.where(assignment >= 0, np.asarray(labels)[np.maximum(assignment, 0)] + 1, 0)
  want_cls = float(ge.cross_entropy_loss(logits, jnp.asarray(targets), head="softmax").sum()) / 2
  assert float(parts["cls"]) == pytest.approx(want_cls, rel=1e-5)
  matched = np.flatnonzero(assignment >= 0)
  assert len(matched) == 2
  want_giou = float(ge.giou_loss(boxes[matched], gt[assignment[matched]]).sum()) / 2
  assert float(parts["giou"]) == pytest.approx(want_giou, rel=1e-5)
  grads = jax.grad(lambda l, b: set_loss(l, b, gt, labels, valid, canvas_size=32.0, cls_loss=ge.focal_loss,
                                         cls_params={"gamma": 2.0})[0], argnums=(0, 1))(logits, boxes)
  assert all(np.all(np.isfinite(g)) for g in grads)
  # unmatched hypotheses get no box gradient
  unmatched = np.flatnonzero(assignment < 0)
  np.testing.assert_array_equal(np.asarray(grads[1])[unmatched], 0.0)
  # no objects: every hypothesis is trained towards "no object", normalised by 1, no NaN
  total, parts, assignment = set_loss(logits, boxes, gt, labels, jnp.zeros(3, bool), canvas_size=32.0)
  assert np.all(np.asarray(assignment) == -1) and float(parts["l1"]) == 0.0
  assert float(parts["cls"]) == pytest.approx(float(ge.cross_entropy_loss(logits, jnp.zeros(5, jnp.int32), head="softmax").sum()), rel=1e-5)
