"""A one-hidden-layer MLP as a pytree of arrays (vmappable over seeds)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def init_mlp(key, inputs: int, hidden: int, classes: int) -> dict:
  k1, k2 = jax.random.split(key)
  return {"w1": jax.random.normal(k1, (inputs, hidden)) * jnp.sqrt(2.0 / inputs),
          "b1": jnp.zeros(hidden),
          "w2": jax.random.normal(k2, (hidden, classes)) * jnp.sqrt(1.0 / hidden),
          "b2": jnp.zeros(classes)}


def apply_mlp(params: dict, x) -> jax.Array:
  return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]
