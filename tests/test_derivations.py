"""Tests for the derivation reports (`gradeng derivations`)."""

import math
import re
from pathlib import Path

import mpmath
import pytest
import sympy as sp

from gradeng.paper import _derivations as D
from gradeng.symbolic import P, _approximant, _derive, derive, parameter_symbols
from gradeng.runtime import CATALOG
from gradeng.cli import main
from tests.reference import same

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory):
  """The cache of `fresh`'s run: derive afresh, not from the test run's cache."""
  return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, fresh_cache):
  # As `gradeng derivations` runs in a new process: an empty cache and nothing derived or fitted
  # in memory (SymPy's own caches are emptied by its worker before each task), so the comparison
  # does not depend on test order.
  out = tmp_path_factory.mktemp("derivations")
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("GRADENG_CACHE_DIR", str(fresh_cache))
    patch.setattr(_derive, "_SOLUTIONS", {})
    patch.setattr(_approximant, "_FITTED", {})
    assert main(["derivations", "--out", str(out)]) == 0
  return out, sorted(out.iterdir())


def _comparable(text):
  """A report with the float32/bf16 error figures masked: those measure the JAX kernels (which
  change with them and with the JAX version), not the derivation this check is about."""
  return re.sub(r"\d\.\de[-+]\d\d", "#", text)


@pytest.mark.slow
def test_committed_reports_match_a_fresh_run(fresh):
  out, paths = fresh
  assert sorted(p.name for p in paths) == sorted([f"{n}.md" for n in CATALOG] + ["index.md"])
  for path in paths:
    committed = ROOT / "derivations" / path.name
    assert committed.exists(), f"run `gradeng derivations` and commit {committed}"
    assert _comparable(committed.read_text()) == _comparable(path.read_text()), (
        f"{committed} is out of date: run `gradeng derivations` and commit it")


def test_focal_symbolic_gamma(fresh, fresh_cache):
  """SymPy's definite integral in q = 1-p finds FL = -(1-p)^γ log p (the fresh run's derivation,
  read back from its cache: deriving it again costs SymPy's worker ~6 s)."""
  focal = CATALOG["focal"]
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("GRADENG_CACHE_DIR", str(fresh_cache))
    patch.setattr(_derive, "_SOLUTIONS", {})
    d = derive(focal)
  gamma = parameter_symbols(focal)["gamma"]
  assert d.method == "closed_form"
  assert same(d.loss, -(1 - P)**gamma * sp.log(P))
  assert d.verified is True


def test_reports_are_deterministic(fresh, tmp_path):
  out, _ = fresh
  again = D.write_reports(tmp_path, ["ce", "qce"])
  for path in again[:-1]:
    assert path.read_bytes() == (out / path.name).read_bytes()


def test_report_contents(fresh):
  out, _ = fresh
  focal = (out / "focal.md").read_text()
  assert "SymPy: `-(1 - p)**gamma*log(p)`" in focal  # general γ closed form
  assert "| g → 0 as p → 1 | ✓ | lim_{p→1⁻} g(p) = 0 |" in focal
  ce = (out / "ce.md").read_text()
  assert "| g → 0 as p → 1 | ✗ | lim_{p→1⁻} g(p) = -1 |" in ce
  maki = (out / "maki.md").read_text()
  assert "SymPy: `p - log(p) - 1`" in maki  # γ = 1
  assert "lerchphi(1 - p, 1, gamma + 1)" in maki and "{}_{2}F_{1}" in maki
  assert "PolyLoss-1 with ε = -1: g_Poly-1(ε=-1) - g_Maki(γ=1) simplifies to 0 ✓" in maki
  taylor = [line for line in maki.splitlines() if any(line.startswith(f"| {n} | `") for n in range(6))]
  assert len(taylor) == 6 and all(line.endswith("| ✓ |") for line in taylor)
  index = (out / "index.md").read_text()
  assert "| [QCE](qce.md) | `log(p)/p` | `log(p)**2/2` | ✓ | ✓ | ✓ | ✗ | ✓ |" in index
  for text in (focal, ce, maki, index):
    assert "20" not in text.split("\n")[0]  # no dates in titles
    assert "gave up after" not in text


