"""Margin softmax heads: logits from normalised embeddings and class weights, with angular margins.

Each head maps ``embeddings [B, D]``, class ``weights [C, D]`` (one row per class) and ``labels
[B]`` to logits ``[B, C]``; the logits feed any catalog loss with ``head="softmax"``, so a margin
and a scale coefficient combine (ArcFace + focal, CosFace + Maki):

.. code-block:: python

  logits = ge.embedding.arcface_logits(x, w, y, scale=16.0, margin=0.5)
  loss = ge.focal_loss(logits, y, gamma=2.0, head="softmax").mean()

With θ_j the angle between x_i and w_j (cos θ_j = x̂ᵢ·ŵⱼ) and s the scale, the target logit is

==========  ==========================================================  ========================
head        target logit                                               reference
==========  ==========================================================  ========================
NormFace    s·cos θ_y                                                  Wang et al. 2017
A-softmax   ‖x‖·(λ cos θ_y + ψ(θ_y))/(1 + λ), ψ(θ) = (−1)^k cos(mθ) − 2k   Liu et al. 2017
CosFace     s·(cos θ_y − m)                                            Wang et al. 2018
ArcFace     s·cos(θ_y + m)  (θ_y + m > π: s·(cos θ_y − m sin m))       Deng et al. 2019
==========  ==========================================================  ========================

and every other logit is s·cos θ_j (‖x‖·cos θ_j for A-softmax).
With ``easy_margin=True`` (insightface's option) the ArcFace target is s·cos θ_y wherever
cos θ_y ≤ 0, in place of both the margin and the fallback.

Numerics. No head calls ``arccos``: cos(θ + m) = cos θ cos m − sin θ sin m with sin θ =
√((1 − c)(1 + c)) and ψ through the Chebyshev polynomial T_m(cos θ) with k counted from the
thresholds cos(jπ/m). The one unbounded factor, d cos(θ+m)/d cos θ = cos m + sin m·cot θ as
θ → 0, is formed with sin θ floored at ``4·√eps`` of the dtype (about 1.4e-3 rad in float32) in
an injected derivative: the gradient reaching the embedding (whose true norm is bounded by
s/‖x‖) stays bounded and finite at cos θ = ±1 exactly. Zero-norm embeddings or weights give
cosine 0 (see `gradeng.embedding._geometry.l2_normalize`); labels outside [0, C) raise ``ValueError``
(NaN under jit). bf16/f16 inputs are computed in float32 and returned in their dtype.

References:
  Wang, F., Xiang, X., Cheng, J., Yuille, A. "NormFace: L2 hypersphere embedding for face
  verification", ACM MM 2017.
  Liu, W. et al. "SphereFace: deep hypersphere embedding for face recognition", CVPR 2017.
  Wang, H. et al. "CosFace: large margin cosine loss for deep face recognition", CVPR 2018.
  Deng, J., Guo, J., Xue, N., Zafeiriou, S. "ArcFace: additive angular margin loss for deep
  face recognition", CVPR 2019.
"""

from __future__ import annotations

import functools
import math
import numbers

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from gradeng.embedding._geometry import check_labels, compute_dtype, cosine_similarity_matrix, safe_norm
from gradeng.runtime import InputError

__all__ = [
    "cosine_logits", "normface_logits", "cosface_logits", "arcface_logits", "sphereface_logits",
    "sphereface_lambda", "arcface_target", "sphereface_psi",
]


def _check_number(name, value, *, lower=None, upper=None, integer=False):
  if isinstance(value, jax.core.Tracer):
    return
  ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
  ok = ok and (not integer or float(value).is_integer())
  ok = ok and (lower is None or value >= lower) and (upper is None or value <= upper)
  if not ok:
    kind = "an integer" if integer else "a finite number"
    bounds = " and ".join(b for b in (lower is not None and f"≥ {lower}",
                                      upper is not None and f"≤ {upper}") if b)
    raise ValueError(f"`{name}` must be {kind}{' ' + bounds if bounds else ''}; got {value!r}.")


def _sin_floor(dtype) -> float:
  return 4.0 * math.sqrt(float(jnp.finfo(dtype).eps))


