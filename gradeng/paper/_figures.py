"""The paper's Figures 1–2, regenerated, and extended figures: data tables and their plots.

Every figure is a `FigureData` table (written as CSV) and a plot drawn from that table alone
(PNG + PDF), so the CSV is exactly what the picture shows. Curves are evaluated with the
library's own numerical path (`logit_weight` w, g = w/p, `loss_value`: the same log-space forms
the losses run on) in float64; the budget sweep uses `gradeng.paper._budget.hard_share`.

Figures (file stem in ``figures/``):

* ``paper_figure1``: (a) g(p), (b) L(p) for CE, focal (γ=2), Maki (γ=1) — paper Figure 1.
* ``paper_figure2``: the same with QCE added — paper Figure 2.
* ``maki_gamma``: Maki loss for γ ∈ {0, 0.5, 1, 2, 2.5, 5} (real γ through ₂F₁): g, L and w = p·g.
* ``weights_catalog``: the logit-space weight w(p) = p·g(p) of every catalog loss, and its decay
  |w| as p → 1 on log–log axes (the order of the zero at p = 1).
* ``budget_sweep``: share of the total gradient that comes from the hard group (p_hard = 0.3)
  over the easy:hard imbalance (1:1 … 1:10⁴) and p_easy (0.5 … 0.999), for g and for w.

Output is deterministic: fixed dpi and size, fixed ``svg.hashsalt``, no PDF creation date, no
PNG software tag, and CSV numbers printed with a fixed format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np

from gradeng.runtime import InputError
from gradeng.paper._budget import hard_share, loss_label, resolve_loss
from gradeng.runtime import CATALOG
from gradeng.runtime import logit_weight, loss_value

#: p grid of the curve figures: 0.0025 … 0.9975 in steps of 0.0025 (p = 1 is omitted: g of some
#: losses is a 0·∞ limit there).
P_GRID = np.round(np.arange(1, 400) * 0.0025, 10)
#: p grid of the weights figure: `P_GRID` continued towards 1 with 1 - p = 10^-6 … 10^-2.7.
WEIGHTS_P_GRID = np.concatenate([P_GRID, 1.0 - np.logspace(np.log10(0.0025), -6, 34)[1:]])
#: Easy:hard count ratios of the budget sweep (1 … 10⁴, 6 per decade).
SWEEP_RATIOS = np.logspace(0, 4, 25)
#: p_easy of the budget sweep: 0.5 … 0.999, uniform in log(1 - p).
SWEEP_P_EASY = 1.0 - np.logspace(np.log10(0.5), -3, 25)
SWEEP_P_HARD = 0.3
_SWEEP_TICKS = (0.5, 0.7, 0.9, 0.97, 0.99, 0.997, 0.999)
DPI = 150
_RC = {
    "svg.hashsalt": "gradeng",
    "pdf.fonttype": 42,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
}

PAPER_FIGURE1_LOSSES = (("ce", {}), ("focal", {"gamma": 2}), ("maki", {"gamma": 1}))
PAPER_FIGURE2_LOSSES = PAPER_FIGURE1_LOSSES + (("qce", {}),)
MAKI_GAMMAS = (0, 0.5, 1, 2, 2.5, 5)
#: Every catalog loss with its default parameters (Maki at the paper's γ=1).
CATALOG_LOSSES = tuple((name, {"gamma": 1} if name == "maki" else {}) for name in CATALOG)

_GREEK = {"gamma": "γ", "epsilon": "ε", "q": "q"}


@dataclasses.dataclass(frozen=True)
class FigureData:
  """The table behind one figure.

  Attributes:
    name: file stem in ``figures/`` (``"paper_figure1"``).
    title: one-line caption.
    columns: column names of the CSV.
    rows: the data, one tuple per row (numbers or strings).
  """

  name: str
  title: str
  columns: tuple[str, ...]
  rows: tuple[tuple, ...]

  def column(self, name: str, **where: str) -> np.ndarray:
    """A numeric column, optionally only rows whose string columns equal the given values."""
    i = self.columns.index(name)
    keep = [r for r in self.rows
            if all(r[self.columns.index(k)] == v for k, v in where.items())]
    return np.array([r[i] for r in keep], np.float64)

  def to_csv(self) -> str:
    lines = [",".join(self.columns)]
    for row in self.rows:
      lines.append(",".join(v if isinstance(v, str) else _fmt(v) for v in row))
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
  return f"{float(value):.10g}"


def pretty_label(spec) -> str:
  """``"Focal (γ=2)"`` for ``("focal", {"gamma": 2})``."""
  coefficient, params = resolve_loss(spec)
  name = coefficient.latex_name or coefficient.name
  if not params:
    return name
  return name + " (" + ", ".join(
      f"{_GREEK.get(k, k)}={float(v):g}" for k, v in sorted(params.items())) + ")"


def _curves(specs: Sequence, quantities: Sequence[str], p: np.ndarray = P_GRID) -> dict:
  out = {}
  p = np.asarray(p, np.float64)
  with jax.enable_x64(True):
    for spec in specs:
      coefficient, params = resolve_loss(spec)
      label = loss_label(coefficient, params)
      w = np.asarray(logit_weight(coefficient, p, **params), np.float64)
      for quantity in quantities:
        # g = w / p in float64, as `scale_coefficient` defines it.
        values = {"g": lambda: w / p, "w": lambda: w,
                  "L": lambda: np.asarray(loss_value(coefficient, p, **params))}[quantity]()
        if not np.all(np.isfinite(values)):
          raise FloatingPointError(f"{quantity} of {label} is not finite on the p grid.")
        out[quantity, label] = values
  return out


def _curve_table(name: str, title: str, specs: Sequence, quantities: Sequence[str],
                 p_grid: np.ndarray = P_GRID) -> FigureData:
  curves = _curves(specs, quantities, p_grid)
  columns = ("p", *(f"{q}[{label}]" for q, label in curves))
  rows = tuple((float(p), *(float(v[i]) for v in curves.values())) for i, p in enumerate(p_grid))
  return FigureData(name, title, columns, rows)


def paper_figure1() -> FigureData:
  return _curve_table(
      "paper_figure1",
      "Paper Figure 1: scale coefficient g(p) and loss L(p), CE, focal γ=2, Maki γ=1",
      PAPER_FIGURE1_LOSSES, ("g", "L"))


def paper_figure2() -> FigureData:
  return _curve_table(
      "paper_figure2", "Paper Figure 2: g(p) and L(p), CE, focal γ=2, Maki γ=1, QCE",
      PAPER_FIGURE2_LOSSES, ("g", "L"))


def maki_gamma() -> FigureData:
  return _curve_table(
      "maki_gamma", "Maki loss for integer and real γ: g(p), L(p), w(p) = p·g(p)",
      [("maki", {"gamma": gamma}) for gamma in MAKI_GAMMAS], ("g", "L", "w"))


def weights_catalog() -> FigureData:
  return _curve_table(
      "weights_catalog", "Logit-space weight w(p) = p·g(p) of every catalog loss",
      CATALOG_LOSSES, ("w",), WEIGHTS_P_GRID)


def budget_sweep() -> FigureData:
  rows = []
  for panel, weights in (("g", False), ("w", True)):
    shares = hard_share(CATALOG_LOSSES, SWEEP_RATIOS, SWEEP_P_EASY, p_hard=SWEEP_P_HARD,
                        weights=weights)
    for spec, table in zip(CATALOG_LOSSES, shares):
      label = loss_label(*resolve_loss(spec))
      for i, p_easy in enumerate(SWEEP_P_EASY):
        for j, ratio in enumerate(SWEEP_RATIOS):
          rows.append((panel, label, float(ratio), float(p_easy), float(table[i, j])))
  return FigureData(
      "budget_sweep",
      f"Share of the total gradient from the hard group (p_hard = {SWEEP_P_HARD})",
      ("panel", "loss", "easy_per_hard", "p_easy", "hard_share"), tuple(rows))


# ---------------------------------------------------------------------------------- plotting


def _new_figure(width: float, height: float):
  from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

  return Figure(figsize=(width, height), layout="constrained")


def _legend_labels(data: FigureData, quantity: str) -> list[tuple[str, str]]:
  prefix = f"{quantity}["
  return [(c, c[len(prefix):-1]) for c in data.columns if c.startswith(prefix)]


def _plot_curves(ax, data: FigureData, quantity: str, specs: Sequence, ylim, ylabel, title):
  p = data.column("p")
  labels = {loss_label(*resolve_loss(s)): pretty_label(s) for s in specs}
  for column, label in _legend_labels(data, quantity):
    ax.plot(p, data.column(column), label=labels[label], lw=1.6)
  ax.set_xlim(0, 1)
  ax.set_ylim(*ylim)
  ax.set_xlabel("p (probability of the true class)")
  ax.set_ylabel(ylabel)
  ax.set_title(title, loc="left")
  ax.axhline(0, color="k", lw=0.6)


def _draw_paper(data: FigureData, specs: Sequence):
  fig = _new_figure(8.0, 3.4)
  ax_g, ax_l = fig.subplots(1, 2)
  _plot_curves(ax_g, data, "g", specs, (-5, 0.5), "g(p) = dL/dp", "(a) scale coefficient")
  _plot_curves(ax_l, data, "L", specs, (0, 3), "L(p)", "(b) loss")
  ax_g.legend(loc="lower right")
  return fig


def _draw_maki(data: FigureData):
  specs = [("maki", {"gamma": gamma}) for gamma in MAKI_GAMMAS]
  fig = _new_figure(11.0, 3.4)
  axes = fig.subplots(1, 3)
  _plot_curves(axes[0], data, "g", specs, (-5, 0.5), "g(p) = -(1-p)^γ / p", "(a) scale coefficient")
  _plot_curves(axes[1], data, "L", specs, (0, 3), "L(p)", "(b) loss")
  _plot_curves(axes[2], data, "w", specs, (-1.1, 0.1), "w(p) = p·g(p) = -(1-p)^γ",
               "(c) logit-space weight")
  axes[0].legend(loc="lower right", title="Maki")
  return fig


def _draw_weights(data: FigureData):
  fig = _new_figure(8.0, 3.4)
  ax_lin, ax_log = fig.subplots(1, 2)
  _plot_curves(ax_lin, data, "w", CATALOG_LOSSES, (-2.2, 0.2), "w(p) = p·g(p)",
               "(a) weight reaching the logit")

  labels = {loss_label(*resolve_loss(s)): pretty_label(s) for s in CATALOG_LOSSES}
  q = 1.0 - data.column("p")
  for column, label in _legend_labels(data, "w"):
    ax_log.loglog(q, np.abs(data.column(column)), label=labels[label], lw=1.6)
  ax_log.set_xlim(1e-6, 1)
  ax_log.set_ylim(1e-6, 10)
  ax_log.invert_xaxis()
  ax_log.set_xlabel("1 - p (→ easy examples)")
  ax_log.set_ylabel("|w(p)|")
  ax_log.set_title("(b) decay as p → 1", loc="left")
  ax_log.legend(loc="lower left")
  return fig


def _draw_sweep(data: FigureData):
  from matplotlib import colormaps
  from matplotlib.ticker import NullLocator

  labels = [loss_label(*resolve_loss(s)) for s in CATALOG_LOSSES]
  fig = _new_figure(2.3 * len(labels) + 1.0, 5.2)
  axes = fig.subplots(2, len(labels), sharex=True, sharey=True, squeeze=False)
  levels = np.linspace(0, 1, 21)
  ratios, p_easy = SWEEP_RATIOS, SWEEP_P_EASY
  mappable = None
  rows = (("g", "share of Σ g (paper §2.1)"), ("w", "share of Σ w, w = p·g (at the logits)"))
  for row, (panel, what) in enumerate(rows):
    for col, (spec, label) in enumerate(zip(CATALOG_LOSSES, labels)):
      ax = axes[row, col]
      share = data.column("hard_share", panel=panel, loss=label).reshape(len(p_easy), len(ratios))
      mappable = ax.contourf(ratios, p_easy, share, levels=levels, cmap=colormaps["viridis"])
      ax.contour(ratios, p_easy, share, levels=[0.5], colors="w", linewidths=1.2)
      ax.plot([100], [0.9], marker="*", color="r", ms=9, mec="k", mew=0.5)
      ax.set_xscale("log")
      ax.set_yscale("logit")
      ax.set_yticks(_SWEEP_TICKS, [f"{t:g}" for t in _SWEEP_TICKS])
      ax.yaxis.set_minor_locator(NullLocator())
      ax.grid(False)
      if row == 0:
        ax.set_title(pretty_label(spec))
      if row == 1:
        ax.set_xlabel("easy per hard example")
      if col == 0:
        ax.set_ylabel(f"p_easy\n{what}")
  cbar = fig.colorbar(mappable, ax=axes, shrink=0.9)
  cbar.set_label(f"share of the gradient from the hard group (p_hard = {SWEEP_P_HARD})")
  cbar.set_ticks(np.linspace(0, 1, 6))
  return fig


@dataclasses.dataclass(frozen=True)
class FigureSpec:
  """How to compute one figure's data and how to draw it from that data."""

  name: str
  data: Callable[[], FigureData]
  draw: Callable[[FigureData], object]


