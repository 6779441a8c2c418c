"""Center loss (Wen et al. 2016): class centers as state, an injected feature gradient.

.. math::
  L_C = \\frac{λ}{2} \\lVert x_i - c_{y_i} \\rVert^2, \\qquad
  \\frac{\\partial L_C}{\\partial x_i} = λ (x_i - c_{y_i}),

  c_j \\leftarrow c_j - α\\,Δc_j, \\qquad
  Δc_j = \\frac{\\sum_i δ(y_i = j)(c_j - x_i)}{1 + \\sum_i δ(y_i = j)}.

The center update is **not** the gradient of L_C with respect to c_j (that would be
−λ Σ_i δ(y_i = j)(x_i − c_j), growing with the number of class members in the batch): it is a
per-class average, damped by the 1 in the denominator, with its own rate α. The original Caffe
layer writes ``center_diff`` straight into the backward pass; here the feature gradient
λ(x_i − c_{y_i}) is the injected derivative (``jax.custom_jvp``) and the centers get none — they
move only through `make_center_loss`'s ``update``.

`trained_center_loss` is the variant the update rule replaces: the centers are ordinary
parameters, optimised by the same optimiser as the network with the true gradient.

The contract is the stateful coefficients' (`gradeng.runtime._stateful.StatefulLoss`): ``init()``
gives the state (a NamedTuple of arrays), ``loss(features, labels, state)`` returns the
per-example losses and the state after the batch (no gradient flows into it; under
``jax.grad`` return it as auxiliary output). `CenterLoss` adds ``update``, the α-rule alone.

References:
  Wen, Y., Zhang, K., Li, Z., Qiao, Y. "A discriminative feature learning approach for deep
  face recognition", ECCV 2016 (Algorithm 1, Eq. 4).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradeng.embedding._geometry import check_embeddings, check_labels, compute_dtype

__all__ = ["CenterLoss", "CenterState", "make_center_loss", "center_update", "trained_center_loss"]


class CenterState(NamedTuple):
  """The state of `make_center_loss`: the class centers.

  Attributes:
    centers: ``[num_classes, dim]`` class centers (zeros after ``init``).

  Example:
    >>> import gradeng as ge
    >>> ge.embedding.make_center_loss(num_classes=3, dim=2).init().centers.shape
    (3, 2)
  """

  centers: jax.Array


class CenterLoss(NamedTuple):
  """Center loss as pure functions (the `gradeng.StatefulLoss` contract plus ``update``).

  Attributes:
    init: ``init() -> CenterState``.
    loss: ``loss(features, labels, state, *, where=None) -> (per_example [B], state_after)``.
    update: ``update(state, features, labels, *, where=None) -> CenterState``, the α-rule alone.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> cl = ge.embedding.make_center_loss(num_classes=2, dim=2)
    >>> state = cl.update(cl.init(), jnp.array([[3.0, 0.0]]), jnp.array([0]))
    >>> print(state.centers)  # c_0 moves by α(x - c)/(1 + n) = 0.5·3/2
    [[0.75 0.  ]
     [0.   0.  ]]
  """

  init: Callable[[], CenterState]
  loss: Callable[..., tuple[jax.Array, CenterState]]
  update: Callable[..., CenterState]


def _check(name, value, *, lower, lower_open=False, upper=None, integer=False):
  ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
  ok = ok and (value > lower if lower_open else value >= lower)
  ok = ok and (upper is None or value <= upper) and (not integer or float(value).is_integer())
  if not ok:
    valid = f"{'an integer' if integer else 'a number'} {'>' if lower_open else '≥'} {lower}"
    valid += f" and ≤ {upper}" if upper is not None else ""
    raise ValueError(f"`{name}` must be {valid}; got {value!r}.")


@jax.custom_jvp
def _center_value(features, centers, lam):
  return 0.5 * lam * jnp.sum(jnp.square(features - centers), -1)


@_center_value.defjvp
def _center_jvp(primals, tangents):
  features, centers, lam = primals
  d_features = tangents[0]
  diff = features - centers
  # Only the features receive a derivative: λ(x_i − c_{y_i}); centers and λ are constants.
  return 0.5 * lam * jnp.sum(jnp.square(diff), -1), jnp.sum(lam * diff * d_features, -1)


def _inputs(features, labels, num_classes):
  features, labels = check_embeddings(features, labels)
  labels, valid = check_labels(labels, num_classes)
  return features, labels, valid


def center_update(centers, features, labels, *, update_rate: float = 0.5, where=None) -> jax.Array:
  """Wen et al.'s α-rule: c_j ← c_j − α Σ_i δ(y_i=j)(c_j − x_i) / (1 + Σ_i δ(y_i=j)).

  Args:
    centers: ``[C, D]`` the centers before the batch.
    features: ``[B, D]`` (differentiation is stopped).
    labels: ``[B]`` ints in [0, C).
    update_rate: α ∈ [0, 1], the center learning rate (Wen et al.'s α).
    where: optional ``[B]`` bool mask of the examples that count.

  Returns:
    ``[C, D]`` the centers after the batch (classes absent from the batch are unchanged).

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x, labels = jnp.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]]), jnp.array([0, 0, 1])
    >>> centers = ge.embedding.center_update(jnp.zeros((2, 2)), x, labels, update_rate=0.5)
    >>> print(np.asarray(centers, float).round(4))  # c_0 = 0.5·(1 + 3)/(1 + 2)
    [[0.6667 0.    ]
     [0.     0.5   ]]
  """
  _check("update_rate", update_rate, lower=0.0, upper=1.0)
  centers = jnp.asarray(centers)
  features, labels, valid = _inputs(features, labels, centers.shape[0])
  features = jax.lax.stop_gradient(features).astype(centers.dtype)
  member = jax.nn.one_hot(labels, centers.shape[0], dtype=centers.dtype)  # [B, C]
  if where is not None:
    member = member * jnp.asarray(where, centers.dtype)[:, None]
  count = jnp.sum(member, 0)[:, None]  # n_j
  delta = (count * centers - member.T @ features) / (1.0 + count)
  new = centers - update_rate * delta
  if valid is not None:
    new = jnp.where(jnp.all(valid), new, jnp.nan)
  return new


def make_center_loss(num_classes: int, dim: int, *, lam: float = 1.0, update_rate: float = 0.5,
                dtype=jnp.float32) -> CenterLoss:
  """Center loss as ``init``/``loss``/``update`` pure functions (centers as state).

  .. code-block:: python

    cl = ge.embedding.make_center_loss(num_classes=6, dim=8, lam=0.1, update_rate=0.5)
    state = cl.init()
    def objective(params, state):
      features, logits = model(params, x)
      center, state = cl.loss(features, labels, state)
      return ce(logits, labels).mean() + center.mean(), state
    (value, state), grads = jax.value_and_grad(objective, has_aux=True)(params, state)

  Args:
    num_classes: C ≥ 1.
    dim: the feature dimension D ≥ 1.
    lam: λ ≥ 0, the loss weight (in the value and the injected gradient λ(x_i − c_{y_i})).
    update_rate: α ∈ [0, 1], the center update rate (Wen et al.'s α).
    dtype: dtype of the centers.

  Returns:
    A `CenterLoss`: ``init() -> CenterState`` (zero centers, as the paper), ``loss(features,
    labels, state, *, where=None) -> ([B], CenterState)``: per-example λ/2‖x_i − c_{y_i}‖² (0
    where masked) with the injected gradient, and the centers after the α-rule,
    ``update(state, features, labels, *, where=None) -> CenterState`` (`center_update`).
    Labels outside [0, C) raise ``ValueError`` (NaN under jit).

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> cl = ge.embedding.make_center_loss(num_classes=2, dim=2, lam=1.0, update_rate=0.5)
    >>> x, labels = jnp.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]]), jnp.array([0, 0, 1])
    >>> losses, state = cl.loss(x, labels, cl.init())  # λ/2‖x - 0‖²
    >>> print(losses)
    [0.5 4.5 2. ]
    >>> print(np.asarray(state.centers, float).round(4))
    [[0.6667 0.    ]
     [0.     0.5   ]]
    >>> grad = jax.grad(lambda f: cl.loss(f, labels, state)[0].sum())(x)  # λ(x - c)
    >>> print(np.asarray(grad, float).round(4))
    [[0.3333 0.    ]
     [2.3333 0.    ]
     [0.     1.5   ]]
  """
  _check("num_classes", num_classes, lower=1, integer=True)
  _check("dim", dim, lower=1, integer=True)
  _check("lam", lam, lower=0.0)
  _check("update_rate", update_rate, lower=0.0, upper=1.0)

  def init() -> CenterState:
    return CenterState(jnp.zeros((int(num_classes), int(dim)), dtype))

  def value(features, labels, state: CenterState, where) -> jax.Array:
    features, labels, valid = _inputs(features, labels, num_classes)
    out_dtype = features.dtype
    features = features.astype(compute_dtype(features))
    centers = jax.lax.stop_gradient(state.centers).astype(features.dtype)[labels]
    out = _center_value(features, centers, jnp.asarray(lam, features.dtype))
    if where is not None:
      out = jnp.where(jnp.asarray(where), out, 0.0)
    if valid is not None:
      out = jnp.where(valid, out, jnp.nan)
    return out.astype(out_dtype)

  def update(state: CenterState, features, labels, *, where=None) -> CenterState:
    return CenterState(center_update(state.centers, features, labels, update_rate=update_rate, where=where))

  def loss(features, labels, state: CenterState, *, where=None):
    return value(features, labels, state, where), update(state, features, labels, where=where)

  return CenterLoss(init, loss, update)


def trained_center_loss(features, labels, centers, *, lam: float = 1.0) -> jax.Array:
  """Center loss with the centers as trained parameters: λ/2‖x_i − c_{y_i}‖², plain autodiff.

  The gradient reaches the centers as −λ Σ_i δ(y_i=j)(x_i − c_j) and they move with the network's
  optimiser (the variant `make_center_loss`'s α-rule replaces).

  Args:
    features: ``[B, D]``; labels: ``[B]`` ints in [0, C); centers: ``[C, D]`` parameters.
    lam: λ ≥ 0.

  Returns:
    ``[B]`` per-example losses.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> x, labels = jnp.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]]), jnp.array([0, 0, 1])
    >>> centers = jnp.array([[2.0, 0.0], [0.0, 0.0]])
    >>> print(ge.embedding.trained_center_loss(x, labels, centers))
    [0.5 0.5 2. ]
    >>> print(jax.grad(lambda c: ge.embedding.trained_center_loss(x, labels, c).sum())(centers))
    [[ 0.  0.]
     [ 0. -2.]]
  """
  _check("lam", lam, lower=0.0)
  centers = jnp.asarray(centers)
  features, labels, valid = _inputs(features, labels, centers.shape[0])
  out_dtype = features.dtype
  work = compute_dtype(features)
  value = 0.5 * lam * jnp.sum(jnp.square(features.astype(work) - centers.astype(work)[labels]), -1)
  if valid is not None:
    value = jnp.where(valid, value, jnp.nan)
  return value.astype(out_dtype)
