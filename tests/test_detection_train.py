"""Training-loop tests of the detection experiment: resume after a kill, config checks, CLI."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

import gradeng as ge
from gradeng import cli as _cli
from gradeng.experiments.detection import _config, _train
from gradeng.experiments.detection._config import LossSpec
from gradeng.experiments.detection._experiment import run_experiment

TINY_SOURCE = '''
import gradeng as ge
from gradeng.experiments.detection._config import (DataConfig, ExperimentConfig, FeatureMap, LossSpec,
                                       ModelConfig, TrainConfig)


def get_config(quick=False):
  return ExperimentConfig(
      name="tiny",
      data=DataConfig(canvas_size=32, digit_sizes=(8, 12), max_objects=3, num_train=48,
                      num_test=8),
      model=ModelConfig(widths=(8, 8, 8), feature_maps=(FeatureMap(4, (7.0, 10.0)),
                                                        FeatureMap(8, (14.0,), (0.8, 0.5)))),
      train=TrainConfig(steps=4, batch_size=8, eval_every=2, checkpoint_every=2),
      losses=(LossSpec("ce_ohem", "CE + OHEM", ge.cross_entropy_loss, {}, "ohem",
                       learning_rate=1e-3, loc_weight=1.0, neg_pos_ratio=1.0),
              LossSpec("maki", "Maki", ge.maki_loss, {"gamma": 1}, "positives",
                       learning_rate=1e-3, loc_weight=0.2)),
      seeds=(0,),
      figure_stem="tiny_map",
  )
'''


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  path = tmp_path_factory.mktemp("config") / "tiny_config.py"
  path.write_text(TINY_SOURCE)
  from gradeng.experiments.detection import load_config

  config = load_config(path=path)
  return path, config, _train.prepare_data(config)


class Killed(Exception):
  pass


def _kill_at(step_to_kill):
  def on_step(step):
    if step == step_to_kill:
      raise Killed

  return on_step


def test_resume_after_kill_reproduces_the_uninterrupted_run(tiny, tmp_path):
  _, config, data = tiny
  spec = config.losses[0]
  straight = _train.train_run(config, spec, 0, data, tmp_path / "straight", progress=False)
  with pytest.raises(Killed):  # killed after step 3; the last checkpoint is step 2
    _train.train_run(config, spec, 0, data, tmp_path / "resumed", progress=False, on_step=_kill_at(3))
  assert not (tmp_path / "resumed" / _train.RESULT).exists()
  with np.load(tmp_path / "resumed" / _train.CHECKPOINT) as checkpoint:
    assert int(checkpoint["step"]) == 2
  resumed = _train.train_run(config, spec, 0, data, tmp_path / "resumed", progress=False)
  assert resumed["final_map"] == straight["final_map"]
  with np.load(tmp_path / "straight" / _train.CHECKPOINT) as a, \
       np.load(tmp_path / "resumed" / _train.CHECKPOINT) as b:
    assert int(a["step"]) == int(b["step"]) == 4
    for name in a.files:
      if name.startswith("leaf_"):
        np.testing.assert_array_equal(a[name], b[name])  # same batches, same XLA program: bit-identical
  metrics = [[json.loads(line) for line in (tmp_path / run / _train.METRICS).read_text().splitlines()]
             for run in ("straight", "resumed")]
  assert [m["step"] for m in metrics[1]] == [2, 4]
  for a, b in zip(*metrics):
    assert a["map"] == b["map"] and a["loss"] == b["loss"]
  assert not list((tmp_path / "resumed").glob("*.tmp"))  # atomic writes leave nothing behind


def test_a_different_config_is_refused_and_nothing_is_overwritten(tiny, tmp_path):
  _, config, data = tiny
  spec = config.losses[0]
  with pytest.raises(Killed):
    _train.train_run(config, spec, 0, data, tmp_path, progress=False, on_step=_kill_at(2))
  before = (tmp_path / _train.CHECKPOINT).read_bytes()
  # fewer steps than the stored run is another run (more steps continue it: the extension tests below)
  other = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=3))
  with pytest.raises(ValueError, match=r"different config: `train.steps` is 4 there and 3 here"):
    _train.train_run(other, spec, 0, data, tmp_path, progress=False)
  with pytest.raises(ValueError, match=r"`loss.neg_pos_ratio` is 1.0 there and 3.0 here"):
    _train.train_run(config, dataclasses.replace(spec, neg_pos_ratio=3.0), 0, data, tmp_path,
                     progress=False)
  # the checkpoint itself is checked too, not only config.json
  (tmp_path / _train.RUN_CONFIG).unlink()
  with pytest.raises(ValueError, match=r"checkpoint.npz was written for a different config: `seed`"):
    _train.train_run(config, spec, 1, data, tmp_path, progress=False)
  assert (tmp_path / _train.CHECKPOINT).read_bytes() == before
  # a finished run is reused, not retrained
  done = _train.train_run(config, spec, 0, data, tmp_path, progress=False)
  assert _train.train_run(config, spec, 0, data, tmp_path, progress=False, on_step=_kill_at(1)) == done


def test_prepare_data_refuses_wrong_image_shapes(tiny):
  _, config, _ = tiny
  wrong = dataclasses.replace(config, data=dataclasses.replace(config.data, canvas_size=48))
  from gradeng.experiments.detection import make_digit_canvases

  with pytest.raises(ValueError, match=r"sample 0: image has shape \(48, 48, 1\), expected \(32, 32, 1\)"):
    _train.prepare_data(config, train_set=make_digit_canvases(wrong.data, "train"))


def test_cli_runs_the_experiment_and_writes_the_figure(tiny, tmp_path, capsys):
  path, _, _ = tiny
  code = _cli.main(["experiment", "detection", "--config", str(path), "--out", str(tmp_path / "out"),
                    "--figures", str(tmp_path / "fig"), "--no-progress"])
  assert code == 0
  printed = capsys.readouterr().out
  assert "background:object anchor ratio" in printed and "| CE + OHEM |" in printed
  for name in ("tiny_map.png", "tiny_map.csv", "tiny_map_table.md"):
    assert (tmp_path / "fig" / name).stat().st_size > 0
  csv_lines = (tmp_path / "fig" / "tiny_map.csv").read_text().splitlines()
  assert csv_lines[0].startswith("loss,step,map_mean") and len(csv_lines) == 1 + 2 * 2
  summary = json.loads((tmp_path / "out" / "tiny_map_summary.json").read_text())
  assert set(summary["losses"]) == {"ce_ohem", "maki"}
  assert all(0.0 <= v["mean"] <= 1.0 for v in summary["losses"].values())
  result = json.loads((tmp_path / "out" / "runs" / "maki" / "seed0" / "result.json").read_text())
  assert result["config"]["loss"]["loss_fn"].endswith(".maki_loss")


@pytest.mark.parametrize("argv, message", [
    (["--losses", "nope"], "unknown loss 'nope'"),
    (["--seeds", "-1"], "--seeds must be non-negative"),
    (["--config", "/nonexistent/config.py"], "does not exist"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tiny, tmp_path, capsys, argv, message):
  path, _, _ = tiny
  base = ["experiment", "detection", "--config", str(path), "--out", str(tmp_path), "--no-progress"]
  if argv[0] == "--config":
    base = ["experiment", "detection", "--out", str(tmp_path), "--no-progress"]
  with pytest.raises(SystemExit) as exit_info:
    _cli.main(base + argv)
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("gradeng experiment: error:") and message in err
  assert err.count("\n") == 1


def test_run_experiment_is_importable_for_reproduce():
  import gradeng.experiments.detection as det

  assert det.run_experiment is run_experiment
  quick = det.load_config(quick=True)
  assert quick.name == "quick" and quick.figure_stem == "detection_map_quick"
  assert ge.cross_entropy_loss in {s.loss_fn for s in quick.losses}
  assert isinstance(quick, _config.ExperimentConfig)


# ----------------------------------------------------------------------------- stateful losses

WARMUP = LossSpec("warmup_ohem", "warm-up", None, {"base": "ce", "bound": 2.0, "warmup_steps": 3},
                  "ohem", learning_rate=1e-3, loc_weight=1.0, neg_pos_ratio=1.0,
                  stateful=ge.warmup_coefficient)
ADAPTIVE = LossSpec("adaptive_maki_class", "adaptive", None,
                    {"base": "maki", "gamma_init": 1.0, "gamma_max": 5.0, "momentum": 0.9,
                     "per_class": True, "num_classes": 11}, "positives",
                    learning_rate=1e-3, loc_weight=0.2, stateful=ge.adaptive_gamma_coefficient)


def test_loss_spec_takes_exactly_one_of_a_catalog_loss_and_a_stateful_factory():
  with pytest.raises(ValueError, match="exactly one of `loss_fn`"):
    dataclasses.replace(WARMUP, loss_fn=ge.cross_entropy_loss)
  with pytest.raises(ValueError, match="exactly one of `loss_fn`"):
    dataclasses.replace(WARMUP, stateful=None)
  with pytest.raises(ValueError, match="`bound` must be a finite number > 0"):  # at config time
    dataclasses.replace(WARMUP, params={**WARMUP.params, "bound": -1.0})
  assert WARMUP.stateful_loss() is WARMUP.stateful_loss()  # built once, reused by every trace
  assert _train.init_loss_state(WARMUP).step == 0 and _train.init_loss_state(ADAPTIVE).gamma.shape == (11,)
  assert _train.init_loss_state(config_spec := _config.LossSpec(
      "ce", "ce", ge.cross_entropy_loss, {}, "positives", learning_rate=1e-3, loc_weight=1.0)) == ()
  assert config_spec.stateful_loss() is None


def test_periodic_spec_scales_the_catalog_loss_by_the_sgdr_factor():
  spec = LossSpec("periodic", "periodic", None, {"base": "ce", "period": 8}, "positives",
                  learning_rate=1e-3, loc_weight=1.0, stateful=ge.periodic_coefficient)
  logits = np.random.default_rng(0).normal(size=(2, 5, 11)).astype(np.float32) * 4
  labels = np.array([[0, 3, 0, 10, 0], [1, 0, 0, 0, 2]])
  ce = np.asarray(jax.jit(lambda z, y: ge.cross_entropy_loss(z, y, head="softmax"))(logits, labels))
  loss = jax.jit(lambda z, y, state: _train.classification_loss(spec, z, y, state))  # compiled once
  for step, factor in ((0, 1.0), (4, 0.5), (2, 0.5 * (1 + np.cos(np.pi / 4)))):
    got, after = loss(logits, labels, ge.StepState(step=np.int32(step)))
    np.testing.assert_allclose(got, factor * ce, rtol=1e-6)
    assert int(after.step) == step + 1


def test_stateful_run_threads_checkpoints_and_resumes_its_state(tiny, tmp_path):
  _, config, data = tiny
  for spec in (WARMUP, ADAPTIVE):
    straight = _train.train_run(config, spec, 0, data, tmp_path / spec.name / "straight", progress=False)
    with pytest.raises(Killed):  # the last checkpoint is step 2
      _train.train_run(config, spec, 0, data, tmp_path / spec.name / "resumed", progress=False,
                       on_step=_kill_at(3))
    resumed = _train.train_run(config, spec, 0, data, tmp_path / spec.name / "resumed", progress=False)
    assert resumed["final_map"] == straight["final_map"]
    runs = [[json.loads(line) for line in (tmp_path / spec.name / run / _train.METRICS).read_text().splitlines()]
            for run in ("straight", "resumed")]
    assert runs[0][-1]["loss_state"] == runs[1][-1]["loss_state"]
    if spec is WARMUP:  # the step counter is the number of batches seen
      assert [h["loss_state"]["step"] for h in runs[1]] == [2, 4]
    else:  # early on every anchor is hard (p_t ≈ 1/11): statistics, but γ waits for easy ones
      state = runs[1][-1]["loss_state"]
      assert state["seen_hard"][0] and state["count_hard"][0] > 100 and not state["seen_easy"][0]
      assert state["gamma"] == [1.0] * 11


def test_engineering_variant_shares_data_model_and_baselines_with_the_paper_variant():
  from gradeng.experiments.detection import load_config

  paper, engineering = load_config(quick=True), load_config(quick=True, variant="engineering")
  assert (paper.data, paper.model, paper.train) == (engineering.data, engineering.model, engineering.train)
  names = [s.name for s in engineering.losses]
  assert names == ["ce_ohem", "maki", "focal", "warmup_ohem", "ce_ohem_high_lr",
                   "lr_warmup_ohem_high_lr", "warmup_ohem_high_lr", "periodic_ohem",
                   "adaptive_maki", "adaptive_maki_class", "ghm"]
  assert engineering.loss("lr_warmup_ohem_high_lr").lr_warmup_steps == paper.train.steps // 4
  assert engineering.loss("warmup_ohem_high_lr").params["warmup_steps"] == paper.train.steps // 4
  assert engineering.loss("ce_ohem") == paper.loss("ce_ohem")  # same run config: trained once
  assert engineering.loss("warmup_ohem").params["warmup_steps"] == paper.train.steps // 4
  assert engineering.loss("periodic_ohem").params["period"] == paper.train.steps // 4
  assert engineering.figure_stem == "engineering_detection_map_quick" and engineering.name == "quick, engineering"
  with pytest.raises(ValueError, match="unknown variant 'nope'"):
    load_config(quick=True, variant="nope")


def test_reproduce_trains_a_subset_of_the_quick_runs_under_its_own_stem():
  from gradeng.experiments.detection import configs
  from gradeng.experiments.detection._experiment import load_config
  from gradeng.experiments.detection._train import run_config

  quick, subset = load_config(quick=True), configs.reproduce_config(True)
  assert [s.name for s in subset.losses] == ["ce_ohem", "focal_prior", "maki", "qce"]
  assert subset.figure_stem == quick.figure_stem + "_reproduce"
  for spec in subset.losses:  # the same run as the quick variant's: shared, never retrained
    assert run_config(subset, spec, 0) == run_config(quick, quick.loss(spec.name), 0)
  for variant in ("paper", "engineering"):
    assert configs.reproduce_config(False, variant) == load_config(quick=False, variant=variant)
  with pytest.raises(ValueError, match="trains no 'engineering' runs"):
    configs.reproduce_config(True, "engineering")


def test_learning_rate_warmup_grows_linearly_from_zero():
  spec = dataclasses.replace(WARMUP, loss_fn=ge.cross_entropy_loss, stateful=None, params={},
                             learning_rate=1e-2, lr_warmup_steps=4)
  optimizer = _train.optimizer(spec)
  params = {"w": np.ones(3, np.float32)}
  state = optimizer.init(params)
  update = jax.jit(optimizer.update)  # one compilation for the six steps
  sizes = []
  for _ in range(6):  # Adam's first steps move each weight by ≈ lr(t) (|m̂/√v̂| = 1)
    updates, state = update({"w": np.full(3, 0.5, np.float32)}, state, params)
    sizes.append(float(np.abs(updates["w"]).max()))
  np.testing.assert_allclose(sizes, [0.0, 2.5e-3, 5e-3, 7.5e-3, 1e-2, 1e-2], rtol=1e-4)
  with pytest.raises(ValueError, match="`lr_warmup_steps` must be an integer >= 0"):
    dataclasses.replace(spec, lr_warmup_steps=-1)


# ----------------------------------------------------------------------------- extending a run
# A finished run continued to more steps equals the longer run trained straight. (These were
# tests/test_detection_extend.py: here they share the module's tiny experiment and the compiled
# Maki training step with the CLI test instead of preparing and compiling their own.)


def _with_steps(config, steps):
  return dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))


@pytest.mark.slow
def test_a_shorter_finished_run_is_extended_bit_identically(tiny, tmp_path):
  _, config, data = tiny
  spec = config.losses[1]  # Maki: constant learning rate, no step-scheduled state
  short, long = _with_steps(config, 2), _with_steps(config, 4)
  straight = _train.train_run(long, spec, 0, data, tmp_path / "straight", progress=False)
  first = _train.train_run(short, spec, 0, data, tmp_path / "extended", progress=False)
  assert first["steps"] == 2
  extended = _train.train_run(long, spec, 0, data, tmp_path / "extended", progress=False)
  assert extended["steps"] == 4 and extended["final_map"] == straight["final_map"]
  with np.load(tmp_path / "straight" / _train.CHECKPOINT) as a, \
       np.load(tmp_path / "extended" / _train.CHECKPOINT) as b:
    for name in a.files:
      if name.startswith("leaf_"):
        np.testing.assert_array_equal(a[name], b[name])
  steps = [json.loads(line)["step"] for line in
           (tmp_path / "extended" / _train.METRICS).read_text().splitlines()]
  assert steps == [2, 4]


@pytest.mark.slow
def test_a_longer_run_or_another_change_is_still_refused(tiny, tmp_path):
  _, config, data = tiny
  spec = config.losses[1]
  _train.train_run(config, spec, 0, data, tmp_path / "run", progress=False)  # 4 steps
  with pytest.raises(ValueError, match=r"`train.steps` is 4 there and 2 here"):
    _train.train_run(_with_steps(config, 2), spec, 0, data, tmp_path / "run", progress=False)
  other = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=6, batch_size=4))
  with pytest.raises(ValueError, match=r"train.batch_size"):
    _train.train_run(other, spec, 0, data, tmp_path / "run", progress=False)


@pytest.mark.slow
def test_prefix_rule_needs_a_length_free_training():
  base = {"data": {}, "model": {}, "seed": 0, "train": {"steps": 2, "batch_size": 8},
          "loss": {"lr_warmup_steps": 0, "stateful": None}}
  longer = {**base, "train": {"steps": 4, "batch_size": 8}}
  assert _train._is_prefix(base, longer) and not _train._is_prefix(longer, base)
  warm = {**longer, "loss": {"lr_warmup_steps": 1, "stateful": None}}
  assert not _train._is_prefix({**base, "loss": warm["loss"]}, warm)
