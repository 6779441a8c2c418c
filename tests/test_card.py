"""The loss card (gradeng.symbolic.card, `gradeng card`) without a browser: the page's numbers against
hand-derived values, self-containment, determinism, the tables, the CLI's errors.

The browser checks (drawn plots, slider, console) are in tests/test_card_browser.py.
"""

from __future__ import annotations

import doctest
import html.parser
import json
import re

import numpy as np
import pytest

import gradeng as ge
from gradeng.symbolic import card
from gradeng.cli import main

MAKI = "-(1-p)**gamma/p"
EVALUATION = {
    "formula": MAKI,
    "experiments": {
        "toy": {
            "accuracy": {"mean": 0.912, "ci": [0.9, 0.924], "n": 3},
            "hard_recall": {"mean": 0.5, "ci": [0.25, 0.75], "n": 3},
        },
    },
    "differences": [
        {"metric": "accuracy", "against": "ce", "mean": 0.012, "ci": [0.002, 0.022],
         "sentence": "exceeds the seed noise"},
        {"metric": "accuracy", "against": "focal", "mean": -0.001, "ci": [-0.01, 0.008],
         "sentence": "within the seed noise <b>"},
    ],
}


@pytest.fixture(scope="module")
def page():
  return card.render_card(MAKI, params={"gamma": 2}, evaluation=EVALUATION,
                          slider_values={"gamma": [1, 3]})


def _data(page: str) -> dict:
  match = re.search(r'<script type="application/json" id="card-data">(.*?)</script>', page, re.S)
  return json.loads(match.group(1))


class _Tables(html.parser.HTMLParser):
  """Rows of every table in a page, cell texts stripped."""

  def __init__(self):
    super().__init__()
    self.rows, self._row, self._cell = [], None, None

  def handle_starttag(self, tag, attrs):
    if tag == "tr":
      self._row = []
    elif tag in ("td", "th"):
      self._cell = ""

  def handle_data(self, data):
    if self._cell is not None:
      self._cell += data

  def handle_endtag(self, tag):
    if tag in ("td", "th") and self._row is not None:
      self._row.append(self._cell.strip())
      self._cell = None
    elif tag == "tr":
      self.rows.append(self._row)


def _rows(page: str, section: str) -> list[list[str]]:
  start = page.index(f'<section id="{section}">')
  parser = _Tables()
  parser.feed(page[start:page.index("</section>", start)] if section != "evaluation"
              else page[start:page.index("<script", start)])
  return parser.rows


def _maki(gamma: int, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """g, L, w of Maki with integer γ: L = -log p - Σ_{j=1..γ} (1-p)^j / j."""
  q = 1 - p
  big_l = -np.log(p) - sum(q ** j / j for j in range(1, gamma + 1))
  return -q ** gamma / p, big_l, -q ** gamma


def test_slider_values_hand_picked():
  # the 10 admitted candidates thinned at indices round(0, 2.25, 4.5, 6.75, 9) = 0, 2, 4, 7, 9
  assert card.slider_values(ge.Domain(lower=-1.0, lower_open=True), count=5) == (
      -0.5, 0.25, 1.0, 3.0, 5.0)
  assert card.slider_values(ge.Domain(lower=0.0, upper=1.0), count=5, value=0.3) == (
      0.0, 0.25, 0.3, 0.5, 0.75, 1.0)
  # open ends are moved inwards by one step
  assert card.slider_values(ge.Domain(lower=0.0, upper=1.0, lower_open=True, upper_open=True),
                            count=3) == (0.25, 0.5, 0.75)
  assert card.slider_values(ge.Domain(lower=0.0, integer=True), count=4) == (0.0, 1.0, 2.0, 3.0)
  assert card.slider_values(ge.Domain(), count=12) == (
      -2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0)
  # a lower bound above the candidates: 10 + (0, .25, .5, 1, 1.5, 2, 3, 4, 5) at indices 0, 3, 5, 8
  assert card.slider_values(ge.Domain(lower=10.0), count=4) == (10.0, 11.0, 12.0, 15.0)
  with pytest.raises(ge.InputError, match="outside"):
    card.slider_values(ge.Domain(lower=0.0), value=-1.0)
  with pytest.raises(ge.InputError, match="at least 2"):
    card.slider_values(ge.Domain(), count=1)


def test_page_is_self_contained(page):
  assert "http" not in page.lower()
  assert not re.search(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:[a-z]+:)?//""",
                       page, re.I)
  assert not re.search(r"""url\(\s*["']?(?!#)""", page)  # only url(#local-id)
  assert not re.search(r"@import|<link\b|<iframe\b|<img\b|<object\b|<embed\b", page, re.I)
  assert len(re.findall(r"<script\b", page)) == 2  # the data and the inline script, no src
  assert "src=" not in page
  ids = re.findall(r'\bid="([^"]+)"', page)
  assert len(ids) == len(set(ids)), "duplicate element ids (the math SVGs' glyphs must not clash)"


