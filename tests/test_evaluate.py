"""`gradeng.evaluate`: statistics against hand-computed numbers, refusals before any training, and
one tiny end-to-end run (outputs, resumption, the user's g really trained)."""

import json
import math
import os

import numpy as np
import pytest

import gradeng as ge
from gradeng.experiments.evaluation import (Interval, evaluate, noise_statement,
                                paired_difference, t_interval)

# t quantiles t(0.975, df) from tables (df = 1, 2, 4)
T_975 = {1: 12.706204736, 2: 4.302652730, 4: 2.776445105}


def test_t_interval_matches_the_hand_computed_interval():
  # x = 1, 2, 3, 4, 5: mean 3, s = sqrt(2.5), half-width t(0.975, 4) sqrt(2.5) / sqrt(5)
  ci = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
  half = T_975[4] * math.sqrt(2.5) / math.sqrt(5)
  assert ci.mean == 3.0 and ci.n == 5
  assert ci.low == pytest.approx(3.0 - half, rel=1e-9)
  assert ci.high == pytest.approx(3.0 + half, rel=1e-9)
  # two values: half-width t(0.975, 1) |a - b| / 2
  ci = t_interval([0.25, 0.75])
  assert (ci.low, ci.high) == pytest.approx((0.5 - T_975[1] * 0.25, 0.5 + T_975[1] * 0.25))


def test_t_interval_leaves_out_nan_and_has_no_interval_below_two_values():
  ci = t_interval([1.0, float("nan"), 3.0])
  assert ci.n == 2 and ci.mean == 2.0
  assert ci.high - ci.mean == pytest.approx(T_975[1] * 1.0)  # s = sqrt(2), /sqrt(2)
  one = t_interval([0.7])
  assert (one.mean, one.low, one.high, one.n) == (0.7, None, None, 1)
  assert not one.excludes_zero
  empty = t_interval([float("nan")])
  assert math.isnan(empty.mean) and empty.n == 0 and empty.to_json()["mean"] is None


def test_paired_difference_is_the_interval_of_the_seedwise_differences():
  # d = 0.2, 0.1, 0.1: mean 2/15, s = sqrt(1/300), half = t(0.975, 2) s / sqrt(3)
  d = paired_difference([0.9, 0.8, 0.7], [0.7, 0.7, 0.6])
  half = T_975[2] * math.sqrt(1 / 300) / math.sqrt(3)
  assert d.mean == pytest.approx(2 / 15)
  assert (d.low, d.high) == pytest.approx((2 / 15 - half, 2 / 15 + half))
  assert noise_statement(d) == "within the seed noise"  # low = -0.0101 < 0
  # a shift shared by every seed is seed noise for an unpaired test but not for the paired one
  shifted = paired_difference([0.91, 0.51, 0.711], [0.90, 0.50, 0.70])
  assert shifted.low > 0 and noise_statement(shifted) == "exceeds the seed noise"
  assert t_interval([0.91, 0.51, 0.711]).low < t_interval([0.90, 0.50, 0.70]).high
  # a seed where either side is NaN drops out of both
  assert paired_difference([1.0, np.nan, 3.0], [0.0, 2.0, 1.0]).n == 2


def test_noise_statement_reads_the_interval():
  assert noise_statement(Interval(-0.3, -0.5, -0.1, 3)) == "exceeds the seed noise"
  assert noise_statement(Interval(0.1, -0.1, 0.3, 3)) == "within the seed noise"
  assert noise_statement(Interval(0.1, None, None, 1)) == "within the seed noise"
  with pytest.raises(ge.InputError, match="shapes"):
    paired_difference([1.0, 2.0], [1.0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(on=("mnist",)), "unknown experiment `mnist`"),
    (dict(against=("ce", "hinge")), "Baseline `hinge` is not a catalog loss"),
    (dict(against=("focal:beta=1",)), "unknown parameter"),
    (dict(against=("focal:gamma=1|2",)), "one value of `gamma`"),
    (dict(against=("ce", "ce")), "twice"),
    (dict(seeds=0), "`seeds`"),
    (dict(params={"gamma": float("nan")}), "finite number"),
])
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kwargs, message):
  with pytest.raises(ge.InputError, match=message):
    evaluate("-(1-p)**3/p", out_dir=tmp_path / "out", **kwargs)
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("formula, params, message", [
    ("-(1-p**/p", None, "cannot parse"),
    ("-(1-p)**gamma/p", None, "needs a value for parameter"),
    ("-(1-p)**gamma/p", {"gamma": 1.0, "beta": 2.0}, "unknown parameter"),
    ("(1-p)/p", None, "negative on part of"),  # CE's g with its sign flipped
])
def test_a_formula_that_does_not_build_or_trains_the_wrong_way_is_refused(tmp_path, formula,
                                                                          params, message):
  with pytest.raises(ge.InputError, match=message):
    evaluate(formula, params=params, out_dir=tmp_path / "out")
  assert not (tmp_path / "out").exists()


