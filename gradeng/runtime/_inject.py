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
``jax.hessian``, grad-of-grad) works as well.

Hyper-parameters θ (γ, α, …) come in two kinds. Python numbers are *static*: they are closed
over (``nondiff_argnums``), so ``maki(γ=1)`` compiles to its own special case and nothing about
θ is traced. JAX values are *differentiable inputs* of the rule: the tangent w.r.t. θ is
∂L/∂θ (a ``jax.jvp`` through the forward value) and the injected backward w(p_t; θ) is itself
built from θ with JAX operations, so d/dθ of ∂L/∂z and every mixed second derivative are exact
(`jax.hessian` w.r.t. ``(logits, θ)`` works). The same holds for the class weights ``alpha``.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from gradeng.runtime._errors import InputError

HEADS = ("sigmoid", "softmax")
#: Sigmoid-head conventions for soft labels y ∈ [0, 1] (see `apply_kernel`).
SOFT_LABEL_CONVENTIONS = ("mixture", "modulated")
#: |Σ_c y_c - 1| allowed for soft target distributions on the softmax head.
SOFT_TARGET_TOLERANCE = 1e-3

LossFunction = Callable[..., jax.Array]


def _is_zero(tangent) -> bool:
  return isinstance(tangent, SymbolicZero)


class Kernel:
  """The two log-space functions a loss is made of: ``value`` L and ``weight`` w = p·g.

  Both are elementwise JAX functions ``f(log_p, log_q, **params)`` of log p and log(1 - p).
  ``uses_log_q`` says whether either reads ``log_q``; ``None`` (the default) finds out once by
  tracing. The softmax head forms the cancellation-free log(1 - p_t) only for kernels that do.
  """

  __slots__ = ("value", "weight", "name", "uses_log_q")

  def __init__(self, value: Callable, weight: Callable, name: str, uses_log_q: bool | None = None):
    self.value, self.weight, self.name, self.uses_log_q = value, weight, name, uses_log_q

  def __repr__(self):
    return f"Kernel({self.name})"


@functools.lru_cache(maxsize=1024)
def _reads_log_q(kernel: Kernel, static: tuple, traced_shapes: tuple) -> bool:
  if kernel.uses_log_q is not None:
    return kernel.uses_log_q
  x = jax.ShapeDtypeStruct((), jnp.float32)

  def both(log_p, log_q, traced):
    params = {**dict(static), **traced}
    return kernel.value(log_p, log_q, **params), kernel.weight(log_p, log_q, **params)

  traced = {k: jax.ShapeDtypeStruct(s, d) for k, s, d in traced_shapes}
  try:
    closed = jax.make_jaxpr(both)(x, x, traced)
  except Exception:  # noqa: BLE001 - a kernel we cannot trace abstractly: assume it needs log q
    return True
  log_q_var = closed.jaxpr.invars[1]
  used = [v for eqn in closed.jaxpr.eqns for v in eqn.invars] + list(closed.jaxpr.outvars)
  return any(v is log_q_var for v in used)


def _call(kernel, part, log_p, log_q, params):
  return getattr(kernel, part)(log_p, log_q, **params)


# ----------------------------------------------------------------------------------------------
# Heads. `forward(kernel, logits, labels, scale, mask, params, needs_log_q, with_partials)`
# returns (value, ∂value/∂logits, ∂value/∂labels or None); `contract` pairs a partial with a
# tangent of the same shape into the value's shape.


def _elementwise(d, tangent):
  return d * tangent


def _class_sum(d, tangent):
  return jnp.sum(d * tangent, axis=-1)


class _SigmoidHard:
  """Sigmoid head, labels in {0, 1}: p_t = σ(z) if y = 1 else 1 - σ(z)."""

  contract = contract_labels = staticmethod(_elementwise)

  @staticmethod
  def forward(kernel, logits, labels, scale, mask, params, needs_log_q, with_partials):
    del needs_log_q
    positive = labels == 1
    signed = jnp.where(positive, logits, -logits)
    log_p_t = jax.nn.log_sigmoid(signed)
    log_q_t = jax.nn.log_sigmoid(-signed)
    value = jnp.where(mask, scale * _call(kernel, "value", log_p_t, log_q_t, params), 0.0)
    if not with_partials:
      return value, None, None
    weight = _call(kernel, "weight", log_p_t, log_q_t, params)
    d_logits = jnp.where(mask, scale * jnp.where(positive, 1.0, -1.0) * weight * jnp.exp(log_q_t), 0.0)
    return value, d_logits, None


