"""``run_experiment``: learn θ twice (meta-gradient, ES), evaluate held out, write everything.

Output directory (everything under ``out_dir`` unless ``figures_dir``/``derivation_path`` say
otherwise)::

  config.json                 the config (another config's directory is refused)
  gradient/state.npz          outer-loop state of the meta-gradient run (resumable)
  es/state.npz                the same for evolution strategies
  results.json                θ, weights, closed forms, outer-loop history, evaluation table
  results.md                  the evaluation table in Markdown
  learned_g.png / .csv        the learned g and w = p·g next to CE, focal and Maki (best γ)
  meta_curve.png / .csv       validation objective per outer step, meta-gradient vs ES
  derivation.md               the learned loss derived by `gradeng.derive`, with its checks

Figures are drawn from ``results.json`` alone (`draw_figures`), and every file is written
atomically; the outer loops resume after a kill (see `gradeng.experiments.learn._meta`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from pathlib import Path

import numpy as np

from gradeng.experiments._io import atomic_write_bytes, atomic_write_text

from ._config import FULL, QUICK, LearnConfig
from ._evaluate import evaluate
from ._inner import OBJECTIVES
from ._meta import learn

LEARNED = {"gradient": "learned (meta-gradient)", "es": "learned (ES)"}
DPI = 120


def _curves(results: dict) -> dict[str, np.ndarray]:
  """p grid and -w(p) = -p·g(p) of every loss in the figure."""
  import gradeng as ge
  from gradeng.symbolic._learned import maki_mixture

  exponents = tuple(results["config"]["exponents"])
  family = maki_mixture(exponents)
  p = np.concatenate([np.linspace(1e-3, 0.999, 400)])
  curves = {"p": p}
  selection = results["evaluation"]["selection"]
  focal_gamma = float(selection["best_focal"].split("=")[1])
  maki_gamma = float(selection["best_maki"].split("=")[1])
  curves["CE"] = -np.asarray(ge.logit_weight("ce", p))
  curves[selection["best_focal"]] = -np.asarray(ge.logit_weight("focal", p, gamma=focal_gamma))
  curves[selection["best_maki"]] = -np.asarray(ge.logit_weight("maki", p, gamma=maki_gamma))
  for method, name in LEARNED.items():
    c = results["learned"][method]["weights"]
    params = {f"c{i}": float(v) for i, v in enumerate(c)}
    curves[name] = -np.asarray(ge.logit_weight(family, p, **params))
  return curves


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator="\n")
  writer.writerow(list(columns))
  for row in zip(*columns.values()):
    writer.writerow([f"{float(v):.6g}" for v in row])
  atomic_write_text(path, buffer.getvalue())


def _save_figure(figure, path: Path) -> None:
  atomic_write_bytes(path, lambda f: figure.savefig(f, format="png", dpi=DPI, metadata={"Software": None}))


def draw_figures(results: dict, out_dir: Path) -> list[Path]:
  """The two figures (and their data as CSV) from the saved results."""
  from matplotlib.figure import Figure

  out_dir = Path(out_dir)
  curves = _curves(results)
  p = curves.pop("p")
  figure = Figure(figsize=(10, 4), layout="constrained")
  left, right = figure.subplots(1, 2)
  for name, w in curves.items():
    style = "-" if name.startswith("learned") else "--"
    left.plot(p, w, style, label=name)
    right.semilogy(p, w / p, style, label=name)
  left.set(xlabel="p (probability of the true class)", ylabel="|w(p)| = p·|g(p)|",
           title="logit weight (what reaches dL/dz)")
  right.set(xlabel="p", ylabel="|g(p)| = |dL/dp|", title="scale coefficient")
  left.legend(fontsize=8)
  paths = [out_dir / "learned_g.png", out_dir / "learned_g.csv"]
  _save_figure(figure, paths[0])
  _write_csv(paths[1], {"p": p, **curves})

  figure = Figure(figsize=(6, 4), layout="constrained")
  axes = figure.subplots()
  columns = {}
  for method, name in LEARNED.items():
    values = np.asarray(results["learned"][method]["history"]["objective"])
    steps = np.arange(len(values))
    window = min(5, len(values))
    smooth = np.convolve(values, np.ones(window) / window, mode="valid")
    axes.plot(steps, values, alpha=0.25)
    axes.plot(steps[window - 1:], smooth, label=f"{name} ({window}-step mean)",
              color=axes.lines[-1].get_color())
    columns[f"{method}_objective"] = values
  axes.set(xlabel="outer step", ylabel=f"{OBJECTIVES[results['config']['objective']].split(' (')[0]} (fresh tasks each step)",
           title="learning θ")
  axes.legend(fontsize=8)
  paths += [out_dir / "meta_curve.png", out_dir / "meta_curve.csv"]
  _save_figure(figure, paths[2])
  lengths = {len(v) for v in columns.values()}
  if len(lengths) == 1:
    _write_csv(paths[3], {"step": np.arange(lengths.pop()), **columns})
  return paths


def table_markdown(results: dict) -> str:
  """The evaluation as Markdown: one table per setting, mean ± std over seeds."""
  evaluation = results["evaluation"]
  lines = [
      f"# Learned scale coefficient: held-out evaluation ({results['config']['name']})",
      "",
      "Generated by `gradeng learn-coefficient`. Every loss is trained by the same inner training "
      "(full-batch SGD + momentum, same steps, model and seeds); mean ± std over "
      f"{len(evaluation['seeds'])} seeds (and ratios within a row group). test CE = balanced "
      "cross-entropy on the test set; AP = average precision of the minority class on the test "
      "set weighted to the imbalance; recall = minority recall at p = 0.5. Meta-objective: "
      f"{OBJECTIVES[results['config']['objective']]} (its test counterpart is marked best).",
      "",
      f"Baselines' γ picked by {evaluation['selection']['criterion']}: "
      f"{evaluation['selection']['best_focal']}, {evaluation['selection']['best_maki']}.",
      "",
      "Learned weights c (basis (1-p)^k/p, k = "
      f"{', '.join(str(k) for k in results['config']['exponents'])}):",
      "",
  ]
  for method, name in LEARNED.items():
    entry = results["learned"][method]
    lines.append(f"- {name}: c = [{', '.join(f'{c:.3f}' for c in entry['weights'])}], "
                 f"g(p) = `{entry['formula']}`")
  lines.append("")
  by_ap = results["config"]["objective"] == "smooth_ap"
  for setting, losses in evaluation["settings"].items():
    if by_ap:
      best = max(losses, key=lambda n: losses[n]["ap"]["mean"])
    else:
      best = min(losses, key=lambda n: losses[n]["test_ce"]["mean"])
    lines += [f"## {setting}", "", "| loss | test CE ↓ | AP ↑ | recall ↑ |", "|---|---:|---:|---:|"]
    for name, metrics in losses.items():
      cells = [f"{metrics[m]['mean']:.4f} ± {metrics[m]['std']:.4f}" for m in ("test_ce", "ap", "recall")]
      marker = (" **(best AP)**" if by_ap else " **(best test CE)**") if name == best else ""
      lines.append(f"| {name}{marker} | {' | '.join(cells)} |")
    lines.append("")
  return "\n".join(lines)


def derivation_markdown(results: dict) -> str:
  """The learned loss (meta-gradient) derived by `gradeng.derive`, its properties and tails."""
  import sympy as sp

  import gradeng as ge
  from gradeng.symbolic._learned import learned_coefficient

  lines = ["# Derivation: the learned Maki mixture", "",
           "Generated by `gradeng learn-coefficient` from the learned weights (rounded to 4 "
           "decimals). The family is g(p) = -Σ_k c_k (1-p)^k / p with c_k ≥ 0, so the loss is "
           "the same combination of Maki tails, L(p) = Σ_k c_k ∫_p^1 (1-t)^k/t dt, evaluated "
           "stably by `maki_tail`; the polynomial form printed by `derive` below is exact "
           "algebra but cancels in floating point as p → 1 (never evaluate it there).", ""]
  exponents = results["config"]["exponents"]
  for method, name in LEARNED.items():
    entry = results["learned"][method]
    coefficient = learned_coefficient(entry["weights"], exponents)
    derivation = ge.derive(entry["formula"])
    tails = " + ".join(f"{c:.4f}·L_{k}(p)" for c, k in zip(entry["weights"], exponents)
                       if round(c, 4) != 0)
    lines += [f"## {name}", "",
              f"- θ = [{', '.join(f'{t:.4f}' for t in entry['theta'])}], c = softmax(θ)",
              f"- g(p) = `{entry['formula']}`",
              f"- L(p) = {tails}, with L_k the Maki tail of order k",
              f"- `gradeng.derive` closed form: `L(p) = {derivation.loss}`",
              f"- verified (L' = g, L(1) = 0): {derivation.verified} ({derivation.verification})",
              f"- LaTeX: $L(p) = {sp.latex(derivation.loss)}$",
              "", "| property | holds | evidence |", "|---|---|---|"]
    for check in ge.check_properties(coefficient.expr, derivation.loss):
      cells = (str(v).replace("|", "\\|") for v in (check.name, check.holds, check.evidence))
      lines.append(f"| {' | '.join(cells)} |")
    lines.append("")
  return "\n".join(lines)


def run_experiment(config: LearnConfig, out_dir, *, figures_dir=None, derivation_path=None,
                   progress: bool = True, stop_after: int | None = None) -> dict:
  """Learns θ (meta-gradient and ES), evaluates held out, writes results, figures and derivation.

  Args:
    config: `QUICK`, `FULL` or a custom `LearnConfig`.
    out_dir: run directory (state, results; figures and derivation too unless given).
    figures_dir: where the figures and ``results.md`` go (default ``out_dir``).
    derivation_path: the derivation report's path (default ``out_dir/derivation.md``).
    progress: progress bars.
    stop_after: stop both outer loops after this many steps (for tests of resumption); nothing
      is evaluated or written beyond the saved states then.

  Returns:
    The results dict (also in ``results.json``) with ``files`` (paths written) and ``seconds``.
  """
  from gradeng.symbolic._learned import mixture_formula

  out_dir = Path(out_dir)
  figures_dir = out_dir if figures_dir is None else Path(figures_dir)
  derivation_path = out_dir / "derivation.md" if derivation_path is None else Path(derivation_path)
  start = time.perf_counter()
  learned = {}
  for method in LEARNED:
    run = learn(config, method, out_dir, stop_after=stop_after, progress=progress)
    learned[method] = {
        "theta": run["theta"].tolist(), "weights": run["weights"].tolist(),
        "formula": mixture_formula(run["weights"], config.exponents),
        "history": run["history"], "steps": run["steps_done"],
    }
  if stop_after is not None and stop_after < config.outer_steps:
    return {"learned": learned, "files": [], "seconds": time.perf_counter() - start}
  evaluation = evaluate(config, {LEARNED[m]: np.asarray(v["weights"]) for m, v in learned.items()})
  results = {"config": config.to_dict(), "learned": learned, "evaluation": evaluation}
  paths = [out_dir / "results.json", figures_dir / "results.md", derivation_path]
  atomic_write_text(paths[0], json.dumps(results, indent=1) + "\n")
  atomic_write_text(paths[1], table_markdown(results) + "\n")
  atomic_write_text(paths[2], derivation_markdown(results) + "\n")
  paths += draw_figures(results, figures_dir)
  return {**results, "files": [str(p) for p in paths], "seconds": time.perf_counter() - start}


def get_config(quick: bool, objective: str = "balanced_ce") -> LearnConfig:
  """`QUICK` or `FULL`, with the meta-objective ``objective`` (named ``<name>-smooth_ap`` when
  it is not the default balanced CE, so the two never share a run directory)."""
  config = QUICK if quick else FULL
  if objective == config.objective:
    return config
  return dataclasses.replace(config, objective=objective, name=f"{config.name}-{objective}")