FIGURES: dict[str, FigureSpec] = {
    spec.name: spec for spec in (
        FigureSpec("paper_figure1", paper_figure1, lambda d: _draw_paper(d, PAPER_FIGURE1_LOSSES)),
        FigureSpec("paper_figure2", paper_figure2, lambda d: _draw_paper(d, PAPER_FIGURE2_LOSSES)),
        FigureSpec("maki_gamma", maki_gamma, _draw_maki),
        FigureSpec("weights_catalog", weights_catalog, _draw_weights),
        FigureSpec("budget_sweep", budget_sweep, _draw_sweep),
    )
}


def write_figure(name: str, out_dir: str | Path, *, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
  """Compute one figure's data and write ``<name>.csv`` and ``<name>.<format>`` to ``out_dir``.

  Args:
    name: a figure of `FIGURES` (``"maki_gamma"``, …).
    out_dir: the directory (created if needed).
    formats: the image formats written with matplotlib.

  Returns:
    The paths written.

  Raises:
    InputError: an unknown figure.

  Example:
    >>> import tempfile
    >>> import gradeng as ge
    >>> with tempfile.TemporaryDirectory() as out:
    ...   print([path.name for path in ge.paper.write_figure("maki_gamma", out, formats=("png",))])
    ['maki_gamma.csv', 'maki_gamma.png']
  """
  import matplotlib

  if name not in FIGURES:
    raise InputError(f"Unknown figure {name!r}; the figures are {sorted(FIGURES)}.")
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  spec = FIGURES[name]
  data = spec.data()
  written = [out_dir / f"{name}.csv"]
  written[0].write_text(data.to_csv())
  with matplotlib.rc_context(_RC):
    fig = spec.draw(data)
    for fmt in formats:
      path = out_dir / f"{name}.{fmt}"
      metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None} if fmt == "png" else None
      fig.savefig(path, dpi=DPI, metadata=metadata)
      written.append(path)
  return written


def write_figures(out_dir: str | Path, names: Sequence[str] | None = None, **kwargs) -> list[Path]:
  """`write_figure` for each name (all figures by default).

  Args:
    out_dir: the directory (created if needed).
    names: figures of `FIGURES`; default all.
    **kwargs: passed to `write_figure` (``formats``).

  Returns:
    The paths written, figure by figure.

  Example:
    >>> import tempfile
    >>> import gradeng as ge
    >>> with tempfile.TemporaryDirectory() as out:
    ...   paths = ge.paper.write_figures(out, ["weights_catalog"], formats=("png",))
    ...   print([path.name for path in paths])
    ['weights_catalog.csv', 'weights_catalog.png']
  """
  return [path for name in (names or FIGURES) for path in write_figure(name, out_dir, **kwargs)]
