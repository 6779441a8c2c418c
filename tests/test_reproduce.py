"""Tests for `gradeng reproduce` (step list, hooks, summary, budget tables)."""

import importlib
import json
import sys
from pathlib import Path

import pytest

from gradeng.cli import reproduce as R
from gradeng.cli import main
from gradeng.experiments import EXPERIMENTS


def test_steps_are_named_and_ordered():
  assert [s.name for s in R.STEPS] == ["budget", "figures", "derivations", "toy", "detection",
                                       "engineering", "ordinal", "learn", "embedding", "crowded",
                                       "longtail"]
  # The experiment steps are the registry's, each package exporting the frame's entry points.
  assert [s.name for s in R.STEPS[3:]] == list(EXPERIMENTS)
  for name in EXPERIMENTS:
    module = importlib.import_module(f"gradeng.experiments.{name}")
    assert callable(module.reproduce) and callable(module.run) and callable(module.get_config)


def test_budget_step_writes_paper_numbers(tmp_path, capsys):
  assert main(["reproduce", "--only", "budget", "--out", str(tmp_path), "--no-progress"]) == 0
  out = capsys.readouterr().out
  assert "ok  budget" in out and "figures/budget_paper.json" in out
  records = json.loads((tmp_path / "figures" / "budget_paper.json").read_text())
  by = {(r["group"], r["loss"]): r["sum"] for r in records}
  assert round(by["easy", "ce"]) == -1111 and round(by["hard", "ce"]) == -33
  assert round(by["easy", "focal:gamma=2"]) == -32 and round(by["hard", "focal:gamma=2"]) == -33
  assert by["easy", "ce"] == pytest.approx(-10000 / 9, rel=1e-15)
  table = (tmp_path / "figures" / "budget_paper.md").read_text()
  assert "| ce | -1111.1111 | -33.3333 | -1111 vs -33 | -1111 vs -33 |" in table
  assert "| focal:gamma=2 | -32.1832 | -33.1890 | -32 vs -33 | -32 vs -33 |" in table


def _write_module(folder: Path, name: str, text: str) -> None:
  (folder / f"{name}.py").write_text(text)


def test_hooks_fail_and_run(tmp_path, monkeypatch):
  modules = tmp_path / "mods"
  modules.mkdir()
  _write_module(modules, "gradeng_hook_ok", (
      "from pathlib import Path\n"
      "def reproduce(out_dir, *, quick):\n"
      "  p = Path(out_dir) / ('quick.txt' if quick else 'full.txt')\n"
      "  p.write_text('x')\n"
      "  return [p]\n"))
  _write_module(modules, "gradeng_hook_broken_dep", "import gradeng_no_such_dependency\n")
  _write_module(modules, "gradeng_hook_no_attr", "x = 1\n")
  monkeypatch.syspath_prepend(str(modules))
  steps = [
      R.Step("missing", R.hook("gradeng_no_such_hook_module")),
      R.Step("no_attr", R.hook("gradeng_hook_no_attr")),
      R.Step("broken", R.hook("gradeng_hook_broken_dep")),
      R.Step("raises", lambda out, quick: 1 / 0),
      R.Step("ok", R.hook("gradeng_hook_ok")),
  ]
  results = R.run_steps(steps, tmp_path, quick=True, progress=False)
  status = {r.name: (r.status, r.message) for r in results}
  assert status["missing"] == ("failed", "ModuleNotFoundError: No module named 'gradeng_no_such_hook_module'")
  assert status["no_attr"][0] == "failed" and "has no attribute 'reproduce'" in status["no_attr"][1]
  assert status["broken"][0] == "failed" and "gradeng_no_such_dependency" in status["broken"][1]
  assert status["raises"] == ("failed", "ZeroDivisionError: division by zero")
  assert status["ok"] == ("ok", "")
  assert results[-1].paths == [tmp_path / "quick.txt"]
  text = R.summary(results, tmp_path)
  assert " failed  missing" in text and "     ok  ok" in text and "           quick.txt" in text
  full = R.run_steps(steps[-1:], tmp_path, quick=False, progress=False)
  assert full[0].paths == [tmp_path / "full.txt"]


def test_failed_step_gives_exit_1(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(R, "STEPS", (R.Step("boom", lambda out, quick: 1 / 0),))
  assert main(["reproduce", "--out", str(tmp_path), "--no-progress"]) == 1
  assert "failed  boom" in capsys.readouterr().out


def test_unknown_step_is_a_usage_error(capsys):
  with pytest.raises(SystemExit) as exit_info:
    main(["reproduce", "--only", "everything"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "unknown step 'everything'" in err


def test_quick_and_full_are_exclusive(capsys):
  with pytest.raises(SystemExit) as exit_info:
    main(["reproduce", "--quick", "--full"])
  assert exit_info.value.code == 2
