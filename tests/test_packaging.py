"""Packaging: what `import gradeng` loads, the README's commands, a non-editable install."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


_RUNTIME_PACKAGES = ("gradeng.runtime", "gradeng.embedding", "gradeng.boxes", "gradeng.ordinal",
                     "gradeng.longtail")
#: The symbolic side and what builds on it (SymPy, mpmath, the experiments): the runtime imports
#: none of them. The loss card (`gradeng.symbolic.card`, a formula's page) and `evaluate`
#: (`gradeng.experiments.evaluation`, a formula trained through the experiments) live inside them.
_SYMBOLIC_SIDE_PACKAGES = ("gradeng.symbolic", "gradeng.paper", "gradeng.experiments", "gradeng.cli")
_NOT_LOADED = ["sympy", "mpmath", "flax", "matplotlib", "sklearn", "tqdm", "torch"]


@pytest.fixture(scope="module")
def fresh_python_oo():
  """One fresh `python -OO` (docstrings stripped) for the three import checks below: what
  `import gradeng` loads, a focal value, then the runtime with SymPy and mpmath unimportable
  (the catalog, and the long-tail losses under jit)."""
  code = f"""
import sys
import gradeng, jax, jax.numpy as jnp
print("loaded:" + ",".join(m for m in {_NOT_LOADED!r} if m in sys.modules))
print("focal:" + repr(float(gradeng.focal_loss(jnp.zeros(2), jnp.ones(2))[0])))
sys.modules["sympy"] = None  # `import sympy` now raises ImportError
sys.modules["mpmath"] = None
import importlib, pkgutil
import gradeng as ge
for package in {_RUNTIME_PACKAGES!r}:
  module = importlib.import_module(package)
  for info in pkgutil.iter_modules(module.__path__, package + "."):
    importlib.import_module(info.name)
z, y = jnp.array([-40.0, -3.0, 0.0, 2.0, 40.0]), jnp.array([1, 0, 1, 1, 0])
for name, loss in ge.LOSSES.items():
  assert bool(jnp.all(jnp.isfinite(loss(z, y)))), name
  assert bool(jnp.all(jnp.isfinite(jax.grad(lambda z: loss(z, y).sum())(z)))), name
  zs, ys = jnp.zeros((2, 4)), jnp.array([0, 3])
  assert bool(jnp.all(jnp.isfinite(loss(zs, ys, head="softmax"))))
  assert bool(jnp.all(jnp.isfinite(jax.grad(lambda z: loss(z, ys, head="softmax").sum())(zs))))
  float(ge.logit_weight(name, 0.3)), float(ge.loss_value(name, 0.3))
  repr(ge.get_coefficient(name))
ge.maki_loss(z, y, gamma=2.5), ge.focal_loss(z, y, gamma=0.5)
ge.maki_mixture_loss(z, y, weights=[0.5, 0.5])
import gradeng.longtail as lt  # a stateful loss and a class-count one, in one compiled program
sl = lt.equalized_focal(3)
both = lambda z, y: (sl.loss(z, y, sl.init()), lt.class_balanced_loss(z, y, class_counts=[3, 2, 1]))
jax.jit(both)(jnp.zeros((2, 3)), jnp.array([0, 1]))
assert sys.modules["sympy"] is None and sys.modules["mpmath"] is None  # nothing brought them back
print("boundary:ok")
"""
  out = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True, cwd=ROOT)
  lines = dict(line.split(":", 1) for line in out.stdout.split())
  return out, lines


def test_import_gradeng_loads_no_sympy_and_no_experiment_or_figure_dependency(fresh_python_oo):
  out, lines = fresh_python_oo
  assert lines.get("loaded") == "", out.stderr


def test_runtime_runs_with_sympy_and_mpmath_unimportable(fresh_python_oo):
  """The boundary: every runtime module imports, and every catalog loss runs (both heads, values,
  gradients, weights, ``repr``), and so do `gradeng.longtail`'s equalized focal (its state) and
  class-balanced loss in one jit, with SymPy and mpmath made unimportable."""
  out, lines = fresh_python_oo
  assert out.returncode == 0, out.stderr
  assert lines.get("boundary") == "ok"


def _imports(path: pathlib.Path, top_level_only: bool) -> set[str]:
  import ast

  tree = ast.parse(path.read_text())
  nodes = tree.body if top_level_only else ast.walk(tree)
  found = set()
  for node in nodes:
    if isinstance(node, ast.ImportFrom) and node.module:  # a name may be a module itself
      found.update(f"{node.module}.{alias.name}" for alias in node.names)
    elif isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
  return found


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _owner(module: str) -> str:
  """The package that owns a module: gradeng.X, or gradeng.experiments.Y for an experiment."""
  parts = module.split(".")
  return ".".join(parts[:3] if parts[1:2] == ["experiments"] and len(parts) > 2 else parts[:2])


def test_no_package_imports_another_packages_private_names():
  """What one package uses from another is public where it lives: no import (at any level) of a
  ``_private`` module or name that belongs to another package (runtime, symbolic, each
  experiment, ...)."""
  found = []
  for path in sorted((ROOT / "gradeng").rglob("*.py")):
    own = _owner(_module_name(path))
    for imported in _imports(path, top_level_only=False):
      parts = imported.split(".")
      private = any(part.startswith("_") and not part.startswith("__") for part in parts[1:])
      if parts[0] == "gradeng" and private and not imported.startswith(own + "."):
        found.append((_module_name(path), imported))
  assert not found, found


def test_runtime_never_imports_the_symbolic_side():
  """No runtime module imports gradeng.symbolic, gradeng.paper, SymPy or mpmath, at any level
  (a function-level import is an import too)."""
  banned = (*_SYMBOLIC_SIDE_PACKAGES, "sympy", "mpmath")
  for package in _RUNTIME_PACKAGES:
    for path in (ROOT / package.replace(".", "/")).glob("*.py"):
      bad = {m for m in _imports(path, top_level_only=False) if m.startswith(banned)}
      assert not bad, (path.name, bad)


def test_every_package_is_on_one_side():
  """Each sub-package of gradeng is either runtime or symbolic side, so a new one is placed, and
  the boundary above covers it."""
  packages = {f"gradeng.{path.parent.name}" for path in (ROOT / "gradeng").glob("*/__init__.py")}
  assert sorted(packages) == sorted(_RUNTIME_PACKAGES + _SYMBOLIC_SIDE_PACKAGES)
  assert not set(_RUNTIME_PACKAGES) & set(_SYMBOLIC_SIDE_PACKAGES)


def test_import_graph_has_no_cycle():
  """No cycle among gradeng's modules, function-level imports included."""
  modules = {_module_name(path): path for path in (ROOT / "gradeng").rglob("*.py")}

  def owner(name):
    while name and name not in modules:
      name = name.rpartition(".")[0]
    return name

  graph = {name: {owner(m) for m in _imports(path, top_level_only=False) if m.startswith("gradeng")}
           - {name, ""} for name, path in modules.items()}
  state: dict[str, int] = {}

  def visit(name, trail):
    state[name] = 1
    for nxt in graph[name]:
      assert state.get(nxt) != 1, f"import cycle: {' -> '.join(trail + [name, nxt])}"
      if nxt not in state:
        visit(nxt, trail + [name])
    state[name] = 2

  for name in graph:
    if name not in state:
      visit(name, [])


