"""A learnable family of scale coefficients: non-negative combinations of the Maki basis.

.. math::
  g_c(p) = -\\sum_{i} c_i \\frac{(1-p)^{k_i}}{p}, \\qquad c_i \\ge 0,\\ k_i \\ge 0,
  \\qquad
  L_c(p) = \\int_p^1 -g_c(t)\\,dt = \\sum_i c_i\\,L^{\\mathrm{Maki}}_{k_i}(p),

where :math:`L^{\\mathrm{Maki}}_k(p) = \\int_p^1 (1-t)^k/t\\,dt` is the Maki tail
(`gradeng.runtime._special.maki_tail`, stable in float32 for every p). The logit weight is
:math:`w_c(p) = p\\,g_c(p) = -\\sum_i c_i (1-p)^{k_i}`.

The paper's properties (Kilbas & Paringer 2020, §2.2) hold for **every** admissible c, by
construction rather than by check:

* g ≤ 0 and |g| is non-increasing in p: each basis function (1-p)^k / p is, and a non-negative
  sum of non-increasing functions is non-increasing (so L is convex and decreasing, L(1) = 0);
* the logit weight is bounded, |w| ≤ Σ c_i (the largest push goes to the hardest example);
* g(1) = -Σ_{k_i = 0} c_i: it vanishes at p = 1 exactly when no weight sits on k = 0
  (``exponents`` without 0 guarantee it).

Exponents k < 0 are refused: for k ≤ -1 the integral diverges at p = 1
(`DivergentIntegralError`); for -1 < k < 0 it converges but |g| grows as p → 1, breaking the
monotonicity the family exists to guarantee. Negative weights given by hand are refused with the
index and value; under ``jit`` (traced weights) a negative weight makes the loss NaN, through
the parameter domains of the family's `ScaleCoefficient`.

CE is c = (1, 0, …) on k = 0, 1, …; Maki γ (integer) is the unit vector on k = γ; PolyLoss-1 with
ε ∈ [-1, 0] is c = (1 + ε, -ε) on k = (0, 1). Focal loss is not in the family (its g mixes in a
log p term), but its decay of w(p) can be approached.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gradeng.runtime._coefficient import NONNEGATIVE, ScaleCoefficient
from gradeng.runtime._errors import DivergentIntegralError
from gradeng.runtime._losses import loss_from_coefficient
from gradeng.runtime._special import maki_tail, power_from_log

#: Default basis exponents k = 0 … 4 (CE, and the first four Maki tails).
DEFAULT_EXPONENTS = (0, 1, 2, 3, 4)


def check_exponents(exponents: Sequence[float]) -> tuple[float, ...]:
  """Validates basis exponents: finite, distinct, ≥ 0. Returns them as a tuple of numbers.

  Args:
    exponents: the basis exponents k_i.

  Returns:
    The exponents as a tuple, integral values as ``int``.

  Raises:
    DivergentIntegralError: an exponent k ≤ -1 (∫_p^1 (1-t)^k / t dt diverges at p = 1).
    ValueError: an empty list, a non-number, a duplicate, or -1 < k < 0.

  Example:
    >>> import gradeng as ge
    >>> ge.runtime.check_exponents([0, 1.0, 2.5])
    (0, 1, 2.5)
    >>> ge.runtime.check_exponents([0, -1])
    Traceback (most recent call last):
    ...
    gradeng.runtime._errors.DivergentIntegralError: `exponents[1]` = -1: ... must be ≥ 0.
  """
  exponents = tuple(exponents)
  if not exponents:
    raise ValueError("`exponents` is empty; the family needs at least one basis function.")
  checked = []
  for i, k in enumerate(exponents):
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not math.isfinite(k):
      raise ValueError(f"`exponents[{i}]` must be a finite real number ≥ 0; got {k!r}.")
    if k <= -1:
      raise DivergentIntegralError(
          f"`exponents[{i}]` = {k:g}: the basis function (1-p)^{k:g}/p has ∫_p^1 (1-t)^{k:g}/t dt = ∞ "
          "(it diverges at p = 1, so no loss with L(1) = 0 exists); exponents must be ≥ 0.")
    if k < 0:
      raise ValueError(
          f"`exponents[{i}]` = {k:g}: for -1 < k < 0 the loss exists but |g| = (1-p)^k/p grows as "
          "p → 1, which breaks the property the family guarantees; exponents must be ≥ 0.")
    checked.append(int(k) if float(k).is_integer() else float(k))
  if len(set(checked)) != len(checked):
    raise ValueError(f"`exponents` has duplicates: {list(exponents)}.")
  return tuple(checked)


def check_weights(weights, n: int | None = None) -> np.ndarray | None:
  """Checks concrete basis weights (finite, ≥ 0, not all 0); returns them as float64 NumPy.

  Traced weights (under ``jit``/``grad``) cannot be checked and are returned as ``None``; the
  loss is then NaN where a weight is negative.
  """
  if _is_traced(weights):
    if n is not None and jnp.shape(jnp.asarray(weights)) != (n,):
      raise ValueError(f"`weights` must have shape ({n},), one per exponent; got {jnp.shape(weights)}.")
    return None
  values = np.asarray(weights, dtype=np.float64)
  if values.ndim != 1 or values.size == 0:
    raise ValueError(f"`weights` must be a non-empty 1-D sequence; got shape {values.shape}.")
  if n is not None and values.shape != (n,):
    raise ValueError(f"`weights` must have shape ({n},), one per exponent; got {values.shape}.")
  for i, c in enumerate(values):
    if not math.isfinite(c) or c < 0:
      raise ValueError(
          f"`weights[{i}]` must be a finite number ≥ 0 (a non-negative combination of the Maki "
          f"basis keeps |g| non-increasing); got {float(c)!r}. Learn unconstrained θ and map it through "
          "`weights_from_theta` (softmax) to stay in the family.")
  if not values.any():
    raise ValueError("`weights` are all 0: g ≡ 0 is not a loss; give at least one positive weight.")
  return values


def _is_traced(weights) -> bool:
  """Whether ``weights`` (an array, or a list of scalars) holds a JAX tracer."""
  items = weights if isinstance(weights, (list, tuple)) else [weights]
  return any(isinstance(w, jax.core.Tracer) for w in items)


def _param_names(n: int) -> tuple[str, ...]:
  return tuple(f"c{i}" for i in range(n))


@functools.lru_cache(maxsize=64)
def maki_mixture(exponents: tuple[float, ...] = DEFAULT_EXPONENTS) -> ScaleCoefficient:
  """The family as one `ScaleCoefficient` with parameters ``c0 … c{n-1}`` (each ≥ 0).

  Args:
    exponents: the basis exponents k_i (a tuple, distinct, each ≥ 0).

  Returns:
    g = -Σ c_i (1-p)^{k_i} / p, with stable log-space weight and loss (Σ c_i Maki tails). Its
    parameters may be traced JAX scalars, so ``loss_from_coefficient(maki_mixture(), c0=..., …)``
    is the one path from learned weights to a loss.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> family = ge.maki_mixture((0, 1))
    >>> family
    ScaleCoefficient('maki_mixture', g=-(c0 + c1*(1-p))/p, params=['c0', 'c1'])
    >>> family.defaults  # CE
    {'c0': 1.0, 'c1': 0.0}
    >>> loss = ge.loss_from_coefficient(family, c0=0.5, c1=0.5)
    >>> print(np.asarray(loss(jnp.array([0.0, 2.0]), jnp.array([1, 1])), float).round(4))
    [0.4431 0.0673]
  """
  exponents = check_exponents(exponents)
  names = _param_names(len(exponents))

  def weight(log_p, log_q, **c):
    del log_p
    # (1-p)^k as Maki's own weight takes it: k·log q's float32 rounding compensated
    return -sum(c[name] * power_from_log(log_q, k) for name, k in zip(names, exponents))

  def loss(log_p, log_q, **c):
    return sum(c[name] * maki_tail(log_p, log_q, k) for name, k in zip(names, exponents))

  return ScaleCoefficient(
      name="maki_mixture", formula=_formula(names, exponents), params={name: NONNEGATIVE for name in names},
      defaults={name: (1.0 if k == 0 else 0.0) for name, k in zip(names, exponents)},
      weight=weight, loss=loss, latex_name="Maki mixture",
      reference="Kilbas & Paringer 2020, §3.1 (Maki basis)")


def weights_from_theta(theta: jax.Array) -> jax.Array:
  """c = softmax(θ): unconstrained θ ∈ R^n to weights on the simplex (Σ c = 1, c > 0).

  Σ c = 1 fixes the weight given to the hardest example, w(p → 0) = -1, as for CE, Maki and focal
  loss, so a learned loss cannot win by scaling the learning rate.

  .. math::
    c_i = \\frac{e^{θ_i}}{\\sum_j e^{θ_j}}

  Args:
    theta: ``[n]`` unconstrained parameters.

  Returns:
    ``[n]`` positive weights summing to 1.

  Example:
    >>> import math
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> print(np.asarray(ge.weights_from_theta(jnp.zeros(4)), float).round(4))
    [0.25 0.25 0.25 0.25]
    >>> print(np.asarray(ge.weights_from_theta(jnp.array([0.0, math.log(3.0)])), float).round(4))
    [0.25 0.75]
  """
  return jax.nn.softmax(jnp.asarray(theta))


def maki_mixture_loss(logits, labels, *, weights, exponents: Sequence[float] | None = None,
                      head: str = "sigmoid", alpha=None, where=None, ignore_index=None) -> jax.Array:
  """Per-element loss of the Maki mixture with basis weights ``weights``.

  .. math::
    L(p) = \\sum_i c_i \\int_p^1 \\frac{(1-t)^{k_i}}{t} dt, \\qquad
    \\frac{\\partial L}{\\partial z} = -\\Big(\\sum_i c_i (1-p_t)^{k_i}\\Big)
    \\frac{\\partial \\log p_t}{\\partial z}.

  Args:
    logits: as for `gradeng.maki_loss`.
    labels: as for `gradeng.maki_loss`.
    weights: ``[n]`` non-negative basis weights c (Python/NumPy: checked now; a JAX array: NaN
      loss under jit where negative). Differentiable in ``weights`` where the injected rule
      supports hyper-parameter tangents.
    exponents: the n basis exponents; default ``0 … n-1``.
    head, alpha, where, ignore_index: as for the catalog losses.

  Returns:
    Per-element losses.

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> z, y = jnp.array([0.0]), jnp.array([1])
    >>> bool(jnp.allclose(ge.maki_mixture_loss(z, y, weights=[0.0, 1.0]), ge.maki_loss(z, y, gamma=1)))
    True
  """
  n = len(weights) if exponents is None else len(tuple(exponents))
  exponents = check_exponents(range(n) if exponents is None else exponents)
  concrete = check_weights(weights, len(exponents))
  coefficient = maki_mixture(exponents)
  if concrete is not None:
    params = {name: float(c) for name, c in zip(_param_names(len(exponents)), concrete)}
  else:
    weights = jnp.asarray(weights)
    params = {name: weights[i] for i, name in enumerate(_param_names(len(exponents)))}
  fn = loss_from_coefficient(coefficient, head=head, **params)
  return fn(logits, labels, alpha=alpha, where=where, ignore_index=ignore_index)


def _term(weight: str, k: float) -> str:
  return weight if k == 0 else f"{weight}*(1-p)" if k == 1 else f"{weight}*(1-p)**{k}"


def _formula(weights: Sequence[str], exponents: Sequence[float]) -> str:
  """``-(w0 + w1*(1-p) + …)/p`` for weight texts (names or numbers)."""
  return f"-({' + '.join(_term(w, k) for w, k in zip(weights, exponents))})/p"


def mixture_formula(weights, exponents: Sequence[float] | None = None, *, digits: int = 4) -> str:
  """g of concrete weights as a formula string that `gradeng.coefficient`/`gradeng.derive` parse.

  Weights are rounded to ``digits`` decimals (terms that round to 0 are dropped), e.g.
  ``"-(0.25 + 0.75*(1-p)**2)/p"``.

  Args:
    weights: ``[n]`` concrete non-negative weights c.
    exponents: the n basis exponents; default ``0 … n-1``.
    digits: decimals kept.

  Returns:
    g as text in p.

  Example:
    >>> import gradeng as ge
    >>> ge.mixture_formula([0.25, 0.0, 0.75])
    '-(0.25 + 0.75*(1-p)**2)/p'
    >>> ge.mixture_formula([1 / 3, 2 / 3], digits=2)
    '-(0.33 + 0.67*(1-p))/p'
  """
  exponents = check_exponents(range(len(weights)) if exponents is None else exponents)
  values = check_weights(weights, len(exponents))
  kept = [(f"{round(float(c), digits):.{digits}f}".rstrip("0").rstrip("."), k)
          for c, k in zip(values, exponents) if round(float(c), digits) != 0]
  if not kept:
    raise ValueError(f"every weight rounds to 0 at {digits} digits: {values.tolist()}.")
  return _formula(*zip(*kept))


def learned_coefficient(weights, exponents: Sequence[float] | None = None, *, digits: int = 4,
                        name: str = "learned") -> ScaleCoefficient:
  """A parameter-free `ScaleCoefficient` for concrete weights (rounded to ``digits`` decimals).

  Its ``formula`` is `mixture_formula` of the weights (what `gradeng.derive` integrates and
  prints, decimals read exactly); its weight and loss are the family's stable log-space forms
  with the same rounded weights.

  Args:
    weights: ``[n]`` concrete non-negative weights c.
    exponents: the n basis exponents; default ``0 … n-1``.
    digits: decimals kept.
    name: the coefficient's name.

  Returns:
    A `ScaleCoefficient` without parameters.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> c = ge.learned_coefficient([0.25, 0.0, 0.75])
    >>> c
    ScaleCoefficient('learned', g=-(0.25 + 0.75*(1-p)**2)/p, params=[])
    >>> loss = ge.loss_from_coefficient(c)(jnp.array([0.0, 2.0]), jnp.array([1, 1]))
    >>> print(np.asarray(loss, float).round(4))
    [0.2244 0.0322]
  """
  exponents = check_exponents(range(len(weights)) if exponents is None else exponents)
  values = check_weights(weights, len(exponents))
  formula = mixture_formula(values, exponents, digits=digits)
  rounded = [round(float(c), digits) for c in values]
  family = maki_mixture(exponents)
  params = {n: c for n, c in zip(_param_names(len(exponents)), rounded)}
  return ScaleCoefficient(
      name=name, formula=formula,
      weight=lambda log_p, log_q: family.weight(log_p, log_q, **params),
      loss=lambda log_p, log_q: family.loss(log_p, log_q, **params),
      latex_name=name, reference="learned Maki mixture (gradeng learn-coefficient)")
