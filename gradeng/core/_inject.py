"""Losses whose derivative is *injected* from the scale coefficient.

For the probability p_t of the true class and a loss with scale coefficient g = dL/dp,

.. math::
  \\frac{\\partial L}{\\partial z} = g(p_t)\\frac{\\partial p_t}{\\partial z}
  = w(p_t)\\,\\frac{\\partial \\log p_t}{\\partial z}, \\qquad w(p) = p\\,g(p),

with ∂log p_t/∂z = (1 - p_t)(2y - 1) for a sigmoid head and δ_{jy} - p_j for a softmax head.
The derivative is never obtained by differentiating the forward formula: it is w(p_t), computed
from log p_t and log(1 - p_t) (``log_sigmoid(±z)``, ``log_softmax``), times the exact direction.

The rule is a `jax.custom_jvp` rather than a `custom_vjp`: its tangent is linear in dz, so JAX
transposes it into exactly the backward pass g(p_t)·∂p_t/∂z, and forward mode (``jax.jvp``,
``jax.hessian``, grad-of-grad) works as well. Hyper-parameters (γ, α, …) and masks are
constants of the rule: differentiating with respect to them raises a clear error rather than
silently returning zero.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from gradeng.core._errors import InputError

HEADS = ("sigmoid", "softmax")

LossFunction = Callable[..., jax.Array]


def _is_zero(tangent) -> bool:
  return isinstance(tangent, SymbolicZero)


class _SigmoidHard:
  """Sigmoid head, labels in {0, 1}: p_t = σ(z) if y = 1 else 1 - σ(z)."""

  @staticmethod
  def forward(kernel, logits, labels, consts, with_partials):
    scale, mask, params = consts
    positive = labels == 1
    log_p_t = jax.nn.log_sigmoid(jnp.where(positive, logits, -logits))
    log_q_t = jax.nn.log_sigmoid(jnp.where(positive, -logits, logits))
    value = jnp.where(mask, scale * kernel.value(log_p_t, log_q_t, **params), 0.0)
    if not with_partials:
      return value, None, None
    weight = kernel.weight(log_p_t, log_q_t, **params)
    d_logits = jnp.where(mask, scale * jnp.where(positive, 1.0, -1.0) * weight * jnp.exp(log_q_t), 0.0)
    return value, d_logits, None

  @staticmethod
  def contract(d_logits, tangent):
    return d_logits * tangent


class _SigmoidSoft:
  """Sigmoid head, labels y ∈ [0, 1]: L = α y L(p) + (1 - α)(1 - y) L(1 - p), p = σ(z)."""

  @staticmethod
  def forward(kernel, logits, labels, consts, with_partials):
    (scale_pos, scale_neg), mask, params = consts
    log_p = jax.nn.log_sigmoid(logits)
    log_q = jax.nn.log_sigmoid(-logits)
    loss_pos = scale_pos * kernel.value(log_p, log_q, **params)
    loss_neg = scale_neg * kernel.value(log_q, log_p, **params)
    value = jnp.where(mask, labels * loss_pos + (1.0 - labels) * loss_neg, 0.0)
    if not with_partials:
      return value, None, None
    d_logits = (labels * scale_pos * kernel.weight(log_p, log_q, **params) * jnp.exp(log_q)
                - (1.0 - labels) * scale_neg * kernel.weight(log_q, log_p, **params) * jnp.exp(log_p))
    d_labels = jnp.where(mask, loss_pos - loss_neg, 0.0)
    return value, jnp.where(mask, d_logits, 0.0), d_labels

  contract = _SigmoidHard.contract


class _Softmax:
  """Softmax head: logits [..., C], integer labels [...], p_t = softmax(z)_y."""

  @staticmethod
  def forward(kernel, logits, labels, consts, with_partials):
    scale, mask, params = consts
    onehot = labels[..., None] == jnp.arange(logits.shape[-1])
    # p_t = σ(m) with the margin m = z_y - log Σ_{j≠y} e^{z_j}: log p_t and log(1 - p_t) are then
    # log_sigmoid(±m), accurate even when p_t → 1, where log_softmax's z_y - logsumexp(z)
    # cancels (and (γ+1)-fold amplifies in Maki's q^{γ+1}). The sum over the other classes is
    # taken directly, never as total - e_y.
    top = jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    shifted = jnp.exp(logits - top)
    others = jnp.sum(jnp.where(onehot, 0.0, shifted), axis=-1)
    log_true = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0] - top[..., 0]
    # A sum of the others below the smallest normal float means a margin beyond ~87, where
    # 1 - p_t and every loss value are below float32's normal range; flooring it keeps log(1 - p_t)
    # finite (≈ -margin) instead of -inf.
    tiny = jnp.finfo(logits.dtype).tiny
    margin = log_true - jnp.log(jnp.maximum(others, tiny))
    log_p_t = jax.nn.log_sigmoid(margin)
    log_q_t = jax.nn.log_sigmoid(-margin)
    value = jnp.where(mask, scale * kernel.value(log_p_t, log_q_t, **params), 0.0)
    if not with_partials:
      return value, None, None
    weight = jnp.where(mask, scale * kernel.weight(log_p_t, log_q_t, **params), 0.0)
    probs = shifted / (others + jnp.exp(log_true))[..., None]
    direction = jnp.where(onehot, jnp.exp(log_q_t)[..., None], -probs)
    return value, weight[..., None] * direction, None

  @staticmethod
  def contract(d_logits, tangent):
    return jnp.sum(d_logits * tangent, axis=-1)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _injected(head, kernel, logits, labels, consts):
  return head.forward(kernel, logits, labels, consts, with_partials=False)[0]


def _injected_jvp(head, kernel, primals, tangents):
  logits, labels, consts = primals
  d_logits, d_labels, d_consts = tangents
  if not all(_is_zero(t) for t in jax.tree_util.tree_leaves(d_consts, is_leaf=_is_zero)):
    raise TypeError(
        "Differentiating an injected loss with respect to its hyper-parameters, class weights "
        "or mask is not supported: only `logits` (and soft sigmoid `labels`) carry derivatives. "
        "Wrap hyper-parameters in `jax.lax.stop_gradient` if they are traced values."
    )
  value, partial_logits, partial_labels = head.forward(kernel, logits, labels, consts, True)
  tangent = jnp.zeros_like(value)
  if not _is_zero(d_logits):
    tangent = tangent + head.contract(partial_logits, d_logits)
  if not _is_zero(d_labels) and partial_labels is not None:
    tangent = tangent + partial_labels * d_labels
  return value, tangent


_injected.defjvp(_injected_jvp, symbolic_zeros=True)


class Kernel:
  """The two log-space functions a loss is made of: ``value`` L and ``weight`` w = p·g."""

  __slots__ = ("value", "weight", "name")

  def __init__(self, value: Callable, weight: Callable, name: str):
    self.value, self.weight, self.name = value, weight, name

  def __repr__(self):
    return f"Kernel({self.name})"


def _is_traced(x) -> bool:
  return isinstance(x, jax.core.Tracer)


def _concrete(*arrays):
  """NumPy copies of the inputs when none is traced (checks run eagerly), else None."""
  if any(_is_traced(a) for a in arrays if a is not None):
    return None
  return [None if a is None else np.asarray(a) for a in arrays]


def _check_logits(logits) -> jax.Array:
  logits = jnp.asarray(logits)
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise TypeError(f"`logits` must be a floating-point array; got dtype {logits.dtype}.")
  return logits


def _poison(value, valid):
  """NaN where ``valid`` is false: under jit a bad label must not pass as a number."""
  return jnp.where(valid, value, jnp.nan)


def apply_kernel(
    kernel: Kernel,
    logits,
    labels,
    *,
    head: str,
    params: Mapping[str, Any],
    alpha=None,
    where=None,
    ignore_index: int | None = None,
) -> jax.Array:
  """Per-element loss of ``kernel`` for a sigmoid or softmax head, with its injected derivative.

  Args:
    kernel: the log-space value/weight pair.
    logits: float array; sigmoid head: any shape broadcastable with ``labels``; softmax head:
      ``[..., C]``.
    labels: sigmoid head: integer/bool labels in {0, 1} or float labels in [0, 1] (soft, the
      mixture y·L(p) + (1 - y)·L(1 - p)); softmax head: integer class ids in {0, …, C-1}.
    head: ``"sigmoid"`` or ``"softmax"``.
    params: hyper-parameters passed to the kernel.
    alpha: class weighting as in focal loss: sigmoid head, a scalar (or broadcastable array)
      weighting positives by α and negatives by 1 - α; softmax head, a ``[C]`` vector of
      per-class weights.
    where: optional boolean mask (shape of the per-element loss); masked entries give 0 loss and
      0 gradient.
    ignore_index: softmax head: a label value whose entries are masked out.

  Returns:
    Per-element losses: the broadcast shape (sigmoid) or ``logits.shape[:-1]`` (softmax), in the
    dtype of ``logits``. Invalid labels raise ``ValueError`` when concrete and give NaN under jit.
  """
  if head not in HEADS:
    raise InputError(f"`head` must be one of {HEADS}; got {head!r}.")
  logits = _check_logits(logits)
  concrete = _concrete(labels, where, alpha)
  labels = jnp.asarray(labels)
  out_dtype = logits.dtype
  compute_dtype = jnp.promote_types(out_dtype, jnp.float32)  # bf16/f16 evaluated in f32
  logits = logits.astype(compute_dtype)
  if head == "sigmoid":
    apply = _apply_sigmoid
  else:
    apply = _apply_softmax
  return apply(kernel, logits, labels, params, alpha, where, ignore_index, concrete).astype(out_dtype)


def _broadcast(*arrays, names):
  try:
    shape = jnp.broadcast_shapes(*(jnp.shape(a) for a in arrays))
  except ValueError:
    shapes = ", ".join(f"`{n}` {tuple(jnp.shape(a))}" for n, a in zip(names, arrays))
    raise InputError(f"Shapes do not broadcast: {shapes}.") from None
  return shape


def _mask(where, shape):
  if where is None:
    return jnp.ones(shape, bool)
  where = jnp.asarray(where)
  if where.dtype != bool:
    raise TypeError(f"`where` must be a boolean mask; got dtype {where.dtype}.")
  _broadcast(where, jnp.zeros(shape), names=("where", "loss"))
  return jnp.broadcast_to(where, shape)


def _apply_sigmoid(kernel, logits, labels, params, alpha, where, ignore_index, concrete):
  if ignore_index is not None:
    raise InputError("`ignore_index` is for the softmax head; use `where` with the sigmoid head.")
  shape = _broadcast(logits, labels, names=("logits", "labels"))
  logits = jnp.broadcast_to(logits, shape)
  mask = _mask(where, shape)
  hard = jnp.issubdtype(labels.dtype, jnp.integer) or labels.dtype == bool
  labels = jnp.broadcast_to(labels, shape)
  valid = (labels == 0) | (labels == 1) if hard else (labels >= 0) & (labels <= 1)
  if concrete is not None:
    y, w, a = concrete
    ok = ((y == 0) | (y == 1)) if hard else ((y >= 0) & (y <= 1))
    ok = np.broadcast_to(ok, shape) | (False if w is None else ~np.broadcast_to(w, shape))
    if not ok.all():
      bad = np.broadcast_to(y, shape)[~ok][:5]
      raise InputError(
          f"Sigmoid-head labels must be in {{0, 1}} (integer) or [0, 1] (float); got e.g. {bad.tolist()}."
      )
    if a is not None and not np.all((a >= 0) & (a <= 1)):
      raise InputError(f"`alpha` must be in [0, 1]; got {a.tolist()}.")
  a = 1.0 if alpha is None else jnp.asarray(alpha, logits.dtype)
  if alpha is not None:
    _broadcast(a, logits, names=("alpha", "logits"))
  scale_pos = jnp.broadcast_to(jnp.asarray(a, logits.dtype), shape)
  scale_neg = jnp.broadcast_to(jnp.asarray(1.0 if alpha is None else 1.0 - a, logits.dtype), shape)
  if hard:
    scale = jnp.where(labels == 1, scale_pos, scale_neg)
    value = _injected(_SigmoidHard, kernel, logits, labels, (scale, mask, dict(params)))
  else:
    labels = labels.astype(logits.dtype)
    value = _injected(_SigmoidSoft, kernel, logits, labels, ((scale_pos, scale_neg), mask, dict(params)))
  return _poison(value, valid | ~mask)


def _apply_softmax(kernel, logits, labels, params, alpha, where, ignore_index, concrete):
  if logits.ndim < 1:
    raise InputError("Softmax-head `logits` need a class axis: shape [..., C].")
  if not (jnp.issubdtype(labels.dtype, jnp.integer)):
    raise TypeError(
        f"Softmax-head `labels` must be integer class ids; got dtype {labels.dtype} "
        "(one-hot or soft targets: use the sigmoid head per class)."
    )
  num_classes = logits.shape[-1]
  shape = _broadcast(logits[..., 0], labels, names=("logits[..., 0]", "labels"))
  logits = jnp.broadcast_to(logits, shape + (num_classes,))
  labels = jnp.broadcast_to(labels, shape)
  mask = _mask(where, shape)
  if ignore_index is not None:
    mask = mask & (labels != ignore_index)
  valid = (labels >= 0) & (labels < num_classes)
  if concrete is not None:
    y, w, a = concrete
    y = np.broadcast_to(y, shape)
    ok = ((y >= 0) & (y < num_classes)) | (False if w is None else ~np.broadcast_to(w, shape))
    if ignore_index is not None:
      ok |= y == ignore_index
    if not ok.all():
      raise InputError(
          f"Softmax-head labels must be in {{0, …, {num_classes - 1}}}"
          f"{'' if ignore_index is None else f' or ignore_index={ignore_index}'}; got e.g. {y[~ok][:5].tolist()}."
      )
    if a is not None and not np.all(a >= 0):
      raise InputError(f"`alpha` class weights must be ≥ 0; got {a.tolist()}.")
  if alpha is None:
    scale = jnp.ones(shape, logits.dtype)
  else:
    alpha = jnp.asarray(alpha, logits.dtype)
    if alpha.shape != (num_classes,):
      raise InputError(
          f"Softmax-head `alpha` must be a per-class vector of shape ({num_classes},); got {alpha.shape}."
      )
    scale = alpha[jnp.clip(labels, 0, num_classes - 1)]
  safe_labels = jnp.where(valid, labels, 0)
  value = _injected(_Softmax, kernel, logits, safe_labels, (scale, mask & valid, dict(params)))
  return _poison(value, valid | ~mask)
