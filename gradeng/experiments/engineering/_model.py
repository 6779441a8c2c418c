"""Model of the engineering experiment: a ReLU MLP written as a dict of arrays (pure, vmappable)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def init_mlp(key, hidden, scale=1.0):
  sizes = (2, *hidden, 1)
  params = []
  for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
    w = scale * jax.random.normal(jax.random.fold_in(key, i), (a, b)) * math.sqrt(2.0 / a)
    params.append({"w": w, "b": jnp.zeros((b,))})
  return params


def mlp(params, x):
  for layer in params[:-1]:
    x = jax.nn.relu(x @ layer["w"] + layer["b"])
  return (x @ params[-1]["w"] + params[-1]["b"])[..., 0]
