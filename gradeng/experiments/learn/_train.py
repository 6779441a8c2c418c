"""The inner problem: one tiny imbalanced training, pure, differentiable in the loss's parameters.

A 2-D imbalanced data set (`gradeng.experiments.toy.sample`: two unit Gaussians, or their XOR),
the ReLU MLP of the engineering experiment (``()`` hidden layers: logistic regression), full-batch
SGD with momentum 0.9 on the mean loss, all inside one ``lax.scan``. Every loss of the
comparison (the Maki mixture, focal loss, GHM-C) runs through this same function, so the learned
loss and the hand-designed ones are trained and scored identically.

The validation objective is the **balanced cross-entropy** of the trained model, the mean
-log p_t over a validation set with as many minority as majority examples (equivalently, the
two classes' mean CE averaged): it is smooth in the parameters and rewards a model that ranks
*and* calibrates the minority class; or **1 − smooth AP** (`smooth_average_precision`, the
validation set weighted to the imbalance), which rewards ranking alone. For the meta-gradient the last ``truncation`` steps are
differentiated (earlier ones are run under ``stop_gradient``: truncated back-propagation), each
step under ``jax.checkpoint`` so that only the scan carry is stored per step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from gradeng.runtime import StatefulLoss, cross_entropy_loss, focal_loss, ghm_coefficient
from gradeng.runtime import maki_mixture_loss
from gradeng.experiments.engineering import init_mlp, mlp, stateless
from gradeng.experiments.toy import (average_precision, minority_count, minority_recall, sample,
                                     smooth_average_precision)

#: Loss kinds of `make_train`; the hyper-parameter each takes.
KINDS = {
    "mixture": "basis weights c [n] of the Maki mixture (CE and integer-γ Maki are unit vectors)",
    "focal": "γ ≥ 0 of focal loss",
    "ghm": "unused (GHM-C, 10 bins, momentum 0.75; Li et al. 2019)",
}


@dataclasses.dataclass(frozen=True)
class TaskConfig:
  """Static settings of one family of inner trainings.

  Attributes:
    dataset: ``"gaussian"`` or ``"xor"`` (`gradeng.experiments.toy.sample`).
    hidden: hidden ReLU widths; ``()`` is logistic regression.
    n_train: training examples (minority share set by the traced ratio).
    n_val: validation and test examples *per class* (balanced).
    steps: full-batch SGD steps.
    lr: learning rate (SGD, momentum 0.9).
    separation: distance between the class means.
    truncation: the meta-gradient flows through the last ``truncation`` steps (None: all).
    checkpoint: rematerialise each step in the backward pass (``jax.checkpoint``).
  """

  dataset: str = "gaussian"
  hidden: tuple[int, ...] = (16,)
  n_train: int = 512
  n_val: int = 256
  steps: int = 100
  lr: float = 0.2
  separation: float = 2.0
  truncation: int | None = None
  checkpoint: bool = True

  def __post_init__(self):
    if self.dataset not in ("gaussian", "xor"):
      raise ValueError(f"`dataset` must be 'gaussian' or 'xor'; got {self.dataset!r}.")
    object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
    for name in ("n_train", "n_val", "steps"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    if not self.lr > 0:
      raise ValueError(f"`lr` must be > 0; got {self.lr!r}.")
    if self.truncation is not None and not 1 <= self.truncation <= self.steps:
      raise ValueError(f"`truncation` must be in [1, steps={self.steps}] or None; got {self.truncation!r}.")


def _stateful(kind: str, hyper, exponents) -> StatefulLoss:
  if kind == "mixture":
    return stateless(lambda z, y: maki_mixture_loss(z, y, weights=hyper, exponents=exponents))
  if kind == "focal":
    return stateless(lambda z, y: focal_loss(z, y, gamma=hyper))
  if kind == "ghm":
    return ghm_coefficient("ce", bins=10, momentum=0.75)
  raise ValueError(f"Unknown loss kind `{kind}`; expected one of {sorted(KINDS)}.")


def balanced_ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean of the two classes' mean cross-entropies (validation objective)."""
  ce = cross_entropy_loss(logits, labels)
  positive = labels == 1
  return 0.5 * (jnp.sum(jnp.where(positive, ce, 0.0)) / jnp.sum(positive)
                + jnp.sum(jnp.where(positive, 0.0, ce)) / jnp.sum(~positive))


