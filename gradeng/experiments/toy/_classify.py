"""Imbalanced binary classification: one training of logistic regression or the MLP.

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
from ._data import minority_count, sample
from ._metrics import average_precision, expected_calibration_error, gradient_share, minority_recall
from ._model import _new_model


OUTPUTS = {
    "recall": "minority recall at threshold 0.5 on the (weighted) test set",
    "average_precision": "average precision of the minority class on the weighted test set",
    "ece": "expected calibration error (10 bins) on the weighted test set",
    "share_minority": "minority examples' share of Σ|dL/dz| on the training set, per step",
    "share_hard": "share of Σ|dL/dz| from training examples with p_t < 0.5, per step",
}


def make_training(config: ClassificationConfig, loss: str) -> Callable[..., dict[str, jax.Array]]:
  """``train(hyper, ratio, seed) -> outputs`` for one loss kind; all three args may be traced."""
  loss = _losses.resolve(loss, config.formulas)  # a catalog name, or the config's FormulaLoss
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