class _SigmoidSoft:
  """Sigmoid head, labels y ∈ [0, 1]: L = α y L(p) + (1 - α)(1 - y) L(1 - p), p = σ(z)."""

  contract = contract_labels = staticmethod(_elementwise)

  @staticmethod
  def forward(kernel, logits, labels, scale, mask, params, needs_log_q, with_partials):
    del needs_log_q
    scale_pos, scale_neg = scale
    log_p = jax.nn.log_sigmoid(logits)
    log_q = jax.nn.log_sigmoid(-logits)
    loss_pos = scale_pos * _call(kernel, "value", log_p, log_q, params)
    loss_neg = scale_neg * _call(kernel, "value", log_q, log_p, params)
    value = jnp.where(mask, labels * loss_pos + (1.0 - labels) * loss_neg, 0.0)
    if not with_partials:
      return value, None, None
    d_logits = (labels * scale_pos * _call(kernel, "weight", log_p, log_q, params) * jnp.exp(log_q)
                - (1.0 - labels) * scale_neg * _call(kernel, "weight", log_q, log_p, params) * jnp.exp(log_p))
    d_labels = jnp.where(mask, loss_pos - loss_neg, 0.0)
    return value, jnp.where(mask, d_logits, 0.0), d_labels


def _log_p_t_soft(logits, labels):
  """log p_t and log(1 - p_t) for p_t = y σ(z) + (1 - y)(1 - σ(z)), in log space."""
  log_p, log_q = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
  log_y, log_not_y = jnp.log(labels), jnp.log1p(-labels)
  return (jnp.logaddexp(log_y + log_p, log_not_y + log_q),
          jnp.logaddexp(log_y + log_q, log_not_y + log_p))


def _modulated_value(kernel, logits, labels, scale_pos, scale_neg, params):
  """m(p_t)·α_t·BCE(y, σ(z)) with m = L/CE the kernel's modulation of cross-entropy."""
  log_p_t, log_q_t = _log_p_t_soft(logits, labels)
  # m(p_t) = L(p_t) / (-log p_t); at p_t = 1 exactly (0/0) its limit w(1)/(-1)·(-1) = -w(1).
  at_one = log_p_t == 0.0
  safe_log_p_t = jnp.where(at_one, -1.0, log_p_t)
  safe_log_q_t = jnp.where(at_one, jnp.log(-jnp.expm1(-1.0)), log_q_t)
  modulation = jnp.where(at_one, -_call(kernel, "weight", log_p_t, log_q_t, params),
                         _call(kernel, "value", safe_log_p_t, safe_log_q_t, params) / -safe_log_p_t)
  bce = -(labels * jax.nn.log_sigmoid(logits) + (1.0 - labels) * jax.nn.log_sigmoid(-logits))
  alpha_t = labels * scale_pos + (1.0 - labels) * scale_neg
  return modulation * alpha_t * bce


class _SigmoidModulated:
  """Sigmoid head, soft labels, the optax/torchvision/Keras convention m(p_t)·α_t·BCE(y)."""

  contract = contract_labels = staticmethod(_elementwise)

  @staticmethod
  def forward(kernel, logits, labels, scale, mask, params, needs_log_q, with_partials):
    del needs_log_q
    scale_pos, scale_neg = scale

    def f(z, y):
      return _modulated_value(kernel, z, y, scale_pos, scale_neg, params)

    value = jnp.where(mask, f(logits, labels), 0.0)
    if not with_partials:
      return value, None, None
    # Elementwise, so a jvp with unit tangents is the partial derivative. This convention is not
    # a function of one p_t, so its gradient is the derivative of the formula, not an injection.
    ones = jnp.ones_like(logits)
    _, d_logits = jax.jvp(lambda z: f(z, labels), (logits,), (ones,))
    _, d_labels = jax.jvp(lambda y: f(logits, y), (labels,), (ones,))
    return value, jnp.where(mask, d_logits, 0.0), jnp.where(mask, d_labels, 0.0)


def _masked_top(logits, class_mask):
  """The logits with excluded classes (``class_mask`` false) at -inf, and their row max (0 for a
  row with no class left), kept out of the gradient."""
  if class_mask is not None:
    logits = jnp.where(class_mask, logits, -jnp.inf)
  top = jnp.max(logits, axis=-1, keepdims=True)
  return logits, jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))


