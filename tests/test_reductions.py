"""Reductions (paper §3.3) and OHEM with hand-computed expectations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge


def test_normalize_by_positives():
  losses = jnp.array([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]])
  positives = jnp.array([[True, False, False, False], [False, False, True, False]])
  assert float(ge.normalize_by_positives(losses, positives)) == pytest.approx(12.0 / 2)
  # No positives: divide by 1, never 0.
  assert float(ge.normalize_by_positives(losses, jnp.zeros_like(positives))) == pytest.approx(12.0)
  where = jnp.array([[True, True, False, False], [True, False, False, False]])
  assert float(ge.normalize_by_positives(losses, positives, where=where)) == pytest.approx(3.5 / 2)


def test_mean_over_elements():
  losses = jnp.array([1.0, 2.0, 3.0, 6.0])
  assert float(ge.mean_over_elements(losses)) == pytest.approx(3.0)
  assert float(ge.mean_over_elements(losses, where=jnp.array([True, False, False, True]))) == pytest.approx(3.5)
  assert float(ge.mean_over_elements(losses, where=jnp.zeros(4, bool))) == 0.0


def test_ohem_keeps_positives_and_hardest_negatives_per_row():
  losses = jnp.array([
      [0.1, 0.9, 0.3, 0.8, 0.2, 0.7],
      [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],
  ])
  positives = jnp.array([
      [True, False, False, False, False, False],
      [False, False, False, False, False, False],
  ])
  mask = ge.ohem_mask(losses, positives, neg_pos_ratio=2)
  np.testing.assert_array_equal(mask[0], [True, True, False, True, False, False])
  np.testing.assert_array_equal(mask[1], [False] * 6)  # no positives, min_negatives=0
  mask = ge.ohem_mask(losses, positives, neg_pos_ratio=1, min_negatives=2)
  np.testing.assert_array_equal(mask[0], [True, True, False, True, False, False])
  np.testing.assert_array_equal(mask[1], [True, True, False, False, False, False])


def test_ohem_ties_break_by_position_and_ratio_caps_at_available_negatives():
  losses = jnp.ones((1, 5))
  positives = jnp.array([[False, True, False, False, False]])
  np.testing.assert_array_equal(ge.ohem_mask(losses, positives, neg_pos_ratio=2)[0],
                                [True, True, True, False, False])
  np.testing.assert_array_equal(ge.ohem_mask(losses, positives, neg_pos_ratio=100)[0], [True] * 5)


def test_ohem_is_jittable_and_rejects_bad_ratio():
  losses = jax.random.uniform(jax.random.PRNGKey(0), (3, 50))
  positives = losses > 0.9
  mask = jax.jit(lambda l, p: ge.ohem_mask(l, p, neg_pos_ratio=3))(losses, positives)
  np.testing.assert_array_equal(mask.sum(-1), np.minimum(4 * positives.sum(-1), 50))
  with pytest.raises(ValueError, match="`neg_pos_ratio` must be ≥ 0; got -1"):
    ge.ohem_mask(losses, positives, neg_pos_ratio=-1)
