"""Data of the toy classification sweeps: synthetic imbalanced 2-D data, sampled inside the jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


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
