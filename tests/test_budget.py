"""Tests for the gradient budget (paper §2.1) and `gradeng budget`."""

import json
import math
import pathlib
import re
import shlex

import numpy as np
import pytest

from gradeng.paper import PAPER_GROUPS, gradient_budget, hard_share
from gradeng.cli import main
from gradeng.runtime import MAKI

LOSSES = ["ce", ("focal", {"gamma": 2}), ("maki", {"gamma": 1}), "qce"]


@pytest.fixture(scope="module")
def paper():
  return gradient_budget(PAPER_GROUPS, LOSSES)


def _focal_g(p, gamma):
  return gamma * (1 - p) ** (gamma - 1) * math.log(p) - (1 - p) ** gamma / p


def test_paper_numbers_with_the_papers_rounding(paper):
  # Kilbas & Paringer §2.1: CE −1111 vs −33; focal γ=2 −32 vs −33.
  assert round(paper.sum("easy", "ce")) == -1111
  assert round(paper.sum("hard", "ce")) == -33
  assert round(paper.sum("easy", "focal")) == -32
  assert round(paper.sum("hard", "focal")) == -33


def test_paper_numbers_exact(paper):
  assert paper.sum("easy", "ce") == pytest.approx(-10000 / 9, rel=1e-15)  # 1000·(−1/0.9)
  assert paper.sum("hard", "ce") == pytest.approx(-100 / 3, rel=1e-15)  # 10·(−1/0.3)
  # focal γ=2: g = 2(1−p)log p − (1−p)²/p
  # easy: 1000·(0.2·log 0.9 − 0.01/0.9) = −21.0721… − 11.1111… = −32.18321…
  assert paper.sum("easy", "focal:gamma=2") == pytest.approx(1000 * _focal_g(0.9, 2), rel=1e-14)
  assert paper.sum("easy", "focal") == pytest.approx(-32.183214242676371, rel=1e-15)
  # hard: 10·(1.4·log 0.3 − 0.49/0.3) = −16.8556… − 16.3333… = −33.18895…
  assert paper.sum("hard", "focal") == pytest.approx(-33.188952593896437, rel=1e-15)
  # Maki γ=1: g = −(1−p)/p: 1000·(−0.1/0.9) = −111.1…, 10·(−0.7/0.3) = −23.3…
  assert paper.sum("easy", "maki") == pytest.approx(-1000 / 9, rel=1e-15)
  assert paper.sum("hard", "maki") == pytest.approx(-70 / 3, rel=1e-15)
  # QCE: g = log(p)/p.
  assert paper.sum("easy", "qce") == pytest.approx(1000 * math.log(0.9) / 0.9, rel=1e-14)
  assert paper.sum("hard", "qce") == pytest.approx(10 * math.log(0.3) / 0.3, rel=1e-14)


def test_ratios_weights_and_shares(paper):
  assert (paper.hard, paper.easy) == ("hard", "easy")
  assert paper.ratio("ce") == pytest.approx(0.03, rel=1e-14)  # (100/3)/(10000/9)
  assert paper.ratio("focal") == pytest.approx(33.188952593896437 / 32.183214242676371, rel=1e-14)
  # w = p·g: CE w = −1, so Σw = −count; Maki γ=1 w = −(1−p); QCE w = log p.
  assert paper.entry("easy", "ce").w_sum == -1000.0
  assert paper.entry("hard", "ce").w_sum == -10.0
  assert paper.ratio("ce", weights=True) == pytest.approx(0.01, rel=1e-14)
  assert paper.entry("easy", "maki").w == pytest.approx(-0.1, rel=1e-15)
  assert paper.entry("hard", "qce").w == pytest.approx(math.log(0.3), rel=1e-15)
  assert paper.entry("hard", "ce").share == pytest.approx((100 / 3) / (100 / 3 + 10000 / 9), rel=1e-14)
  for loss in paper.losses:
    assert sum(paper.entry(g, loss).share for g in ("easy", "hard")) == pytest.approx(1.0)


def test_records_and_markdown(paper):
  records = paper.records()
  assert len(records) == 8
  assert {"group", "loss", "sum"} <= set(records[0])
  assert [r["loss"] for r in records[::2]] == ["ce", "focal:gamma=2", "maki:gamma=1", "qce"]
  text = paper.to_markdown()
  assert "-1111.11" in text and "-33.33" in text and "-32.18" in text and "-33.19" in text


