"""Held-out evaluation: the learned losses against CE, focal (best γ), Maki (best γ) and GHM-C.

Every loss is trained by the same inner training (`make_train`) with the same budget (steps,
learning rate, model, data) on the same seeds. The baselines' γ is picked from a sweep by the
validation objective θ was learned on (balanced CE or 1 − smooth AP) on the *training* ratios
(the information the learned θ had); every
number reported is then on separate test sets, on

* the training ratios with fresh seeds (in distribution),
* held-out imbalance ratios (same data and model),
* held-out tasks: XOR data (non-linear) and logistic regression (a different model).

One ``jit(vmap)`` per (task, loss kind): the Maki mixture covers CE (c = e₀), integer-γ Maki
(c = e_γ) and both learned weight vectors in one batch; focal loss is batched over γ.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from ._config import LearnConfig
from ._train import OBJECTIVES, TaskConfig, make_train

METRICS = ("test_ce", "ap", "recall", "val_ce", "val_objective")


@functools.lru_cache(maxsize=32)
def _compiled(task: TaskConfig, kind: str, exponents: tuple, objective: str):
  return jax.jit(jax.vmap(make_train(task, kind, exponents, objective)))


def _grid(task: TaskConfig, kind: str, hypers, ratios, seeds, exponents,
          objective: str) -> dict[str, np.ndarray]:
  """Outputs shaped [hyper, ratio, seed] for every combination (one compiled call)."""
  cells = list(itertools.product(range(len(hypers)), range(len(ratios)), range(len(seeds))))
  hyper = jnp.asarray(np.stack([np.asarray(hypers[h], np.float32) for h, _, _ in cells]))
  ratio = jnp.asarray([ratios[r] for _, r, _ in cells], jnp.float32)
  seed = jnp.asarray([seeds[s] for _, _, s in cells], jnp.uint32)
  out = _compiled(task, kind, exponents, objective)(hyper, ratio, seed)
  shape = (len(hypers), len(ratios), len(seeds))
  return {k: np.asarray(out[k], np.float64).reshape(shape) for k in METRICS}


def _unit(exponents, gamma) -> np.ndarray:
  return np.asarray([1.0 if k == gamma else 0.0 for k in exponents], np.float32)


def _arms(config: LearnConfig, learned: dict[str, np.ndarray], focal: list[float], maki: list[int]):
  """name -> (kind, hyper) of every loss evaluated."""
  arms = {"CE": ("mixture", _unit(config.exponents, 0))}
  arms.update({f"focal γ={g:g}": ("focal", np.float32(g)) for g in focal})
  arms.update({f"Maki γ={g}": ("mixture", _unit(config.exponents, g)) for g in maki})
  arms["GHM-C"] = ("ghm", np.float32(0.0))
  arms.update({name: ("mixture", np.asarray(c, np.float32)) for name, c in learned.items()})
  return arms


def _run_arms(task: TaskConfig, arms, ratios, seeds, exponents,
              objective: str) -> dict[str, dict[str, np.ndarray]]:
  """name -> metric -> [ratio, seed], one compiled call per loss kind."""
  results = {}
  for kind in ("mixture", "focal", "ghm"):
    names = [n for n, (k, _) in arms.items() if k == kind]
    if not names:
      continue
    out = _grid(task, kind, [arms[n][1] for n in names], ratios, seeds, exponents, objective)
    for i, name in enumerate(names):
      results[name] = {m: out[m][i] for m in METRICS}
  return results


def _stats(values: np.ndarray) -> dict[str, float]:
  return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def evaluate(config: LearnConfig, learned: dict[str, np.ndarray]) -> dict:
  """Selects the baselines' γ, trains every loss on every evaluation setting, returns the table.

  Args:
    config: the experiment config.
    learned: name -> learned basis weights c (e.g. ``{"learned (meta-gradient)": c}``).

  Returns:
    ``{"selection": {...}, "settings": {setting: {loss: {metric: {mean, std}}}}, "seeds": [...]}``
    where a setting is ``"train ratios 1:10, 1:100"``, ``"held-out ratio 1:300"``, or a held-out
    task name; mean and std are over seeds (and over ratios within a setting).
  """
  seeds = list(config.eval_seeds)
  ratios = list(config.train_ratios) + list(config.heldout_ratios)
  arms = _arms(config, learned, list(config.focal_gammas), list(config.maki_gammas))
  main = _run_arms(config.task, arms, ratios, seeds, config.exponents, config.objective)
  n_train = len(config.train_ratios)

  def val_score(name):  # selection: the validation objective on the training ratios
    return float(np.mean(main[name]["val_objective"][:n_train]))

  best_focal = min((f"focal γ={g:g}" for g in config.focal_gammas), key=val_score)
  best_maki = min((f"Maki γ={g}" for g in config.maki_gammas), key=val_score)
  compared = ["CE", best_focal, best_maki, "GHM-C", *learned]
  settings = {}
  label = ", ".join(f"1:{r:g}" for r in config.train_ratios)
  settings[f"training ratios {label} (new seeds)"] = {
      name: {m: _stats(main[name][m][:n_train]) for m in METRICS} for name in compared}
  for i, ratio in enumerate(config.heldout_ratios):
    settings[f"held-out ratio 1:{ratio:g}"] = {
        name: {m: _stats(main[name][m][n_train + i]) for m in METRICS} for name in compared}
  chosen = {name: arms[name] for name in compared}
  for task_name, task in config.heldout_tasks:
    out = _run_arms(task, chosen, [config.heldout_ratio], seeds, config.exponents, config.objective)
    settings[f"held-out: {task_name}, 1:{config.heldout_ratio:g}"] = {
        name: {m: _stats(out[name][m]) for m in METRICS} for name in compared}
  return {
      "selection": {
          "criterion": f"{OBJECTIVES[config.objective]}, mean over the training ratios and "
                       "evaluation seeds",
          "focal": {f"focal γ={g:g}": val_score(f"focal γ={g:g}") for g in config.focal_gammas},
          "maki": {f"Maki γ={g}": val_score(f"Maki γ={g}") for g in config.maki_gammas},
          "best_focal": best_focal, "best_maki": best_maki,
      },
      "settings": settings,
      "seeds": seeds,
      "losses": compared,
  }
