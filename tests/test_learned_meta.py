"""The learn-coefficient experiment: meta-gradient vs finite differences, resume, end to end."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradeng.runtime import weights_from_theta
from gradeng.experiments.learn import LearnConfig, TaskConfig, learn, make_train, run_experiment
from gradeng.experiments.learn._meta import step_tasks

TINY_TASK = TaskConfig(n_train=32, n_val=16, steps=6, hidden=(4,), lr=0.5)
TINY = LearnConfig(
    name="tiny", exponents=(0, 1, 2), task=TINY_TASK, train_ratios=(10.0,), seeds_per_step=2,
    outer_steps=4, outer_lr=0.2, es_pairs=1, eval_seeds=(0, 1, 2), heldout_ratios=(30.0,),
    focal_gammas=(1.0, 2.0), maki_gammas=(1, 2),
    heldout_tasks=(("logistic regression", TaskConfig(hidden=(), n_train=32, n_val=16, steps=6)),),
)


def _objective(task, theta, seed=3):
  return make_train(task, "mixture", (0, 1, 2))(weights_from_theta(theta), 10.0, seed)["val_ce"]


@pytest.fixture(scope="module")
def meta_value_and_grad():
  """θ and the jitted float64 value-and-gradient of the validation CE of `TINY_TASK`: one
  compilation serves the finite differences (values) and both gradient tests below."""
  with jax.enable_x64(True):
    theta = jnp.asarray([0.3, -0.2, 0.5], jnp.float64)
    value_and_grad = jax.jit(jax.value_and_grad(lambda t: _objective(TINY_TASK, t)))
    value_and_grad(theta)
  return theta, value_and_grad


@pytest.mark.slow
def test_meta_gradient_matches_finite_differences(meta_value_and_grad):
  theta, value_and_grad = meta_value_and_grad
  with jax.enable_x64(True):
    grad = np.asarray(value_and_grad(theta)[1])
    eps = 1e-5
    f = lambda t: value_and_grad(t)[0]  # noqa: E731
    fd = np.array([(f(theta + eps * e) - f(theta - eps * e)) / (2 * eps) for e in np.eye(3)])
  assert grad.dtype == np.float64 and np.all(np.abs(grad) > 1e-6)  # the objective depends on θ at all
  np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-9)


@pytest.mark.slow
def test_truncation_changes_the_gradient_but_keeps_it_finite(meta_value_and_grad):
  theta, value_and_grad = meta_value_and_grad
  task = dataclasses.replace(TINY_TASK, truncation=2)
  with jax.enable_x64(True):
    full = np.asarray(value_and_grad(theta)[1])
    truncated = np.asarray(jax.jit(jax.grad(lambda t: _objective(task, t)))(theta))
  assert np.all(np.isfinite(truncated)) and not np.allclose(truncated, full, rtol=1e-3)


def test_tasks_are_padded_with_zero_weight_copies_for_the_mesh():
  ratios, seeds, weights = step_tasks(TINY, step=3, n_devices=4)
  assert ratios.tolist() == [10.0] * 4
  assert seeds.tolist() == [100_006, 100_007, 100_007, 100_007]
  assert weights.tolist() == [1.0, 1.0, 0.0, 0.0]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradient", "es"])
def test_outer_loop_resumes_bit_identically_after_a_stop(tmp_path, method):
  whole = learn(TINY, method, tmp_path / "whole", progress=False)
  first = learn(TINY, method, tmp_path / "split", stop_after=2, progress=False)
  assert first["steps_done"] == 2 and len(first["history"]["objective"]) == 2
  resumed = learn(TINY, method, tmp_path / "split", progress=False)
  assert resumed["steps_done"] == TINY.outer_steps
  np.testing.assert_array_equal(resumed["theta"], whole["theta"])
  assert resumed["history"] == whole["history"]
  assert not np.array_equal(whole["theta"], np.zeros(3))  # θ moved
  again = learn(TINY, method, tmp_path / "split", progress=False)  # finished: nothing recomputed
  np.testing.assert_array_equal(again["theta"], whole["theta"])


def test_a_directory_of_another_config_is_refused(tmp_path):
  learn(TINY, "es", tmp_path, stop_after=1, progress=False)
  other = dataclasses.replace(TINY, outer_lr=0.5)
  with pytest.raises(ValueError, match=r"different config: `outer_lr` is"):
    learn(other, "es", tmp_path, progress=False)


def test_bad_configs_are_refused():
  with pytest.raises(ValueError, match=r"`maki_gammas` \[5\] are not basis exponents"):
    LearnConfig(maki_gammas=(1, 5))
  with pytest.raises(ValueError, match="≥ 3 seeds"):
    LearnConfig(eval_seeds=(0, 1))
  with pytest.raises(ValueError, match=r"`truncation` must be in \[1, steps=10\]"):
    TaskConfig(steps=10, truncation=11)


@pytest.mark.slow
def test_end_to_end_writes_closed_form_table_figures_and_derivation(tmp_path):
  config = dataclasses.replace(TINY, heldout_tasks=())  # the held-out ratio is the held-out setting
  results = run_experiment(config, tmp_path, progress=False)
  names = sorted(p.name for p in tmp_path.iterdir())
  assert names == ["config.json", "derivation.md", "es", "gradient", "learned_g.csv",
                   "learned_g.png", "meta_curve.csv", "meta_curve.png", "results.json", "results.md"]
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["evaluation"]["losses"][:2] == ["CE", saved["evaluation"]["selection"]["best_focal"]]
  for entry in saved["learned"].values():
    assert entry["formula"].startswith("-(") and len(entry["weights"]) == 3
    assert abs(sum(entry["weights"]) - 1) < 1e-5
  settings = saved["evaluation"]["settings"]
  assert list(settings) == ["training ratios 1:10 (new seeds)", "held-out ratio 1:30"]
  for losses in settings.values():
    for metrics in losses.values():
      assert np.isfinite(metrics["test_ce"]["mean"]) and 0 <= metrics["ap"]["mean"] <= 1
  assert "verified (L' = g, L(1) = 0): True" in (tmp_path / "derivation.md").read_text()
  assert results["files"]


def test_outer_step_sharded_over_two_devices_matches_one(tmp_path):
  """The task axis sharded over 2 (simulated) CPU devices gives the θ of one device."""
  assert jax.device_count() >= 2, "tests/conftest.py starts JAX with 2 CPU devices"
  one = learn(TINY, "gradient", tmp_path / "one", stop_after=2, progress=False,
              devices=jax.devices()[:1])
  two = learn(TINY, "gradient", tmp_path / "two", stop_after=2, progress=False,
              devices=jax.devices()[:2])
  np.testing.assert_allclose(two["theta"], one["theta"], rtol=1e-5, atol=1e-7)


def test_smooth_ap_tends_to_ap_and_ignores_the_logit_scale():
  from gradeng.experiments import toy

  # jitted: one compilation each instead of compiling every operation eagerly
  average_precision, smooth_average_precision = map(jax.jit, (toy.average_precision,
                                                              toy.smooth_average_precision))
  rng = np.random.default_rng(0)
  labels = jnp.asarray(rng.integers(0, 2, 64))
  scores = jnp.asarray(rng.normal(size=64) + 1.5 * np.asarray(labels), jnp.float32)
  weights = jnp.where(labels == 1, 1.0, 30.0)
  exact = float(average_precision(scores, labels, weights))
  sharp = float(smooth_average_precision(scores, labels, weights, temperature=1e-4))
  assert sharp == pytest.approx(exact, abs=1e-6)
  smooth = float(smooth_average_precision(scores, labels, weights))
  assert abs(smooth - exact) < 0.05 and smooth != exact
  # affine changes of the scores (AP is invariant to them) leave the relaxation unchanged
  assert float(smooth_average_precision(7 * scores - 3, labels, weights)) == pytest.approx(smooth, rel=1e-5)
  # hand example: scores 2 (pos), 1 (neg, weight 1), 0 (pos): AP = (1/1 + 2/3)/2
  by_hand = smooth_average_precision(jnp.asarray([2.0, 1.0, 0.0]), jnp.asarray([1, 0, 1]),
                                     jnp.ones(3), temperature=1e-4)
  assert float(by_hand) == pytest.approx((1 + 2 / 3) / 2, abs=1e-6)


def test_smooth_ap_objective_has_a_finite_meta_gradient():
  theta = jnp.asarray([0.3, -0.2, 0.5])
  train = make_train(TINY_TASK, "mixture", (0, 1, 2), "smooth_ap")
  value = lambda t: train(weights_from_theta(t), 10.0, 3)["val_objective"]  # noqa: E731
  objective, grad = jax.jit(jax.value_and_grad(value))(theta)  # one compilation for both
  grad = np.asarray(grad)
  assert np.all(np.isfinite(grad)) and np.any(np.abs(grad) > 0)
  assert 0.0 <= float(objective) < 1.0


def test_baselines_are_picked_by_the_validation_objective(monkeypatch):
  from gradeng.experiments.learn import _evaluate

  def fake_run_arms(task, arms, ratios, seeds, exponents, objective):
    # val_ce prefers γ = 1, the objective prefers γ = 2: the pick must follow the objective
    def metrics(name):
      ce, obj = (0.1, 0.9) if name.endswith("=1") else (0.9, 0.1)
      shape = (len(ratios), len(seeds))
      return {m: np.full(shape, {"val_ce": ce, "val_objective": obj}.get(m, 0.5)) for m in _evaluate.METRICS}
    return {name: metrics(name) for name in arms}

  monkeypatch.setattr(_evaluate, "_run_arms", fake_run_arms)
  config = dataclasses.replace(TINY, objective="smooth_ap", heldout_tasks=())
  result = _evaluate.evaluate(config, {"learned": np.asarray([0.2, 0.3, 0.5])})
  assert result["selection"]["best_focal"] == "focal γ=2" and result["selection"]["best_maki"] == "Maki γ=2"
  assert result["selection"]["criterion"].startswith("validation 1 − smooth AP")


def test_objective_is_validated_and_named():
  from gradeng.experiments.learn import get_config

  with pytest.raises(ValueError, match="`objective` must be one of"):
    LearnConfig(objective="accuracy")
  assert get_config(True, "smooth_ap").name == "learned-quick-smooth_ap"
  assert get_config(False).objective == "balanced_ce" and get_config(False).name == "learned"