def test_python_oo_imports_and_runs(fresh_python_oo):
  out, lines = fresh_python_oo
  assert "focal" in lines, out.stderr
  assert abs(float(lines["focal"]) - 0.25 * 0.6931472) < 1e-6


def test_a_coefficient_is_data_with_a_formula():
  import gradeng as ge

  assert repr(ge.FOCAL) == ("ScaleCoefficient('focal', g=gamma*(1-p)**(gamma-1)*log(p) - "
                            "(1-p)**gamma/p, params=['gamma'])")
  with pytest.raises(TypeError, match="gradeng.coefficient"):
    ge.ScaleCoefficient("maki", ge.symbolic.expression(ge.MAKI), weight=ge.MAKI.weight)
  with pytest.raises(ge.InputError, match="neither a JAX `weight` nor a `builder`"):
    ge.ScaleCoefficient("text", "-1/p")


def test_public_api_is_all_and_all_resolves():
  import gradeng as ge

  modules = {"cli", "experiments", "card", "evaluation"}  # sub-packages set on `gradeng` once imported
  public = {n for n in dir(ge) if not n.startswith("_")} - modules
  assert public == set(ge.__all__), "add public names to gradeng.__all__ (and only those)"
  assert len(ge.__all__) == len(set(ge.__all__))
  for name in ge.__all__:
    assert getattr(ge, name) is not None
  for gone in ("P", "maki_tail", "sgdr_factor", "warmup_bound", "balanced_gamma", "giou_loss",
               "triplet_loss", "gradient_budget"):
    assert not hasattr(ge, gone), gone


def _readme_command(title):
  text = (ROOT / "README.md").read_text()
  section = text[text.index(title):]
  return re.search(r"```bash\n(.*?)\n```", section, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
  command = _readme_command("Tests — set up and run the test suite")
  ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))]
  assert ci[-1] == command
  # before it, only system packages the tests need (Chromium for the loss card's browser test)
  assert all("apt-get install" in line for line in ci[:-1]), ci


def test_readme_main_command_installs_the_experiment_extras():
  command = _readme_command("Main job — set up and regenerate")
  assert re.search(r"pip install -e '\.\[[a-z,]*all[a-z,]*\]'", command), command
  assert command.endswith("gradeng reproduce")


@pytest.mark.slow
def test_non_editable_wheel_runs_the_experiment_cli(tmp_path):
  """pip wheel + pip install --target, then the CLI and the packaged detection config run from
  the installed copy, with the checkout not on sys.path."""
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
  # one process (one JAX start-up): ``python -m gradeng experiment detection --help`` as runpy
  # runs it, then the packaged config read from the installed copy
  script = textwrap.dedent(f"""
      import contextlib, io, runpy, sys
      sys.argv = ["gradeng", "experiment", "detection", "--help"]
      with contextlib.redirect_stdout(io.StringIO()) as printed:
        try:
          runpy.run_module("gradeng", run_name="__main__", alter_sys=True)
        except SystemExit as stopped:
          assert stopped.code in (0, None), stopped.code
      assert "--variant" in printed.getvalue(), printed.getvalue()
      import gradeng
      from gradeng.experiments.detection import load_config
      config = load_config(quick=True)
      assert {str(ROOT)!r} not in sys.path, sys.path
      print(gradeng.__file__); print(config.name, len(config.losses))
  """)
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(target)}, check=True).stdout
  location, summary = out.splitlines()
  assert location.startswith(str(target))
  assert summary.split()[-1].isdigit() and int(summary.split()[-1]) > 0


def test_no_reference_to_an_issue_tracker_in_code_help_or_tests():
  """The tracker is not in the repository: code, --help texts and tests say what they mean."""
  pattern = re.compile(r"(?<![A-Za-z])[Ii]ssues?[ _]\d+")
  offenders = [f"{path.relative_to(ROOT)}:{n}" for folder in ("gradeng", "tests", "benchmarks")
               for path in (ROOT / folder).rglob("*.py")
               for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
  assert offenders == []