def _softmax_parts(logits, class_mask):
  """z - max z, its exponentials and the max, with excluded classes (``class_mask`` false) at 0."""
  logits, top = _masked_top(logits, class_mask)
  shifted = jnp.exp(logits - top)
  return logits - top, shifted, logits, top


def _margin_logs(rel_logit, shifted_c, rest, shifted_top, is_top, dtype):
  """log p_c and log(1 - p_c) as log_sigmoid(±m), m = z_c - log Σ_{j≠c} e^{z_j}.

  ``rest`` is the sum over the classes other than the arg-max (whose shifted exponential
  ``shifted_top`` is 1, kept as a value so that its derivative is not lost), so Σ_{j≠c} is
  ``rest`` itself for the arg-max class, never total - e_c, and ``rest + 1 - e_c`` otherwise
  (≥ 1, no cancellation). This keeps log(1 - p_c) accurate as p_c → 1, where
  log_softmax's z_c - logsumexp(z) cancels (and Maki's q^{γ+1} amplifies it (γ+1)-fold).
  """
  others = jnp.where(is_top, rest, rest + shifted_top - shifted_c)
  # A sum below the smallest normal float means a margin beyond ~87, where 1 - p_c and every
  # loss value are below float32's normal range; flooring keeps log(1 - p_c) ≈ -margin finite.
  margin = rel_logit - jnp.log(jnp.maximum(others, jnp.finfo(dtype).tiny))
  return jax.nn.log_sigmoid(margin), jax.nn.log_sigmoid(-margin)


def _row_sums(*arrays):
  """Σ over the last axis of each array, as one variadic reduction.

  XLA fuses the elementwise producers of its operands (exponentials, selects) into the loop of
  a variadic reduction, so the ``[..., C]`` inputs are read once and never stored; a lone sum
  goes to the CPU's library reduction, which reads a materialised input (one more write and
  read of ``[..., C]``).
  """
  zeros = tuple(np.zeros((), a.dtype) for a in arrays)
  return jax.lax.reduce(arrays, zeros, _add_elementwise, (arrays[0].ndim - 1,))


def _add_elementwise(x, y):
  # One function object for every call: a fresh lambda made each eager call compile anew.
  return tuple(a + b for a, b in zip(x, y))


def _scaled(x, scale, mask):
  """scale·x where ``mask``, else 0; a ``None`` scale is 1, a ``None`` mask takes every entry."""
  x = x if scale is None else scale * x
  return x if mask is None else jnp.where(mask, x, 0.0)


class _Softmax:
  """Softmax head: logits [..., C], integer labels [...], p_t = softmax(z)_y.

  One pass over ``[..., C]`` after the max gives s = Σ_{j≠y} e_j, e_j = exp(z_j - max z), and
  r = z_y - max z (`_row_sums`): s is (1 - p_t)·Σ_j e_j summed directly, never a total minus
  e_y, which cancels as p_t → 1. Per row:

  * y the arg-max (r = 0): log p_t = -log1p(s), accurate however small s is;
  * otherwise p_t ≤ 1/2 and log p_t = r - log(s + e^r) (≥ log 2 in magnitude, no cancellation);
  * log(1 - p_t) = log_sigmoid(log s - r), only for kernels that read it (`Kernel.uses_log_q`).

  The backward pass w·(δ_jy - p_j) recomputes e_j from the logits in its single pass (read
  the logits, write the gradient), so the whole forward+backward reads ``[..., C]`` three times
  and writes it once; optax's log_softmax stores the exponentials (four reads, two writes).
  """

  contract_labels = staticmethod(_elementwise)

  @staticmethod
  def forward(kernel, logits, labels, scale, mask, params, needs_log_q, with_partials):
    scale, class_mask = scale if isinstance(scale, tuple) else (scale, None)
    logits, top = _masked_top(logits, class_mask)
    onehot = labels[..., None] == jnp.arange(logits.shape[-1])
    rel = logits - top
    others, rel_t = _row_sums(jnp.where(onehot, 0.0, jnp.exp(rel)), jnp.where(onehot, rel, 0.0))
    total = others + jnp.exp(rel_t)
    # log Σ_j e_j as log1p: of s itself when y is the arg-max (e_y = 1 exactly), else of
    # (s + e_y) - 1 ≥ 0, s ≥ 1 holding the arg-max's 1 (exact while s + e_y ≤ 2, where it counts).
    log_total = jnp.log1p(jnp.where(rel_t == 0.0, others, total - 1.0))
    log_p_t = rel_t - log_total
    log_q_t = None
    if needs_log_q:
      # A sum below the smallest normal float means a margin beyond ~87, where 1 - p_t and every
      # loss value are below float32's normal range; flooring keeps log(1 - p_t) finite.
      log_others = jnp.log(jnp.maximum(others, jnp.finfo(logits.dtype).tiny))
      log_q_t = jax.nn.log_sigmoid(log_others - rel_t)
    value = _scaled(_call(kernel, "value", log_p_t, log_q_t, params), scale, mask)
    if not with_partials:
      return value, None, None
    weight = _scaled(_call(kernel, "weight", log_p_t, log_q_t, params), scale, mask)
    # w·(δ_jy - p_j) kept factored (per-row factors, the logits and their max) so the backward
    # pass forms it in one fused pass instead of storing a [..., C] partial.
    return value, (labels, weight * (others / total), -weight / total, logits, top), None

  @staticmethod
  def contract(partial, tangent):
    labels, on_y, on_others, logits, top = partial
    # e_j recomputed behind an optimisation barrier: otherwise XLA shares the forward's
    # exponentials and stores them as a [..., C] array for this pass.
    logits, top = jax.lax.optimization_barrier((logits, top))
    onehot = labels[..., None] == jnp.arange(logits.shape[-1])
    others_exp = jnp.where(onehot, 0.0, jnp.exp(logits - top))
    return (on_y * jnp.sum(jnp.where(onehot, tangent, 0.0), axis=-1)
            + on_others * jnp.sum(others_exp * tangent, axis=-1))


