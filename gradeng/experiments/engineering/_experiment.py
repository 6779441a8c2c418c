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

import dataclasses
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import gradeng as ge
from gradeng import runtime as st
from gradeng.experiments.common import atomic_write_json
from gradeng.experiments.engineering._config import (COLLAPSE_FRACTION, EngineeringConfig, QUICK,
                                                     get_config)
from gradeng.experiments.engineering._report import _write_csv, draw_figures
from gradeng.experiments.engineering._train import TrainConfig, run_grid, stateless
from gradeng.experiments.toy import minority_count, sample


def _np(tree):
  return jax.tree_util.tree_map(np.asarray, tree)


def _prior_ce(n_train, ratio):
  """Train cross-entropy of the best constant prediction (the class prior of the training set)."""
  pi = int(minority_count(n_train, ratio)) / n_train
  return -(pi * math.log(pi) + (1 - pi) * math.log(1 - pi))


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
  from gradeng.experiments.engineering._model import init_mlp, mlp
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
