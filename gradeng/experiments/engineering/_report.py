"""Report of the engineering experiment: the CSV tables and one figure per question, drawn from the
CSV files only."""

from __future__ import annotations

import csv
from pathlib import Path

from gradeng.experiments.common import atomic_write_csv, save_figure
from gradeng.experiments.engineering._config import COLLAPSE_FRACTION


def _write_csv(path: Path, rows: list[dict]) -> Path:
  fields = list(rows[0])
  atomic_write_csv(path, ([row[k] for k in fields] for row in rows), fields, lineterminator="\r\n")
  return path


def _read_csv(path: Path) -> list[dict]:
  with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
  for row in rows:
    for k, v in row.items():
      try:
        row[k] = float(v)
      except ValueError:
        pass
  return rows


def _save(fig, path: Path) -> Path:
  save_figure(fig, path)
  return path


def draw_figures(out_dir: Path) -> list[Path]:
  """One figure per question, drawn from the CSV files in ``out_dir`` only."""
  from matplotlib.figure import Figure

  written = []
  # (a)
  rows = _read_csv(out_dir / "engineering_warmup.csv")
  fig = Figure(figsize=(10, 3.6), layout="constrained")
  axes = fig.subplots(1, 4)
  for col, (optimizer, metric) in enumerate([(o, m) for o in ("momentum", "adam")
                                              for m in ("stable_fraction", "median_final_ce")]):
    ax = axes[col]
    for key in sorted({(r["loss"], r["lr_warmup"]) for r in rows}):
      sel = [r for r in rows if r["optimizer"] == optimizer and (r["loss"], r["lr_warmup"]) == key]
      label = f"{key[0]}, {'LR warm-up' if key[1] else 'no LR warm-up'}"
      y = [min(r[metric], 1.0) if metric == "median_final_ce" else r[metric] for r in sel]
      ax.plot([r["lr"] for r in sel], y, marker="o", label=label,
              linestyle="-" if key[1] else "--")
    ax.set_xscale("log")
    ax.set_xlabel(f"learning rate ({optimizer})")
    ax.set_ylabel("fraction stable" if metric == "stable_fraction" else "median final train CE")
    if metric == "median_final_ce":
      prior = rows[0]["prior_ce"]
      ax.axhline(prior, color="grey", lw=0.8, ls=":")
      ax.axhline(COLLAPSE_FRACTION * prior, color="grey", lw=0.5, ls="--")
  axes[0].legend(fontsize=6)
  fig.suptitle("(a) warm-up coefficient vs learning-rate warm-up (MLP 2-32-32-1, 1:10)")
  written.append(_save(fig, out_dir / "engineering_warmup.png"))

  # (b)
  curves = _read_csv(out_dir / "engineering_periodic_curves.csv")
  fig = Figure(figsize=(10, 3.4), layout="constrained")
  optimizers = list(dict.fromkeys(r["optimizer"] for r in curves))
  axes = fig.subplots(1, len(optimizers))
  for ax, optimizer in zip(axes, optimizers):
    for arm, style in (("SGDR learning rate, CE", "-"), ("constant learning rate, periodic coefficient", "--"),
                       ("constant learning rate, CE", ":")):
      sel = [r for r in curves if r["optimizer"] == optimizer and r["arm"] == arm]
      ax.plot([r["step"] for r in sel], [r["mean_train_ce"] for r in sel], ls=style, label=arm)
    ax.set_yscale("log")
    ax.set_title(optimizer)
    ax.set_xlabel("step")
  axes[0].set_ylabel("mean train CE (4+ seeds)")
  axes[0].legend(fontsize=6)
  fig.suptitle("(b) periodic coefficient g·f(step) vs SGDR learning rate")
  written.append(_save(fig, out_dir / "engineering_periodic.png"))

  # (c), (d)
  for name, title in (("adaptive", "(c) batch-adaptive γ vs fixed γ"), ("ghm", "(d) GHM-C vs focal")):
    rows = _read_csv(out_dir / f"engineering_{name}.csv")
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for loss in dict.fromkeys(r["loss"] for r in rows):
      sel = [r for r in rows if r["loss"] == loss]
      for ax, metric in zip(axes, ("recall", "ap")):
        ax.errorbar([r["ratio"] for r in sel], [r[f"{metric}_mean"] for r in sel],
                    yerr=[r[f"{metric}_sd"] for r in sel], marker="o", capsize=2, label=loss,
                    ls="-" if ("adaptive" in loss or "GHM" in loss) else "--")
    for ax, label in zip(axes, ("minority recall @ 0.5", "average precision")):
      ax.set_xscale("log")
      ax.set_xlabel("imbalance majority:minority")
      ax.set_ylabel(label)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"{title} (MLP 2-16-1, Adam)")
    written.append(_save(fig, out_dir / f"engineering_{name}.png"))

  # (e)
  rows = _read_csv(out_dir / "engineering_minibatch.csv")
  fig = Figure(figsize=(9, 3.4), layout="constrained")
  axes = fig.subplots(1, 2, sharey=True)
  labels = [r["loss"] for r in rows]
  for ax, metric, label in zip(axes, ("recall", "ap"), ("minority recall @ 0.5", "average precision")):
    ax.barh(range(len(rows)), [r[f"{metric}_mean"] for r in rows], xerr=[r[f"{metric}_sd"] for r in rows],
            color=["C0" if "adaptive" in l else "C2" if "GHM" in l else "C7" for l in labels], capsize=2)
    ax.set_xlabel(f"{label} (mean ± sd over seeds)")
  axes[0].set_yticks(range(len(rows)), labels, fontsize=7)
  axes[0].invert_yaxis()
  ratio, batch = rows[0]["ratio"], int(rows[0]["batch_size"])
  fig.suptitle(f"(e) EMA momentum with mini-batches of {batch} at 1:{ratio:g} (MLP 2-16-1, Adam)")
  written.append(_save(fig, out_dir / "engineering_minibatch.png"))
  return written


