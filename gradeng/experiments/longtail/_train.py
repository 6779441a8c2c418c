"""One loss over its seeds: Adam on minibatches (`jax.lax.scan`), seeds vmapped, compiled once per
loss (the class counts and the training set size are arguments, so every imbalance factor reuses
the same program)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

import gradeng as ge
import gradeng.longtail as lt
from gradeng.experiments.longtail._config import LOSSES, LongTailConfig
from gradeng.experiments.longtail._data import NUM_CLASSES, LongTailData
from gradeng.experiments.longtail._model import apply_mlp, init_mlp, random_shift


def _stateless(fn):
  return (lambda: jnp.zeros((), jnp.int32)), (lambda z, y, s: (fn(z, y), s))


def _stateful(sl, reduce):
  return sl.init, (lambda z, y, s: (lambda v, n: (reduce(v), n))(*sl.loss(z, y, s)))


def objective(name: str, class_counts: ArrayLike, *, drw_step: int, formulas: tuple = ()):
  """``(init_state, fn(logits, labels, state) -> (scalar loss, new state))`` for a loss name.

  Softmax losses are averaged over the batch; the sigmoid-head losses (EQL v2, EFL) are summed over
  the classes and averaged over the batch. ``class_counts`` may be traced. A name of
  ``formulas`` (`LongTailConfig.formulas`: ``(name, g(p), ((param, value), ...))``) is the loss
  of that scale coefficient on the softmax head,
  ``gradeng.loss_from_coefficient(gradeng.coefficient(g), head="softmax", **params)``, averaged
  over the batch.
  """
  n = class_counts
  mean = jnp.mean
  per_logit = lambda v: jnp.mean(jnp.sum(v, -1))  # noqa: E731 - sigmoid heads: Σ classes, mean batch
  for entry_name, formula, params in formulas:
    if entry_name == name:
      user = ge.loss_from_coefficient(ge.coefficient(formula), head="softmax", **dict(params))
      return _stateless(lambda z, y: mean(user(z, y)))
  if name == "ce":
    return _stateless(lambda z, y: mean(ge.cross_entropy_loss(z, y, head="softmax")))
  if name == "focal":
    return _stateless(lambda z, y: mean(ge.focal_loss(z, y, gamma=2.0, head="softmax")))
  if name == "maki":
    return _stateless(lambda z, y: mean(ge.maki_loss(z, y, gamma=1, head="softmax")))
  if name == "cb_focal":
    return _stateless(lambda z, y: mean(lt.class_balanced_loss(z, y, class_counts=n, beta=0.999,
                                                               base="focal", gamma=2.0)))
  if name == "balanced_softmax":
    return _stateless(lambda z, y: mean(lt.balanced_softmax_loss(z, y, class_counts=n)))
  if name == "ldam_drw":
    return _stateful(lt.ldam_drw(n, drw_step=drw_step, scale=1.0, max_margin=0.5), mean)
  if name == "eqlv2":
    return _stateful(lt.eqlv2(NUM_CLASSES), per_logit)
  if name == "seesaw":
    return _stateful(lt.seesaw(NUM_CLASSES), mean)
  if name == "efl":
    return _stateful(lt.equalized_focal(NUM_CLASSES), per_logit)
  raise ge.InputError(f"unknown long-tail loss {name!r}; expected one of {LOSSES}")


@functools.lru_cache(maxsize=None)
def compiled_trainer(name: str, steps: int, batch: int, learning_rate: float, hidden: int,
                     augment: bool, drw_step: int, formulas: tuple = ()):
  """The jitted ``(seeds [S], x_train, y_train, num_train, class_counts, x_test) ->
  (test predictions [S, N_test], training loss of the last step [S])`` of one loss.

  One compilation per loss and shape: the imbalance factors differ only in array values.
  ``formulas``: the `LongTailConfig.formulas` entry of a user loss ``name`` (else empty).
  """
  optimizer = optax.adam(learning_rate)

  def one_seed(seed, x_train, y_train, num_train, class_counts, x_test):
    init_state, fn = objective(name, class_counts, drw_step=drw_step, formulas=formulas)
    key = jax.random.PRNGKey(seed)
    key, init_key = jax.random.split(key)
    params = init_mlp(init_key, x_train.shape[1], hidden, NUM_CLASSES)
    carry = (params, optimizer.init(params), init_state())

    def step(carry, step_key):
      params, opt_state, state = carry
      index_key, shift_key = jax.random.split(step_key)
      idx = jax.random.randint(index_key, (batch,), 0, num_train)
      x = x_train[idx]
      x = random_shift(shift_key, x) if augment else x
      (value, state), grads = jax.value_and_grad(
          lambda p: fn(apply_mlp(p, x), y_train[idx], state), has_aux=True)(params)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state, state), value

    (params, _, _), values = jax.lax.scan(step, carry, jax.random.split(key, steps))
    return jnp.argmax(apply_mlp(params, x_test), -1), values[-1]

  return jax.jit(jax.vmap(one_seed, in_axes=(0, None, None, None, None, None)))


def train_loss(name: str, data: LongTailData, config: LongTailConfig) -> tuple[np.ndarray, np.ndarray]:
  """Test-set predictions ``[seeds, N_test]`` and last-step training losses ``[seeds]`` of one
  loss, one run per seed of ``config`` (vmapped)."""
  formulas = tuple(entry for entry in config.formulas if entry[0] == name)
  trainer = compiled_trainer(name, config.steps, config.batch, float(config.learning_rate),
                             config.hidden, bool(config.augment), config.drw_step, formulas)
  predictions, final = trainer(jnp.asarray(np.asarray(config.seeds), jnp.uint32),
                               jnp.asarray(data.x_train), jnp.asarray(data.y_train),
                               jnp.asarray(data.num_train, jnp.int32),
                               jnp.asarray(data.class_counts), jnp.asarray(data.x_test))
  return np.asarray(predictions), np.asarray(final)