def test_paper_maki_formula_by_hand():
  # γ = 1: -(log p - p + 1) = p - log p - 1; γ = 2: -(log p - 2p + p²/2 + 2 - 1/2).
  for p in (0.1, 0.5):
    assert D.paper_maki_formula(p, 1) == pytest.approx(p - math.log(p) - 1, rel=1e-14)
    assert D.paper_maki_formula(p, 2) == pytest.approx(
        -(math.log(p) - 2 * p + p * p / 2 + 1.5), rel=1e-13)
  assert D.taylor_maki_formula(0.5, 2) == pytest.approx(math.log(2) - 0.5 - 0.125, rel=1e-14)


def test_maki_reference_is_the_tail_series():
  with mpmath.workdps(40):
    for gamma, p in ((1, "0.9"), (3, "0.25"), (2.5, "0.5")):
      q = 1 - mpmath.mpf(p)
      tail = mpmath.nsum(lambda k: q ** (gamma + 1 + k) / (gamma + 1 + k), [0, mpmath.inf])
      assert abs(D.maki_reference(mpmath.mpf(p), gamma) / tail - 1) < mpmath.mpf(10) ** -30


def _table_rows(text):
  start = text.index("| γ | 1 − p |")
  rows = []
  for line in text[start:].splitlines()[2:]:
    if not line.startswith("|"):
      break
    rows.append([c.strip() for c in line.strip("|").split("|")])
  return rows


def test_alternating_table_measures_the_cancellation():
  rows = _table_rows("\n".join(D.alternating_error_table()))
  assert len(rows) == len(D.ALTERNATING_GAMMAS) * len(D.ALTERNATING_QS)
  by = {(int(r[0]), float(r[1])): r for r in rows}
  # The paper's formula loses every digit for γ ≥ 10 near p = 1 (error ≥ 1), already at
  # γ = 5, 1 - p = 1e-3 (error ~1e3); gradeng's float64 tail stays at ~1e-14 everywhere.
  assert float(by[10, 1e-2][3]) > 1e6 and float(by[20, 1e-3][3]) > 1e40
  assert float(by[5, 1e-3][3]) > 1
  assert float(by[1, 1e-1][3]) < 1e-13  # fine far from 1 for small γ
  assert all(float(r[6]) < 1e-13 for r in rows)
  assert all(r[5].startswith("underflow") or float(r[5]) < 1e-5 for r in rows)
  # Reference values: L_1(0.9) = -log 0.9 - 0.1; L_γ ≈ q^{γ+1}/(γ+1) for small q.
  assert float(by[1, 1e-1][2]) == pytest.approx(-math.log(0.9) - 0.1, rel=1e-5)
  assert float(by[20, 1e-6][2]) == pytest.approx(1e-126 / 21, rel=1e-5)


def test_cli(tmp_path, capsys):
  assert main(["derivations", "--out", str(tmp_path), "--only", "qce"]) == 0
  assert capsys.readouterr().out.split() == [str(tmp_path / "qce.md"), str(tmp_path / "index.md")]
  assert "QCE" in (tmp_path / "qce.md").read_text()
  assert main(["derivations", "--out", str(tmp_path), "--only", "qce", "--check"]) == 0
  (tmp_path / "qce.md").write_text("stale\n")
  assert main(["derivations", "--out", str(tmp_path), "--only", "qce", "--check"]) == 1
  assert "out of date" in capsys.readouterr().out
  with pytest.raises(SystemExit) as exit_info:
    main(["derivations", "--only", "nope"])
  assert exit_info.value.code == 2


def test_a_partial_run_updates_the_index(fresh, tmp_path):
  # `gradeng derivations --only maki --out DIR` wrote an index with only
  # Maki's row (and would have truncated the committed one).
  out, _ = fresh
  full = (out / "index.md").read_text()
  (tmp_path / "index.md").write_text(full.replace("| [QCE](qce.md) |", "| [QCE](qce.md) | stale"))
  assert main(["derivations", "--out", str(tmp_path), "--only", "qce"]) == 0
  assert (tmp_path / "index.md").read_text() == full
  lonely = tmp_path / "new"
  assert main(["derivations", "--out", str(lonely), "--only", "ce"]) == 0
  rows = [l for l in (lonely / "index.md").read_text().splitlines() if l.startswith("| [")]
  assert len(rows) == 1 and "(ce.md)" in rows[0]
