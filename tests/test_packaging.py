"""Packaging: what `import gradeng` loads, the README's commands, a non-editable install."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _loaded_after_import(modules):
  code = ("import sys, gradeng; "
          f"print(' '.join(m for m in {list(modules)!r} if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=ROOT).stdout
  return out.split()


def test_import_gradeng_loads_no_experiment_or_figure_dependency():
  assert _loaded_after_import(["flax", "matplotlib", "sklearn", "tqdm", "torch"]) == []


def test_import_gradeng_loads_no_sympy():
  assert _loaded_after_import(["sympy", "mpmath"]) == []


def test_catalog_losses_run_without_sympy():
  """Every catalog loss, its gradient and `logit_weight`/`loss_value` on catalog names run on the
  hand-written log-space forms: SymPy is never imported (the coefficients' `expr` stays unbuilt
  until read)."""
  code = """
import sys
import jax, jax.numpy as jnp
import gradeng as ge
z, y = jnp.array([-3.0, 0.0, 2.0]), jnp.array([1, 0, 1])
for name, loss in ge.LOSSES.items():
  assert bool(jnp.all(jnp.isfinite(loss(z, y)))), name
  assert bool(jnp.all(jnp.isfinite(jax.grad(lambda z: loss(z, y).sum())(z)))), name
  assert bool(jnp.all(jnp.isfinite(loss(jnp.zeros((2, 4)), jnp.array([0, 3]), head="softmax"))))
  float(ge.logit_weight(name, 0.3)), float(ge.loss_value(name, 0.3))
ge.maki_loss(z, y, gamma=2.5), ge.focal_loss(z, y, gamma=0.5)
print("sympy" in sys.modules)
"""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=ROOT).stdout
  assert out.split() == ["False"]


def test_coefficient_expr_is_built_on_first_read():
  import sympy as sp

  import gradeng as ge
  from gradeng.runtime._coefficient import P

  calls = []

  def build():
    calls.append(1)
    return -(1 - P) ** sp.Symbol("gamma", nonnegative=True) / P

  lazy = ge.ScaleCoefficient("lazy_maki", build, params={"gamma": "nonnegative"})
  assert calls == []
  assert sp.simplify(lazy.expr - ge.MAKI.expr) == 0
  assert lazy.expr is lazy.expr and calls == [1]
  # symbols are checked when the expression is built
  bad = ge.ScaleCoefficient("bad", lambda: P * sp.Symbol("beta"))
  with pytest.raises(ge.InputError, match="beta"):
    _ = bad.expr
  with pytest.raises(TypeError, match="SymPy expression"):
    ge.ScaleCoefficient("text", "-1/p")


def test_public_api_is_all_and_all_resolves():
  import gradeng as ge

  modules = {"core", "paper", "cli", "experiments"}
  public = {n for n in dir(ge) if not n.startswith("_")} - modules
  assert public == set(ge.__all__), "add public names to gradeng.__all__ (and only those)"
  assert len(ge.__all__) == len(set(ge.__all__))
  for name in ge.__all__:
    assert getattr(ge, name) is not None
  for gone in ("P", "Domain", "maki_tail", "sgdr_factor", "warmup_bound", "balanced_gamma"):
    assert not hasattr(ge, gone), gone


def _readme_command(title):
  text = (ROOT / "README.md").read_text()
  section = text[text.index(title):]
  return re.search(r"```bash\n(.*?)\n```", section, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
  command = _readme_command("Tests — set up and run the test suite")
  ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))]
  assert ci == [command]


def test_readme_main_command_installs_the_experiment_extras():
  command = _readme_command("Main job — set up and regenerate")
  assert re.search(r"pip install -e '\.\[[a-z,]*all[a-z,]*\]'", command), command
  assert command.endswith("gradeng reproduce")


@pytest.mark.slow
def test_non_editable_wheel_runs_the_experiment_cli(tmp_path):
  """pip wheel + pip install --target, then the CLI and the packaged detection config run from
  the installed copy, with the checkout not on sys.path (issue 15)."""
  wheels, target, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
  # a copy of what the wheel is built from, so that setuptools' build/ stays out of the checkout
  shutil.copytree(ROOT / "gradeng", source / "gradeng",
                  ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(ROOT / name, source / name)
  pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
  subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
                 check=True, capture_output=True, cwd=tmp_path)
  (wheel,) = wheels.glob("gradeng-*.whl")
  subprocess.run(pip + ["install", "--no-deps", "--target", str(target), str(wheel)],
                 check=True, capture_output=True, cwd=tmp_path)
  env = {**os.environ, "PYTHONPATH": str(target)}
  run = lambda *args: subprocess.run([sys.executable, *args], capture_output=True, text=True,
                                     cwd=tmp_path, env=env, check=True).stdout
  assert "--variant" in run("-m", "gradeng", "experiment", "detection", "--help")
  out = run("-c", "import gradeng, sys\n"
                  "from gradeng.experiments.detection import load_config\n"
                  "config = load_config(quick=True)\n"
                  f"assert {str(ROOT)!r} not in sys.path, sys.path\n"
                  "print(gradeng.__file__); print(config.name, len(config.losses))")
  location, summary = out.splitlines()
  assert location.startswith(str(target))
  assert summary.split()[-1].isdigit() and int(summary.split()[-1]) > 0