def test_curves_match_hand_derived_values(page):
  data = _data(page)
  p = np.array(data["p"])
  np.testing.assert_allclose(p, card.P_GRID, rtol=1e-9)
  assert p[0] == pytest.approx(0.001) and p[-1] == pytest.approx(0.999)
  assert data["sliders"] == [{"name": "gamma", "values": [1.0, 2.0, 3.0], "start": 1}]
  assert sorted(data["curves"]) == ["0", "1", "2"]
  for index, gamma in enumerate((1, 2, 3)):
    want = _maki(gamma, p)
    for q, expected in zip("gLw", want):
      np.testing.assert_allclose(data["curves"][str(index)][q], expected, rtol=2e-6, atol=0,
                                 err_msg=f"{q} at gamma={gamma}")
  refs = {r["label"]: r for r in data["references"]}
  assert list(refs) == ["CE", "focal γ=2", "Maki γ=1"]
  np.testing.assert_allclose(refs["CE"]["L"], -np.log(p), rtol=2e-6)
  np.testing.assert_allclose(refs["CE"]["w"], -np.ones_like(p), rtol=2e-6)
  focal_g = -(1 - p) ** 2 / p + 2 * (1 - p) * np.log(p)
  np.testing.assert_allclose(refs["focal γ=2"]["g"], focal_g, rtol=2e-6)
  for q, expected in zip("gLw", _maki(1, p)):
    np.testing.assert_allclose(refs["Maki γ=1"][q], expected, rtol=2e-6)
  # y-ranges: the references and the starting curve over p >= 0.1, 0 included, padded
  keep = p >= 0.1
  low = min(np.min(np.array(c["g"])[keep]) for c in [*refs.values(), data["curves"]["1"]])
  assert low == pytest.approx(focal_g[keep][0], rel=1e-6)  # focal, first p >= 0.1
  lo, hi = data["ranges"]["g"]  # max(g) = 0, so the padding is 5 % of -low
  assert lo == pytest.approx(1.05 * low, rel=1e-3) and hi == pytest.approx(-0.05 * low, rel=1e-3)


def test_slider_and_plots_in_the_markup(page):
  assert re.search(r'<input type="range" class="slider" id="slider-gamma" data-param="gamma" '
                   r'min="0" max="2" step="1" value="1">', page)
  assert [q for q in re.findall(r'<svg class="plot" id="plot-(\w)"', page)] == ["g", "L", "w"]


def test_same_inputs_give_the_same_bytes(page):
  again = card.render_card(MAKI, params={"gamma": 2}, evaluation=EVALUATION,
                           slider_values={"gamma": [3, 1]})
  assert again == page


def test_math_and_latex(page):
  assert page.count('<svg class="math"') == 2  # in general, and at gamma = 2
  assert r"\Phi\left(1 - p, 1, \gamma + 1\right)" in page  # the LaTeX text, for copy
  assert r"\log{\left(p \right)}" in page  # L at gamma = 2: p - (1-p)^2/2 - log p - 1


