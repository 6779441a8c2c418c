"""Sweep runner tests: re-runs identical, resume after an interrupted run, refusal to mix configs,
1 vs 8 devices identical (subprocess with 8 simulated CPU devices, compiled at XLA's default
optimisation level: the suite's lower level gives the same numbers), CLI errors."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge
from gradeng import cli as _cli
from gradeng.experiments import toy
from gradeng.experiments.toy import _sweep

FREE = toy.FreeLogitConfig(name="t-free", losses=(("ce", (None,)), ("maki", (1.0, 2.0))),
                           imbalance=(10.0, 100.0), seeds=(0, 1), steps=20, chunk_size=4, batch=2)
CLASSIFY = toy.ClassificationConfig(name="t-mlp", model="mlp", dataset="xor", hidden=8,
                                    losses=(("focal", (1.0, 2.0)),), imbalance=(1.0, 10.0),
                                    seeds=(3,), steps=15, n_train=64, n_test=64, chunk_size=3,
                                    batch=1)


class Interrupt(Exception):
  pass


def _assert_same(a: dict, b: dict):
  assert sorted(a) == sorted(b)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope="module")
def free_result(tmp_path_factory):
  one_device = jax.devices()[:1]
  return toy.run_sweep(FREE, tmp_path_factory.mktemp("free") / "run", devices=one_device, progress=False)


@pytest.fixture(scope="module")
def classify_result(tmp_path_factory):
  one_device = jax.devices()[:1]
  return toy.run_sweep(CLASSIFY, tmp_path_factory.mktemp("mlp") / "run", devices=one_device,
                       progress=False)


def test_sweep_outputs(free_result):
  arrays = free_result.arrays
  assert free_result.computed_chunks == 3
  assert arrays["p_hard"].shape == (12, 21) and list(arrays["loss"][:4]) == ["ce"] * 4
  assert np.all(arrays["p_hard"][:, -1] > arrays["p_hard"][:, 0])
  assert np.all((arrays["share_logit"] >= 0) & (arrays["share_logit"] <= 1))
  summary = json.loads((free_result.directory / "summary.json").read_text())
  assert summary["n_trainings"] == 12 and len(summary["metrics"]) == 6
  assert json.loads((free_result.directory / "config.json").read_text()) == FREE.to_dict()
  assert not list(free_result.directory.rglob("*.tmp"))


def test_rerun_is_identical_and_resume_after_interrupt(free_result, tmp_path):
  again = toy.run_sweep(FREE, tmp_path / "again", devices=jax.devices()[:1], progress=False)
  _assert_same(again.arrays, free_result.arrays)

  def stop_after_first(chunk):
    if chunk.index == 0:
      raise Interrupt

  with pytest.raises(Interrupt):
    toy.run_sweep(FREE, tmp_path / "killed", devices=jax.devices()[:1], progress=False,
                  after_chunk=stop_after_first)
  assert sorted(p.name for p in (tmp_path / "killed" / "chunks").iterdir()) == ["00000.npz"]
  resumed = toy.run_sweep(FREE, tmp_path / "killed", devices=jax.devices()[:1], progress=False)
  assert resumed.computed_chunks == 2
  _assert_same(resumed.arrays, free_result.arrays)
  _assert_same(_sweep.load_npz(tmp_path / "killed" / "results.npz"), free_result.arrays)
  assert toy.run_sweep(FREE, tmp_path / "killed", progress=False).computed_chunks == 0


def test_refuses_a_directory_of_another_config(free_result):
  with pytest.raises(ValueError, match=r"different config: `steps` is 20 there and 21 here"):
    toy.run_sweep(FREE.replace(steps=21), free_result.directory, progress=False)
  with pytest.raises(ValueError, match=r"`losses`"):
    toy.run_sweep(FREE.replace(losses=(("ce", (None,)),)), free_result.directory, progress=False)


def test_classification_sweep_and_figures(classify_result, tmp_path):
  result = classify_result
  arrays = result.arrays
  for key in ("recall", "average_precision", "ece"):
    assert arrays[key].shape == (4,) and np.all((arrays[key] >= 0) & (arrays[key] <= 1)), key
  assert arrays["share_minority"].shape == (4, 15)
  assert np.all((arrays["share_minority"] >= 0) & (arrays["share_minority"] <= 1))
  paths = toy.make_figures(result.directory, tmp_path / "figures")
  assert {p.name for p in paths} == {"grad_share.png", "grad_share.csv", "heatmaps.png", "heatmaps.json"}
  heat = json.loads((tmp_path / "figures" / "heatmaps.json").read_text())
  assert heat["ratios"] == [1.0, 10.0] and heat["settings"] == ["focal γ=1", "focal γ=2"]


def catalog_outputs() -> dict[str, np.ndarray]:
  """Every catalog loss and its injected gradient in float32, both heads, logits to ±45 (one
  program: a compilation per loss and head costs 3× as much)."""
  @jax.jit
  def outputs(z, binary, logits, classes):
    found = {}
    for name, loss in sorted(ge.LOSSES.items()):
      for head, x, labels in (("sigmoid", z, binary), ("softmax", logits, classes)):
        value, pullback = jax.vjp(lambda x: loss(x, labels, head=head), x)
        found[f"{name}/{head}/value"] = value
        found[f"{name}/{head}/grad"] = pullback(jnp.ones_like(value))[0]
    return found

  z = jnp.linspace(-45.0, 45.0, 721, dtype=jnp.float32)
  logits = 15 * jax.random.normal(jax.random.PRNGKey(0), (64, 5), jnp.float32)
  found = outputs(z, jnp.arange(z.size) % 2, logits, jnp.arange(64) % 5)
  return {key: np.asarray(value) for key, value in found.items()}


_EIGHT_DEVICES = textwrap.dedent("""
    import sys, jax, numpy as np
    from gradeng.experiments import toy
    from tests.test_toy_sweep import CLASSIFY, FREE, catalog_outputs
    assert jax.device_count() == 8, jax.devices()
    for config in (FREE, CLASSIFY):
      toy.run_sweep(config, f"{sys.argv[1]}/{config.name}", progress=False)
    np.savez(f"{sys.argv[1]}/catalog.npz", **catalog_outputs())
