"""Models of the toy classification sweeps: logistic regression and a small Flax NNX MLP."""

from __future__ import annotations

import jax
from flax import nnx

from ._config import ClassificationConfig


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
