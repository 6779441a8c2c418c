"""The outputs of an evaluation: ``evaluation.json``, the markdown tables, the figure, the card."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradeng.experiments.common import atomic_write_json, atomic_write_text, save_figure

from ._experiments import YOURS, metric_descriptions

if TYPE_CHECKING:
  from ._evaluate import EvaluationResult


def _interval(interval, signed: bool = False) -> str:
  fmt = "{:+.3f}" if signed else "{:.3f}"
  if interval.mean != interval.mean:  # NaN: no finite value
    return "n/a"
  if interval.low is None:
    return fmt.format(interval.mean)
  return f"{fmt.format(interval.mean)} [{fmt.format(interval.low)}, {fmt.format(interval.high)}]"


def _formula_text(result: EvaluationResult) -> str:
  params = ", ".join(f"{k} = {v:g}" for k, v in result.params.items())
  return f"g(p) = {result.formula}" + (f" ({params})" if params else "")


def markdown(result: EvaluationResult) -> str:
  """The evaluation as markdown: the setup, the tally, a table of means and one of differences."""
  arrows = {True: "↑", False: "↓"}
  lines = [f"# Evaluation of `{_formula_text(result)}`", "",
           f"Experiments: {', '.join(result.on)} ({'quick' if result.quick else 'full'} budgets); "
           f"seeds {', '.join(map(str, result.seeds))}, the same for every loss. Baselines: "
           f"{', '.join(result.against)}. Intervals are 95 % Student-t over seeds; a difference "
           f"is yours − baseline paired seed by seed, and exceeds the seed noise only when its "
           f"interval excludes 0.", ""]
  for baseline, counts in result.tally().items():
    lines.append(f"- against **{baseline}**: better beyond the seed noise in {counts['better']} "
                 f"of {sum(counts.values())} rows, worse in {counts['worse']}, within the noise "
                 f"in {counts['within']}.")
  labels = [YOURS, *result.against]
  lines += ["", "## Means over seeds (95 % CI)", "",
            "| experiment | setting | metric | " + " | ".join(labels) + " |",
            "|---|---|---|" + "---|" * len(labels)]
  for row in result.rows:
    cells = [_interval(row.means[label]) for label in labels]
    lines.append(f"| {row.experiment} | {row.setting} | "
                 f"{row.metric} {arrows[row.higher_is_better]} | "
                 + " | ".join(cells) + " |")
  lines += ["", "## Paired differences, yours − baseline (95 % CI)", "",
            "| experiment | setting | metric | " + " | ".join(result.against) + " |",
            "|---|---|---|" + "---|" * len(result.against)]
  for row in result.rows:
    cells = []
    for baseline in result.against:
      difference = row.differences[baseline]
      verdict = "within the seed noise"
      if difference.excludes_zero:
        better = (difference.mean > 0) == row.higher_is_better
        verdict = f"exceeds the seed noise ({'better' if better else 'worse'})"
      cells.append(f"{_interval(difference, signed=True)}: {verdict}")
    lines.append(f"| {row.experiment} | {row.setting} | "
                 f"{row.metric} {arrows[row.higher_is_better]} | "
                 + " | ".join(cells) + " |")
  described = {row.metric for row in result.rows}
  lines += ["", "Metrics (↑ higher is better, ↓ lower is better):", ""]
  lines += [f"- `{m}`: {text}" for m, text in metric_descriptions().items() if m in described]
  return "\n".join(lines) + "\n"


def figure(result: EvaluationResult):
  """A forest plot: per baseline, yours − baseline with its 95 % interval for every row."""
  from matplotlib.figure import Figure

  n_rows, n_base = len(result.rows), len(result.against)
  fig = Figure(figsize=(3.2 * n_base + 3.0, 0.28 * n_rows + 1.4), layout="constrained")
  axes = fig.subplots(1, n_base, sharey=True, squeeze=False)[0]
  names = [f"{r.setting} · {r.metric}" for r in result.rows]
  for ax, baseline in zip(axes, result.against):
    for y, row in enumerate(result.rows):
      d = row.differences[baseline]
      if d.mean != d.mean:
        continue
      colour = "0.5"
      if d.excludes_zero:
        colour = "tab:green" if (d.mean > 0) == row.higher_is_better else "tab:red"
      if d.low is not None:
        ax.plot([d.low, d.high], [y, y], color=colour, linewidth=1.5)
      ax.plot([d.mean], [y], "o", color=colour, markersize=4)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_title(f"yours − {baseline}", fontsize=9)
    ax.set_xlabel("difference (green: better, red: worse)", fontsize=8)
    ax.tick_params(labelsize=7)
  axes[0].set_yticks(range(n_rows), names)
  axes[0].invert_yaxis()
  fig.suptitle(_formula_text(result), fontsize=10)
  return fig


def write_card(result: EvaluationResult, out: Path) -> Path | None:
  """The loss card of the evaluated formula with the evaluation on it, written to ``out`` by
  `gradeng.symbolic.card.write_card` when that package is installed; None (nothing written)
  without it."""
  try:
    card = importlib.import_module("gradeng.symbolic.card")
  except ModuleNotFoundError as error:
    if error.name in ("gradeng.symbolic.card",):
      return None
    raise
  if not hasattr(card, "write_card"):
    return None
  written = card.write_card(result.formula, params=dict(result.params) or None, out=out,
                            evaluation=result.to_json())
  return Path(written) if written is not None else out


def write_outputs(result: EvaluationResult, *, card: bool = True) -> dict[str, Path]:
  """Writes ``evaluation.md``, ``evaluation.png``, the card (if ``card``) and
  ``evaluation.json`` (last, with the paths of the others) under ``result.out_dir``; returns
  name -> path."""
  out = Path(result.out_dir)
  files: dict[str, Path] = {"json": out / "evaluation.json", "markdown": out / "evaluation.md",
                            "figure": out / "evaluation.png"}
  atomic_write_text(files["markdown"], markdown(result))
  save_figure(figure(result), files["figure"])
  written = write_card(result, out / "card.html") if card else None
  if written is not None:
    files["card"] = written
  data: dict[str, Any] = {**result.to_json(), "files": {k: str(v) for k, v in files.items()}}
  atomic_write_json(files["json"], data, indent=1)
  return files