#: Validation objectives of `make_train` (lower is better).
OBJECTIVES = {
    "balanced_ce": "validation balanced CE",
    "smooth_ap": "validation 1 − smooth AP (τ = 0.1 standard deviations)",
}


def make_train(task: TaskConfig, kind: str, exponents: tuple = (0, 1, 2, 3, 4),
               objective: str = "balanced_ce") -> Callable:
  """``train(hyper, ratio, seed) -> outputs`` (all traced; differentiable in ``hyper``).

  Outputs: ``val_objective`` the validation objective (`OBJECTIVES`; lower is better),
  ``val_ce`` balanced CE on the validation set, ``test_ce`` the same on a separate test set,
  ``ap`` average precision and ``recall`` (minority, p ≥ 0.5) on the test set weighted to the
  imbalanced distribution (majority weight = ratio), ``train_ce`` the final mean training CE.
  """
  if kind not in KINDS:
    raise ValueError(f"Unknown loss kind `{kind}`; expected one of {sorted(KINDS)}.")
  if objective not in OBJECTIVES:
    raise ValueError(f"Unknown objective `{objective}`; expected one of {sorted(OBJECTIVES)}.")
  n, n_val = task.n_train, task.n_val
  optimizer = optax.sgd(task.lr, momentum=0.9)

  def train(hyper, ratio, seed):
    loss = _stateful(kind, hyper, exponents)
    key_data, key_val, key_test, key_init = jax.random.split(jax.random.key(seed), 4)
    x, y = sample(task.dataset, key_data, n, minority_count(n, ratio), task.separation)
    params = init_mlp(key_init, task.hidden)

    def step(carry, _):
      params, opt_state, loss_state = carry
      z, pullback = jax.vjp(lambda p: mlp(p, x), params)

      def mean_loss(z):
        values, new_state = loss.loss(z, y, loss_state)
        return jnp.mean(values), new_state

      dz, loss_state = jax.grad(mean_loss, has_aux=True)(z)
      (grads,) = pullback(dz)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state, loss_state), None

    carry = (params, optimizer.init(params), loss.init())
    kept = task.steps if task.truncation is None else task.truncation
    if kept < task.steps:
      carry, _ = jax.lax.scan(step, carry, length=task.steps - kept)
      carry = jax.lax.stop_gradient(carry)
    body = jax.checkpoint(step) if task.checkpoint else step
    (params, _, _), _ = jax.lax.scan(body, carry, length=kept)

    x_val, y_val = sample(task.dataset, key_val, 2 * n_val, n_val, task.separation)
    x_test, y_test = sample(task.dataset, key_test, 2 * n_val, n_val, task.separation)
    z_val, z_test = mlp(params, x_val), mlp(params, x_test)
    weights = jnp.where(y_test == 1, 1.0, ratio)
    val_ce = balanced_ce(z_val, y_val)
    if objective == "smooth_ap":
      val_objective = 1.0 - smooth_average_precision(z_val, y_val, jnp.where(y_val == 1, 1.0, ratio))
    else:
      val_objective = val_ce
    return {
        "val_objective": val_objective,
        "val_ce": val_ce,
        "test_ce": balanced_ce(z_test, y_test),
        "ap": average_precision(z_test, y_test, weights),
        "recall": minority_recall(z_test, y_test),
        "train_ce": jnp.mean(cross_entropy_loss(mlp(params, x), y)),
    }

  return train
