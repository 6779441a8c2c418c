"""The engineering experiments' training: SGD with a periodic coefficient is the SGDR schedule."""

import dataclasses

import jax
import numpy as np
import pytest

import gradeng as ge
from gradeng.runtime import _stateful as st
from gradeng.experiments.engineering import TrainConfig, run_grid, stateless


@pytest.mark.slow
def test_periodic_coefficient_is_the_sgdr_learning_rate_under_sgd():
  base = TrainConfig(optimizer="sgd", steps=30, hidden=(4,), n_train=64, n_test=64)
  sgdr = (8, 2.0, 0.0)
  ce = stateless(ge.cross_entropy_loss)
  periodic = st.periodic_coefficient("ce", period=8, t_mult=2.0)
  a = run_grid(dataclasses.replace(base, lr_sgdr=sgdr), ce, [1.0], [10.0], [0, 1])
  b = run_grid(base, periodic, [1.0], [10.0], [0, 1])
  np.testing.assert_allclose(a["ce"], b["ce"], rtol=1e-5)
  for x, y in zip(jax.tree_util.tree_leaves(a["params"]), jax.tree_util.tree_leaves(b["params"])):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
  # and the schedule matters (the comparison is not vacuous)
  c = run_grid(base, ce, [1.0], [10.0], [0, 1])
  assert np.max(np.abs(np.asarray(a["ce"]) - np.asarray(c["ce"]))) > 1e-3


@pytest.mark.slow
def test_minibatch_training_is_deterministic_and_differs_from_full_batch():
  base = TrainConfig(optimizer="adam", steps=20, hidden=(4,), n_train=64, n_test=64)
  ghm = st.ghm_coefficient("ce", bins=10, momentum=0.75)
  full = run_grid(base, ghm, [0.02], [10.0], [0, 1])
  mini = run_grid(dataclasses.replace(base, batch_size=8), ghm, [0.02], [10.0], [0, 1])
  again = run_grid(dataclasses.replace(base, batch_size=8), ghm, [0.02], [10.0], [0, 1])
  np.testing.assert_array_equal(mini["ce"], again["ce"])  # the batches follow the seed
  assert np.all(np.isfinite(mini["ce"])) and np.all(mini["finite"])
  # the first step's logged CE is the initial model's (same data and init), the rest differ
  np.testing.assert_array_equal(mini["ce"][..., 0], full["ce"][..., 0])
  assert np.max(np.abs(mini["ce"][..., 1:] - full["ce"][..., 1:])) > 1e-4
