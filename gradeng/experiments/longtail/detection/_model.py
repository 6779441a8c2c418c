"""The detection experiment's SSD-lite, with the head of the loss: sigmoid or softmax.

The network always has ``C + 1`` class outputs per anchor (index 0 = background). A softmax
head reads all of them; a sigmoid head reads the ``C`` object outputs as one-vs-all logits
(RetinaNet), and its background output is never trained nor read.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from gradeng.experiments.detection import ModelConfig, SSDLite, init_model, init_module
from gradeng.experiments.longtail.detection._config import DetectionLoss


def sigmoid_prior_bias(prior: float) -> float:
  """RetinaNet's class bias b = -log((1 - π)/π): every sigmoid class starts at probability π.

  Example:
    >>> from gradeng.experiments.longtail.detection import sigmoid_prior_bias
    >>> round(sigmoid_prior_bias(0.01), 4)
    -4.5951
  """
  return -math.log((1.0 - prior) / prior)


def init_detector(config: ModelConfig, loss: DetectionLoss, seed: int, *, num_classes: int = 10,
                  in_channels: int = 1) -> tuple[nnx.GraphDef, nnx.State]:
  """``(graphdef, params)`` of SSD-lite for ``loss``: its prior initialisation on its head.

  Softmax head: `gradeng.experiments.detection.init_model` (background bias from π). Sigmoid
  head: the object outputs' biases are `sigmoid_prior_bias` (π), the background's 0.
  """
  if loss.head == "softmax" or loss.prior is None:
    return init_model(config, num_classes, in_channels, seed=seed, prior=loss.prior)
  outputs = num_classes + 1
  value = sigmoid_prior_bias(loss.prior)

  def bias(name, b):
    if "class_heads" in name:  # (anchor, class) pairs, class 0 = background
      b[:] = value
      b[::outputs] = 0.0
    return b

  return init_module(lambda rngs: SSDLite(config, num_classes, in_channels, rngs=rngs),
                     seed=seed, bias=bias)


def class_scores(logits: jax.Array, head: str) -> jax.Array:
  """``[..., C + 1]`` class outputs → ``[..., C]`` object-class scores in [0, 1].

  Softmax: the probabilities of the object classes (background excluded); sigmoid: σ of the
  object outputs.

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.experiments.longtail.detection import class_scores
    >>> [round(x, 4) for x in class_scores(jnp.zeros((1, 3)), "softmax")[0].tolist()]
    [0.3333, 0.3333]
  """
  if head == "softmax":
    return jax.nn.softmax(logits, axis=-1)[..., 1:]
  return jax.nn.sigmoid(logits[..., 1:])


def stack_trees(trees):
  """Per-seed pytrees → one pytree with a leading seed axis."""
  return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)