def _tiny_toy():
  from gradeng.experiments import toy

  return toy.ToyConfig((toy.FreeLogitConfig(name="tiny", steps=4, imbalance=(10.0,),
                                             n_hard=2, easy_groups=2, chunk_size=2, batch=1),))


def test_end_to_end_writes_its_outputs_resumes_and_trains_the_users_g(tmp_path):
  out = tmp_path / "ev"
  kwargs = dict(against=("ce",), on=("toy",), seeds=2, out_dir=out, configs={"toy": _tiny_toy()},
                card=False)  # the card's own tests cover it
  # the formula of cross-entropy: the user's loss must give exactly the catalog CE's numbers
  result = evaluate("-1/p", **kwargs)
  assert {p.name for p in out.iterdir()} >= {"evaluation.json", "evaluation.md",
                                             "evaluation.png", "evaluation_config.json", "toy"}
  assert [(r.setting, r.metric) for r in result.rows] == [
      ("tiny, 1:10", "p_hard_final"), ("tiny, 1:10", "p_easy_final")]
  for row in result.rows:
    assert row.seeds == (0, 1)
    assert row.values["yours"] == row.values["ce"]
    assert row.values["ce"][0] != row.values["ce"][1]  # two seeds, two trainings
    assert 0.0 < row.values["ce"][0] < 1.0
    difference = row.differences["ce"]
    assert (difference.mean, difference.low, difference.high) == (0.0, 0.0, 0.0)
    assert row.verdicts["ce"].endswith("within the seed noise")
  data = json.loads((out / "evaluation.json").read_text())
  assert data["formula"] == "-1/p" and data["against"] == ["ce"] and data["seeds"] == [0, 1]
  assert data["tally"] == {"ce": {"better": 0, "worse": 0, "within": 2}}
  assert data["rows"][0]["values"]["yours"] == list(result.rows[0].values["yours"])
  markdown = (out / "evaluation.md").read_text()
  assert "| toy | tiny, 1:10 | p_hard_final ↑ |" in markdown
  assert (out / "evaluation.png").read_bytes()[:4] == b"\x89PNG"

  # a killed run: the last chunk never written; the rerun trains it alone and gives the same
  chunks = sorted((out / "toy" / "runs" / "tiny" / "chunks").glob("*.npz"))
  assert len(chunks) == 2  # ce, yours (2 seeds each, chunk_size 2)
  stamps = {c.name: c.stat().st_mtime_ns for c in chunks}
  chunks[-1].unlink()
  again = evaluate("-1/p", **kwargs)
  assert chunks[0].stat().st_mtime_ns == stamps[chunks[0].name]  # not trained again
  assert chunks[-1].exists()
  assert [r.values for r in again.rows] == [r.values for r in result.rows]

  # the directory belongs to this evaluation: another formula is refused there
  with pytest.raises(ge.InputError):
    evaluate("-(1-p)/p", **kwargs)


@pytest.mark.parametrize("argv, message", [
    (["-(1-p**/p"], "cannot parse"),  # a formula may start with a minus
    (["-1/p", "--on", "toy,mnist"], "unknown experiment `mnist`"),  # comma-separated
    (["-1/p", "--against", "ce", "hinge"], "Baseline `hinge`"),
    (["-1/p", "--param", "gamma"], "NAME=VALUE"),
    (["-1/p", "--param", "gamma=x"], "not a number"),
    (["-1/p", "--set", "steps=3"], "--set must be EXP.FIELD=VALUE"),
    (["-1/p", "--set", "longtail.steps=3"], "`longtail` is not one of --on ['toy']"),
    (["-1/p", "--on", "longtail", "--set", "longtail.step=3"], "has no field `step`"),
    (["-1/p", "--on", "longtail", "--set", "longtail.steps=x"], "'x' is not an integer"),
])
def test_cli_reports_bad_input_in_one_line(tmp_path, monkeypatch, capsys, argv, message):
  from gradeng.cli import main

  # `evaluate` pins the ISA in XLA_FLAGS (before any JAX computation): restored after the test
  monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
  with pytest.raises(SystemExit) as exit_info:
    main(["evaluate", *argv, "--out", str(tmp_path / "out")])
  assert exit_info.value.code == 2
  error = capsys.readouterr().err
  assert error.startswith("gradeng evaluate: error: ") and message in error
  assert not (tmp_path / "out").exists()


def test_detection_trains_the_users_formula_as_makis_row_and_names_it_in_its_run_config():
  from gradeng.experiments.common import to_jsonable
  from gradeng.experiments.detection import DETECTION_LOSSES, LossSpec

  maki = DETECTION_LOSSES["maki"]
  spec = LossSpec.from_formula("yours", "-(1-p)**gamma/p", {"gamma": 3}, like=maki)
  data = to_jsonable(spec)
  assert data["loss_fn"] == {"formula": "-(1-p)**gamma/p", "params": [["gamma", 3.0]]}
  assert (spec.normalization, spec.learning_rate, spec.loc_weight, spec.params) == (
      maki.normalization, maki.learning_rate, maki.loc_weight, {})
  other = LossSpec.from_formula("yours", "-(1-p)**gamma/p", {"gamma": 2}, like=maki)
  assert to_jsonable(other) != data  # a run directory belongs to one formula and its values
  with pytest.raises(ge.InputError, match="not a loss of the detection experiment"):
    evaluate("-1/p", against=("poly1",), on=("detection",), out_dir="unused")


