"""Imbalanced binary classification: logistic regression and a small Flax NNX MLP.

One training = sample a synthetic 2-D data set, initialise the model, run ``steps`` full-batch Adam
steps on the mean catalog loss inside a ``lax.scan``, and evaluate on a test set weighted to the
imbalanced distribution. The models are Flax NNX modules used through the functional API
(``nnx.split`` once for the static graph, ``nnx.merge`` inside the pure training function), so
the whole training is a pure function of (hyper-parameter, ratio, seed) that ``vmap`` batches.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from . import _losses
from ._config import ClassificationConfig
from ._metrics import average_precision, expected_calibration_error, gradient_share, minority_recall

OUTPUTS = {
    "recall": "minority recall at threshold 0.5 on the (weighted) test set",
    "average_precision": "average precision of the minority class on the weighted test set",
    "ece": "expected calibration error (10 bins) on the weighted test set",
    "share_minority": "minority examples' share of Σ|dL/dz| on the training set, per step",
    "share_hard": "share of Σ|dL/dz| from training examples with p_t < 0.5, per step",
}


class LogisticRegression(nnx.Module):
  """z = w·x + b."""

  def __init__(self, *, rngs: nnx.Rngs):
    self.linear = nnx.Linear(2, 1, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.linear(x)[..., 0]


class MLP(nnx.Module):
  """z = W₂ relu(W₁x + b₁) + b₂."""

  def __init__(self, hidden: int, *, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(2, hidden, rngs=rngs)
    self.out = nnx.Linear(hidden, 1, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.out(jax.nn.relu(self.hidden(x)))[..., 0]


def _new_model(config: ClassificationConfig, key: jax.Array) -> nnx.Module:
  rngs = nnx.Rngs(params=key)
  return LogisticRegression(rngs=rngs) if config.model == "logreg" else MLP(config.hidden, rngs=rngs)


def sample(dataset: str, key: jax.Array, n: int, n_minority: jax.Array,
           separation: float) -> tuple[jax.Array, jax.Array]:
  """``n`` points of ``dataset``, the first ``n_minority`` (may be traced) of label 1.

  ``"gaussian"``: N(±(s/2)(1,1)/√2, I), minority at +. ``"xor"``: N((±s/2, ±s/2), I), the
  minority on the diagonal (s/2, s/2), (-s/2, -s/2), the majority on the other.
  """
  labels = (jnp.arange(n) < n_minority).astype(jnp.int32)
  sign = 2.0 * labels - 1.0
  key_noise, key_side = jax.random.split(key)
  noise = jax.random.normal(key_noise, (n, 2))
  if dataset == "gaussian":
    centre = sign[:, None] * (separation / 2 / np.sqrt(2)) * jnp.ones((1, 2))
  else:
    side = jnp.where(jax.random.bernoulli(key_side, 0.5, (n,)), 1.0, -1.0)
    centre = (separation / 2) * jnp.stack([side, side * sign], axis=1)
  return centre + noise, labels


def minority_count(n: int, ratio: jax.Array) -> jax.Array:
  """round(n / (1 + ratio)) clipped to [1, n - 1]: minority size at majority:minority = ratio."""
  return jnp.clip(jnp.round(n / (1.0 + ratio)), 1, n - 1).astype(jnp.int32)


def make_training(config: ClassificationConfig, loss: str) -> Callable[..., dict[str, jax.Array]]:
  """``train(hyper, ratio, seed) -> outputs`` for one loss kind; all three args may be traced."""
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: _new_model(config, jax.random.key(0))))
  optimizer = optax.adam(config.lr)
  n, n_test = config.n_train, config.n_test

  def apply(params, x):
    return nnx.merge(graphdef, params)(x)

  def train(hyper, ratio, seed):
    key_train, key_test, key_init = jax.random.split(jax.random.key(seed), 3)
    x, y = sample(config.dataset, key_train, n, minority_count(n, ratio), config.separation)
    params = nnx.state(_new_model(config, key_init), nnx.Param)

    def step(carry, _):
      params, opt_state = carry
      z, pullback = jax.vjp(lambda p: apply(p, x), params)
      dz = _losses.logit_gradients(loss, z, y, hyper) / n  # gradient of the mean loss
      (grads,) = pullback(dz)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      p_t = jax.nn.sigmoid((2.0 * y - 1.0) * z)
      record = {"share_minority": gradient_share(dz, y == 1),
                "share_hard": gradient_share(dz, p_t < 0.5)}
      return (optax.apply_updates(params, updates), opt_state), record

    (params, _), records = jax.lax.scan(
        step, (params, optimizer.init(params)), length=config.steps)
    x_test, y_test = sample(config.dataset, key_test, 2 * n_test, n_test, config.separation)
    z_test = apply(params, x_test)
    weights = jnp.where(y_test == 1, 1.0, ratio)
    return {
        "recall": minority_recall(z_test, y_test),
        "average_precision": average_precision(z_test, y_test, weights),
        "ece": expected_calibration_error(jax.nn.sigmoid(z_test), y_test, weights),
        **records,
    }

  return train


def summarise(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Scalar summaries per training (host NumPy; leading axis = trainings)."""
  return {
      "recall": outputs["recall"],
      "average_precision": outputs["average_precision"],
      "ece": outputs["ece"],
      "share_minority_mean": np.nanmean(outputs["share_minority"], axis=1),
      "share_minority_final": outputs["share_minority"][:, -1],
      "share_hard_mean": np.nanmean(outputs["share_hard"], axis=1),
  }
