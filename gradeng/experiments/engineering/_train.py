"""One tiny training with a stateful coefficient (full batch or mini-batches), pure and vmappable.

A 2-D imbalanced data set (`gradeng.experiments.toy.sample`: two overlapping unit Gaussians, or their XOR),
a ReLU MLP written as a dict of arrays, SGD/momentum/Adam (optax) on the mean of a `StatefulLoss`
over the full training set or a mini-batch per step, all inside one ``lax.scan``.
``train(lr, ratio, seed)`` takes traced scalars, so a grid of trainings is one ``jit(vmap(train))``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from gradeng.experiments.engineering._model import init_mlp, mlp
from gradeng.experiments.toy import average_precision, minority_count, minority_recall, sample
from gradeng.runtime import InputError, StatefulLoss, StepState, cross_entropy_loss, sgdr_factor


def stateless(loss_fn: Callable) -> StatefulLoss:
  """A plain per-element loss as a `StatefulLoss` (state: the step, unused)."""
  return StatefulLoss(lambda: StepState(jnp.zeros((), jnp.int32)),
                      lambda logits, labels, state, **kw: (loss_fn(logits, labels, **kw),
                                                           StepState(state.step + 1)))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Static settings of one family of trainings.

  Attributes:
    optimizer: ``"sgd"``, ``"momentum"`` (SGD, momentum 0.9) or ``"adam"``.
    steps: full-batch steps.
    hidden: widths of the hidden ReLU layers (``()``: logistic regression).
    n_train, n_test: examples (test: ``n_test`` per class, majority weighted by the ratio).
    dataset: ``"gaussian"`` or ``"xor"``. separation: distance between class means.
    lr_sgdr: SGDR learning-rate schedule ``(period, t_mult, floor)`` or ``None``.
    init_scale: multiplies the He-normal initial weights.
    batch_size: examples per step, drawn uniformly with replacement from the training set
      (``None``: full batch). The stateful loss sees (and updates its statistics on) the batch.
  """

  optimizer: str = "adam"
  steps: int = 300
  hidden: tuple[int, ...] = (16,)
  n_train: int = 1024
  n_test: int = 1024
  dataset: str = "gaussian"
  separation: float = 3.0
  lr_sgdr: tuple | None = None
  init_scale: float = 1.0
  batch_size: int | None = None


def _optimizer(config: TrainConfig, lr, lr_warmup):
  def schedule(count):
    # Linear learning-rate warm-up over `lr_warmup` steps (traced; 0: none).
    factor = jnp.where(lr_warmup > 0, jnp.minimum(1.0, (count + 1.0) / jnp.maximum(lr_warmup, 1.0)), 1.0)
    if config.lr_sgdr is not None:
      period, t_mult, floor = config.lr_sgdr
      factor = factor * sgdr_factor(count, period=period, t_mult=t_mult, floor=floor)
    return lr * factor

  if config.optimizer == "sgd":
    return optax.sgd(schedule)
  if config.optimizer == "momentum":
    return optax.sgd(schedule, momentum=0.9)
  if config.optimizer == "adam":
    return optax.adam(schedule)
  raise InputError(f"`optimizer` must be 'sgd', 'momentum' or 'adam'; got {config.optimizer!r}.")


def make_train(config: TrainConfig, loss: StatefulLoss):
  """``train(lr, ratio, seed, lr_warmup=0) -> outputs`` (all traced scalars; ``lr_warmup``: steps
  of linear learning-rate warm-up from 0, 0 for none).

  Outputs: ``ce`` [steps] mean train cross-entropy of the model before each step; ``final_ce``
  after the last step; ``recall`` (minority recall at p = 0.5) and ``ap`` (average precision) on
  the weighted test set; ``params`` the final parameters; ``finite`` whether they are all finite.
  """
  n = config.n_train

  def train(lr, ratio, seed, lr_warmup=0.0):
    key_data, key_test, key_init = jax.random.split(jax.random.key(seed), 3)
    x, y = sample(config.dataset, key_data, n, minority_count(n, ratio), config.separation)
    params = init_mlp(key_init, config.hidden, config.init_scale)
    optimizer = _optimizer(config, lr, jnp.asarray(lr_warmup, jnp.float32))

    # Not one more key from the split above, which would change every full-batch training.
    key_batch = jax.random.fold_in(jax.random.key(seed), 7)

    def step(carry, t):
      params, opt_state, loss_state = carry
      z = mlp(params, x)
      if config.batch_size is None:
        xb, yb = x, y
      else:
        index = jax.random.randint(jax.random.fold_in(key_batch, t), (config.batch_size,), 0, n)
        xb, yb = x[index], y[index]

      def objective(p):  # the loss state after the batch comes back with the gradient
        values, new_state = loss.loss(mlp(p, xb), yb, loss_state)
        return jnp.mean(values), new_state

      grads, loss_state = jax.grad(objective, has_aux=True)(params)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      ce = jnp.mean(cross_entropy_loss(z, y))
      return (optax.apply_updates(params, updates), opt_state, loss_state), ce

    carry = (params, optimizer.init(params), loss.init())
    (params, _, _), ce = jax.lax.scan(step, carry, jnp.arange(config.steps))
    x_test, y_test = sample(config.dataset, key_test, 2 * config.n_test, config.n_test, config.separation)
    z_test = mlp(params, x_test)
    weights = jnp.where(y_test == 1, 1.0, ratio)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(params)]))
    return {
        "ce": ce,
        "final_ce": jnp.mean(cross_entropy_loss(mlp(params, x), y)),
        "recall": minority_recall(z_test, y_test),
        "ap": average_precision(z_test, y_test, weights),
        "finite": finite,
        "params": params,
    }

  return train


def run_grid(config: TrainConfig, loss: StatefulLoss, lrs, ratios, seeds, lr_warmups=None) -> dict:
  """Every (lr, ratio, seed) combination, one ``jit(vmap(train))``; arrays shaped [lr, ratio, seed, ...]
  (``[lr_warmup, lr, ratio, seed, ...]`` when ``lr_warmups`` is given)."""
  axes = [jnp.asarray(lrs, jnp.float32), jnp.asarray(ratios, jnp.float32), jnp.asarray(seeds, jnp.uint32)]
  if lr_warmups is not None:
    axes.append(jnp.asarray(lr_warmups, jnp.float32))
  grids = jnp.meshgrid(*axes, indexing="ij")
  if lr_warmups is not None:
    grids = [jnp.moveaxis(g, -1, 0) for g in grids]
  shape = grids[0].shape
  out = jax.jit(jax.vmap(make_train(config, loss)))(*(g.ravel() for g in grids))
  return jax.tree_util.tree_map(lambda a: a.reshape(shape + a.shape[1:]), out)
