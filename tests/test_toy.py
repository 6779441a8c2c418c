"""Unit tests of the toy simulations: configs and their errors, metrics, paper §2.1 numbers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from gradeng.experiments import toy
from gradeng.experiments.common import claim_run_dir
from gradeng.experiments.toy import _config, _free_logit, _metrics


def test_paper_budget_at_step_zero():
  # §2.1: 1000 easy at p=0.9, 10 hard at p=0.3: CE sums g to -1111 vs -33; focal(γ=2) -32 vs -33.
  config = toy.FreeLogitConfig(jitter=0.0, steps=1, n_hard=10, easy_groups=10)
  ce = jax.jit(_free_logit.make_training(config, "ce"))(jnp.nan, 100.0, 0)
  focal = jax.jit(_free_logit.make_training(config, "focal"))(2.0, 100.0, 0)
  ce_easy, ce_hard = 1000 / 0.9, 10 / 0.3
  focal_easy = 1000 * (0.1**2 / 0.9 - 2 * 0.1 * math.log(0.9))
  focal_hard = 10 * (0.7**2 / 0.3 - 2 * 0.7 * math.log(0.3))
  assert round(ce_easy) == 1111 and round(ce_hard) == 33
  assert round(focal_easy) == 32 and round(focal_hard) == 33
  np.testing.assert_allclose(ce["share_g"][0], ce_hard / (ce_easy + ce_hard), rtol=1e-5)
  np.testing.assert_allclose(focal["share_g"][0], focal_hard / (focal_easy + focal_hard), rtol=1e-5)
  # logit space: |dL/dz| = (1 - p_t) for CE
  np.testing.assert_allclose(ce["share_logit"][0], 10 * 0.7 / (1000 * 0.1 + 10 * 0.7), rtol=1e-5)
  np.testing.assert_allclose(ce["p_easy"][0], 0.9, rtol=1e-6)
  np.testing.assert_allclose(ce["p_hard"][0], 0.3, rtol=1e-6)


def test_average_precision_matches_sklearn_with_weights():
  rng = np.random.default_rng(0)
  scores = rng.normal(size=300).astype(np.float32)
  labels = (rng.random(300) < 0.3).astype(np.int32)
  weights = np.where(labels == 1, 1.0, 7.0).astype(np.float32)
  got = jax.jit(_metrics.average_precision)(scores, labels, weights)
  want = average_precision_score(labels, scores, sample_weight=weights)
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_ece_recall_share_by_hand():
  probs = jnp.array([0.05, 0.15, 0.95, 0.95, 1.0])
  labels = jnp.array([0, 1, 1, 0, 1])
  weights = jnp.array([1.0, 1.0, 1.0, 2.0, 1.0])
  # bins: 0 -> +0.05; 1 -> -0.85; 9 -> (0.95-1) + 2*0.95 + (1-1) = 1.85
  want = (0.05 + 0.85 + 1.85) / 6
  ece = jax.jit(_metrics.expected_calibration_error)(probs, labels, weights)
  np.testing.assert_allclose(ece, want, rtol=1e-6)
  logits = jnp.array([-1.0, 0.0, 2.0, -3.0])
  assert float(jax.jit(_metrics.minority_recall)(logits, jnp.array([1, 1, 1, 0]))) == pytest.approx(2 / 3)
  share = jax.jit(_metrics.gradient_share)(jnp.array([-1.0, 3.0, -2.0]), jnp.array([True, False, False]),
                                  jnp.array([1.0, 1.0, 2.0]))
  assert float(share) == pytest.approx(1 / 8)


@pytest.mark.parametrize("dataset", ["gaussian", "xor"])
def test_datasets_have_the_requested_minority(dataset):
  n_min = toy.minority_count(1000, np.float32(99.0))
  assert int(n_min) == 10
  assert int(toy.minority_count(100, np.float32(1e6))) == 1
  sample = jax.jit(toy.sample, static_argnums=(0, 2, 4))
  x, y = sample(dataset, jax.random.key(0), 1000, n_min, 3.0)
  assert x.shape == (1000, 2) and int(y.sum()) == 10
  x_big, y_big = sample(dataset, jax.random.key(1), 4000, 2000, 3.0)
  positive = np.asarray(x_big[y_big == 1])
  if dataset == "gaussian":
    assert positive.mean(axis=0) == pytest.approx([3 / 2 / math.sqrt(2)] * 2, abs=0.1)
  else:  # minority on the diagonal x1 * x2 > 0
    assert np.mean(positive[:, 0] * positive[:, 1] > 0) > 0.8


def test_presets_and_grid_order():
  assert set(toy.PRESETS) == {"free_logit", "gaussian_logreg", "gaussian_mlp", "xor_mlp"}
  for name in toy.PRESETS:
    full, quick = toy.get_preset(name), toy.get_preset(name, quick=True)
    assert quick.n_cells < full.n_cells
    assert _config.config_from_dict(full.to_dict()) == full
  config = toy.FreeLogitConfig(losses=(("ce", (None,)), ("maki", (1, 2))), imbalance=(10, 100),
                               seeds=(0, 1), chunk_size=3)
  cells = toy.grid_cells(config)
  assert len(cells) == config.n_cells == 12
  assert cells[0] == ("ce", None, 10.0, 0) and cells[4] == ("maki", 1.0, 10.0, 0)
  chunks = toy.plan_chunks(config)
  assert [(c.loss, c.start, c.stop) for c in chunks] == [
      ("ce", 0, 3), ("ce", 3, 4), ("maki", 4, 7), ("maki", 7, 10), ("maki", 10, 12)]


@pytest.mark.parametrize("changes, message", [
    (dict(losses=(("hinge", (None,)),)), "Unknown loss `hinge`"),
    (dict(losses=()), "Empty grid: `losses`"),
    (dict(losses=(("focal", ()),)), "Empty grid: no hyper-parameter values for loss `focal`"),
    (dict(imbalance=()), "Empty grid: `imbalance`"),
    (dict(seeds=()), "Empty grid: `seeds`"),
    (dict(imbalance=(10.0, 0.0)), "must be finite and > 0; got 0.0"),
    (dict(imbalance=(-5,)), "got -5"),
    (dict(losses=(("ce", (1.0,)),)), "Loss `ce` has no hyper-parameter"),
    (dict(losses=(("gce", (1.5,)),)), "`q` of `gce` must be"),
    (dict(losses=(("maki", (1.0,)), ("maki", (2.0,)))), "listed twice"),
    (dict(steps=0), "`steps` must be a positive integer"),
    (dict(seeds=(1, 1)), "duplicates"),
])
def test_bad_configs_are_refused(changes, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    toy.ClassificationConfig(**changes)


def test_unknown_simulation_and_overrides():
  with pytest.raises(ValueError, match="Unknown simulation `nope`"):
    toy.get_preset("nope")
  config = toy.get_preset("free_logit", quick=True)
  changed = toy.parse_override(config, "losses=ce,focal:gamma=1|2,maki:gamma=1/2")
  assert changed.losses == (("ce", (None,)), ("focal", (1.0, 2.0)), ("maki", (0.5,)))
  assert toy.parse_override(config, "imbalance=10,1000").imbalance == (10.0, 1000.0)
  assert toy.parse_override(config, "steps=7").steps == 7
  with pytest.raises(ValueError, match="Empty grid: `seeds`"):
    toy.parse_override(config, "seeds=")
  with pytest.raises(ValueError, match="Unknown loss `foo`"):
    toy.parse_override(config, "losses=foo")
  with pytest.raises(ValueError, match=r"write `maki:gamma=1\|2`"):
    toy.parse_override(config, "losses=maki")
  with pytest.raises(ValueError, match=r"expected KEY=VALUE \(e.g. focal:gamma=2"):
    toy.parse_override(config, "losses=focal:1:2")  # the old syntax, now refused clearly
  with pytest.raises(ValueError, match="not a finite number"):
    toy.parse_override(config, "losses=focal:gamma=x")
  with pytest.raises(ValueError, match="field=value"):
    toy.parse_override(config, "colour=red")


def test_config_mismatch_names_the_key(tmp_path):
  config = toy.get_preset("free_logit", quick=True)
  claim_run_dir(tmp_path, config.to_dict(), indent=1, sort_keys=False)
  with pytest.raises(ValueError, match=r"different config: `steps` is 100 there and 7 here"):
    claim_run_dir(tmp_path, config.replace(steps=7).to_dict())


def test_experiment_config_is_every_preset():
  quick = toy.get_config(True)
  assert [s.name for s in quick.sweeps] == [toy.get_preset(n, quick=True).name for n in sorted(toy.PRESETS)]
  assert toy.get_config(False).sweeps[0] == toy.get_preset(sorted(toy.PRESETS)[0])
