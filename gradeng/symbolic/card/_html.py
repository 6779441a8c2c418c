"""The card's HTML: page template, stylesheet, the plotting script and the tables.

Everything is inline (no URL anywhere in the page: not even a namespace URI, the script takes
the SVG namespace from the page's own ``<svg>`` elements), so the file opens offline.
"""

from __future__ import annotations

import html
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1180px;padding:1em 1.5em 3em;color:#1b1b1b;background:#fff;line-height:1.45}
h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.2em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em}h4,h5,h6{font-size:1em}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.9em}
pre.latex{background:#f6f6f6;padding:.4em .6em;white-space:pre-wrap;word-break:break-all}
.math{display:block;margin:.4em 0;max-width:100%;height:auto}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}.yes{color:#176d2c;font-weight:600}.no{color:#b3261e;font-weight:600}
.unknown{color:#777}.plots{display:flex;flex-wrap:wrap;gap:12px}
svg.plot{width:calc((100% - 30px) / 3);min-width:300px;height:auto;border:1px solid #e3e3e3;
background:#fff}.legend span{display:inline-block;margin-right:1.4em}
.legend i{display:inline-block;width:22px;height:3px;vertical-align:middle;margin-right:.4em}
.plot text{font-size:11px;fill:#333}.plot .axis{stroke:#888;fill:none}
.plot .grid{stroke:#eee}.plot .curve{fill:none;stroke-width:1.6}
.plot .user{stroke-width:2.6}.sliders label{display:inline-block;margin:.2em 1.5em .2em 0}
.sliders output{display:inline-block;min-width:4em;font-weight:600}
.note{color:#555;font-size:.92em}td.better{background:#eaf6ec}td.worse{background:#fbeaea}
td small{color:#555}
"""

#: Colours of the curves: the user's loss, then the references in `REFERENCES` order.
COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("card-data").textContent);
  var W = 370, H = 280, L = 52, R = 16, T = 10, B = 36;
  var xs = data.p.map(function (p) { return Math.log(p / (1 - p)); });
  var x0 = xs[0], x1 = xs[xs.length - 1];
  function sx(x) { return L + (x - x0) / (x1 - x0) * (W - L - R); }
  function niceTicks(lo, hi, n) {
    var raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / mag, step = (f >= 7.5 ? 10 : f >= 3.5 ? 5 : f >= 1.5 ? 2 : 1) * mag;
    var out = [], first = Math.ceil(lo / step - 1e-9), last = Math.floor(hi / step + 1e-9);
    for (var i = first; i <= last; i++) { out.push(Number((i * step).toPrecision(10))); }
    return out;
  }
  function el(parent, name, attrs, text) {
    var node = document.createElementNS(parent.namespaceURI, name);
    for (var k in attrs) { node.setAttribute(k, attrs[k]); }
    if (text !== undefined) { node.textContent = text; }
    parent.appendChild(node);
    return node;
  }
  function pathData(values, sy, lo, hi) {
    var d = [], n = 0, pen = false, span = hi - lo;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v === null || !isFinite(v)) { pen = false; continue; }
      v = Math.max(lo - 10 * span, Math.min(hi + 10 * span, v));
      d.push((pen ? "L" : "M") + sx(xs[i]).toFixed(2) + " " + sy(v).toFixed(2));
      pen = true; n++;
    }
    return {d: d.join(""), n: n};
  }
  function setCurve(path, values, sy, lo, hi) {
    var drawn = pathData(values, sy, lo, hi);
    path.setAttribute("d", drawn.d);
    path.setAttribute("data-points", String(drawn.n));
  }
  var plots = [];
  function drawPlot(svg) {
    var q = svg.getAttribute("data-quantity"), range = data.ranges[q];
    var lo = range[0], hi = range[1];
    function sy(v) { return T + (hi - v) / (hi - lo) * (H - T - B); }
    el(svg, "rect", {x: L, y: T, width: W - L - R, height: H - T - B, "class": "axis"});
    var clip = el(el(svg, "defs", {}), "clipPath", {id: "clip-" + q});
    el(clip, "rect", {x: L, y: T, width: W - L - R, height: H - T - B});
    data.xticks.forEach(function (p) {
      var x = sx(Math.log(p / (1 - p)));
      el(svg, "line", {x1: x, x2: x, y1: T, y2: H - B, "class": "grid"});
      el(svg, "text", {x: x, y: H - B + 14, "text-anchor": "middle"}, String(p));
    });
    niceTicks(lo, hi, 5).forEach(function (v) {
      var y = sy(v);
      el(svg, "line", {x1: L, x2: W - R, y1: y, y2: y, "class": "grid"});
      el(svg, "text", {x: L - 4, y: y + 4, "text-anchor": "end"}, String(v));
    });
    el(svg, "text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle"}, "p");
    el(svg, "text", {x: 14, y: (T + H - B) / 2, "text-anchor": "middle",
                     transform: "rotate(-90 14 " + (T + H - B) / 2 + ")"}, data.titles[q]);
    var layer = el(svg, "g", {"clip-path": "url(#clip-" + q + ")"});
    data.references.forEach(function (ref, i) {
      var path = el(layer, "path", {"class": "curve reference", stroke: data.colours[i + 1],
                                    "data-label": ref.label});
      setCurve(path, ref[q], sy, lo, hi);
    });
    var user = el(layer, "path", {"class": "curve user", stroke: data.colours[0],
                                  "data-label": "this loss"});
    plots.push({q: q, path: user, sy: sy, lo: lo, hi: hi});
  }
  var sliders = Array.prototype.slice.call(document.querySelectorAll("input.slider"));
  function redraw() {
    var key = sliders.map(function (s) { return s.value; }).join(",");
    var curves = data.curves[key];
    sliders.forEach(function (s, i) {
      s.parentNode.querySelector("output").textContent = String(data.sliders[i].values[s.value]);
    });
    plots.forEach(function (plot) {
      setCurve(plot.path, curves[plot.q], plot.sy, plot.lo, plot.hi);
      plot.path.setAttribute("data-key", key);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("svg.plot"), drawPlot);
  sliders.forEach(function (s) { s.addEventListener("input", redraw); });
  redraw();
  document.body.setAttribute("data-drawn", "true");
})();
"""


def escape(text: Any) -> str:
  return html.escape(str(text), quote=True)


def script_json(data: Any) -> str:
  """JSON for a ``<script type="application/json">``: no ``<``, ``>`` or ``&`` in the text (so
  no ``</script>`` can end it early), keys in insertion order, NaN refused."""
  text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
  return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def holds_cell(value: bool | None) -> str:
  label, css = {True: ("yes", "yes"), False: ("no", "no"), None: ("?", "unknown")}[value]
  return f'<td class="{css}">{label}</td>'


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, css: str = "") -> str:
  """An HTML table; cells are given as HTML (``<td ...>...</td>``) or plain text."""
  head = "".join(f"<th>{escape(h)}</th>" for h in header)
  body = "".join("<tr>" + "".join(c if c.startswith("<td") else f"<td>{escape(c)}</td>"
                                  for c in row) + "</tr>" for row in rows)
  attribute = f' class="{css}"' if css else ""
  return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def number(value: Any) -> str:
  """A number for a table cell: integers as they are, floats with 4 significant digits."""
  if isinstance(value, bool) or value is None:
    return {True: "yes", False: "no", None: "—"}[value]
  if isinstance(value, numbers.Integral):
    return str(int(value))
  if isinstance(value, numbers.Real):
    value = float(value)
    return f"{value:.4g}" if math.isfinite(value) else str(value)
  return str(value)


def _scalar(value: Any) -> bool:
  return value is None or isinstance(value, (str, numbers.Number))


def _cell_value(value: Any) -> bool:
  """A scalar, or a short list of scalars (a confidence interval)."""
  return _scalar(value) or (isinstance(value, (list, tuple)) and len(value) <= 4
                            and all(_scalar(v) for v in value))


def _simple(value: Any) -> bool:
  """A scalar, a list of scalars or an empty container: one table cell."""
  return (_scalar(value) or (isinstance(value, (list, tuple, Mapping)) and not value)
          or (isinstance(value, (list, tuple)) and all(_scalar(v) for v in value)))


def _cell(value: Any) -> str:
  if isinstance(value, (list, tuple, Mapping)) and not value:
    return "<td>—</td>"
  if isinstance(value, (list, tuple)):
    return "<td>[" + ", ".join(escape(number(v)) for v in value) + "]</td>"
  if isinstance(value, numbers.Number) and not isinstance(value, bool):
    return f'<td class="num">{escape(number(value))}</td>'
  return f"<td>{escape(number(value))}</td>"


def _flat(value: Any) -> bool:
  return isinstance(value, Mapping) and all(_cell_value(v) for v in value.values())


def _columns(records: Sequence[Mapping]) -> list[str]:
  columns: list[str] = []
  for record in records:
    columns.extend(k for k in map(str, record) if k not in columns)
  return columns


def json_html(value: Any, depth: int = 3) -> str:
  """Any JSON-able value as HTML: a dict of flat dicts or a list of flat dicts as one table
  (a row each), a flat dict as a two-column table, other dicts as headed sections, lists of
  scalars as lists, short number lists (confidence intervals) as ``[lo, hi]``.

  Example:
    >>> from gradeng.symbolic.card import json_html
    >>> json_html({"accuracy": {"mean": 0.9, "ci": [0.88, 0.92]}})
    '<table><thead><tr><th></th><th>mean</th><th>ci</th></tr></thead><tbody><tr><td>accuracy</td><td class="num">0.9</td><td>[0.88, 0.92]</td></tr></tbody></table>'
  """
  heading = f"h{min(depth, 6)}"
  if isinstance(value, (Mapping, list, tuple)) and not value:
    return "<span>—</span>"
  if isinstance(value, Mapping):
    if value and all(_flat(v) and v for v in value.values()):
      columns = _columns(list(value.values()))
      rows = [[f"<td>{escape(k)}</td>"] + [_cell(v.get(_key(v, c))) for c in columns]
              for k, v in value.items()]
      return table([""] + columns, rows)
    simple = {k: v for k, v in value.items() if _simple(v)}
    parts = [table(["", ""], [[f"<td>{escape(k)}</td>", _cell(v)] for k, v in simple.items()])
             ] if simple else []
    for k, v in value.items():
      if k not in simple:
        parts.append(f"<section><{heading}>{escape(k)}</{heading}>{json_html(v, depth + 1)}"
                     "</section>")
    return "".join(parts)
  if isinstance(value, (list, tuple)):
    if value and all(_flat(v) for v in value):
      columns = _columns(value)
      return table(columns, [[_cell(v.get(_key(v, c))) for c in columns] for v in value])
    if _cell_value(value) and all(isinstance(v, numbers.Real) for v in value):
      return "<p>[" + ", ".join(escape(number(v)) for v in value) + "]</p>"
    return "<ul>" + "".join(f"<li>{json_html(v, depth + 1)}</li>" for v in value) + "</ul>"
  return f"<span>{escape(number(value))}</span>"


def _key(mapping: Mapping, column: str) -> Any:
  """The key of ``mapping`` whose text is ``column`` (keys may be non-strings)."""
  for key in mapping:
    if str(key) == column:
      return key
  return column


def _interval(stats: Mapping) -> tuple[Any, Any] | None:
  """(low, high) of a summary given as ``low``/``high`` or as ``ci: [low, high]``."""
  if "low" in stats and "high" in stats:
    return stats["low"], stats["high"]
  ci = stats.get("ci")
  if isinstance(ci, (list, tuple)) and len(ci) == 2:
    return ci[0], ci[1]
  return None


def _summary(stats: Any) -> str:
  """``mean`` and ``[low, high]`` below it, of a summary dict (or the value itself), as HTML."""
  if not isinstance(stats, Mapping):
    return escape(number(stats))
  interval = _interval(stats)
  text = escape(number(stats.get("mean")))
  if interval is not None:
    text += f"<br><small>[{escape(number(interval[0]))}, {escape(number(interval[1]))}]</small>"
  return text


def _is_metric_rows(rows: Any) -> bool:
  """Rows of an evaluation: dicts with a ``metric`` and ``means`` (label -> summary)."""
  return (isinstance(rows, (list, tuple)) and bool(rows)
          and all(isinstance(r, Mapping) and "metric" in r and isinstance(r.get("means"), Mapping)
                  for r in rows))


def _metric_tables(rows: Sequence[Mapping]) -> str:
  """One table per experiment: a row per (setting, metric) with each loss's mean and interval,
  then each paired difference with its verdict."""
  experiments: dict[str, list[Mapping]] = {}
  for row in rows:
    experiments.setdefault(str(row.get("experiment", "")), []).append(row)
  parts = []
  for experiment, members in experiments.items():
    losses = _columns([r["means"] for r in members])
    baselines = _columns([r.get("differences") or {} for r in members])
    header = ["setting", "metric"] + [f"{loss}" for loss in losses]
    header += [f"paired difference vs {b}" for b in baselines]
    body = []
    for row in members:
      arrow = {True: " ↑", False: " ↓"}.get(row.get("higher_is_better"), "")
      cells = [str(row.get("setting", "")), f"{row['metric']}{arrow}"]
      means = row["means"]
      cells += [f'<td class="num">{_summary(means.get(_key(means, loss)))}</td>'
                if _key(means, loss) in means else "" for loss in losses]
      differences = row.get("differences") or {}
      verdicts = row.get("verdicts") or {}
      for baseline in baselines:
        key = _key(differences, baseline)
        if key not in differences:
          cells.append("")
          continue
        verdict = str(verdicts.get(_key(verdicts, baseline), ""))
        short = verdict.rpartition(": ")[2] if verdict else ""
        css = ("within" if "within" in short else "better" if "better" in short
               else "worse" if "worse" in short else "")
        cells.append(f'<td class="num {css}" title="{escape(verdict)}">'
                     f"{_summary(differences[key])}"
                     + (f"<br><small>{escape(short)}</small>" if short else "") + "</td>")
      body.append(cells)
    title = f"<h3>{escape(experiment)}</h3>" if experiment else ""
    parts.append(title + table(header, body, css="metrics"))
  return "".join(parts)


def evaluation_html(evaluation: Mapping[str, Any]) -> str:
  """An evaluation's results as HTML: its ``rows`` (when they are metric rows: ``metric``,
  ``means``, ``differences``, ``verdicts``, as ``gradeng.evaluate`` writes them) as one table per
  experiment, a row per setting and metric, each loss's mean with its interval below it and each
  paired difference with its verdict; everything else by `json_html`.

  Example:
    >>> from gradeng.symbolic.card import evaluation_html
    >>> row = {"experiment": "toy", "setting": "1:10", "metric": "accuracy",
    ...        "means": {"yours": {"mean": 0.91, "low": 0.9, "high": 0.92}},
    ...        "differences": {"ce": {"mean": 0.02, "low": 0.01, "high": 0.03}},
    ...        "verdicts": {"ce": "yours − ce = 0.02: exceeds the seed noise (yours is better)"}}
    >>> page = evaluation_html({"seeds": [0, 1, 2], "rows": [row]})
    >>> "<h3>toy</h3>" in page, 'class="num better"' in page
    (True, True)
  """
  rows = evaluation.get("rows")
  if not _is_metric_rows(rows):
    return json_html(evaluation)
  rest = {k: v for k, v in evaluation.items() if k != "rows"}
  level = evaluation.get("confidence")
  level = f"{float(level):.0%}" if isinstance(level, numbers.Real) else "confidence"
  note = (f'<p class="note">Per metric (↑: higher is better) each loss\'s mean over the seeds '
          f"with its {escape(level)} interval below it, and the paired difference from each "
          "baseline (same seeds) with its interval and whether it exceeds the seed noise.</p>")
  return json_html(rest) + note + _metric_tables(rows)
