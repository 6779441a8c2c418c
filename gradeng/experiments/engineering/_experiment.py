"""Evaluation of the stateful coefficients on toy imbalanced trainings: five questions.

(a) warm-up: does the warm-up coefficient replace learning-rate warm-up at high learning rates?
(b) periodic: is g·f(step) the SGDR learning-rate schedule under SGD, and nothing under Adam?
(c) adaptive: does the batch-adaptive γ (global / per class) beat a fixed γ across imbalance ratios?
(d) GHM-C: does gradient-density harmonisation beat focal loss (its paper's claim)?
(e) mini-batches: does the EMA momentum of adaptive γ and GHM-C matter when a batch rarely holds
    a minority example?

``run_engineering(out_dir, quick=True)`` trains every grid (one ``jit(vmap)`` per arm), writes one
CSV table per question and ``engineering_results.json``, then draws one figure per question from
the CSV files only. All numbers in ``docs/engineering_results.md`` come from these files.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import gradeng as ge
from gradeng import runtime as st
from gradeng.experiments.common import atomic_write_csv, atomic_write_json, save_figure
from gradeng.experiments.engineering._train import TrainConfig, run_grid, stateless
from gradeng.experiments.toy import minority_count, sample



@dataclasses.dataclass(frozen=True)
class EngineeringConfig:
  """Sizes of the five experiments (``quick``: ≲ 2 min on 2 CPU cores)."""

  seeds: tuple[int, ...] = tuple(range(8))
  steps: int = 300
  n_train: int = 1024
  ratios: tuple[float, ...] = (10.0, 100.0, 1000.0)
  warmup_lrs_momentum: tuple[float, ...] = (1.0, 3.0, 10.0)
  warmup_lrs_adam: tuple[float, ...] = (0.1, 0.3, 1.0)
  warmup_steps: int = 50
  warmup_bounds: tuple[float, ...] = (1.0, 0.25)
  periodic_optimizers: tuple[str, ...] = ("sgd", "momentum", "adam")
  fixed_gammas: tuple[float, ...] = (0, 1, 2, 4)
  adaptive_focal: bool = True
  minibatch_size: int = 64
  minibatch_ratio: float = 100.0
  adaptive_momenta: tuple[float, ...] = (0.0, 0.9, 0.99)
  ghm_momenta: tuple[float, ...] = (0.0, 0.75, 0.95)


QUICK = EngineeringConfig(seeds=tuple(range(4)), steps=200, n_train=512, ratios=(10.0, 100.0),
                          warmup_bounds=(1.0,), periodic_optimizers=("sgd", "adam"), fixed_gammas=(0, 2),
                          adaptive_focal=False)
FULL = EngineeringConfig()


def _np(tree):
  return jax.tree_util.tree_map(np.asarray, tree)


def _prior_ce(n_train, ratio):
  """Train cross-entropy of the best constant prediction (the class prior of the training set)."""
  pi = int(minority_count(n_train, ratio)) / n_train
  return -(pi * math.log(pi) + (1 - pi) * math.log(1 - pi))


#: A run is *collapsed* when its final train CE is above this fraction of the prior's CE (a model
#: stuck at, or near, the constant prediction, typically with dead ReLUs).
COLLAPSE_FRACTION = 0.9


# ----------------------------------------------------------------------------- (a) warm-up


def warmup_experiment(cfg: EngineeringConfig) -> list[dict]:
  rows = []
  ce = stateless(ge.cross_entropy_loss)
  ratio = 10.0
  prior = _prior_ce(cfg.n_train, ratio)
  for optimizer, lrs in (("momentum", cfg.warmup_lrs_momentum), ("adam", cfg.warmup_lrs_adam)):
    arms = [("CE", ce)] + [(f"warm-up coefficient B0={b:g}",
                            st.warmup_coefficient("ce", bound=b, warmup_steps=cfg.warmup_steps))
                           for b in cfg.warmup_bounds]
    train_cfg = TrainConfig(optimizer=optimizer, steps=cfg.steps, hidden=(32, 32), n_train=cfg.n_train,
                            n_test=cfg.n_train)
    warmups = (0, cfg.warmup_steps)
    for name, loss in arms:
      grid = _np(run_grid(train_cfg, loss, lrs, [ratio], cfg.seeds, lr_warmups=warmups))
      for w, lr_warmup in enumerate(warmups):
        out = jax.tree_util.tree_map(lambda a: a[w], grid)
        for i, lr in enumerate(lrs):
          final = out["final_ce"][i, 0]
          ok = np.isfinite(final) & out["finite"][i, 0] & (final < COLLAPSE_FRACTION * prior)
          rows.append({
              "optimizer": optimizer, "lr": lr, "lr_warmup": lr_warmup, "loss": name,
              "runs": len(cfg.seeds), "stable_fraction": float(ok.mean()),
              "nan_fraction": float((~np.isfinite(final) | ~out["finite"][i, 0]).mean()),
              "median_final_ce": float(np.median(np.where(np.isfinite(final), final, np.inf))),
              "mean_recall": float(np.nanmean(out["recall"][i, 0])),
              "max_ce_first_50": float(np.nanmax(np.where(np.isfinite(out["ce"][i, 0, :, :50]),
                                                          out["ce"][i, 0, :, :50], np.nan))),
              "prior_ce": prior,
          })
  return rows


# ----------------------------------------------------------------------------- (b) periodic


def periodic_experiment(cfg: EngineeringConfig) -> tuple[list[dict], list[dict]]:
  """SGDR as a learning-rate schedule vs as a periodic coefficient, SGD/momentum/Adam."""
  sgdr = (50, 2.0, 0.0)
  ce = stateless(ge.cross_entropy_loss)
  periodic = st.periodic_coefficient("ce", period=sgdr[0], t_mult=sgdr[1], floor=sgdr[2])
  ratio = 10.0
  curves, rows = [], []
  lrs = {"sgd": 1.0, "momentum": 0.3, "adam": 0.01}
  for optimizer in cfg.periodic_optimizers:
    lr = lrs[optimizer]
    base = TrainConfig(optimizer=optimizer, steps=cfg.steps, hidden=(16,), n_train=cfg.n_train,
                       n_test=cfg.n_train)
    arms = {
        "SGDR learning rate, CE": run_grid(dataclasses.replace(base, lr_sgdr=sgdr), ce, [lr], [ratio], cfg.seeds),
        "constant learning rate, periodic coefficient": run_grid(base, periodic, [lr], [ratio], cfg.seeds),
        "constant learning rate, CE": run_grid(base, ce, [lr], [ratio], cfg.seeds),
    }
    arms = {k: _np(v) for k, v in arms.items()}
    for name, out in arms.items():
      mean = np.mean(out["ce"][0, 0], axis=0)
      for step in range(cfg.steps):
        curves.append({"optimizer": optimizer, "arm": name, "step": step, "mean_train_ce": float(mean[step])})

    def gap(a, b):
      pa, pb = (np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(arms[k]["params"])]) for k in (a, b))
      scale = np.max(np.abs(pa))
      return (float(np.max(np.abs(arms[a]["ce"] - arms[b]["ce"]))), float(np.max(np.abs(pa - pb)) / scale))

    for a, b in (("SGDR learning rate, CE", "constant learning rate, periodic coefficient"),
                 ("constant learning rate, CE", "constant learning rate, periodic coefficient"),
                 ("SGDR learning rate, CE", "constant learning rate, CE")):
      ce_gap, param_gap = gap(a, b)
      rows.append({"optimizer": optimizer, "lr": lr, "compare": f"{a} | {b}", "max_abs_train_ce_diff": ce_gap,
                   "max_rel_param_diff": param_gap,
                   "final_ce_a": float(np.mean(arms[a]["final_ce"])), "final_ce_b": float(np.mean(arms[b]["final_ce"]))})
  return rows, curves


# ----------------------------------------------------------------------------- (c) adaptive γ, (d) GHM-C


def _imbalance_rows(cfg: EngineeringConfig, arms: dict, question: str, cache: dict, *,
                    ratios=None, batch_size=None) -> list[dict]:
  """Recall/AP per arm and ratio; ``cache`` (arm name -> outputs) shares identical arms between
  questions (so it must not be shared between full-batch and mini-batch trainings)."""
  ratios = cfg.ratios if ratios is None else ratios
  train_cfg = TrainConfig(optimizer="adam", steps=cfg.steps, hidden=(16,), n_train=cfg.n_train,
                          n_test=cfg.n_train, batch_size=batch_size)
  rows = []
  for name, loss in arms.items():
    if name not in cache:
      cache[name] = _np(run_grid(train_cfg, loss, [0.02], ratios, cfg.seeds))
    out = cache[name]
    for j, ratio in enumerate(ratios):
      recall, ap = out["recall"][0, j], out["ap"][0, j]
      rows.append({"question": question, "loss": name, "ratio": ratio, "runs": len(cfg.seeds),
                   "recall_mean": float(np.nanmean(recall)), "recall_sd": float(np.nanstd(recall)),
                   "ap_mean": float(np.nanmean(ap)), "ap_sd": float(np.nanstd(ap)),
                   "final_ce_mean": float(np.nanmean(out["final_ce"][0, j]))})
  return rows


def adaptive_experiment(cfg: EngineeringConfig, cache: dict) -> list[dict]:
  arms = {("CE (Maki γ=0)" if g == 0 else f"Maki γ={g:g}"): stateless(lambda z, y, g=g: ge.maki_loss(z, y, gamma=g))
          for g in cfg.fixed_gammas}
  arms["Maki adaptive γ (global)"] = st.adaptive_gamma_coefficient("maki", momentum=0.9)
  arms["Maki adaptive γ (per class)"] = st.adaptive_gamma_coefficient("maki", momentum=0.9, per_class=True)
  arms["focal γ=2"] = stateless(lambda z, y: ge.focal_loss(z, y, gamma=2.0))
  if cfg.adaptive_focal:
    arms["focal adaptive γ (global)"] = st.adaptive_gamma_coefficient("focal", momentum=0.9)
  return _imbalance_rows(cfg, arms, "adaptive", cache)


def adaptive_gamma_trajectory(cfg: EngineeringConfig, ratio: float) -> list[dict]:
  """γ over training (seed 0) for the global and per-class adaptive Maki."""
  from gradeng.experiments.engineering._train import init_mlp, mlp
  import optax

  rows = []
  for name, per_class in (("global", False), ("per class", True)):
    sl = st.adaptive_gamma_coefficient("maki", momentum=0.9, per_class=per_class)
    x, y = sample("gaussian", jax.random.key(0), cfg.n_train, minority_count(cfg.n_train, ratio), 3.0)
    params = init_mlp(jax.random.key(1), (16,))
    opt = optax.adam(0.02)

    def step(carry, _):
      params, opt_state, state = carry
      def objective(p):
        values, new_state = sl.loss(mlp(p, x), y, state)
        return jnp.mean(values), new_state

      grads, state = jax.grad(objective, has_aux=True)(params)
      updates, opt_state = opt.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state, state), state.gamma

    _, gammas = jax.jit(lambda c: jax.lax.scan(step, c, length=cfg.steps))((params, opt.init(params), sl.init()))
    gammas = np.asarray(gammas)
    for t in range(cfg.steps):
      for k in range(gammas.shape[1]):
        group = "all" if not per_class else ("negatives" if k == 0 else "positives")
        rows.append({"variant": name, "group": group, "step": t, "gamma": float(gammas[t, k])})
  return rows


def ghm_experiment(cfg: EngineeringConfig, cache: dict) -> list[dict]:
  arms = {
      "CE (Maki γ=0)": stateless(lambda z, y: ge.maki_loss(z, y, gamma=0)),
      "focal γ=2": stateless(lambda z, y: ge.focal_loss(z, y, gamma=2.0)),
      "GHM-C (10 bins, momentum 0.75)": st.ghm_coefficient("ce", bins=10, momentum=0.75),
      "GHM-C (30 bins, momentum 0)": st.ghm_coefficient("ce", bins=30, momentum=0.0),
  }
  return _imbalance_rows(cfg, arms, "ghm", cache)


def minibatch_experiment(cfg: EngineeringConfig) -> list[dict]:
  """(e) The EMA momentum of adaptive γ and GHM-C when each step sees one small mini-batch.

  At 1:100 and 64 examples per batch, a batch holds 0.6 minority examples on average: most batches
  have no positive (and, late in training, no hard example), so the statistics of a single batch
  are mostly empty or noise and only the EMA carries them from batch to batch.
  """
  arms = {"CE (Maki γ=0)": stateless(lambda z, y: ge.maki_loss(z, y, gamma=0)),
          "Maki γ=1": stateless(lambda z, y: ge.maki_loss(z, y, gamma=1)),
          "focal γ=2": stateless(lambda z, y: ge.focal_loss(z, y, gamma=2.0))}
  for momentum in cfg.adaptive_momenta:
    arms[f"Maki adaptive γ, momentum {momentum:g}"] = st.adaptive_gamma_coefficient("maki", momentum=momentum)
  for momentum in cfg.ghm_momenta:
    arms[f"GHM-C 10 bins, momentum {momentum:g}"] = st.ghm_coefficient("ce", bins=10, momentum=momentum)
  rows = _imbalance_rows(cfg, arms, "minibatch", {}, ratios=(cfg.minibatch_ratio,),
                         batch_size=cfg.minibatch_size)
  return [{**row, "batch_size": cfg.minibatch_size} for row in rows]


# ----------------------------------------------------------------------------- files and figures


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



def get_config(quick: bool = False) -> EngineeringConfig:
  """`QUICK` (≲ 2 min on 2 CPU cores) or `FULL`."""
  return QUICK if quick else FULL


def run_engineering(out_dir, quick: bool = True) -> dict:
  """``run(get_config(quick), out_dir)``."""
  return run(get_config(quick), out_dir)


def run(config: EngineeringConfig, out_dir, *, progress: bool = False) -> dict:
  """Run the five experiments, write CSV tables, figures and ``engineering_results.json``.

  Args:
    config: `QUICK`, `FULL` or another `EngineeringConfig`.
    out_dir: directory for ``engineering_*.csv``, ``engineering_*.png`` and the JSON summary.
    progress: unused (the five experiments print nothing).

  Returns:
    The JSON summary as a dict (config, tables), plus the seconds per experiment and the files
    written (``"files"`` and ``"paths"``), which the saved ``engineering_results.json`` leaves
    out (it is deterministic).
  """
  del progress
  cfg = config
  quick = config == QUICK
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  seconds, tables = {}, {}
  files = []

  def timed(name, fn):
    start = time.perf_counter()
    result = fn(cfg)
    seconds[name] = round(time.perf_counter() - start, 1)
    return result

  tables["warmup"] = timed("warmup", warmup_experiment)
  periodic_rows, curves = timed("periodic", periodic_experiment)
  tables["periodic"] = periodic_rows
  cache = {}  # CE and focal γ=2 are trained once for (c) and (d)
  tables["adaptive"] = timed("adaptive", lambda c: adaptive_experiment(c, cache))
  trajectory = timed("adaptive_trajectory", lambda c: adaptive_gamma_trajectory(c, ratio=100.0))
  tables["ghm"] = timed("ghm", lambda c: ghm_experiment(c, cache))
  tables["minibatch"] = timed("minibatch", minibatch_experiment)
  for name, rows in tables.items():
    files.append(_write_csv(out_dir / f"engineering_{name}.csv", rows))
  files.append(_write_csv(out_dir / "engineering_periodic_curves.csv", curves))
  files.append(_write_csv(out_dir / "engineering_adaptive_gamma.csv", trajectory))
  files += draw_figures(out_dir)
  summary = {
      "config": dataclasses.asdict(cfg), "quick": quick,
      "jax": jax.__version__, "devices": [str(d) for d in jax.devices()],
      "tables": tables,
      "final_adaptive_gamma_ratio_100": {f"{r['variant']}/{r['group']}": r["gamma"]
                                         for r in trajectory if r["step"] == cfg.steps - 1},
  }
  path = out_dir / "engineering_results.json"
  atomic_write_json(path, summary, indent=1, newline=False, ensure_ascii=False)
  summary["seconds"] = seconds  # returned, not saved: the saved outputs are deterministic
  summary["files"] = summary["paths"] = [str(p) for p in files + [path]]
  return summary