""")


@pytest.mark.slow
def test_one_and_eight_devices_give_identical_numbers(free_result, classify_result, tmp_path):
  # XLA_FLAGS replaced, not extended: the 8 devices also compile at XLA's default optimisation
  # level, where the suite compiles at a lower one (tests/conftest.py), so this also checks that
  # the suite's level gives the users' numbers: the sweeps' and the catalog's, bit for bit.
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
  root = Path(__file__).resolve().parent.parent
  done = subprocess.run([sys.executable, "-c", _EIGHT_DEVICES, str(tmp_path)], env=env, cwd=root,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  for one in (free_result, classify_result):
    eight = _sweep.load_npz(tmp_path / one.summary["config"]["name"] / "results.npz")
    _assert_same(eight, one.arrays)
  _assert_same(dict(np.load(tmp_path / "catalog.npz")), catalog_outputs())


@pytest.mark.parametrize("argv, message", [
    (["simulate", "nope"], "Unknown simulation `nope`"),
    (["simulate", "free_logit", "--set", "losses=ce,hinge"], "Unknown loss `hinge`"),
    (["simulate", "free_logit", "--set", "imbalance=10,-1"], "must be finite and > 0"),
    (["simulate", "free_logit", "--set", "seeds="], "Empty grid: `seeds`"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, message, tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    _cli.main([*argv, "--out", str(tmp_path), "--no-figures", "--no-progress"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert message in err and err.count("\n") == 1 and err.startswith("gradeng simulate: error:")


def test_cli_runs_and_refuses_mixed_configs(tmp_path, capsys):
  argv = ["simulate", "free_logit", "--quick", "--out", str(tmp_path / "res"), "--figures",
          str(tmp_path / "fig"), "--no-progress", "--set", "losses=ce", "--set", "steps=5",
          "--set", "imbalance=10", "--set", "seeds=0"]
  assert _cli.main(argv) == 0
  out = capsys.readouterr().out
  assert "free_logit-quick: 1 trainings" in out
  assert (tmp_path / "fig" / "toy_imbalance" / "free_logit-quick" / "p_trajectories.png").exists()
  with pytest.raises(SystemExit) as exit_info:
    _cli.main([*argv, "--set", "steps=6"])
  assert exit_info.value.code == 2
  assert "`steps` is 5 there and 6 here" in capsys.readouterr().err


def test_refuses_a_foreign_non_empty_directory(tmp_path):
  (tmp_path / "notes.txt").write_text("not a sweep")
  with pytest.raises(ValueError, match="not empty and has no config.json"):
    toy.run_sweep(FREE, tmp_path, progress=False)
