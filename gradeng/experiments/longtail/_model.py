"""A one-hidden-layer MLP as a pytree of arrays (vmappable over seeds), and the shift augmentation."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def init_mlp(key: jax.Array, inputs: int, hidden: int, classes: int) -> dict[str, jax.Array]:
  """He-normal first layer, LeCun-normal output layer, zero biases."""
  k1, k2 = jax.random.split(key)
  return {"w1": jax.random.normal(k1, (inputs, hidden)) * jnp.sqrt(2.0 / inputs),
          "b1": jnp.zeros(hidden),
          "w2": jax.random.normal(k2, (hidden, classes)) * jnp.sqrt(1.0 / hidden),
          "b2": jnp.zeros(classes)}


def apply_mlp(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
  """``[B, 64]`` → logits ``[B, 10]``: ReLU hidden layer, linear head."""
  return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def random_shift(key: jax.Array, x: jax.Array, side: int = 8) -> jax.Array:
  """Each flattened ``side × side`` image of ``x`` ``[B, side²]`` moved by −1, 0 or +1 pixel in
  each direction (uniformly), the vacated border zero (the digits' background)."""
  images = jnp.pad(x.reshape(-1, side, side), ((0, 0), (1, 1), (1, 1)))
  offsets = jax.random.randint(key, (x.shape[0], 2), 0, 3)
  crop = lambda image, o: jax.lax.dynamic_slice(image, (o[0], o[1]), (side, side))  # noqa: E731
  return jax.vmap(crop)(images, offsets).reshape(x.shape)