def test_verification_and_properties(page):
  rows = _rows(page, "verification")
  assert [r[1] for r in rows[1:]] == ["yes", "yes", "yes", "yes"]
  for row in rows[3:]:  # plotted g and L against 30-digit values
    error = float(re.search(r": ([0-9.e+-]+) \(tolerance", row[2]).group(1))
    assert error < 1e-12, row
  properties = {r[0]: r[1] for r in _rows(page, "properties")[1:]}
  assert properties == {"|g| non-increasing as p → 1": "yes", "g → 0 as p → 1": "yes",
                        "g bounded as p → 0": "no", "L ≥ 0 on (0, 1)": "yes"}


def test_budget_table_has_the_papers_numbers(page):
  rows = {r[0]: r[1:] for r in _rows(page, "budget")}
  assert rows["CE"][:2] == ["-1111.11", "-33.33"]
  assert rows["focal γ=2"][:2] == ["-32.18", "-33.19"]
  # this loss (Maki gamma=2): 1000 * -(0.1)^2/0.9 and 10 * -(0.7)^2/0.3
  assert rows["this loss"][:2] == [f"{-1000 * 0.01 / 0.9:.2f}", f"{-10 * 0.49 / 0.3:.2f}"]
  assert rows["this loss"][2] == f"{(-4.9 / 0.3) / (-10 / 0.9):.3f}"


def test_evaluation_rendered_as_tables(page):
  rows = _rows(page, "evaluation")
  assert ["", "mean", "ci", "n"] in rows
  assert ["accuracy", "0.912", "[0.9, 0.924]", "3"] in rows
  assert ["metric", "against", "mean", "ci", "sentence"] in rows
  assert ["accuracy", "focal", "-0.001", "[-0.01, 0.008]", "within the seed noise <b>"] in rows
  assert "<b>" not in page  # text is escaped
  assert ["formula", "-(1-p)**gamma/p"] in rows  # scalars: one two-column table


def test_evaluation_rows_as_one_table_per_experiment():
  """The rows `gradeng.evaluate` writes: a row per setting and metric, means with intervals,
  paired differences with their verdicts."""
  def summary(mean, half):
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": 3}

  rows = [{"experiment": "toy", "setting": "1:10", "metric": "accuracy", "higher_is_better": True,
           "means": {"yours": summary(0.5, 0.125), "ce": summary(0.25, 0.125)},
           "differences": {"ce": summary(0.25, 0.0625)},
           "verdicts": {"ce": "yours − ce = 0.25, 95 % CI [0.1875, 0.3125]: exceeds the seed "
                              "noise (yours is better)"}},
          {"experiment": "toy", "setting": "1:10", "metric": "loss", "higher_is_better": False,
           "means": {"yours": summary(2.0, 1.0), "ce": summary(1.5, 1.0)},
           "differences": {"ce": summary(0.5, 1.0)},
           "verdicts": {"ce": "yours − ce = 0.5: within the seed noise"}}]
  parser = _Tables()
  parser.feed(card.evaluation_html({"confidence": 0.95, "rows": rows}))
  assert parser.rows == [
      ["", ""], ["confidence", "0.95"],
      ["setting", "metric", "yours", "ce", "paired difference vs ce"],
      ["1:10", "accuracy ↑", "0.5[0.375, 0.625]", "0.25[0.125, 0.375]",
       "0.25[0.1875, 0.3125]exceeds the seed noise (yours is better)"],
      ["1:10", "loss ↓", "2[1, 3]", "1.5[0.5, 2.5]", "0.5[-0.5, 1.5]within the seed noise"]]


def test_json_html_shapes():
  assert card.json_html([1, 2.5]) == "<p>[1, 2.5]</p>"
  assert card.json_html({"a": None, "b": True, "c": float("nan")}) == (
      "<table><thead><tr><th></th><th></th></tr></thead><tbody>"
      '<tr><td>a</td><td>—</td></tr><tr><td>b</td><td>yes</td></tr>'
      '<tr><td>c</td><td class="num">nan</td></tr></tbody></table>')
  assert card.json_html(["x<y", {"k": [1, [2]]}]).startswith("<ul><li><span>x&lt;y</span></li>")