def tables_markdown(out_dir) -> str:
  """The Markdown tables of ``docs/engineering_results.md``, from the CSV files in ``out_dir``."""
  out_dir = Path(out_dir)

  def rows(name):
    with open(out_dir / f"engineering_{name}.csv", newline="") as f:
      return list(csv.DictReader(f))

  lines = ["### (a)",
           "| optimizer | lr | LR warm-up | loss | stable | NaN | median final CE | mean recall |",
           "|---|---|---|---|---|---|---|---|"]
  for r in rows("warmup"):
    runs = int(r["runs"])
    lines.append(
        f"| {r['optimizer']} | {float(r['lr']):g} | {int(float(r['lr_warmup']))} steps | {r['loss']} "
        f"| {float(r['stable_fraction']) * runs:.0f}/{r['runs']} "
        f"| {float(r['nan_fraction']) * runs:.0f}/{r['runs']} | {float(r['median_final_ce']):.4f} "
        f"| {float(r['mean_recall']):.3f} |")
  lines += ["### (b)",
            "| optimizer | lr | compared runs (a vs b) | max abs Δ train CE (all steps, seeds) "
            "| max rel Δ params | final CE a | final CE b |",
            "|---|---|---|---|---|---|---|"]
  for r in rows("periodic"):
    lines.append(
        f"| {r['optimizer']} | {float(r['lr']):g} | {r['compare'].replace(' | ', ' vs ')} "
        f"| {float(r['max_abs_train_ce_diff']):.3g} | {float(r['max_rel_param_diff']):.3g} "
        f"| {float(r['final_ce_a']):.5f} | {float(r['final_ce_b']):.5f} |")
  for name in ("adaptive", "ghm", "minibatch"):
    lines += [f"### {name}", "| loss | ratio | recall (mean ± sd) | AP (mean ± sd) | final train CE |",
              "|---|---|---|---|---|"]
    for r in rows(name):
      lines.append(
          f"| {r['loss']} | 1:{float(r['ratio']):g} | {float(r['recall_mean']):.3f} ± "
          f"{float(r['recall_sd']):.3f} | {float(r['ap_mean']):.3f} ± {float(r['ap_sd']):.3f} "
          f"| {float(r['final_ce_mean']):.4f} |")
  return "\n".join(lines) + "\n"
