"""Gaussian-blurred ordinal targets (values, limits, errors), the losses on them, and the ordinal
experiment (runs, resumes bit-identically after a kill, refuses a different config)."""

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import optax
import pytest

import gradeng as ge
from gradeng.experiments.detection._config import DataConfig
from gradeng.experiments.ordinal import OrdinalConfig, OrdinalLoss, get_config, run_experiment, train_loss
from gradeng.experiments.ordinal import prepare_data


def _mp_distribution(y, num_classes, sigma):
  w = [mp.exp(-(mp.mpf(k) - mp.mpf(y)) ** 2 / (2 * mp.mpf(sigma) ** 2)) for k in range(num_classes)]
  return [float(v / mp.fsum(w)) for v in w]


def test_hand_value_and_mpmath():
  # C = 3, y = 1, σ = 1: [e^-½, 1, e^-½] / (1 + 2e^-½)
  z = 1 + 2 * math.exp(-0.5)
  np.testing.assert_allclose(ge.ordinal.gaussian_label_distribution(1, 3, sigma=1.0),
                             [math.exp(-0.5) / z, 1 / z, math.exp(-0.5) / z], rtol=1e-6)
  labels = np.array([0, 3, 9, 4.5, 0.25])
  sigmas = (0.3, 1.0, 2.5, 40.0)
  rows = jax.jit(lambda y: [ge.ordinal.gaussian_label_distribution(y, 10, sigma=s) for s in sigmas])(
      labels)  # every σ in one compiled program
  for sigma, q in zip(sigmas, rows):
    q = np.asarray(q)
    for row, y in zip(q, labels):
      want = np.array(_mp_distribution(y, 10, sigma))
      np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-30)  # f32 exponents
    np.testing.assert_allclose(q.sum(-1), 1.0, rtol=1e-6)


def test_limits_one_hot_uniform_and_no_empty_row():
  gaussian = ge.ordinal.gaussian_label_distribution
  # The three limits in one compiled program.
  q, uniform, row = jax.jit(lambda a, b, c: (gaussian(a, 5, sigma=0.01), gaussian(b, 5, sigma=1e4),
                                             gaussian(c, 100, sigma=1e-3)))(jnp.arange(5), 2, 99)
  np.testing.assert_array_equal(q, np.eye(5, dtype=np.float32))
  np.testing.assert_allclose(uniform, 0.2, rtol=1e-6)
  # a label at the end with a tiny σ: the exponents are all ≤ -5e3 except one; no 0/0 row
  assert float(row[99]) == 1.0 and float(row.sum()) == 1.0
  assert ge.ordinal.gaussian_label_distribution(1, 3, sigma=1.0, dtype=jnp.bfloat16).dtype == jnp.bfloat16


def _values_and_grad_of_sum(loss):
  """``z -> (loss(z), ∂ Σ loss(z) / ∂z)``, jitted: one compilation instead of eager operations."""
  def values_and_grad(z):
    values, pullback = jax.vjp(loss, z)
    return values, pullback(jnp.ones_like(values))[0]

  return jax.jit(values_and_grad)


def test_blurred_cross_entropy_matches_optax_at_extreme_logits():
  rng = np.random.default_rng(0)
  logits = rng.uniform(-40, 40, size=(16, 9)).astype(np.float32)
  labels = rng.integers(0, 9, size=16)
  q = ge.ordinal.gaussian_label_distribution(labels, 9, sigma=1.5)
  got, g_got = _values_and_grad_of_sum(lambda z: ge.cross_entropy_loss(z, q, head="softmax"))(logits)
  want, g_want = _values_and_grad_of_sum(lambda z: optax.softmax_cross_entropy(z, q))(logits)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(g_got, g_want, atol=1e-5)
  assert np.all(np.isfinite(g_got))


@pytest.mark.parametrize("name,params,value", [
    ("focal", {"gamma": 2.0}, lambda p: -(1 - p) ** 2 * np.log(p)),
    ("maki", {"gamma": 1}, lambda p: -np.log(p) - (1 - p)),
])
def test_catalog_losses_on_blurred_targets_are_the_q_weighted_sum(name, params, value):
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(6, 7)).astype(np.float32)
  q = np.asarray(ge.ordinal.gaussian_label_distribution(rng.integers(0, 7, size=6), 7, sigma=1.0), np.float64)
  p = np.exp(logits - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True)))
  want = (q * value(p)).sum(-1)  # L = Σ_c q_c L(p_c)
  loss = jax.jit(lambda z, q: ge.LOSSES[name](z, q, head="softmax", **params))  # one compilation
  np.testing.assert_allclose(loss(logits, q.astype(np.float32)), want, rtol=1e-5)