class _SoftmaxSoft:
  """Softmax head, target distributions y [..., C]: L = Σ_c α_c y_c L(p_c)."""

  contract = contract_labels = staticmethod(_class_sum)

  @staticmethod
  def forward(kernel, logits, labels, scale, mask, params, needs_log_q, with_partials):
    scale, class_mask = scale
    rel, shifted, _, _ = _softmax_parts(logits, class_mask)
    # Every class by its margin (log p_c of a dominant class must not cancel, whatever the kernel).
    top_onehot = jnp.argmax(rel, axis=-1)[..., None] == jnp.arange(logits.shape[-1])
    rest = jnp.sum(jnp.where(top_onehot, 0.0, shifted), axis=-1, keepdims=True)
    shifted_top = jnp.exp(jnp.max(rel, axis=-1, keepdims=True))
    log_p, log_q = _margin_logs(rel, shifted, rest, shifted_top, top_onehot, logits.dtype)
    log_q = log_q if needs_log_q else None
    total = rest + shifted_top
    # Classes excluded by a per-logit `where` (p_c = 0, log p_c = -inf) take no part.
    live = mask[..., None] & (True if class_mask is None else class_mask)
    safe_log_p = jnp.where(live, log_p, -1.0)
    safe_log_q = None if log_q is None else jnp.where(live, log_q, -0.5)
    per_class = jnp.where(live, scale * _call(kernel, "value", safe_log_p, safe_log_q, params), 0.0)
    value = jnp.sum(labels * per_class, axis=-1)
    if not with_partials:
      return value, None, None
    weights = jnp.where(live, labels * scale * _call(kernel, "weight", safe_log_p, safe_log_q, params), 0.0)
    probs = shifted / total
    d_logits = weights - probs * jnp.sum(weights, axis=-1, keepdims=True)
    return value, d_logits, per_class


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _injected(head, kernel, static, needs_log_q, logits, labels, scale, mask, traced):
  params = {**dict(static), **traced}
  return head.forward(kernel, logits, labels, scale, mask, params, needs_log_q, False)[0]