def _check_flag(name, value):
  if not isinstance(value, (bool, np.bool_)):
    raise InputError(f"`{name}` must be True or False; got {value!r}.")


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def arcface_target(cos_theta, margin: float, easy_margin: bool = False):
  """cos(θ + m) from c = cos θ, with ArcFace's fallback where θ + m > π, or its easy margin.

  .. math::
    f(c) = \\begin{cases} c\\cos m - \\sqrt{(1-c)(1+c)}\\,\\sin m & c > \\cos(\\pi - m) \\\\
                          c - m \\sin m & \\text{otherwise} \\end{cases}

  The fallback keeps the target logit decreasing in θ over [0, π] (cos(θ + m) turns back up past
  θ = π − m). With ``easy_margin=True`` the margin applies only where cos θ > 0 (θ < π/2), as
  insightface's and pytorch-metric-learning's ``easy_margin``:

  .. math::
    f_\\mathrm{easy}(c) = \\begin{cases} c\\cos m - \\sqrt{(1-c)(1+c)}\\,\\sin m & c > 0 \\\\
                                         c & c \\le 0 \\end{cases}

  which jumps from −sin m up to 0 as θ crosses π/2 (the margin is switched off for targets
  more than 90° away). The injected derivative is cos m + sin m · c / max(sin θ, 4√eps) on
  the first branch and 1 on the second: finite at c = ±1.

  Args:
    cos_theta: cosines c in [−1, 1].
    margin: the additive angular margin m ≥ 0 in radians (a Python number).
    easy_margin: apply the margin only where cos θ > 0 (else θ + m > π falls back to
      c − m sin m).

  Returns:
    The target cosine f(c), same shape as ``cos_theta``.

  Example:
    >>> import gradeng as ge
    >>> round(float(ge.embedding.arcface_target(0.5, 0.5)), 6)  # cos(π/3 + 0.5)
    0.023597
    >>> float(ge.embedding.arcface_target(-0.5, 0.5, easy_margin=True))
    -0.5
  """
  return _arcface_value(cos_theta, margin, easy_margin)


def _arcface_inside(c, m, easy_margin):
  """Where the target is cos(θ + m) (else the fallback, or c itself with the easy margin)."""
  return c > (0.0 if easy_margin else math.cos(math.pi - m))


def _arcface_value(c, m, easy_margin):
  c = jnp.asarray(c)
  sin_theta = jnp.sqrt(jnp.maximum((1.0 - c) * (1.0 + c), 0.0))
  outside = c if easy_margin else c - m * math.sin(m)
  return jnp.where(_arcface_inside(c, m, easy_margin), c * math.cos(m) - sin_theta * math.sin(m),
                   outside)


@arcface_target.defjvp
def _arcface_jvp(margin, easy_margin, primals, tangents):
  (c,), (dc,) = primals, tangents
  sin_theta = jnp.sqrt(jnp.maximum((1.0 - c) * (1.0 + c), 0.0))
  slope = math.cos(margin) + math.sin(margin) * c / jnp.maximum(sin_theta, _sin_floor(c.dtype))
  slope = jnp.where(_arcface_inside(c, margin, easy_margin), slope, 1.0)
  return _arcface_value(c, margin, easy_margin), slope * dc


def _chebyshev(c, m: int):
  """T_m(c) = cos(m·arccos c) by the three-term recurrence (a polynomial: smooth everywhere)."""
  previous, current = jnp.ones_like(c), c
  if m == 0:
    return previous
  for _ in range(m - 1):
    previous, current = current, 2.0 * c * current - previous
  return current


def sphereface_psi(cos_theta, margin: int):
  """SphereFace's monotone ψ(θ) = (−1)^k cos(mθ) − 2k for θ ∈ [kπ/m, (k+1)π/m], from c = cos θ.

  ψ decreases from 1 at θ = 0 to 1 − 2m at θ = π (cos(mθ) alone is not monotone). k is counted
  as the number of thresholds cos(jπ/m), j = 1..m−1, above c, so no ``arccos`` is taken; the
  gradient is that of the polynomial T_m(c), exact.

  Args:
    cos_theta: cosines in [-1, 1].
    margin: the integer multiplicative margin m ≥ 1 (SphereFace uses 4).

  Returns:
    ψ(θ), same shape as ``cos_theta``.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> # θ = 0, 60°, 90°, 180° with m = 4: ψ falls monotonically from 1 to 1 - 2m
    >>> print(ge.embedding.sphereface_psi(jnp.array([1.0, 0.5, 0.0, -1.0]), 4))
    [ 1.  -1.5 -3.  -7. ]
  """
  _check_number("margin", margin, lower=1, integer=True)
  m = int(margin)
  c = jnp.asarray(cos_theta)
  k = sum((c < math.cos(j * math.pi / m)).astype(c.dtype) for j in range(1, m)) if m > 1 \
      else jnp.zeros_like(c)
  sign = 1.0 - 2.0 * jnp.mod(k, 2.0)
  return sign * _chebyshev(c, m) - 2.0 * k