def test_expected_class():
  logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]) + 1e-30)
  np.testing.assert_allclose(ge.ordinal.expected_class(logits), [0.75, 2.0], atol=1e-6)


def test_bad_input():
  with pytest.raises(ValueError, match=r"ordinal `labels` must be in \[0, 8\].*9"):
    ge.ordinal.gaussian_label_distribution(np.array([3, 9]), 9, sigma=1.0)
  with pytest.raises(ValueError, match=r"ordinal `labels` must be in \[0, 8\].*-0.5"):
    ge.ordinal.gaussian_label_distribution(-0.5, 9, sigma=1.0)
  for sigma in (0.0, -1.0, math.inf, math.nan):
    with pytest.raises(ValueError, match="`sigma` must be a finite number > 0"):
      ge.ordinal.gaussian_label_distribution(1, 3, sigma=sigma)
  with pytest.raises(ValueError, match="`num_classes` must be an integer >= 2"):
    ge.ordinal.gaussian_label_distribution(0, 1, sigma=1.0)
  rows = jax.jit(lambda y: ge.ordinal.gaussian_label_distribution(y, 9, sigma=1.0))(jnp.array([2, 11]))
  assert np.all(np.isfinite(rows[0])) and np.all(np.isnan(rows[1]))
  with pytest.raises(ValueError, match="`sigma` applies to classification only"):
    OrdinalLoss("x", "x", "regression", sigma=1.0)


# --- the experiment ------------------------------------------------------------------------


def _tiny_config(**changes):
  data = DataConfig(canvas_size=32, digit_sizes=(6, 8), min_objects=1, max_objects=4, max_overlap=0.0,
                    clutter=0, num_train=96, num_test=48, seed=0)
  losses = (OrdinalLoss("blur", "blurred", "classification", "maki", {"gamma": 1}, sigma=1.0),
            OrdinalLoss("l2", "L2", "regression"))
  config = OrdinalConfig(name="tiny", data=data, losses=losses, widths=(4, 4, 4, 8), hidden=8,
                         steps=6, batch_size=8, chunk=3, seeds=(0, 1), figure_stem="ordinal_tiny")
  return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def tiny_data():
  return prepare_data(_tiny_config())


def test_data_labels_are_counts(tiny_data):
  assert tiny_data.train_images.shape == (96, 32, 32, 1)
  assert set(np.unique(tiny_data.train_labels)) <= {0, 1, 2, 3}
  assert len(np.unique(tiny_data.train_labels)) >= 3


@pytest.mark.slow
def test_run_resume_bit_identical_and_refuses_other_config(tmp_path, tiny_data):
  config = _tiny_config()
  spec = config.loss("blur")
  whole = train_loss(config, spec, tiny_data, tmp_path / "whole", progress=False)

  class Killed(Exception):
    pass

  def kill(step):
    raise Killed(step)

  with pytest.raises(Killed):
    train_loss(config, spec, tiny_data, tmp_path / "killed", progress=False, on_chunk=kill)
  assert not (tmp_path / "killed" / "result.json").exists()
  resumed = train_loss(config, spec, tiny_data, tmp_path / "killed", progress=False)
  assert resumed["metrics"] == whole["metrics"]
  assert resumed["train_loss_per_chunk"] == whole["train_loss_per_chunk"]
  with np.load(tmp_path / "whole" / "checkpoint.npz") as a, np.load(tmp_path / "killed" / "checkpoint.npz") as b:
    for key in a.files:
      if key.startswith("leaf_"):
        np.testing.assert_array_equal(a[key], b[key])
  other = dataclasses.replace(config, steps=9)
  with pytest.raises(ValueError, match="different config: `steps` is 6 there and 9 here"):
    train_loss(other, spec, tiny_data, tmp_path / "whole", progress=False)


@pytest.mark.slow
def test_run_experiment_writes_figure_table_results(tmp_path):
  summary = run_experiment(_tiny_config(), tmp_path, progress=False)
  for path in summary["paths"]:
    assert (tmp_path / path.split("/")[-1]).exists()
  results = json.loads((tmp_path / "ordinal_tiny_results.json").read_text())
  for name in ("blur", "l2"):
    entry = results["losses"][name]
    assert len(entry["mae"]) == 2 and all(0 <= v <= 3 for v in entry["mae"])
    assert all(0 <= v <= 1 for v in entry["accuracy"])
  assert "| blurred |" in summary["table_markdown"]


def test_configs_and_cli_registration():
  from gradeng.experiments import EXPERIMENTS

  quick = get_config(True)
  assert quick.num_classes == 9 and len(quick.seeds) >= 3
  assert {"ce", "l2", "blur_1p0", "focal_blur", "maki_blur"} <= {s.name for s in quick.losses}
  assert EXPERIMENTS["ordinal"].package == "gradeng.experiments.ordinal"