def _injected_jvp(head, kernel, static, needs_log_q, primals, tangents):
  logits, labels, scale, mask, traced = primals
  d_logits, d_labels, d_scale, _, d_traced = tangents
  params = {**dict(static), **traced}
  value, partial_logits, partial_labels = head.forward(
      kernel, logits, labels, scale, mask, params, needs_log_q, True)
  tangent = jnp.zeros_like(value)
  if not _is_zero(d_logits):
    tangent = tangent + head.contract(partial_logits, d_logits)
  if not _is_zero(d_labels) and partial_labels is not None:
    tangent = tangent + head.contract_labels(partial_labels, d_labels)
  # θ and α: the jvp of the forward value along their tangents, ∂L/∂θ·dθ. Built from JAX
  # operations on θ (as is the injected weight above), so it is differentiable again.
  hyper, d_hyper = (scale, traced), (d_scale, d_traced)
  leaves, treedef = jax.tree_util.tree_flatten(hyper)
  d_leaves = jax.tree_util.tree_leaves(d_hyper, is_leaf=_is_zero)
  moving = [i for i, d in enumerate(d_leaves) if not _is_zero(d)]
  if moving:
    def of_hyper(*moved):
      values = list(leaves)
      for i, v in zip(moving, moved):
        values[i] = v
      scale_, traced_ = jax.tree_util.tree_unflatten(treedef, values)
      return head.forward(kernel, logits, labels, scale_, mask, {**dict(static), **traced_},
                          needs_log_q, False)[0]

    _, d_value = jax.jvp(of_hyper, tuple(leaves[i] for i in moving), tuple(d_leaves[i] for i in moving))
    tangent = tangent + d_value
  return value, tangent


_injected.defjvp(_injected_jvp, symbolic_zeros=True)


# ----------------------------------------------------------------------------------------------
# Input checks. Only host objects (NumPy arrays, Python numbers and lists) are inspected
# eagerly: a `jax.Array` is never copied to the host (no device sync; arrays that are not fully
# addressable work), so bad values in it give NaN, as under jit.


def _host(x):
  """``x`` as a NumPy array if it is a host object (NumPy / Python), else ``None``."""
  if x is None or isinstance(x, jax.Array):  # tracers are jax.Arrays too
    return None
  if isinstance(x, (np.ndarray, np.generic, numbers.Number, list, tuple)):
    return np.asarray(x)
  return None


def host_arrays(*arrays):
  """NumPy views of the inputs when every given one is a host object (checks can run eagerly
  without a device sync), else ``None`` (a `jax.Array` or tracer among them: poison instead)."""
  values = [_host(a) for a in arrays]
  if any(v is None and a is not None for v, a in zip(values, arrays)):
    return None
  return values


def _check_logits(logits) -> jax.Array:
  logits = jnp.asarray(logits)
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise TypeError(f"`logits` must be a floating-point array; got dtype {logits.dtype}.")
  return logits


def poison(value, valid):
  """``value`` where ``valid``, NaN elsewhere — in the value *and* in every derivative.

  A multiplication by 1 or NaN rather than ``where``: ``where`` would give a NaN loss but a
  zero gradient, so a loop that only uses ``jax.grad`` would silently skip the bad entries.
  """
  return value * jnp.where(valid, 1.0, jnp.nan).astype(jnp.result_type(value))


# Names used by other modules of the core before `poison`/`host_arrays` were public here.
_poison = poison
_concrete = host_arrays