def sphereface_lambda(step: ArrayLike, *, base: float = 1000.0, decay: float = 0.12,
                      power: float = 1.0, lambda_min: float = 5.0) -> jax.Array:
  """SphereFace's annealed λ = max(λ_min, base·(1 + γ·step)^(−power)) (its Caffe defaults; the
  Caffe layer's ``gamma`` is ``decay`` here).

  Training starts near plain softmax (λ ≫ 1 weights cos θ) and moves towards the margin ψ(θ).

  Example:
    >>> import gradeng as ge
    >>> [round(float(x), 3) for x in ge.embedding.sphereface_lambda([0, 1000, 10**6])]
    [1000.0, 8.264, 5.0]
  """
  step = jnp.asarray(step, jnp.float32)
  return jnp.maximum(lambda_min, base * (1.0 + decay * step) ** (-power))


def _prepare(embeddings, weights, labels):
  embeddings = jnp.asarray(embeddings)
  weights = jnp.asarray(weights)
  if embeddings.ndim != 2 or weights.ndim != 2 or weights.shape[1] != embeddings.shape[1]:
    raise ValueError(f"`embeddings` must be [B, D] and `weights` [C, D] with the same D; got "
                     f"{embeddings.shape} and {weights.shape}.")
  cos = cosine_similarity_matrix(embeddings, weights)
  if labels is None:
    return cos, None, None, embeddings.dtype
  labels, valid = check_labels(labels, weights.shape[0])
  if labels.shape != embeddings.shape[:1]:
    raise ValueError(f"`labels` must have shape ({embeddings.shape[0]},); got {labels.shape}.")
  onehot = jax.nn.one_hot(labels, weights.shape[0], dtype=bool)
  return cos, onehot, valid, embeddings.dtype


def _finish(logits, valid, dtype):
  if valid is not None:
    logits = jnp.where(valid[:, None], logits, jnp.nan)
  return logits.astype(dtype)


def cosine_logits(embeddings, weights) -> jax.Array:
  """cos θ_ij = x̂ᵢ·ŵⱼ, ``[B, D] × [C, D] → [B, C]`` (0 for a zero-norm row).

  Args:
    embeddings: ``[B, D]`` features.
    weights: ``[C, D]`` class weights (one row per class).

  Returns:
    Cosines ``[B, C]`` in [-1, 1], in the embeddings' dtype.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x, w = jnp.array([[0.6, 0.8]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> print(np.asarray(ge.embedding.cosine_logits(x, w), float).round(4))
    [[0.6 0.8]]
  """
  cos, _, _, dtype = _prepare(embeddings, weights, None)
  return cos.astype(dtype)


def normface_logits(embeddings, weights, *, scale: float = 16.0) -> jax.Array:
  """NormFace (Wang et al. 2017): s·cos θ_j, normalised features and weights.

  Args:
    embeddings: ``[B, D]`` features.
    weights: ``[C, D]`` class weights (one row per class).
    scale: s > 0; the logits lie in [−s, s], so softmax can reach p_t ≈ 1 only for s ≫ log C.

  Returns:
    Logits ``[B, C]`` for a softmax head.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x, w = jnp.array([[0.6, 0.8]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> print(np.asarray(ge.embedding.normface_logits(x, w, scale=10.0), float).round(4))
    [[6. 8.]]
  """
  _check_number("scale", scale, lower=0.0)
  cos, _, _, dtype = _prepare(embeddings, weights, None)
  return (scale * cos).astype(dtype)


def cosface_logits(embeddings, weights, labels, *, scale: float = 16.0,
                   margin: float = 0.35) -> jax.Array:
  """CosFace / AM-softmax (Wang et al. 2018): target logit s·(cos θ_y − m), others s·cos θ_j.

  .. math::
    f_y = s(\\cos θ_y - m), \\qquad f_j = s \\cos θ_j \\ (j \\ne y)

  Args:
    embeddings: ``[B, D]``; weights: ``[C, D]``; labels: ``[B]`` ints in [0, C).
    scale: s > 0.
    margin: additive cosine margin m ≥ 0.

  Returns:
    Logits ``[B, C]``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x, w = jnp.array([[0.6, 0.8]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> logits = ge.embedding.cosface_logits(x, w, jnp.array([1]), scale=10.0, margin=0.35)
    >>> print(np.asarray(logits, float).round(4))  # target 10·(0.8 - 0.35)
    [[6.  4.5]]
  """
  _check_number("scale", scale, lower=0.0)
  _check_number("margin", margin, lower=0.0)
  cos, onehot, valid, dtype = _prepare(embeddings, weights, labels)
  return _finish(scale * jnp.where(onehot, cos - margin, cos), valid, dtype)


