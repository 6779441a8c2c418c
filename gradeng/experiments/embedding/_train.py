"""The embedding network (Flax NNX), the losses of the study, and seed-vmapped training.

Every loss trains the same MLP (canvas² → hidden → embedding_dim) with the same class-balanced
batches, Adam and number of steps; the network also carries class weights ``[C, D]`` and a bias
that only the classification-style losses use. Training of all seeds of one loss is one
``jit(vmap(lax.scan))``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gradeng as ge
from gradeng.experiments.embedding._config import TrainConfig
from gradeng.experiments.embedding._model import EmbeddingNet, NUM_CLASSES




# A loss: (embeddings, labels, weights [C, D], bias [C], step, centers) -> (scalar, centers).
LossFn = Callable[..., tuple[jax.Array, jax.Array]]


SCALE = 16.0  # s of the normalised heads (chosen a priori: s ≫ log C = 1.8 for 6 classes)


CENTER = ge.embedding.make_center_loss(NUM_CLASSES, 1, lam=0.1, update_rate=0.5)  # dim only used by init


def _ce(logits, labels):
  return ge.cross_entropy_loss(logits, labels, head="softmax").mean()


def _classifier(head: Callable) -> LossFn:
  def loss(e, y, w, b, step, centers):
    return head(e, y, w, b, step), centers
  return loss


def _pairwise(fn: Callable) -> LossFn:
  def loss(e, y, w, b, step, centers):
    return fn(e, y).mean(), centers
  return loss


def _center_softmax(e, y, w, b, step, centers):
  values, state = CENTER.loss(e, y, ge.embedding.CenterState(centers))
  return _ce(e @ w.T + b, y) + values.mean(), state.centers


#: name -> loss; hyper-parameters are the papers' (or pytorch-metric-learning's) defaults.
LOSSES: dict[str, LossFn] = {
    "softmax": _classifier(lambda e, y, w, b, t: _ce(e @ w.T + b, y)),
    "normface": _classifier(lambda e, y, w, b, t: _ce(ge.embedding.normface_logits(e, w, scale=SCALE), y)),
    "sphereface": _classifier(lambda e, y, w, b, t: _ce(
        ge.embedding.sphereface_logits(e, w, y, margin=4, lambda_=ge.embedding.sphereface_lambda(t)), y)),
    "cosface": _classifier(lambda e, y, w, b, t: _ce(
        ge.embedding.cosface_logits(e, w, y, scale=SCALE, margin=0.35), y)),
    "arcface": _classifier(lambda e, y, w, b, t: _ce(
        ge.embedding.arcface_logits(e, w, y, scale=SCALE, margin=0.5), y)),
    "arcface+focal": _classifier(lambda e, y, w, b, t: ge.focal_loss(
        ge.embedding.arcface_logits(e, w, y, scale=SCALE, margin=0.5), y, gamma=2.0, head="softmax").mean()),
    "center+softmax": _center_softmax,
    "contrastive": _pairwise(lambda e, y: ge.embedding.contrastive_loss(e, y, margin=1.0)),
    "triplet": _pairwise(lambda e, y: ge.embedding.triplet_loss(e, y, margin=0.2, mining="semi-hard")),
    "triplet-drop": _pairwise(lambda e, y: ge.embedding.triplet_loss(e, y, margin=0.2, mining="semi-hard",
                                                           drop_outliers=True)),
    "multi-similarity": _pairwise(ge.embedding.multi_similarity_loss),
    "circle": _pairwise(ge.embedding.circle_loss),
}


def _class_table(labels: np.ndarray) -> np.ndarray:
  """``[C, n]`` indices of each training class (truncated to the smallest class)."""
  pools = [np.flatnonzero(labels == c) for c in range(NUM_CLASSES)]
  n = min(len(p) for p in pools)
  return np.stack([p[:n] for p in pools])


def train(loss_name: str, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
          seeds, *, steps: int | None = None, embedding_dim: int | None = None):
  """Trains one loss for every seed (vmapped); returns ``(embed_fn, params, final_losses)``.

  ``embed_fn(params, x)`` maps images to embeddings for one seed's ``params`` (vmap it over
  seeds). Batches: ``per_class`` random images of each training class per step.
  """
  if loss_name not in LOSSES:
    raise ValueError(f"unknown loss {loss_name!r}; expected one of {sorted(LOSSES)}")
  if embedding_dim is not None:
    import dataclasses

    config = dataclasses.replace(config, embedding_dim=embedding_dim)
  steps = config.steps if steps is None else steps
  loss_fn = LOSSES[loss_name]
  graphdef, _ = nnx.split(EmbeddingNet(images.shape[1], config, rngs=nnx.Rngs(0)))
  params = [nnx.split(EmbeddingNet(images.shape[1], config, rngs=nnx.Rngs(int(s))))[1]
            for s in seeds]
  params = jax.tree.map(lambda *a: jnp.stack(a), *params)
  optimizer = optax.adam(config.learning_rate)
  table = jnp.asarray(_class_table(labels))
  data = jnp.asarray(images)
  batch_labels = jnp.repeat(jnp.arange(NUM_CLASSES), config.per_class)

  def embed(p, x):
    return nnx.merge(graphdef, p)(x)

  def objective(p, x, step, centers):
    e = embed(p, x)
    model = nnx.merge(graphdef, p)
    return loss_fn(e, batch_labels, model.classes[...], model.bias[...], step, centers)

  def one_seed(p, seed):
    key = jax.random.PRNGKey(seed)
    centers = jnp.zeros((NUM_CLASSES, config.embedding_dim))

    def step_fn(carry, step):
      p, opt_state, centers, key = carry
      key, sub = jax.random.split(key)
      pick = jax.random.randint(sub, (NUM_CLASSES, config.per_class), 0, table.shape[1])
      x = data[jnp.take_along_axis(table, pick, 1).reshape(-1)]
      (value, centers), grads = jax.value_and_grad(objective, has_aux=True)(p, x, step, centers)
      updates, opt_state = optimizer.update(grads, opt_state, p)
      return (optax.apply_updates(p, updates), opt_state, centers, key), value

    carry = (p, optimizer.init(p), centers, key)
    (p, _, _, _), values = jax.lax.scan(step_fn, carry, jnp.arange(steps))
    return p, values

  run = jax.jit(jax.vmap(one_seed))
  params, values = run(params, jnp.asarray(np.asarray(seeds) + 1000, jnp.uint32))
  return embed, params, np.asarray(values)


def embed_all(embed, params, images: np.ndarray) -> np.ndarray:
  """``[S, N, D]`` embeddings of ``images`` for every seed's parameters."""
  return np.asarray(jax.jit(jax.vmap(embed, in_axes=(0, None)))(params, jnp.asarray(images)))
