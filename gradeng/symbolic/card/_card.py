"""`render_card` and `write_card`: one self-contained HTML page about a loss given by its scale
coefficient g(p) = dL/dp."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradeng.symbolic.card._data import (MAX_CURVE_SETS, P_GRID, REFERENCES, Slider, budget_rows,
                                closed_form_error, coefficient_curves, reference_curves,
                                rounded, slider_values)
from gradeng.symbolic.card._html import (COLOURS, SCRIPT, STYLE, escape, evaluation_html,
                                         holds_cell, number, script_json, table)
from gradeng.symbolic.card._math import math_svg
from gradeng.runtime import InputError, ScaleCoefficient
from gradeng.symbolic import coefficient, derive

#: Largest relative difference of a plotted curve from its 30-digit value that passes.
CURVE_TOLERANCE = 1e-8
#: x-axis ticks of the plots (values of p).
X_TICKS = (0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999)
_TITLES = {"g": "g(p) = dL/dp", "L": "L(p)", "w": "w(p) = p·g(p)"}
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "lam": "λ",
          "tau": "τ"}
#: The part of p's range that sets the plots' y-range (g and L of CE diverge as p → 0).
_RANGE_FROM_P = 0.1


def _label(name: str) -> str:
  return _GREEK.get(name, name)


def _values_text(values: Mapping[str, float]) -> str:
  return ", ".join(f"{_label(k)} = {v:g}" for k, v in values.items())


def _check_params(params: Mapping[str, float] | None) -> dict[str, float]:
  out = {}
  for name, value in dict(params or {}).items():
    try:
      number_ = float(value)
    except (TypeError, ValueError):
      raise InputError(f"parameter `{name}` must be a number; got {value!r}.") from None
    if not np.isfinite(number_):
      raise InputError(f"parameter `{name}` must be finite; got {value!r}.")
    out[str(name)] = number_
  return out


def _sliders(derivation: Any, given: Mapping[str, float],
             slider_grid: Mapping[str, Sequence[float]] | None) -> list[Slider]:
  names = sorted(s.name for s in derivation.g.free_symbols if s.name != "p")
  grid = dict(slider_grid or {})
  unknown = sorted(set(grid) - set(names))
  if unknown:
    raise InputError(f"`slider_values` names {unknown}, which the formula does not have; it "
                     f"has {names or 'no parameters'}.")
  count = 9
  while count > 2 and count ** len(names) > MAX_CURVE_SETS:
    count -= 1
  sliders = []
  for name in names:
    domain = derivation.domains[name]
    if name in given and not domain.contains(given[name]):
      raise InputError(f"`{name}` must be {domain.describe()} (where the loss exists); got "
                       f"{given[name]:g}.")
    if name in grid:
      try:
        chosen = {float(v) for v in grid[name]}
      except (TypeError, ValueError):
        raise InputError(f"slider values of `{name}` must be numbers; got "
                         f"{grid[name]!r}.") from None
      values = tuple(sorted(chosen | ({given[name]} if name in given else set())))
      outside = [v for v in values if not domain.contains(v)]
      if not values or outside:
        raise InputError(f"slider values of `{name}` must be in {domain.describe()}; got "
                         f"{list(grid[name])!r}.")
    else:
      values = slider_values(domain, count=count, value=given.get(name))
    start = (values.index(given[name]) if name in given
             else values.index(1.0) if 1.0 in values else len(values) // 2)
    sliders.append(Slider(name, values, start))
  total = int(np.prod([len(s.values) for s in sliders]))
  if total > 4 * MAX_CURVE_SETS:
    raise InputError(f"{total} slider combinations are too many for one page (at most "
                     f"{4 * MAX_CURVE_SETS}); give fewer `slider_values`.")
  return sliders


def _ranges(curves: list[Mapping[str, np.ndarray]]) -> dict[str, list[float]]:
  """The plots' y-ranges: the curves given (the references and this loss at the sliders' start)
  over p ≥ 0.1, 0 included, padded by 5 %; other slider positions may leave the frame."""
  keep = P_GRID >= _RANGE_FROM_P
  ranges = {}
  for q in ("g", "L", "w"):
    values = np.concatenate([np.asarray(c[q], np.float64)[keep] for c in curves])
    values = values[np.isfinite(values)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (-1.0, 1.0)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.05 * (hi - lo) or 1.0
    ranges[q] = [float(f"{lo - pad:.4g}"), float(f"{hi + pad:.4g}")]
  return ranges


def _math_block(latex: str, prefix: str) -> str:
  try:
    svg = math_svg(latex, id_prefix=prefix)
  except ValueError:  # beyond mathtext: the LaTeX text below is all there is
    svg = '<p class="note">(this formula is beyond the math renderer; its LaTeX:)</p>'
  return f'{svg}<pre class="latex">{escape(latex)}</pre>'


def _derivation_section(title: str, derivation: Any, prefix: str) -> str:
  notes = "".join(f"<li>{escape(n)}</li>" for n in derivation.notes)
  method = ("closed form" if derivation.method == "closed_form"
            else "no closed form: L is integrated numerically")
  return (f"<h3>{escape(title)}</h3>{_math_block(derivation.latex(), prefix)}"
          f'<p class="note">{escape(method)}</p>' + (f"<ul class=\"note\">{notes}</ul>"
                                                     if notes else ""))


def _budget_html(budget: Any, labels: list[str], user_label: str) -> str:
  groups = budget.groups
  header = (["loss"] + [f"Σ g {g.name} ({number(g.count)} @ {number(g.p)})" for g in groups]
            + [f"Σ g {budget.hard} / {budget.easy}", f"Σ w {budget.hard} / {budget.easy}"])
  names = [label for label, _, _ in REFERENCES] + [user_label]
  rows = []
  for name, label in zip(names, labels):
    cells = [name] + [f'<td class="num">{budget.sum(g.name, label):.2f}</td>' for g in groups]
    cells += [f'<td class="num">{budget.ratio(label):.3f}</td>',
              f'<td class="num">{budget.ratio(label, weights=True):.3f}</td>']
    rows.append(cells)
  return table(header, rows, css="budget")


@functools.lru_cache(maxsize=16)
def _coefficient(formula: str) -> ScaleCoefficient:
  """One coefficient object per formula, so that its compiled kernels are reused by the next
  card of the same formula (coefficients compare by identity)."""

  return coefficient(formula)


def render_card(formula: str, *, params: Mapping[str, float] | None = None,
                evaluation: Mapping[str, Any] | None = None,
                slider_values: Mapping[str, Sequence[float]] | None = None) -> str:
  """One self-contained HTML page (a "loss card") about the loss with scale coefficient g(p).

  The page holds: the formula and the derived loss

  .. math:: L(p) = \\int_p^1 -g(t)\\,dt, \\qquad L(1) = 0

  as rendered math (inline SVG from matplotlib's mathtext, the LaTeX beside it); the
  verification (SymPy's check of dL/dp = g; the plotted float64 g and L against g and the
  closed form evaluated with mpmath at 30 digits); the paper's property table; plots of g, L and w = p·g next to CE,
  focal γ=2 and Maki γ=1 on p ∈ [0.001, 0.999] (uniform in log(p/(1-p))), drawn by an inline
  script from precomputed float64 curves, with a slider per parameter (the curves of every
  slider position precomputed); the §2.1 gradient budget (1000 easy examples at p = 0.9 vs 10
  hard at p = 0.3); and ``evaluation`` (a JSON-able dict, e.g. from ``gradeng.evaluate``)
  rendered as tables. No URL appears in the page; the same inputs give the same bytes.

  Args:
    formula: g(p) as text, e.g. ``"-(1-p)**gamma/p"`` (the syntax of `gradeng.coefficient`).
    params: parameter values: the sliders start there, and the property table, the check and
      the budget use them (a parameter not given starts at 1 when its domain admits it, else at
      its middle slider position).
    evaluation: results to show in an "Evaluation" section (any JSON-able dict).
    slider_values: positions of a parameter's slider (default: `slider_values` of its domain,
      at most 64 curve sets in all).

  Returns:
    The HTML text.

  Raises:
    InputError: a bad formula (`gradeng.FormulaError`), unknown parameters or values outside
      their domains, a loss that diverges at p = 1.

  Example:
    >>> from gradeng.symbolic.card import render_card
    >>> page = render_card("-(1-p)**gamma/p", params={"gamma": 2},  # Maki, γ = 2
    ...                    slider_values={"gamma": [1, 3]})
    >>> page.startswith("<!DOCTYPE html>"), "http" in page, page.count('type="range"')
    (True, False, 1)
  """

  if not isinstance(formula, str) or not formula.strip():
    raise InputError(f"`formula` must be a non-empty string for g(p); got {formula!r}.")
  given = _check_params(params)
  if evaluation is not None and not isinstance(evaluation, Mapping):
    raise InputError(f"`evaluation` must be a dict (JSON-able); got {type(evaluation).__name__}.")
  coef = _coefficient(formula)
  unknown = sorted(set(given) - set(coef.params))
  if unknown:
    raise InputError(f"`{formula}` has no parameter(s) {unknown}; it takes "
                     f"{sorted(coef.params) or 'none'}.")
  general = derive(coef)
  sliders = _sliders(general, given, slider_values)
  base = {s.name: s.values[s.start] for s in sliders}
  at_base = derive(coef, **base) if base else general
  references = reference_curves()
  curves = coefficient_curves(coef, sliders)
  start = ",".join(str(s.start) for s in sliders)
  g_error, l_error = closed_form_error(at_base, curves[start])
  budget, labels = budget_rows(coef, base)

  data = {
      "p": [float(f"{p:.10g}") for p in P_GRID],
      "xticks": list(X_TICKS),
      "titles": _TITLES,
      "colours": list(COLOURS),
      "ranges": _ranges([curves[start], *references.values()]),
      "references": [{"label": label, **{q: rounded(v) for q, v in references[label].items()}}
                     for label, _, _ in REFERENCES],
      "sliders": [{"name": s.name, "values": list(s.values), "start": s.start} for s in sliders],
      "curves": {key: {q: rounded(v) for q, v in c.items()} for key, c in curves.items()},
  }
  title = f"g(p) = {formula.strip()}"
  values = _values_text(base)
  parts = [
      "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
      '<meta name="viewport" content="width=device-width, initial-scale=1">',
      '<meta name="generator" content="gradeng card">',
      f"<title>Loss card: {escape(title)}</title><style>{STYLE}</style></head><body>",
      f"<header><h1>Loss card</h1><p><code>{escape(title)}</code>"
      + (f" with {escape(values)}" if values else "") + "</p>"
      '<p class="note">A loss given by its scale coefficient g(p) = dL/dp, p the predicted '
      "probability of the true class; L(p) = ∫<sub>p</sub><sup>1</sup> −g(t) dt, L(1) = 0 "
      "(Kilbas &amp; Paringer, 2020). Made by <code>gradeng card</code>.</p></header>",
      '<section id="closed-form"><h2>Formula and closed form</h2>',
      _derivation_section("in general" if sliders else "g and L", general, "m0-"),
  ]
  if sliders:
    parts.append(_derivation_section(f"at {values}", at_base, "m1-"))
  parts.append("</section>")
  at = f", at {values}" if values else ""
  grid = f"on {len(P_GRID)} points p ∈ [0.001, 0.999]"
  parts += [
      '<section id="verification"><h2>Verification</h2>',
      table(["check", "holds", "how"], [
          ["dL/dp = g (SymPy)" + (", in general" if sliders else ""),
           holds_cell(general.verified), general.verification],
          *([[f"dL/dp = g (SymPy){at}", holds_cell(at_base.verified), at_base.verification]]
            if sliders else []),
          [f"plotted g = g (float64 kernel vs 30-digit mpmath){at}",
           holds_cell(g_error <= CURVE_TOLERANCE),
           f"max relative difference {grid}: {g_error:.1e} (tolerance {CURVE_TOLERANCE:g})"],
          [f"plotted L = closed form (float64 kernel vs 30-digit mpmath){at}",
           holds_cell(None if l_error is None else l_error <= CURVE_TOLERANCE),
           "no closed form: L is the kernel's quadrature of g" if l_error is None else
           f"max relative difference {grid}: {l_error:.1e} (tolerance {CURVE_TOLERANCE:g})"],
      ]), "</section>",
      '<section id="properties"><h2>Properties</h2>',
      table(["property", "holds", "evidence"],
            [[c.name, holds_cell(c.holds), c.evidence] for c in at_base.properties])
      if at_base.properties else '<p class="note">no property checks</p>',
      "</section>",
      '<section id="curves"><h2>Curves</h2>',
      '<p class="note">g, L and w = p·g (the weight that reaches the logits: ∂L/∂z = '
      "w·∂log p/∂z) of this loss (red) next to CE, focal γ=2 and Maki γ=1, on p from 0.001 "
      "to 0.999 (axis in log(p/(1−p))). Values from the JAX kernels in float64"
      + ("; each slider position's curves are precomputed" if sliders else "") + ".</p>",
  ]
  if sliders:
    parts.append('<div class="sliders">')
    for s in sliders:
      parts.append(
          f'<label>{escape(_label(s.name))} <input type="range" class="slider" '
          f'id="slider-{escape(s.name)}" data-param="{escape(s.name)}" min="0" '
          f'max="{len(s.values) - 1}" step="1" value="{s.start}"> '
          f"<output>{number(s.values[s.start])}</output></label>")
    parts.append("</div>")
  names = ["this loss"] + [label for label, _, _ in REFERENCES]
  parts.append('<p class="legend">' + "".join(
      f'<span><i style="background:{c}"></i>{escape(n)}</span>' for c, n in zip(COLOURS, names))
      + "</p>")
  parts.append('<div class="plots">' + "".join(
      f'<svg class="plot" id="plot-{q}" data-quantity="{q}" viewBox="0 0 370 280" role="img" '
      f'aria-label="{escape(_TITLES[q])}"></svg>' for q in ("g", "L", "w")) + "</div></section>")
  parts += [
      '<section id="budget"><h2>Gradient budget (paper §2.1)</h2>',
      '<p class="note">Summed scale coefficients of 1000 easy examples at p = 0.9 and 10 hard '
      "ones at p = 0.3 (the paper: CE −1111 vs −33, focal γ=2 −32 vs −33), and the hard/easy "
      "ratios of Σ g and of Σ w = Σ p·g" + (f"; this loss at {escape(values)}" if values else "")
      + ".</p>", _budget_html(budget, labels, "this loss"), "</section>",
  ]
  if evaluation is not None:
    parts += ['<section id="evaluation"><h2>Evaluation</h2>', evaluation_html(evaluation),
              "</section>"]
  parts += [f'<script type="application/json" id="card-data">{script_json(data)}</script>',
            f"<script>{SCRIPT}</script>", "</body></html>"]
  return "\n".join(parts) + "\n"


def write_card(formula: str, *, params: Mapping[str, float] | None = None,
               out: str | os.PathLike, evaluation: Mapping[str, Any] | None = None,
               slider_values: Mapping[str, Sequence[float]] | None = None) -> Path:
  """`render_card` written to ``out`` atomically (a temporary file renamed over it).

  Args:
    formula: g(p) as text.
    params: parameter values (see `render_card`).
    out: the HTML file to write; its directory is created.
    evaluation: results to show (see `render_card`).
    slider_values: slider positions per parameter (see `render_card`).

  Returns:
    ``out`` as a `Path`.

  Example:
    >>> import pathlib, tempfile
    >>> from gradeng.symbolic.card import write_card
    >>> with tempfile.TemporaryDirectory() as out:
    ...   path = write_card("-(1-p)**gamma/p", params={"gamma": 2},
    ...                     slider_values={"gamma": [1, 3]}, out=pathlib.Path(out) / "maki.html")
    ...   path.read_text().count('class="plot"')
    3
  """
  from gradeng.experiments.common import atomic_write_text

  page = render_card(formula, params=params, evaluation=evaluation, slider_values=slider_values)
  path = Path(out)
  atomic_write_text(path, page)
  return path