def test_any_coefficient_and_user_params():
  # Poly-1 with ε = −1 is Maki γ=1; GCE q=1 has g = −1 (w = −p).
  b = gradient_budget([("a", 3, 0.25), ("b", 2, 0.75)],
                      [("poly1", {"epsilon": -1}), (MAKI, {"gamma": 1}), ("gce", {"q": 1})])
  assert b.sum("a", "poly1") == pytest.approx(b.sum("a", "maki")) == pytest.approx(-9.0)
  assert b.sum("b", "gce") == -2.0 and b.entry("b", "gce").w_sum == pytest.approx(-1.5)
  # Maki with real γ = 0.5 at p = 0.75: −(0.25)^0.5/0.75 = −2/3.
  b = gradient_budget([("x", 1, 0.75)], [("maki", {"gamma": 0.5})])
  assert b.sum("x", "maki") == pytest.approx(-2 / 3, rel=1e-15)
  assert b.hard is None and b.ratio("maki") is None


@pytest.mark.parametrize("groups, losses, match", [
    ([("a", 0, 0.5)], ["ce"], "count"),
    ([("a", -3, 0.5)], ["ce"], "count"),
    ([("a", 1, 0.0)], ["ce"], "in \\(0, 1\\)"),
    ([("a", 1, 1.0)], ["ce"], "in \\(0, 1\\)"),
    ([("a", 1, 0.5), ("a", 2, 0.4)], ["ce"], "unique"),
    ([("a", 1)], ["ce"], "name, count, p"),
    ([("a", 1, 0.5)], ["nope"], "Unknown loss 'nope'"),
    ([("a", 1, 0.5)], [("focal", {"beta": 1})], "unknown parameter"),
    ([("a", 1, 0.5)], [("focal", {"gamma": -1})], "gamma"),
    ([("a", 1, 0.5)], ["ce", "ce"], "once"),
    ([], ["ce"], "at least one"),
])
def test_bad_input(groups, losses, match):
  with pytest.raises(ValueError, match=match):
    gradient_budget(groups, losses)


def test_hard_share_matches_budget():
  ratios = np.array([1.0, 100.0, 1e4])
  shares = hard_share(["ce", ("focal", {"gamma": 2})], ratios, [0.9], p_hard=0.3)
  # ratio 100 at p_easy 0.9 is the paper's setting (1000 easy : 10 hard).
  b = gradient_budget(PAPER_GROUPS, ["ce", ("focal", {"gamma": 2})])
  assert shares[0, 0, 1] == pytest.approx(b.entry("hard", "ce").share, rel=1e-14)
  assert shares[1, 0, 1] == pytest.approx(b.entry("hard", "focal").share, rel=1e-14)
  # CE, 1:1: (1/0.3) / (1/0.3 + 1/0.9) = 3/4.
  assert shares[0, 0, 0] == pytest.approx(0.75, rel=1e-14)
  w = hard_share(["ce"], ratios, [0.9], weights=True)
  np.testing.assert_allclose(w[0, 0], 1 / (1 + ratios), rtol=1e-14)  # CE w = −1 everywhere


def test_cli_table_and_json(capsys):
  argv = ["budget", "--group", "easy=1000@0.9", "--group", "hard=10@0.3",
          "--loss", "ce", "--loss", "focal:gamma=2", "--loss", "maki:gamma=1", "--loss", "qce"]
  assert main(argv) == 0
  out = capsys.readouterr().out
  assert out.splitlines()[2] == "| ce | -1111.11 | -33.33 | -1111 vs -33 | 0.030 | 0.010 |"
  assert main(argv + ["--json"]) == 0
  records = json.loads(capsys.readouterr().out)
  by = {(r["group"], r["loss"]): r["sum"] for r in records}
  assert round(by["easy", "ce"]) == -1111 and round(by["hard", "ce"]) == -33
  assert round(by["easy", "focal:gamma=2"]) == -32 and round(by["hard", "focal:gamma=2"]) == -33
  assert by["easy", "ce"] == pytest.approx(-10000 / 9, rel=1e-15)


def test_cli_takes_formulas_for_g_and_matches_the_catalog(capsys):
  argv = ["budget", "--json", "--loss=-(1-p)**gamma/p:gamma=1", "--loss", "maki:gamma=1",
          "--loss", "log(p)/p", "--loss", "qce"]
  assert main(argv) == 0
  by = {(r["group"], r["loss"]): r["sum"] for r in json.loads(capsys.readouterr().out)}
  for group in ("easy", "hard"):
    assert by[group, "-(1-p)**gamma/p:gamma=1"] == by[group, "maki:gamma=1"]
    assert by[group, "log(p)/p"] == by[group, "qce"]
  # Maki γ=1 on the paper's groups: 1000·(−0.1/0.9) and 10·(−0.7/0.3)
  assert by["easy", "maki:gamma=1"] == pytest.approx(-1000 / 9, rel=1e-15)
  assert by["hard", "maki:gamma=1"] == pytest.approx(-70 / 3, rel=1e-15)