def _split_params(params: Mapping[str, Any]) -> tuple[tuple, dict]:
  """Python numbers → a hashable static tuple; everything else → traced inputs of the rule."""
  static, traced = [], {}
  for name, v in params.items():
    if isinstance(v, numbers.Number) and not isinstance(v, bool) and not isinstance(v, np.ndarray):
      static.append((name, v.item() if isinstance(v, np.generic) else v))
    else:
      traced[name] = jnp.asarray(v)
  return tuple(sorted(static)), traced


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
    axis: int = -1,
    broadcast: bool = False,
    soft_labels: str = "mixture",
) -> jax.Array:
  """Per-element loss of ``kernel`` for a sigmoid or softmax head, with its injected derivative.

  Sigmoid head (binary / multi-label), p = σ(z):

  * integer/bool labels y ∈ {0, 1}: L(p_t), p_t = p if y = 1 else 1 - p;
  * float labels y ∈ [0, 1], ``soft_labels="mixture"`` (default, as kornia):
    y·α·L(p) + (1 - y)(1 - α)·L(1 - p);
  * ``soft_labels="modulated"`` (as optax, torchvision and Keras for focal loss):
    m(p_t)·α_t·BCE(y, p) with p_t = y p + (1 - y)(1 - p), α_t = yα + (1 - y)(1 - α) and
    m = L/(-log p) the kernel's modulation of cross-entropy ((1 - p)^γ for focal loss), so
    ``focal_loss(..., soft_labels="modulated")`` equals ``optax.sigmoid_focal_loss``. Its
    gradient is the derivative of that formula (it is not a function of one p_t).

  Both conventions agree for labels in {0, 1}.

  Softmax head (multi-class), p = softmax(z) along ``axis``:

  * integer labels y [...]: L(p_y);
  * float target distributions y [..., C] (one-hot, label-smoothed, soft):
    L = Σ_c α_c y_c L(p_c), with ∂L/∂z_j = y_j α_j w(p_j) - p_j Σ_c y_c α_c w(p_c). One-hot
    targets give exactly the integer path; for cross-entropy it is
    ``optax.softmax_cross_entropy``. Rows must be ≥ 0 and sum to 1 within
    `SOFT_TARGET_TOLERANCE`.

  Args:
    kernel: the log-space value/weight pair.
    logits: float array; sigmoid head: the shape of ``labels`` (or broadcastable with it when
      ``broadcast=True``); softmax head: ``[..., C, ...]`` with the classes on ``axis``.
    labels: see above.
    head: ``"sigmoid"`` or ``"softmax"``.
    params: hyper-parameters passed to the kernel. Python numbers are static (the kernel may
      specialise on them); JAX values are differentiable inputs.
    alpha: class weighting. Sigmoid head: α ∈ [0, 1] (scalar or broadcastable) weighting
      positives by α and negatives by 1 - α (focal loss's α). Softmax head: a scalar multiplies
      every loss (Keras' ``CategoricalFocalCrossentropy`` and kornia's ``focal_loss``); a ``[C]``
      vector weights each class (α_y for integer labels). Differentiable when traced.
    where: optional boolean mask; masked entries give 0 loss and 0 gradient. Softmax head: of
      the per-example shape ``[...]``, or of the logits' shape (as in optax), where false
      excludes that class from the softmax (an integer label on an excluded class masks its row).
    ignore_index: softmax head, integer labels: a label value whose entries are masked out.
    axis: softmax head: the class axis of ``logits`` (and of soft targets).
    broadcast: sigmoid head: allow ``logits`` and ``labels`` of different shapes that
      broadcast; by default they must be equal (a (4, 1) against (4,) is an error, not a (4, 4)
      loss). Softmax head: allow labels that broadcast against the batch shape.
    soft_labels: sigmoid head, float labels: ``"mixture"`` or ``"modulated"`` (see above).

  Returns:
    Per-element losses: the (broadcast) shape of ``logits`` (sigmoid) or ``logits`` without the
    class axis (softmax), in the dtype of ``logits`` (bf16/f16 are computed in float32).

  Raises:
    ValueError / TypeError: for bad shapes, dtypes or arguments, and for bad label or α values
      given as NumPy arrays or Python objects. Bad values inside a ``jax.Array`` are not read
      back to the host (no device sync): those losses and their gradients are NaN, as under jit.
  """
  if head not in HEADS:
    raise InputError(f"`head` must be one of {HEADS}; got {head!r}.")
  if soft_labels not in SOFT_LABEL_CONVENTIONS:
    raise InputError(f"`soft_labels` must be one of {SOFT_LABEL_CONVENTIONS}; got {soft_labels!r}.")
  logits = _check_logits(logits)
  host = (_host(labels), _host(where), _host(alpha))
  if where is not None and host[1] is None:  # which labels count is only known on the device
    host = (None, None, host[2])
  labels = jnp.asarray(labels)
  out_dtype = logits.dtype
  compute_dtype = jnp.promote_types(out_dtype, jnp.float32)  # bf16/f16 evaluated in f32
  logits = logits.astype(compute_dtype)
  static, traced = _split_params(params)
  traced_shapes = tuple((k, v.shape, v.dtype) for k, v in sorted(traced.items()))
  needs_log_q = _reads_log_q(kernel, static, traced_shapes)
  call = lambda head_, *args: _injected(head_, kernel, static, needs_log_q, *args, traced)  # noqa: E731
  if head == "sigmoid":
    if ignore_index is not None:
      raise InputError("`ignore_index` is for the softmax head; use `where` with the sigmoid head.")
    value = _apply_sigmoid(call, logits, labels, alpha, where, broadcast, soft_labels, host)
  else:
    value = _apply_softmax(call, logits, labels, alpha, where, ignore_index, axis, broadcast, host)
  return value.astype(out_dtype)


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


def _host_mask(w, shape):
  return np.ones(shape, bool) if w is None else np.broadcast_to(w, shape)


