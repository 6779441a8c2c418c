"""The README's tour runs as written (both blocks, in one namespace) and its printed claims hold."""

import contextlib
import io
import pathlib
import re

import pytest
import sympy as sp

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _tour_blocks():
  section = README.read_text().split("## A 20-line tour\n", 1)[1].split("\n## ", 1)[0]
  return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.mark.slow  # trains two small models on scikit-learn's digits (~10 s of CPU)
def test_readme_tour_runs_and_trains():
  blocks = _tour_blocks()
  assert len(blocks) == 2  # the tour, and its Flax NNX variant
  namespace: dict = {}
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    for block in blocks:
      exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
  lines = printed.getvalue().splitlines()
  # The derivation the tour prints: L = q^(γ+1) Φ(q, 1, γ+1), checked; QCE's log²p/2.
  p = sp.Symbol("p", positive=True)
  d = namespace["d"]
  gamma = next(s for s in d.loss.free_symbols if s.name == "gamma")
  assert sp.simplify(d.loss - (1 - p)**(gamma + 1) * sp.lerchphi(1 - p, 1, gamma + 1)) == 0
  assert lines[1] == "True" and lines[2] == "log(p)**2/2"
  # Both trainings reach what the comments say (training set of 1797 digits).
  linear_loss, linear_accuracy = map(float, lines[3].split())
  nnx_loss, nnx_accuracy = map(float, lines[4].split())
  assert linear_loss < 0.15 and linear_accuracy > 0.9
  assert nnx_loss < 0.01 and nnx_accuracy > 0.98


def test_reproduce_help_states_the_readmes_time(capsys):
  # `gradeng reproduce --help` said "a few minutes", the README 9.
  from gradeng.cli import main  # pylint: disable=import-outside-toplevel

  minutes = re.search(r"gradeng reproduce +# quick \(default\): about (\d+) minutes",
                      README.read_text()).group(1)
  with pytest.raises(SystemExit):
    main(["reproduce", "--help"])
  assert f"about {minutes} minutes" in " ".join(capsys.readouterr().out.split())