def arcface_logits(embeddings, weights, labels, *, scale: float = 16.0,
                   margin: float = 0.5, easy_margin: bool = False) -> jax.Array:
  """ArcFace (Deng et al. 2019): target logit s·cos(θ_y + m), others s·cos θ_j.

  .. math::
    f_y = \\begin{cases} s\\cos(θ_y + m) & θ_y + m \\le π \\\\
                        s(\\cos θ_y − m \\sin m) & θ_y + m > π \\end{cases}
    \\qquad \\text{or, with the easy margin,} \\qquad
    f_y = \\begin{cases} s\\cos(θ_y + m) & \\cos θ_y > 0 \\\\
                        s\\cos θ_y & \\cos θ_y \\le 0 \\end{cases}

  The default (θ_y + m > π: s·(cos θ_y − m sin m), the reference implementation's fallback)
  keeps the target monotone in θ. ``easy_margin=True`` is insightface's and
  pytorch-metric-learning's option of the same name: no margin for targets more than 90° from
  their class weight. See `arcface_target` for the finite derivative at cos θ = ±1.

  Args:
    embeddings: ``[B, D]``; weights: ``[C, D]``; labels: ``[B]`` ints in [0, C).
    scale: s > 0.
    margin: additive angular margin m ∈ [0, π/2] in radians.
    easy_margin: margin only where cos θ_y > 0 (default False: the θ + m > π fallback).

  Returns:
    Logits ``[B, C]``.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> x, w = jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])  # θ_0 = 90°, θ_1 = 0
    >>> ge.embedding.arcface_logits(x, w, jnp.array([0]), scale=1.0, margin=0.5)  # cos(90° + m)
    Array([[-0.47942555,  1.        ]], dtype=float32)
    >>> ge.embedding.arcface_logits(x, w, jnp.array([0]), scale=1.0, margin=0.5, easy_margin=True)
    Array([[0., 1.]], dtype=float32)
  """
  _check_number("scale", scale, lower=0.0)
  _check_number("margin", margin, lower=0.0, upper=math.pi / 2)
  _check_flag("easy_margin", easy_margin)
  cos, onehot, valid, dtype = _prepare(embeddings, weights, labels)
  target = arcface_target(cos, float(margin), bool(easy_margin))
  return _finish(scale * jnp.where(onehot, target, cos), valid, dtype)


def sphereface_logits(embeddings, weights, labels, *, margin: int = 4, lambda_=0.0,
                      scale: float | None = None) -> jax.Array:
  """A-softmax (SphereFace, Liu et al. 2017): multiplicative angular margin with λ-mixing.

  .. math::
    f_y = \\|x\\| \\frac{\\lambda \\cos θ_y + ψ(θ_y)}{1 + λ}, \\qquad f_j = \\|x\\| \\cos θ_j,
    \\qquad ψ(θ) = (−1)^k \\cos(mθ) − 2k,\\ θ ∈ [kπ/m, (k+1)π/m].

  λ is annealed during training (`sphereface_lambda`) from ≫ 1 (plain softmax on normalised
  weights) down to λ_min; λ = 0 is the pure margin.

  Args:
    embeddings: ``[B, D]``; weights: ``[C, D]`` (normalised inside); labels: ``[B]``.
    margin: integer m ≥ 1 (1 is the normalised-weight softmax).
    lambda_: λ ≥ 0, a number or a traced scalar (the annealed value).
    scale: ``None`` multiplies by the feature norm ‖x‖ as in the paper; a number s uses s
      instead (the normalised-feature variant).

  Returns:
    Logits ``[B, C]``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> x, w = jnp.array([[1.2, 1.6]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])  # ‖x‖ = 2
    >>> logits = ge.embedding.sphereface_logits(x, w, jnp.array([1]), margin=2)
    >>> print(np.asarray(logits, float).round(4))  # target 2·cos(2θ) = 2·(2·0.8² - 1)
    [[1.2  0.56]]
  """
  _check_number("lambda_", lambda_, lower=0.0)
  if scale is not None:
    _check_number("scale", scale, lower=0.0)
  cos, onehot, valid, dtype = _prepare(embeddings, weights, labels)
  target = (lambda_ * cos + sphereface_psi(cos, margin)) / (1.0 + lambda_)
  if scale is None:
    x = jnp.asarray(embeddings)
    radius = safe_norm(x.astype(compute_dtype(x)), keepdims=True)
  else:
    radius = scale
  return _finish(radius * jnp.where(onehot, target, cos), valid, dtype)