def test_longtail_objective_of_a_formula_is_that_loss_on_the_softmax_head():
  import jax
  import jax.numpy as jnp

  from gradeng.experiments import longtail

  counts = jnp.asarray([50, 30, 20, 10, 8, 6, 5, 4, 3, 2])
  z = jnp.asarray(np.random.default_rng(0).normal(size=(6, 10)) * 3.0, jnp.float32)  # no RNG program
  y = jnp.asarray([0, 3, 9, 9, 5, 1])
  formulas = (("other_name", "-(1-p)/p", ()), ("yours", "-1/p", ()))  # CE's g
  init, fn = longtail.objective("yours", counts, drw_step=0, formulas=formulas)
  init_ref, fn_ref = longtail.objective("ce", counts, drw_step=0)
  both = jax.jit(lambda z: (jax.value_and_grad(lambda z: fn(z, y, init())[0])(z),
                            jax.value_and_grad(lambda z: fn_ref(z, y, init_ref())[0])(z)))
  (value, grad), (value_ref, grad_ref) = both(z)
  assert float(value) == pytest.approx(float(value_ref), rel=1e-5)
  assert float(value) > 1.0  # logits of scale 3, labels at random: a real loss
  np.testing.assert_allclose(grad, grad_ref, rtol=1e-4, atol=1e-7)
  with pytest.raises(ge.InputError, match="unknown long-tail loss 'other'"):
    longtail.objective("other", counts, drw_step=0, formulas=formulas)


def test_longtail_adapter_trains_yours_beside_the_baselines_and_reads_top1(tmp_path, monkeypatch):
  from gradeng.experiments import longtail
  from gradeng.experiments.common import to_jsonable

  seen = {}

  def fake_run(config, out_dir, progress=False):  # the experiment's own run is tested elsewhere
    seen.update(config=config, out_dir=out_dir)
    accuracy = {"yours": 0.5, "ce": 0.25, "seesaw": 0.0}  # binary fractions: exact sums
    return {"results": {str(f): {n: {m: [accuracy[n] + 0.125 * s + 0.0625 * k for s in (0, 1)]
                                     for k, m in enumerate(longtail.METRICS)}
                                 for n in config.losses} for f in config.imbalance_factors}}

  monkeypatch.setattr(longtail, "run", fake_run)
  tiny = longtail.LongTailConfig(name="tiny", imbalance_factors=(10, 100), steps=5)
  result = evaluate("-(1-p)**gamma/p", params={"gamma": 2}, against=("ce", "seesaw"),
                    on=("longtail",), seeds=2, out_dir=tmp_path / "ev",
                    configs={"longtail": tiny}, card=False)
  config = seen["config"]
  assert (config.losses, config.seeds, config.detection, config.steps) == (
      ("yours", "ce", "seesaw"), (0, 1), None, 5)
  assert config.formulas == (("yours", "-(1-p)**gamma/p", (("gamma", 2.0),)),)
  assert to_jsonable(config)["formulas"] == [["yours", "-(1-p)**gamma/p", [["gamma", 2.0]]]]
  assert "formulas" not in to_jsonable(longtail.get_config(True))  # old run dirs stay valid
  assert seen["out_dir"] == tmp_path / "ev" / "longtail"
  assert [(r.setting, r.metric) for r in result.rows] == [
      (f"tiny, IF {f}", f"top1_{m}") for f in (10, 100) for m in longtail.METRICS]
  few = result.rows[3]
  assert few.values == {"yours": (0.6875, 0.8125), "ce": (0.4375, 0.5625),
                        "seesaw": (0.1875, 0.3125)}
  assert few.differences["ce"].mean == 0.25 and few.higher_is_better
  assert "top-1 accuracy on the balanced test set, the 3 rarest classes" in (
      tmp_path / "ev" / "evaluation.md").read_text()
  # the experiment's baselines are its own names (`seesaw` is no catalog loss; it gets as far
  # as the toy experiment's check), at its fixed hyper-parameters
  with pytest.raises(ge.InputError, match="fixed hyper-parameters"):
    evaluate("-1/p", against=("focal:gamma=1",), on=("longtail",), out_dir=tmp_path / "no")
  with pytest.raises(ge.InputError, match="not a loss of the toy experiment"):
    evaluate("-1/p", against=("seesaw",), on=("toy", "longtail"), out_dir=tmp_path / "no")
  with pytest.raises(ge.InputError, match="new"):
    longtail.LongTailConfig(formulas=(("ce", "-1/p", ()),))
  assert not (tmp_path / "no").exists()