@pytest.mark.parametrize("args, needle", [
    (["--loss", "__import__('os').system('true')"], "is neither a catalog loss"),
    (["--loss=-(1-p)**gamma/p"], "needs a value for parameter(s) `gamma`"),
    (["--loss", "1/(p"], "is neither a catalog loss"),
    (["--group", "easy=1000"], "malformed --group 'easy=1000'"),
    (["--group", "easy=x@0.9"], "count in --group 'easy=x@0.9': 'x' is not a finite number"),
    (["--group", "easy=0@0.9"], "must be > 0"),
    (["--group", "easy=-5@0.9"], "must be > 0"),
    (["--group", "easy=10@1.5"], "must be in (0, 1); got 1.5"),
    (["--group", "easy=10@0"], "must be in (0, 1); got 0"),
    (["--loss", "softmax_ce"], "unknown loss 'softmax_ce'"),
    (["--loss", "focal:gamma"], "malformed parameter 'gamma'"),
    (["--loss", "focal:gamma=two"], "'two' is not a finite number"),
    (["--loss", "focal:gamma=nan"], "'nan' is not a finite number"),
    # tracebacks before (mpf from mpc, ZeroDivisionError); now derive's check.
    (["--loss=-sqrt(p-2)/p"], "is not continuous on all of (0, 1)"),
    (["--loss=-1/(p-0.3)"], "is not continuous on all of (0, 1)"),
    (["--loss", "focal:alpha=1"], "unknown parameter(s) ['alpha']"),
    (["--loss", "gce:q=2"], "`q` of `gce` must be"),
])
def test_cli_bad_input_one_line_exit_2(capsys, args, needle):
  with pytest.raises(SystemExit) as exit_info:
    main(["budget", *args])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith("gradeng budget: error:")
  assert needle in err


def test_cli_parameter_values_are_parsed_like_derive(capsys):
  # `derive --param gamma=1/3` worked, `budget --loss=...:gamma=1/3` refused it.
  assert main(["budget", "--loss=-(1-p)**gamma/p:gamma=1/3", "--loss", "maki:gamma=1/3",
               "--json"]) == 0
  records = json.loads(capsys.readouterr().out)
  by = {(r["group"], r["loss"]): r["sum"] for r in records}
  formula, catalog = sorted({loss for _, loss in by})
  for group in ("easy", "hard"):
    assert by[group, formula] == pytest.approx(by[group, catalog], rel=1e-12)


# --- one table: `gradeng budget` prints the README's §2.1 table ---------------------------------

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _readme_budget_section():
  return README.read_text().split("### The gradient budget (§2.1)\n", 1)[1].split("\n### ", 1)[0]


def test_readme_budget_table_is_the_cli_output(capsys):
  section = _readme_budget_section()
  command = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
  argv = shlex.split(command.replace("\\\n", " "), comments=True)
  assert argv[:2] == ["gradeng", "budget"]
  table = re.search(r"^(\|.*\|\n)+", section, re.M).group(0)  # the section's first table
  assert main(argv[1:]) == 0
  assert capsys.readouterr().out == table
  assert main(["budget"]) == 0  # the defaults are the paper's groups and losses
  assert capsys.readouterr().out == table
  # and the table holds the paper's numbers (§2.1) in its "paper" column
  assert "| ce | -1111.11 | -33.33 | -1111 vs -33 |" in table
  assert "| focal:gamma=2 | -32.18 | -33.19 | -32 vs -33 |" in table


def test_to_table_for_other_groups_by_hand():
  # CE: g = −1/p, w = −1. a: 3·(−4) = −12; b: 2·(−4/3) = −2.67; c: 1·(−2) = −2;
  # hard (a, p = 0.25) / easy (b, p = 0.75): 12 / (8/3) = 4.5; Σ w: 3 / 2 = 1.5.
  b = gradient_budget([("a", 3, 0.25), ("b", 2, 0.75), ("c", 1, 0.5)], ["ce"])
  assert b.to_table() == (
      "| loss | Σ g a (3 @ 0.25) | Σ g b (2 @ 0.75) | Σ g c (1 @ 0.5) | Σ g a / b | Σ w a / b |\n"
      "|---|---:|---:|---:|---:|---:|\n"
      "| ce | -12.00 | -2.67 | -2.00 | 4.500 | 1.500 |\n")
  # one group: no ratios; the paper's groups in another order: no "paper" column
  assert gradient_budget([("x", 1, 0.75)], [("maki", {"gamma": 0.5})]).to_table() == (
      "| loss | Σ g x (1 @ 0.75) |\n|---|---:|\n| maki:gamma=0.5 | -0.67 |\n")  # −(0.25)^0.5/0.75
  swapped = gradient_budget(PAPER_GROUPS[::-1], ["ce"]).to_table()
  assert "paper" not in swapped and "| ce | -33.33 | -1111.11 | 0.030 | 0.010 |" in swapped
