"""Embedding geometry shared by the embedding losses: safe norms, cosines, distances, label checks.

Every function here is finite with finite gradients for every finite input, including the
points where the textbook formula divides by zero:

* a **zero-norm embedding** normalises to the zero vector (`l2_normalize` divides by
  ``max(‖x‖, eps)``), so its cosine with anything is 0 — a documented defined value, not NaN;
* the **distance of a point to itself** (the diagonal of `pairwise_distances`) is 0 with a zero
  gradient (the norm's gradient x/‖x‖ is taken as 0 at x = 0, its subgradient of least norm).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

#: Norm below which an embedding is treated as zero by `l2_normalize`.
NORM_EPS = 1e-6


def _float(x, name: str) -> jax.Array:
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"`{name}` must be a floating-point array; got dtype {x.dtype}.")
  return x


def compute_dtype(x: jax.Array):
  """bf16/f16 inputs are evaluated in float32 (results are cast back by the callers)."""
  return jnp.promote_types(x.dtype, jnp.float32)


def safe_norm(x, axis: int = -1, keepdims: bool = False) -> jax.Array:
  """‖x‖₂ along ``axis`` with gradient x/‖x‖, and 0 (not NaN) at x = 0."""
  squared = jnp.sum(jnp.square(x), axis=axis, keepdims=keepdims)
  positive = squared > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def l2_normalize(x, axis: int = -1, *, eps: float = NORM_EPS) -> jax.Array:
  """x / max(‖x‖, eps): unit vectors; a zero (or < eps) vector maps to (nearly) zero, finitely."""
  return x / jnp.maximum(safe_norm(x, axis, keepdims=True), eps)


def cosine_similarity_matrix(a, b=None, *, eps: float = NORM_EPS) -> jax.Array:
  """cos(a_i, b_j) = âᵢ·b̂ⱼ, ``[N, D] × [M, D] → [N, M]`` (b defaults to a), in [-1, 1].

  A zero-norm row has cosine 0 with every row (see `l2_normalize`).
  """
  a = _float(a, "embeddings")
  a_hat = l2_normalize(a.astype(compute_dtype(a)), eps=eps)
  b_hat = a_hat if b is None else l2_normalize(_float(b, "b").astype(compute_dtype(a)), eps=eps)
  return jnp.clip(a_hat @ b_hat.T, -1.0, 1.0)


def pairwise_distances(x, *, squared: bool = False) -> jax.Array:
  """Euclidean distances ‖x_i − x_j‖ (or their squares), ``[N, D] → [N, N]``.

  Formed from the differences (not from ‖x‖² + ‖y‖² − 2x·y, which cancels to negative values
  for close points); the diagonal is exactly 0 with gradient 0. The derivative is one
  contraction (see `_distances_jvp`), not autodiff's two reductions of the ``[N, N, D]``
  product.
  """
  return _distances(_float(x, "embeddings"), squared)


def _distances_from(diff: jax.Array, squared: bool) -> jax.Array:
  d = jnp.sum(jnp.square(diff), axis=-1) if squared else safe_norm(diff, axis=-1)
  # Masked, not left to x_i − x_i = 0: under jit XLA may recompute a fused producer of x (e.g.
  # l2_normalize) differently for the two broadcasts, leaving a diagonal of ~1e-8 whose norm
  # has an O(1) slope.
  return jnp.where(jnp.eye(d.shape[0], dtype=bool), jnp.zeros((), d.dtype), d)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _distances(x: jax.Array, squared: bool) -> jax.Array:
  return _distances_from(x[:, None, :] - x[None, :, :], squared)


@_distances.defjvp
def _distances_jvp(squared, primals, tangents):
  """With u_ij = ∂d_ij/∂x_i (x_i − x_j over d_ij, or 2(x_i − x_j) for squared distances; 0 on
  the diagonal and where d_ij = 0) and u_ji = −u_ij,

  .. math:: \\dot d_{ij} = u_{ij}·(\\dot x_i − \\dot x_j) = a_{ij} + a_{ji}, \\quad a_{ij} = u_{ij}·\\dot x_i,

  so reverse mode is one contraction, ∂L/∂x_i = Σ_j (g_ij + g_ji) u_ij, where autodiff of the
  differences reduces the ``[N, N, D]`` product over both pair axes. Same derivative to rounding.
  """
  (x,), (dx,) = primals, tangents
  diff = x[:, None, :] - x[None, :, :]
  d = _distances_from(diff, squared)
  live = d > 0  # the diagonal is exactly 0
  scale = jnp.where(live, 2.0 if squared else 1.0 / jnp.where(live, d, 1.0), 0.0)
  a = jnp.einsum("ijk,ik->ij", scale[:, :, None] * diff, dx)
  return d, a + a.T


def check_labels(labels, num_classes: int | None = None) -> tuple[jax.Array, jax.Array | None]:
  """Integer labels as an array, and (under jit) a validity mask to poison results with NaN.

  Concrete labels are checked now: a non-integer dtype, a negative label or one ≥
  ``num_classes`` raises ``ValueError`` naming the bad value and the valid range. Traced labels
  return ``valid`` (``None`` when concrete) for the caller's ``jnp.where(valid, x, nan)``.
  """
  traced = isinstance(labels, jax.core.Tracer)
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(f"`labels` must be integer class ids; got dtype {labels.dtype}.")
  upper = "" if num_classes is None else f", {num_classes - 1}"
  if not traced:
    values = np.asarray(labels)
    bad = (values < 0) | (values >= num_classes if num_classes is not None else False)
    if np.any(bad):
      raise ValueError(
          f"`labels` must be in [0{upper}]; got {values[bad].ravel()[0]} "
          f"(at index {np.argwhere(bad)[0].tolist()}).")
    return labels, None
  valid = labels >= 0
  if num_classes is not None:
    valid &= labels < num_classes
  return labels, valid


def check_embeddings(embeddings, labels) -> tuple[jax.Array, jax.Array]:
  """Checks ``embeddings [B, D]`` (floating) and ``labels [B]`` (integer) agree; returns them."""
  embeddings = _float(embeddings, "embeddings")
  if embeddings.ndim != 2:
    raise ValueError(f"`embeddings` must be [batch, dim]; got shape {embeddings.shape}.")
  labels = jnp.asarray(labels)
  if labels.shape != embeddings.shape[:1]:
    raise ValueError(f"`labels` must have shape ({embeddings.shape[0]},) to match `embeddings` "
                     f"{embeddings.shape}; got {labels.shape}.")
  return embeddings, labels
