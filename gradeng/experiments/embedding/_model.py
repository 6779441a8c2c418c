"""Model of the embedding experiment: an MLP from a digit image to an embedding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from gradeng.experiments.embedding._config import TRAIN_CLASSES, TrainConfig

NUM_CLASSES = len(TRAIN_CLASSES)


class EmbeddingNet(nnx.Module):
  """MLP embedding (ReLU hidden layers, linear output); class weights for the softmax-style heads.

  An MLP rather than a CNN: vmapping convolutions over seeds is slow on CPU, and the budget of
  the quick run (all losses × 3 seeds in about a minute) rules it out.
  """

  def __init__(self, in_features: int, config: TrainConfig, *, rngs: nnx.Rngs):
    sizes = (in_features, *config.hidden)
    self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])
    self.out = nnx.Linear(sizes[-1], config.embedding_dim, rngs=rngs)
    init = jax.nn.initializers.lecun_normal()
    self.classes = nnx.Param(init(rngs.params(), (NUM_CLASSES, config.embedding_dim)))
    self.bias = nnx.Param(jnp.zeros((NUM_CLASSES,)))

  def __call__(self, x: jax.Array) -> jax.Array:
    for layer in self.layers:
      x = jax.nn.relu(layer(x))
    return self.out(x)
