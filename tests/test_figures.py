"""Tests for the regenerated figures (`gradeng.paper._figures`, `gradeng figures`)."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from gradeng.paper import _figures as F
from gradeng.cli import main

ROOT = Path(__file__).resolve().parents[1]
LN2 = math.log(2.0)


@pytest.fixture(scope="module")
def fig1():
  return F.paper_figure1()


@pytest.fixture(scope="module")
def fig2():
  return F.paper_figure2()


def _at(data, column, p):
  ps = data.column("p")
  i = int(np.argmin(np.abs(ps - p)))
  assert ps[i] == pytest.approx(p, abs=1e-12)
  return data.column(column)[i]


def test_figure1_hand_values(fig1):
  assert fig1.columns == ("p", "g[ce]", "L[ce]", "g[focal:gamma=2]", "L[focal:gamma=2]",
                          "g[maki:gamma=1]", "L[maki:gamma=1]")
  # p = 1/2: CE g = -2, L = ln 2; focal γ=2 g = 2·½·ln ½ - ¼/½ = -ln 2 - ½, L = ¼ ln 2;
  # Maki γ=1 g = -(½)/½ = -1, L = ln 2 - ½.
  assert _at(fig1, "g[ce]", 0.5) == pytest.approx(-2.0, rel=1e-15)
  assert _at(fig1, "L[ce]", 0.5) == pytest.approx(LN2, rel=1e-15)
  assert _at(fig1, "g[focal:gamma=2]", 0.5) == pytest.approx(-LN2 - 0.5, rel=1e-14)
  assert _at(fig1, "L[focal:gamma=2]", 0.5) == pytest.approx(0.25 * LN2, rel=1e-14)
  assert _at(fig1, "g[maki:gamma=1]", 0.5) == pytest.approx(-1.0, rel=1e-14)
  assert _at(fig1, "L[maki:gamma=1]", 0.5) == pytest.approx(LN2 - 0.5, rel=1e-7)
  # p = 0.9: Maki γ=1 L = -ln 0.9 - 0.1 (a 1e-2 cancellation the library avoids).
  assert _at(fig1, "L[maki:gamma=1]", 0.9) == pytest.approx(-math.log(0.9) - 0.1, rel=1e-7)
  # Every loss is 0 at p = 1 and decreasing: L > 0 and g < 0 on the grid.
  for name in fig1.columns[1:]:
    values = fig1.column(name)
    assert np.all(values < 0) if name.startswith("g") else np.all(np.diff(values) < 0)


def test_figure2_adds_qce(fig1, fig2):
  assert fig2.columns[:len(fig1.columns)] == fig1.columns
  p = fig2.column("p")
  np.testing.assert_allclose(fig2.column("g[qce]"), np.log(p) / p, rtol=1e-13)
  np.testing.assert_allclose(fig2.column("L[qce]"), np.log(p) ** 2 / 2, rtol=1e-13)


def test_maki_gamma_real_and_integer():
  data = F.maki_gamma()
  p = data.column("p")
  for gamma in F.MAKI_GAMMAS:
    label = f"maki:gamma={gamma:g}"
    np.testing.assert_allclose(data.column(f"w[{label}]"), -(1 - p) ** gamma, rtol=1e-12)
    np.testing.assert_allclose(data.column(f"g[{label}]"), -(1 - p) ** gamma / p, rtol=1e-12)
  # γ = 0 is CE; γ = 2: L = -ln p - q - q²/2.
  np.testing.assert_allclose(data.column("L[maki:gamma=0]"), -np.log(p), rtol=1e-13)
  q = 1 - p
  np.testing.assert_allclose(data.column("L[maki:gamma=2]"), -np.log(p) - q - q**2 / 2, rtol=1e-6)
  # γ = ½ by hand: ∫_p^1 √(1-t)/t dt = -2√q + ln((1+√q)/(1-√q)); at p = ½: 0.348533611665991.
  s = math.sqrt(0.5)
  assert _at(data, "L[maki:gamma=0.5]", 0.5) == pytest.approx(-2 * s + math.log((1 + s) / (1 - s)), rel=1e-7)
  # γ = 2.5 at p = ½ against mpmath quadrature of (1-t)^2.5/t: 0.0421206731518204.
  assert _at(data, "L[maki:gamma=2.5]", 0.5) == pytest.approx(0.0421206731518204, rel=1e-7)


def test_weights_catalog_values():
  data = F.weights_catalog()
  p = data.column("p")
  assert p.max() == pytest.approx(1 - 1e-6, abs=1e-15)
  np.testing.assert_array_equal(data.column("w[ce]"), -1.0)
  np.testing.assert_allclose(data.column("w[qce]"), np.log(p), rtol=1e-12)
  np.testing.assert_allclose(data.column("w[maki:gamma=1]"), -(1 - p), rtol=1e-9)
  np.testing.assert_allclose(data.column("w[poly1:epsilon=1]"), -1 - p, rtol=1e-13)
  np.testing.assert_allclose(data.column("w[gce:q=0.7]"), -p ** 0.7, rtol=1e-13)
  # focal γ=2: w = 2p(1-p)ln p - (1-p)² ~ -3(1-p)² as p → 1.
  w = data.column("w[focal:gamma=2]")
  np.testing.assert_allclose(w, 2 * p * (1 - p) * np.log(p) - (1 - p) ** 2, rtol=1e-9, atol=1e-15)
  assert w[-1] / (1 - p[-1]) ** 2 == pytest.approx(-3.0, rel=1e-5)


def test_budget_sweep_values():
  data = F.budget_sweep()
  ratio, p_easy = data.column("easy_per_hard", panel="g", loss="ce"), data.column("p_easy", panel="g", loss="ce")
  share = data.column("hard_share", panel="g", loss="ce")
  # CE: g = -1/p, so share = (1/0.3) / (1/0.3 + r/p_e).
  np.testing.assert_allclose(share, (1 / 0.3) / (1 / 0.3 + ratio / p_easy), rtol=1e-13)
  # CE weights: w = -1, share = 1 / (1 + r), whatever p_easy.
  np.testing.assert_allclose(data.column("hard_share", panel="w", loss="ce"), 1 / (1 + ratio), rtol=1e-13)
  # The grid spans 1:1 … 1:10⁴ and p_easy 0.5 … 0.999.
  assert (ratio.min(), ratio.max()) == (1.0, pytest.approx(1e4))
  assert (p_easy.min(), p_easy.max()) == (pytest.approx(0.5), pytest.approx(0.999))
  # Focal γ=2 keeps the hard group dominant at 1:10⁴ once p_easy = 0.999.
  focal = data.column("hard_share", panel="g", loss="focal:gamma=2")
  assert focal[(p_easy > 0.9989) & (ratio == ratio.max())][0] > 0.99


def _read_csv(path):
  with open(path, newline="") as f:
    rows = list(csv.reader(f))
  return rows[0], rows[1:]


@pytest.mark.parametrize("name", list(F.FIGURES))
def test_committed_csv_matches_regenerated(name):
  committed = ROOT / "figures" / f"{name}.csv"
  assert committed.exists(), f"run `gradeng figures` and commit {committed}"
  header, rows = _read_csv(committed)
  data = F.FIGURES[name].data()
  assert tuple(header) == data.columns
  assert len(rows) == len(data.rows)
  for got, want in zip(rows, data.rows):
    for g, w in zip(got, want):
      if isinstance(w, str):
        assert g == w
      else:
        assert float(g) == pytest.approx(w, rel=1e-8, abs=1e-300)


def test_output_is_deterministic(tmp_path):
  first = F.write_figure("paper_figure1", tmp_path / "a")
  second = F.write_figure("paper_figure1", tmp_path / "b")
  assert [p.suffix for p in first] == [".csv", ".png", ".pdf"]
  for a, b in zip(first, second):
    assert a.read_bytes() == b.read_bytes(), a.name
  assert b"CreationDate" not in first[2].read_bytes()


def test_cli(tmp_path, capsys):
  assert main(["figures", "--only", "paper_figure2", "--format", "png", "--out", str(tmp_path)]) == 0
  assert capsys.readouterr().out.split() == [str(tmp_path / "paper_figure2.csv"),
                                             str(tmp_path / "paper_figure2.png")]
  assert (tmp_path / "paper_figure2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  with pytest.raises(SystemExit) as exit_info:
    main(["figures", "--only", "figure9"])
  assert exit_info.value.code == 2
  assert "unknown figure 'figure9'" in capsys.readouterr().err
