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


def compute_dtype(x: jax.Array) -> jnp.dtype:
  """The dtype an embedding loss computes in: bf16/f16 inputs are evaluated in float32.

  Args:
    x: an array.

  Returns:
    ``x``'s dtype promoted to at least float32 (the callers cast their results back).

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> ge.embedding.compute_dtype(jnp.zeros(2, jnp.bfloat16))
    dtype('float32')
  """
  return jnp.promote_types(x.dtype, jnp.float32)


def safe_norm(x, axis: int = -1, keepdims: bool = False) -> jax.Array:
  """‖x‖₂ along ``axis`` with gradient x/‖x‖, and 0 (not NaN) at x = 0.

  .. math::
    \\|x\\|_2 = \\sqrt{\\textstyle\\sum_i x_i^2}, \\qquad
    \\nabla \\|x\\|_2 = x / \\|x\\|_2 \\ (x \\ne 0), \\quad 0 \\ (x = 0).

  Args:
    x: an array.
    axis: the axis reduced.
    keepdims: keep ``axis`` with size 1.

  Returns:
    The norms; the gradient at a zero vector is 0 (the subgradient of least norm).

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> print(ge.embedding.safe_norm(jnp.array([[3.0, 4.0], [0.0, 0.0]])))
    [5. 0.]
    >>> print(jax.grad(ge.embedding.safe_norm)(jnp.zeros(2)))  # not NaN
    [0. 0.]
  """
  squared = jnp.sum(jnp.square(x), axis=axis, keepdims=keepdims)
  positive = squared > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def l2_normalize(x, axis: int = -1, *, eps: float = NORM_EPS) -> jax.Array:
  """x / max(‖x‖, eps): unit vectors; a zero (or < eps) vector maps to (nearly) zero, finitely.

  .. math::
    \\hat x = \\frac{x}{\\max(\\|x\\|_2, \\epsilon)}

  Args:
    x: an array of vectors along ``axis``.
    axis: the axis of the vectors.
    eps: the norm below which a vector counts as zero (`NORM_EPS`).

  Returns:
    The normalised vectors, shape of ``x``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> print(np.asarray(ge.embedding.l2_normalize(jnp.array([[3.0, 4.0], [0.0, 0.0]])),
    ...                  float).round(4))
    [[0.6 0.8]
     [0.  0. ]]
  """
  return x / jnp.maximum(safe_norm(x, axis, keepdims=True), eps)


def cosine_similarity_matrix(a, b=None, *, eps: float = NORM_EPS) -> jax.Array:
  """cos(a_i, b_j) = âᵢ·b̂ⱼ, ``[N, D] × [M, D] → [N, M]`` (b defaults to a), in [-1, 1].

  A zero-norm row has cosine 0 with every row (see `l2_normalize`).

  .. math::
    C_{ij} = \\frac{a_i \\cdot b_j}{\\max(\\|a_i\\|, \\epsilon)\\max(\\|b_j\\|, \\epsilon)}

  Args:
    a: ``[N, D]`` floating-point embeddings.
    b: ``[M, D]`` embeddings, or ``None`` for ``a`` itself.
    eps: see `l2_normalize`.

  Returns:
    ``[N, M]`` cosines, clipped to [-1, 1], in float32 at least (`compute_dtype`).

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x = jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    >>> print(np.asarray(ge.embedding.cosine_similarity_matrix(x), float).round(4))
    [[1.     0.7071 0.    ]
     [0.7071 1.     0.    ]
     [0.     0.     0.    ]]
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

  .. math::
    d_{ij} = \\|x_i - x_j\\|_2 \\quad (\\text{or } d_{ij}^2 \\text{ with } ``squared``)

  Args:
    x: ``[N, D]`` floating-point embeddings.
    squared: return squared distances.

  Returns:
    ``[N, N]`` distances with a zero diagonal.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> print(ge.embedding.pairwise_distances(jnp.array([[0.0, 0.0], [3.0, 4.0]])))
    [[0. 5.]
     [5. 0.]]
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

  Args:
    labels: integer class ids, any shape.
    num_classes: the number of classes C (labels must be below it), or ``None``.

  Returns:
    ``(labels, valid)``: the labels as an array and the ``[...]`` validity mask, ``None`` for
    concrete labels (they have been checked).

  Raises:
    TypeError: non-integer labels.
    ValueError: a concrete label outside [0, C).

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> labels, valid = ge.embedding.check_labels(jnp.array([0, 2]), 3)
    >>> print(labels, valid)
    [0 2] None
    >>> ge.embedding.check_labels(jnp.array([0, 3]), 3)
    Traceback (most recent call last):
    ...
    ValueError: `labels` must be in [0, 2]; got 3 (at index [1]).
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
  """Checks ``embeddings [B, D]`` (floating) and ``labels [B]`` agree; returns them as arrays.

  Args:
    embeddings: ``[B, D]`` floating-point embeddings.
    labels: ``[B]`` class ids (their values are checked by `check_labels`).

  Returns:
    ``(embeddings, labels)`` as JAX arrays.

  Raises:
    TypeError: non-floating embeddings.
    ValueError: embeddings not 2-D, or labels of another batch size.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> x, y = ge.embedding.check_embeddings(jnp.zeros((2, 3)), jnp.array([0, 1]))
    >>> x.shape, y.shape
    ((2, 3), (2,))
    >>> ge.embedding.check_embeddings(jnp.zeros((2, 3)), jnp.array([0, 1, 1]))
    Traceback (most recent call last):
    ...
    ValueError: `labels` must have shape (2,) to match `embeddings` (2, 3); got (3,).
  """
  embeddings = _float(embeddings, "embeddings")
  if embeddings.ndim != 2:
    raise ValueError(f"`embeddings` must be [batch, dim]; got shape {embeddings.shape}.")
  labels = jnp.asarray(labels)
  if labels.shape != embeddings.shape[:1]:
    raise ValueError(f"`labels` must have shape ({embeddings.shape[0]},) to match `embeddings` "
                     f"{embeddings.shape}; got {labels.shape}.")
  return embeddings, labels