def _apply_sigmoid(call, logits, labels, alpha, where, broadcast, soft_labels, host):
  if broadcast:
    shape = _broadcast(logits, labels, names=("logits", "labels"))
  elif logits.shape != labels.shape:
    raise InputError(
        f"Sigmoid-head `logits` and `labels` must have the same shape; got `logits` "
        f"{tuple(logits.shape)} and `labels` {tuple(labels.shape)} (pass `broadcast=True` to "
        "broadcast them)."
    )
  else:
    shape = logits.shape
  logits = jnp.broadcast_to(logits, shape)
  mask = _mask(where, shape)
  hard = jnp.issubdtype(labels.dtype, jnp.integer) or labels.dtype == bool
  labels = jnp.broadcast_to(labels, shape)
  valid = (labels == 0) | (labels == 1) if hard else (labels >= 0) & (labels <= 1)
  y, w, a = host
  if y is not None:
    y = np.broadcast_to(y, shape)
    ok = (((y == 0) | (y == 1)) if hard else ((y >= 0) & (y <= 1))) | ~_host_mask(w, shape)
    if not ok.all():
      raise InputError(
          f"Sigmoid-head labels must be in {{0, 1}} (integer) or [0, 1] (float); got e.g. {y[~ok][:5].tolist()}."
      )
  if a is not None and not np.all((a >= 0) & (a <= 1)):
    raise InputError(f"`alpha` must be in [0, 1]; got {a.tolist()}.")
  if alpha is None:
    scale_pos = scale_neg = jnp.ones(shape, logits.dtype)
    alpha_ok = True
  else:
    alpha = jnp.asarray(alpha, logits.dtype)
    _broadcast(alpha, logits, names=("alpha", "logits"))
    scale_pos = jnp.broadcast_to(alpha, shape)
    scale_neg = 1.0 - scale_pos
    alpha_ok = (scale_pos >= 0) & (scale_pos <= 1)
  if hard:
    scale = jnp.where(labels == 1, scale_pos, scale_neg)
    value = call(_SigmoidHard, logits, labels, scale, mask)
  else:
    labels = labels.astype(logits.dtype)
    soft_head = _SigmoidSoft if soft_labels == "mixture" else _SigmoidModulated
    value = call(soft_head, logits, labels, (scale_pos, scale_neg), mask)
  return poison(value, (valid & alpha_ok) | ~mask)