def test_math_svg_is_inline_and_prefixed():
  svg = card.math_svg(r"\frac{1}{p}", id_prefix="q7-")
  assert svg.startswith('<svg class="math" role="img" ') and svg.endswith("</svg>")
  assert "xmlns" not in svg and "<metadata" not in svg and "<style" not in svg
  ids = re.findall(r'\bid="([^"]+)"', svg)
  assert ids and all(i.startswith("q7-") for i in ids)
  assert all(h.startswith("#q7-") for h in re.findall(r'href="([^"]+)"', svg))
  with pytest.raises(ValueError, match="id_prefix"):
    card.math_svg("p", id_prefix="a b")


@pytest.mark.parametrize("kwargs, match", [
    ({"params": {"beta": 1}}, r"no parameter\(s\) \['beta'\]"),
    ({"params": {"gamma": "two"}}, "must be a number"),
    ({"slider_values": {"gamma": [-3]}}, "slider values of `gamma`"),
    ({"slider_values": {"gamma": ["x"]}}, "slider values of `gamma` must be numbers"),
    ({"params": {"gamma": -1}}, r"`gamma` must be a real number in \(-1, inf\)"),
    ({"slider_values": {"delta": [1]}}, "does not have"),
    ({"evaluation": [1, 2]}, "`evaluation` must be a dict"),
])
def test_bad_input_raises(kwargs, match):
  with pytest.raises(ge.InputError, match=match):
    card.render_card(MAKI, **{"slider_values": {"gamma": [2]}, **kwargs})


def test_bad_formula_raises():
  with pytest.raises(ge.FormulaError):
    card.render_card("-(1-p")


def test_cli_writes_the_card_atomically(tmp_path, capsys):
  out = tmp_path / "cards" / "maki.html"
  evaluation = tmp_path / "evaluation.json"
  evaluation.write_text(json.dumps(EVALUATION))
  assert main(["card", MAKI, "--param", "gamma=2", "--out", str(out),
               "--evaluation", str(evaluation)]) == 0
  assert capsys.readouterr().out.strip() == str(out)
  assert sorted(p.name for p in out.parent.iterdir()) == ["maki.html"]  # no temporary left
  data = _data(out.read_text())
  assert data["sliders"][0]["values"][data["sliders"][0]["start"]] == 2.0
  assert len(data["curves"]) == len(data["sliders"][0]["values"]) >= 5


@pytest.mark.parametrize("argv, message", [
    (["card", "-(1-p", "--out", "x.html"], "cannot parse"),
    (["card", "-1/p", "--param", "a=1", "--out", "x.html"], "has no parameter"),
    (["card", "-1/p", "--param", "a", "--out", "x.html"], "expects NAME=VALUE"),
    (["card", "-1/(1-p)", "--out", "x.html"], "diverges at p = 1"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(SystemExit) as exit_:
    main(argv)
  assert exit_.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1].startswith("gradeng card: error: ") and message in err[-1]
  assert not (tmp_path / "x.html").exists()


def _examples():
  finder = doctest.DocTestFinder(recurse=False)
  tests = finder.find(card, "gradeng.symbolic.card", globs={})
  for name in card.__all__:
    obj = getattr(card, name)
    if callable(obj):
      tests += finder.find(obj, f"gradeng.symbolic.card.{name}", globs={})
  return [t for t in tests if t.examples]


@pytest.mark.parametrize("test", _examples(), ids=lambda t: t.name)
def test_docstring_examples(test):
  """The package's examples (tests/test_docstring_examples.py lists other packages)."""
  output = []
  runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
  assert runner.run(test, out=output.append, clear_globs=True).failed == 0, "".join(output)