def _apply_softmax(call, logits, labels, alpha, where, ignore_index, axis, broadcast, host):
  if logits.ndim < 1:
    raise InputError("Softmax-head `logits` need a class axis: shape [..., C].")
  if not -logits.ndim <= axis < logits.ndim:
    raise InputError(f"`axis` must be in [{-logits.ndim}, {logits.ndim - 1}] for logits of shape "
                     f"{tuple(logits.shape)}; got {axis}.")
  soft = jnp.issubdtype(labels.dtype, jnp.floating)
  if not soft and not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(
        f"Softmax-head `labels` must be integer class ids or float target distributions; got dtype "
        f"{labels.dtype}."
    )
  logits = jnp.moveaxis(logits, axis, -1)
  y, w, a = host
  num_classes = logits.shape[-1]
  batch = logits.shape[:-1]
  if soft:
    labels = jnp.moveaxis(labels, axis, -1) if labels.ndim == logits.ndim else labels
    y = None if y is None else (np.moveaxis(y, axis, -1) if y.ndim == logits.ndim else y)
    if ignore_index is not None:
      raise InputError("`ignore_index` is for integer labels; mask soft targets with `where`.")
    if labels.shape != logits.shape and not (broadcast and labels.ndim == logits.ndim):
      raise InputError(
          f"Softmax-head soft targets must have the shape of `logits` {tuple(logits.shape)} (classes "
          f"on `axis`={axis}); got `labels` {tuple(labels.shape)}."
      )
    shape = _broadcast(logits[..., 0], labels[..., 0], names=("logits[..., 0]", "labels[..., 0]"))
  else:
    if labels.shape != batch and not broadcast:
      raise InputError(
          f"Softmax-head integer `labels` must have the shape of `logits` without the class axis, "
          f"{tuple(batch)}; got {tuple(labels.shape)} (pass `broadcast=True` to broadcast them)."
      )
    shape = _broadcast(logits[..., 0], labels, names=("logits[..., 0]", "labels"))
  logits = jnp.broadcast_to(logits, shape + (num_classes,))
  # `where` of the logits' rank is per logit (excludes classes), else per example (as optax).
  class_mask = None
  if where is not None and jnp.ndim(where) == logits.ndim:
    class_mask = jnp.broadcast_to(jnp.moveaxis(jnp.asarray(where), axis, -1), logits.shape)
    if class_mask.dtype != bool:
      raise TypeError(f"`where` must be a boolean mask; got dtype {class_mask.dtype}.")
    mask = jnp.any(class_mask, axis=-1)
    w = None if w is None else np.any(np.moveaxis(np.broadcast_to(w, jnp.shape(where)), axis, -1), axis=-1)
  else:
    mask = _mask(where, shape)
  if a is not None and not np.all(a >= 0):
    raise InputError(f"`alpha` class weights must be ≥ 0; got {a.tolist()}.")
  alpha_ok = True
  if alpha is None:
    per_class = None
  else:
    alpha = jnp.asarray(alpha, logits.dtype)
    if alpha.shape not in ((), (num_classes,)):
      raise InputError(
          f"Softmax-head `alpha` must be a scalar or a per-class vector of shape ({num_classes},); "
          f"got {alpha.shape}."
      )
    per_class = alpha
    alpha_ok = jnp.all(alpha >= 0)
  if soft:
    return _softmax_soft(call, logits, labels, shape, mask, class_mask, per_class, alpha_ok, y, w)
  labels = jnp.broadcast_to(labels, shape)
  if ignore_index is not None:
    mask = mask & (labels != ignore_index)
  valid = (labels >= 0) & (labels < num_classes)
  if y is not None:
    y = np.broadcast_to(y, shape)
    ok = ((y >= 0) & (y < num_classes)) | ~_host_mask(w, shape)
    if ignore_index is not None:
      ok |= y == ignore_index
    if not ok.all():
      raise InputError(
          f"Softmax-head labels must be in {{0, …, {num_classes - 1}}}"
          f"{'' if ignore_index is None else f' or ignore_index={ignore_index}'}; got e.g. {y[~ok][:5].tolist()}."
      )
  safe_labels = jnp.where(valid, labels, 0)
  if class_mask is not None:  # an integer label on an excluded class: the row takes no part
    mask = mask & jnp.take_along_axis(class_mask, safe_labels[..., None], axis=-1)[..., 0]
  if per_class is None:
    scale = None  # no class weights: the head skips the product
  elif per_class.ndim == 0:
    scale = jnp.broadcast_to(per_class, shape)
  else:
    scale = per_class[safe_labels]
  if where is None and ignore_index is None:
    # Every row takes part. One with an out-of-range label matches no class in the head (a
    # finite, meaningless value) and `poison` makes it NaN: the head needs neither a mask nor
    # clamped labels (selects inside its fused [..., C] loops, ~8% of CE's CPU time).
    value = call(_Softmax, logits, labels, (scale, None), None)
  else:
    value = call(_Softmax, logits, safe_labels, (scale, class_mask), mask & valid)
  return poison(value, (valid & alpha_ok) | ~mask)


def _softmax_soft(call, logits, labels, shape, mask, class_mask, per_class, alpha_ok, y, w):
  labels = jnp.broadcast_to(labels.astype(logits.dtype), logits.shape)
  total = jnp.sum(labels, axis=-1)
  valid = jnp.all(labels >= 0, axis=-1) & (jnp.abs(total - 1.0) <= SOFT_TARGET_TOLERANCE)
  if y is not None:
    y = np.broadcast_to(y, logits.shape)
    row_ok = np.all(y >= 0, axis=-1) & (np.abs(y.sum(-1) - 1.0) <= SOFT_TARGET_TOLERANCE)
    ok = row_ok | ~_host_mask(w, shape)
    if not ok.all():
      bad = y[~ok][0]
      raise InputError(
          "Softmax-head soft targets must be ≥ 0 and sum to 1 (within "
          f"{SOFT_TARGET_TOLERANCE:g}) along the class axis; got e.g. {bad[:8].tolist()} "
          f"(sum {float(bad.sum()):.6g})."
      )
  scale = jnp.ones((), logits.dtype) if per_class is None else per_class
  value = call(_SoftmaxSoft, logits, jnp.where(valid[..., None], labels, 0.0), (scale, class_mask),
               mask & valid)
  return poison(value, (valid & alpha_ok) | ~mask)
