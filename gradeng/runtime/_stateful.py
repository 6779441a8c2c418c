"""Scale coefficients with training state: schedules inside g, batch-adaptive γ, GHM-C.

The paper's §7 proposes putting training strategies *into the scale coefficient* g(p) = dL/dp
instead of the optimiser. Each coefficient here is an optax-like triple of pure functions,

.. code-block:: python

  sl = ge.warmup_coefficient("ce", bound=2.0, warmup_steps=500)
  state = sl.init()                                   # a NamedTuple of arrays
  def objective(params, state):
    per_element, state = sl.loss(model(params, x), labels, state)   # caller reduces
    return per_element.mean(), state
  (value, state), grads = jax.value_and_grad(objective, has_aux=True)(params, state)

and every loss goes through the one path of the library, `loss_from_coefficient` (with its
domain checks on traced hyper-parameters): the scaled coefficients (periodic, GHM-C) multiply
the base loss by a per-element constant of the derivative, the adaptive γ passes γ as a traced
hyper-parameter, and the warm-up builds a capped `ScaleCoefficient` whose weight wraps the base
loss's log-space weight. State-dependent quantities (the bound, the factor, γ, the GHM weights)
are computed from ``stop_gradient`` of the logits.

Convention: ``loss(logits, labels, state)`` receives the state *before* the current batch and
returns ``(per_element_losses, state_after_the_batch)``; the batch statistics are computed once
per step, and GHM-C and the adaptive γ use the statistics including the current batch (as the
reference GHM implementation does). The returned state carries no gradient. The state is a
NamedTuple of plain arrays, so it works under ``jit``/``vmap``/``lax.scan`` and checkpoints as
``.npz`` (``np.savez(f, **state._asdict())``, ``sl.init()._replace(**np.load(f))``).

References:
  Kilbas, I.A., Paringer, R.A. "Gradient as a foundation for building a loss function" (2020), §2.1, §7.
  Loshchilov, I., Hutter, F. "SGDR: stochastic gradient descent with warm restarts", ICLR 2017.
  Li, B., Liu, Y., Wang, X. "Gradient harmonized single-stage detector", AAAI 2019 (GHM-C).
  Li, B. et al. "Equalized focal loss for dense long-tailed object detection", CVPR 2022.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradeng.runtime._errors import InputError
from gradeng.runtime._catalog import CROSS_ENTROPY, get_coefficient
from gradeng.runtime._coefficient import NONNEGATIVE, ScaleCoefficient
from gradeng.runtime._inject import HEADS
from gradeng.runtime._losses import loss_from_coefficient

__all__ = [
    "StatefulLoss", "StepState", "AdaptiveGammaState", "GHMState",
    "warmup_coefficient", "periodic_coefficient", "adaptive_gamma_coefficient", "ghm_coefficient",
]


class StatefulLoss(NamedTuple):
  """An optax-like pair of pure functions for a scale coefficient with state.

  Attributes:
    init: ``init() -> state``, a NamedTuple of arrays.
    loss: ``loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None)`` →
      ``(per_element_losses, new_state)``: the losses with the injected derivative (the caller
      reduces) and the state after this batch (no gradient flows into it). Under ``jax.grad``
      return the state as auxiliary output (``has_aux=True``).

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> sl = ge.periodic_coefficient("ce", period=10)
    >>> isinstance(sl, ge.StatefulLoss)
    True
    >>> state = sl.init()
    >>> losses, state = sl.loss(jnp.array([0.0, 3.0]), jnp.array([1, 1]), state)
    >>> int(state.step)
    1
  """

  init: Callable[[], Any]
  loss: Callable[..., tuple[jax.Array, Any]]


class StepState(NamedTuple):
  """State of the step-scheduled coefficients: the number of batches already seen.

  Attributes:
    step: int32 scalar, 0 after ``init``, incremented by each ``loss`` call.

  Example:
    >>> import gradeng as ge
    >>> state = ge.warmup_coefficient("ce", bound=2.0, warmup_steps=100).init()
    >>> type(state).__name__, int(state.step), state.step.dtype
    ('StepState', 0, dtype('int32'))
  """

  step: jax.Array  # int32 scalar


class AdaptiveGammaState(NamedTuple):
  """EMA statistics of the batch-adaptive γ, one entry per group (1 global, or one per class).

  ``count_*`` are EMAs of the numbers of easy/hard examples per batch, ``p_*`` EMAs of their mean
  p_t, ``seen_*`` whether a group has ever been observed (an EMA starts at its first
  observation, not at zero), ``gamma`` the γ in use.

  Example:
    >>> import gradeng as ge
    >>> state = ge.adaptive_gamma_coefficient("maki", gamma_init=2.0).init()
    >>> print(state.gamma, state.seen_easy)
    [2.] [False]
  """

  count_easy: jax.Array
  count_hard: jax.Array
  p_easy: jax.Array
  p_hard: jax.Array
  seen_easy: jax.Array
  seen_hard: jax.Array
  gamma: jax.Array


class GHMState(NamedTuple):
  """GHM-C state: EMA of the number of examples per gradient-norm bin (0 = never observed).

  Attributes:
    counts: ``[bins]`` float32 EMAs R_b.

  Example:
    >>> import gradeng as ge
    >>> print(ge.ghm_coefficient("ce", bins=4).init().counts)
    [0. 0. 0. 0.]
  """

  counts: jax.Array


# ----------------------------------------------------------------------------- validation


def _require(name: str, value, ok: bool, valid: str):
  if not ok:
    raise InputError(f"`{name}` must be {valid}; got {value!r}.")


def _positive(name, value):
  _require(name, value, isinstance(value, numbers.Real) and not isinstance(value, bool)
           and math.isfinite(value) and value > 0, "a finite number > 0")


def _positive_int(name, value):
  _require(name, value, isinstance(value, numbers.Integral) and not isinstance(value, bool)
           and value >= 1, "an integer ≥ 1")


def _fraction(name, value, *, upper_open=False):
  ok = isinstance(value, numbers.Real) and 0 <= value and (value < 1 if upper_open else value <= 1)
  _require(name, value, ok, "a number in [0, 1)" if upper_open else "a number in [0, 1]")


def _check_head(head):
  if head not in HEADS:
    raise InputError(f"`head` must be one of {HEADS}; got {head!r}.")


def _base(base, params, reserved=()) -> tuple[ScaleCoefficient, dict]:
  """The base coefficient and its resolved (checked) parameters, less the ``reserved`` ones."""
  coefficient = get_coefficient(base)
  clash = set(params) & set(reserved)
  if clash:
    raise TypeError(f"Parameter(s) {sorted(clash)} are set by the stateful coefficient, not by the caller.")
  resolved = coefficient.resolve_params({**{k: coefficient.defaults.get(k, 0.0) for k in reserved}, **params})
  return coefficient, {k: v for k, v in resolved.items() if k not in reserved}


# ----------------------------------------------------------------------------- schedules

_WARMUP_SCHEDULES = ("linear", "exponential")


def warmup_bound(step, *, bound: float, warmup_steps: int, schedule: str = "linear",
                 growth: float = 1e3) -> jax.Array:
  """log B(step), the logarithm of the warm-up bound on |g| (+inf once warm-up is over).

  .. math::
    \\text{linear: } \\frac{1}{B(t)} = \\frac{1 - t/T}{B_0}, \\qquad
    \\text{exponential: } B(t) = B_0\\,\\mathrm{growth}^{t/T}, \\qquad B(t \\ge T) = \\infty.

  "linear" lets 1/B fall linearly to 0, so B grows continuously from B_0 to ∞ at t = T;
  "exponential" multiplies B by ``growth`` over the warm-up and removes the cap at T.

  Args:
    step: the training step t (int or JAX integer, may be traced).
    bound: B_0 > 0, the bound at step 0.
    warmup_steps: T ≥ 1.
    schedule: ``"linear"`` or ``"exponential"``.
    growth: B(T⁻)/B_0 > 1 for the exponential schedule.

  Returns:
    float32 scalar log B(step).

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> log_b = ge.runtime.warmup_bound(jnp.array([0, 50, 100]), bound=2.0, warmup_steps=100)
    >>> print(np.exp(np.asarray(log_b, float)).round(4))  # B = 2 / (1 - t/T), then no cap
    [ 2.  4. inf]
  """
  _check_warmup(bound, warmup_steps, schedule, growth)
  t = jnp.asarray(step, jnp.float32) / warmup_steps
  log_b0 = math.log(bound)
  if schedule == "linear":
    log_b = log_b0 - jnp.log1p(-jnp.where(t < 1, t, 0.0))
  else:
    log_b = log_b0 + t * math.log(growth)
  return jnp.where(t < 1, log_b, jnp.inf)


def _check_warmup(bound, warmup_steps, schedule, growth):
  _positive("bound", bound)
  _positive_int("warmup_steps", warmup_steps)
  if schedule not in _WARMUP_SCHEDULES:
    raise InputError(f"`schedule` must be one of {_WARMUP_SCHEDULES}; got {schedule!r}.")
  _require("growth", growth, isinstance(growth, numbers.Real) and math.isfinite(growth) and growth > 1,
           "a finite number > 1")


def sgdr_factor(step, *, period: int, t_mult: float = 1.0, floor: float = 0.0) -> jax.Array:
  """The SGDR factor f(step) ∈ [floor, 1] (cosine annealing with warm restarts).

  .. math::
    f(t) = f_{\\min} + (1 - f_{\\min})\\,\\frac{1 + \\cos(\\pi\\, t_{\\mathrm{cur}} / T_i)}{2},

  where cycle i lasts T_i = period·T_mult^i steps and t_cur counts steps since its start
  (f = 1 at each restart, f → floor at its end). With T_mult = 1 this is
  ``optax.cosine_decay_schedule(1, period, alpha=floor)`` repeated.

  Args:
    step: the training step (int or JAX integer, may be traced).
    period: T_0 ≥ 1, the first cycle's length in steps.
    t_mult: T_mult ≥ 1, the growth of the cycle length at each restart.
    floor: f_min ∈ [0, 1].

  Returns:
    float32 scalar f(step).

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> f = ge.runtime.sgdr_factor(jnp.array([0, 5, 10, 15]), period=10)
    >>> print(np.asarray(f, float).round(4))  # restarts at 10
    [1.  0.5 1.  0.5]
    >>> f = ge.runtime.sgdr_factor(jnp.array([0, 10, 20, 30]), period=10, t_mult=2.0)
    >>> print(np.asarray(f, float).round(4))  # cycles of 10, 20, 40 steps
    [1.  1.  0.5 1. ]
  """
  _check_sgdr(period, t_mult, floor)
  t = jnp.asarray(step, jnp.float32)
  if t_mult == 1:
    start, length = period * jnp.floor(t / period), jnp.float32(period)
  else:
    cycle = jnp.floor(jnp.log1p(t * (t_mult - 1) / period) / math.log(t_mult))

    def begin(i):
      return period * (t_mult ** i - 1) / (t_mult - 1)

    # Float rounding of the log may put t one cycle off at a boundary; correct it exactly.
    cycle = jnp.where(begin(cycle) > t, cycle - 1, cycle)
    cycle = jnp.where(begin(cycle + 1) <= t, cycle + 1, cycle)
    start, length = begin(cycle), period * t_mult ** cycle
  cosine = 0.5 * (1.0 + jnp.cos(math.pi * (t - start) / length))
  return floor + (1.0 - floor) * cosine


def _check_sgdr(period, t_mult, floor):
  _positive_int("period", period)
  _require("t_mult", t_mult, isinstance(t_mult, numbers.Real) and math.isfinite(t_mult) and t_mult >= 1,
           "a finite number ≥ 1")
  _fraction("floor", floor)


# ----------------------------------------------------------------------------- capped coefficient


def _capped_coefficient(coefficient: ScaleCoefficient, base_weight) -> ScaleCoefficient:
  """g_c = g / (1 + |g|·c), c = 1/B ≥ 0, as a coefficient with the extra parameter ``inv_bound``.

  Its weight, in log space: w_c = w / (1 + exp(log|w| - log p + log c)), w the base loss's
  log-space weight; c = 0 (B = ∞, log c = -inf) leaves w unchanged. It has no closed-form loss,
  so `loss_from_coefficient` integrates w_c (w_c is smooth in p, so quadrature keeps float32
  accuracy).
  """
  def weight(log_p, log_q, inv_bound, **params):
    w = base_weight(log_p, log_q, **params)
    return w / (1.0 + jnp.exp(jnp.log(jnp.abs(w)) - log_p + jnp.log(inv_bound)))

  g = coefficient.formula
  return ScaleCoefficient(
      name=f"warmup_{coefficient.name}",
      formula=None if g is None else f"({g})/(1 + Abs({g})*inv_bound)",
      params={**coefficient.params, "inv_bound": NONNEGATIVE}, defaults=dict(coefficient.defaults),
      weight=weight, latex_name=f"warm-up {coefficient.latex_name or coefficient.name}",
      reference="Kilbas & Paringer 2020, §7")


# ----------------------------------------------------------------------------- step-scheduled


def _step_init():
  return StepState(step=jnp.zeros((), jnp.int32))


def _next_step(state):
  return StepState(step=state.step + 1)


def warmup_coefficient(base="ce", *, bound: float, warmup_steps: int, schedule: str = "linear",
                       growth: float = 1e3, head: str = "sigmoid", **params) -> StatefulLoss:
  """A warm-up coefficient: the base g with |g| ≤ B(step), B growing to ∞ (paper §7).

  Early in training p_t ≈ 0.1 gives large |g| = 1/p for cross-entropy; instead of lowering the
  learning rate, the coefficient is capped, smoothly:

  .. math::
    g_c(p) = \\frac{g(p)}{1 + |g(p)|/B(t)}, \\qquad |g_c| < B(t), \\qquad
    \\Big|\\frac{\\partial L}{\\partial z}\\Big| = |g_c|\\,p(1-p) < B(t)\\,p\\,(1 - p)

  (sigmoid head; softmax: |∂L/∂z_y| = |g_c|·p(1-p)). For CE, g_c = -1/(p + 1/B) and
  L_c = log((1 + 1/B)/(p + 1/B)). B(t) follows `warmup_bound`; from t = T on, the loss is the
  base loss (up to quadrature error ~1e-7: the forward is always quadrature of w_c).

  Args:
    base: catalog name (``"ce"``, ``"focal"``, …) or a `ScaleCoefficient`.
    bound: B_0 > 0, the bound on |g| at step 0.
    warmup_steps: T ≥ 1, the step from which there is no cap.
    schedule: ``"linear"`` (1/B linear to 0) or ``"exponential"`` (B·growth^{t/T}).
    growth: for ``"exponential"``: B(T⁻)/B_0 > 1.
    head: ``"sigmoid"`` or ``"softmax"``.
    **params: the base coefficient's hyper-parameters (e.g. ``gamma=2``).

  Returns:
    `StatefulLoss` with `StepState`.

  Example:
    At step 0 with B = 2, CE becomes log(1.5 / (p + 0.5)) and |∂L/∂z| < 2p(1 - p):

    >>> import jax
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> sl = ge.warmup_coefficient("ce", bound=2.0, warmup_steps=100)
    >>> logits, labels = jnp.array([-2.0, 0.0, 3.0]), jnp.array([1, 1, 1])
    >>> losses, state = sl.loss(logits, labels, sl.init())
    >>> print(np.asarray(losses, float).round(4))
    [0.8848 0.4055 0.0321]
    >>> print(np.asarray(ge.cross_entropy_loss(logits, labels), float).round(4))  # uncapped
    [2.1269 0.6931 0.0486]
    >>> int(state.step)
    1
  """
  _check_head(head)
  _check_warmup(bound, warmup_steps, schedule, growth)
  coefficient, static = _base(base, params)
  base_weight = loss_from_coefficient(coefficient, head=head, **static).kernel.weight
  capped = _capped_coefficient(coefficient, base_weight)

  def loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None):
    log_bound = warmup_bound(state.step, bound=bound, warmup_steps=warmup_steps,
                             schedule=schedule, growth=growth)
    fn = loss_from_coefficient(capped, head=head, **static, inv_bound=jnp.exp(-log_bound))
    return fn(logits, labels, alpha=alpha, where=where, ignore_index=ignore_index), _next_step(state)

  return StatefulLoss(_step_init, loss)


def periodic_coefficient(base="ce", *, period: int, t_mult: float = 1.0, floor: float = 0.0,
                         head: str = "sigmoid", **params) -> StatefulLoss:
  """A periodic coefficient: g·f(step) with the SGDR factor f (`sgdr_factor`).

  f does not depend on p, so under plain SGD (no weight decay) this is *exactly* the
  learning-rate schedule lr·f(step). With momentum it equals a schedule applied to the gradient
  *before* the momentum buffer (v ← μv - lr·f·∇), not optax's/PyTorch's lr·f applied after it
  (the two differ while f changes within the buffer's ~1/(1-μ) steps). Under Adam, whose update
  is invariant to a constant rescaling of the gradient, it does almost nothing (only the
  moment estimates' lag and ε see it): only p-dependent modulation of g survives Adam.

  Args:
    base: catalog name or `ScaleCoefficient`.
    period: T_0 ≥ 1 steps. t_mult: T_mult ≥ 1. floor: f_min ∈ [0, 1].
    head: ``"sigmoid"`` or ``"softmax"``.
    **params: the base coefficient's hyper-parameters.

  Returns:
    `StatefulLoss` with `StepState`.

  Example:
    The fifth batch (step 4) of a 10-step cycle: CE times f(4) = (1 + cos(0.4π))/2:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> sl = ge.periodic_coefficient("ce", period=10)
    >>> state = sl.init()._replace(step=jnp.int32(4))
    >>> losses, state = sl.loss(jnp.array([-2.0, 0.0, 3.0]), jnp.array([1, 1, 1]), state)
    >>> print(np.asarray(losses, float).round(4))
    [1.3921 0.4537 0.0318]
    >>> int(state.step)
    5
  """
  _check_head(head)
  _check_sgdr(period, t_mult, floor)
  coefficient, static = _base(base, params)
  base_loss = loss_from_coefficient(coefficient, head=head, **static)

  def loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None):
    factor = sgdr_factor(state.step, period=period, t_mult=t_mult, floor=floor)
    value = base_loss(logits, labels, alpha=alpha, where=where, ignore_index=ignore_index)
    return factor * value, _next_step(state)

  return StatefulLoss(_step_init, loss)


# ----------------------------------------------------------------------------- batch statistics


def _true_class_probability(logits, labels, head, where, ignore_index):
  """log p_t and log(1 - p_t) of the true class, without derivative (statistics only).

  Hard labels: log p_t = -L_CE, the cross-entropy of the same head (the head's own log_sigmoid /
  log_softmax, label checks and masks), and log(1 - p_t) = log(-expm1(log p_t)), exact to
  float32 even for p_t within 1e-30 of 1. Soft sigmoid labels: |p - y| plays the role of
  1 - p_t (GHM's gradient norm).
  """
  logits = jax.lax.stop_gradient(logits)
  labels = jnp.asarray(labels)
  if head == "sigmoid" and not (jnp.issubdtype(labels.dtype, jnp.integer) or labels.dtype == bool):
    q = jnp.abs(jax.nn.sigmoid(jnp.asarray(logits, jnp.promote_types(logits.dtype, jnp.float32))) - labels)
    return jnp.log1p(-q), jnp.log(q)
  ce = loss_from_coefficient(CROSS_ENTROPY, head=head)
  log_p = -ce(logits, labels, where=where, ignore_index=ignore_index).astype(
      jnp.promote_types(logits.dtype, jnp.float32))
  return log_p, jnp.log(-jnp.expm1(log_p))


def _valid_mask(labels, shape, where, ignore_index):
  mask = jnp.ones(shape, bool)
  if where is not None:
    mask = mask & jnp.broadcast_to(jnp.asarray(where, bool), shape)
  if ignore_index is not None:
    mask = mask & (jnp.broadcast_to(labels, shape) != ignore_index)
  return mask


# ----------------------------------------------------------------------------- adaptive γ


def _balanced_gamma(weight, count_easy, p_easy, count_hard, p_hard, *, gamma_max: float,
                    iterations: int = 40, **params) -> jax.Array:
  """γ at which the summed scale coefficients of the easy and hard groups balance (§2.1).

  Solves N_e |g_γ(p_e)| = N_h |g_γ(p_h)| for γ ∈ [0, γ_max] by bisection on
  F(γ) = log N_e + log|w_γ(p_e)| - log p_e - log N_h - log|w_γ(p_h)| + log p_h (``weight`` is
  the loss's log-space w = p·g, so the rule uses exactly the coefficient the loss injects). F(0) ≤ 0 (hard examples
  already dominate) gives 0; F(γ_max) > 0 gives γ_max. For Maki, |g| = q^γ/p and the root is

  .. math:: γ = \\log\\frac{N_e p_h}{N_h p_e} \\Big/ \\log\\frac{1 - p_h}{1 - p_e}.

  The paper's example (1000 easy at p = 0.9, 10 hard at p = 0.3) gives γ = 1.802 for Maki.
  Elementwise over the group axis; every input may be traced.
  """
  count_easy, p_easy, count_hard, p_hard = (jnp.asarray(a, jnp.float32) for a in
                                             (count_easy, p_easy, count_hard, p_hard))

  def log_g(p, gamma):
    return jnp.log(jnp.abs(weight(jnp.log(p), jnp.log1p(-p), gamma=gamma, **params))) - jnp.log(p)

  def balance(gamma):
    return (jnp.log(count_easy) + log_g(p_easy, gamma)) - (jnp.log(count_hard) + log_g(p_hard, gamma))

  def bisect(_, bracket):
    lo, hi = bracket
    mid = 0.5 * (lo + hi)
    positive = balance(mid) > 0
    return jnp.where(positive, mid, lo), jnp.where(positive, hi, mid)

  lo, hi = jax.lax.fori_loop(0, iterations, bisect, (jnp.zeros_like(p_easy), jnp.full_like(p_easy, gamma_max)))
  gamma = 0.5 * (lo + hi)
  gamma = jnp.where(balance(jnp.zeros_like(p_easy)) <= 0, 0.0, gamma)
  return jnp.where(balance(jnp.full_like(p_easy, gamma_max)) > 0, gamma_max, gamma)


def adaptive_gamma_coefficient(base="maki", *, gamma_init: float = 1.0, gamma_max: float = 5.0,
                               momentum: float = 0.9, threshold: float = 0.5, per_class: bool = False,
                               num_classes: int | None = None, head: str = "sigmoid",
                               **params) -> StatefulLoss:
  """Batch-adaptive γ (paper §7): γ set so that easy and hard examples' summed g balance.

  Each batch is split into hard (p_t < ``threshold``) and easy examples; EMAs (``momentum``) of
  their counts N_e, N_h and mean probabilities p_e, p_h give γ by `_balanced_gamma`. The loss
  of a batch uses the statistics including that batch. A group absent from a batch (no hard
  example, no example of a class, no positive) leaves its EMA unchanged; until both groups have
  been observed γ stays at its previous value (``gamma_init`` at the start) — there is never a
  division by zero.

  ``per_class=True`` keeps one set of statistics and one γ per class, in the spirit of
  Equalized Focal Loss: softmax head, one per true class (``num_classes`` required); sigmoid
  head, one for negatives and one for positives. Each element uses the γ of its label.

  Args:
    base: a coefficient with a parameter ``gamma`` (``"maki"``, ``"focal"``, or a user one).
    gamma_init: γ before any statistics exist, in [0, gamma_max].
    gamma_max: upper clip of γ, > 0.
    momentum: EMA momentum in [0, 1) (0: the current batch only).
    threshold: p_t below which an example is hard, in (0, 1).
    per_class: one γ per class instead of one global γ.
    num_classes: number of classes (softmax head with ``per_class``).
    head: ``"sigmoid"`` (integer labels in {0, 1}) or ``"softmax"``.
    **params: the base coefficient's other hyper-parameters.

  Returns:
    `StatefulLoss` with `AdaptiveGammaState`.

  Example:
    Nine easy examples (p = 0.95) and one hard (p = 0.27): γ balances their summed g:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> sl = ge.adaptive_gamma_coefficient("maki", gamma_init=2.0)
    >>> logits, labels = jnp.array([-1.0] + [3.0] * 9), jnp.ones(10, jnp.int32)
    >>> losses, state = sl.loss(logits, labels, sl.init())
    >>> print(state.count_easy, state.count_hard)
    [9.] [1.]
    >>> print(np.asarray(state.gamma, float).round(3))
    [0.341]
  """
  _check_head(head)
  _positive("gamma_max", gamma_max)
  _require("gamma_init", gamma_init, isinstance(gamma_init, numbers.Real) and 0 <= gamma_init <= gamma_max,
           f"a number in [0, gamma_max={gamma_max}]")
  _fraction("momentum", momentum, upper_open=True)
  _require("threshold", threshold, isinstance(threshold, numbers.Real) and 0 < threshold < 1,
           "a number in (0, 1)")
  coefficient = get_coefficient(base)
  if "gamma" not in coefficient.params:
    raise InputError(f"`base` must have a parameter `gamma`; `{coefficient.name}` has {sorted(coefficient.params)}.")
  _, static = _base(coefficient, params, reserved=("gamma",))
  weight = loss_from_coefficient(coefficient, head=head, **static, gamma=jnp.float32(gamma_init)).kernel.weight
  if per_class:
    if head == "softmax":
      _positive_int("num_classes", num_classes)
      groups = num_classes
    else:
      groups = 2
  else:
    groups = 1

  def init():
    zeros = jnp.zeros((groups,), jnp.float32)
    false = jnp.zeros((groups,), bool)
    return AdaptiveGammaState(zeros, zeros, zeros, zeros, false, false,
                              jnp.full((groups,), gamma_init, jnp.float32))

  def group_of(labels, shape):
    if groups == 1:
      return jnp.zeros(shape, jnp.int32)
    return jnp.clip(jnp.broadcast_to(jnp.asarray(labels).astype(jnp.int32), shape), 0, groups - 1)

  def statistics(state, logits, labels, where, ignore_index):  # the state after this batch
    log_p, _ = _true_class_probability(logits, labels, head, where, ignore_index)
    p = jnp.exp(log_p)
    mask = _valid_mask(labels, p.shape, where, ignore_index)
    group = group_of(labels, p.shape)
    hard = p < threshold
    one_hot = (group[..., None] == jnp.arange(groups)) & mask[..., None]
    axes = tuple(range(p.ndim))

    def stats(select):
      members = one_hot & select[..., None]
      count = jnp.sum(members, axis=axes).astype(jnp.float32)
      mean = jnp.sum(jnp.where(members, p[..., None], 0.0), axis=axes) / jnp.maximum(count, 1.0)
      return count, mean

    def ema(old, new, seen, present):
      blended = jnp.where(seen, momentum * old + (1.0 - momentum) * new, new)
      return jnp.where(present, blended, old)

    n_e, m_e = stats(~hard)
    n_h, m_h = stats(hard)
    has_e, has_h = n_e > 0, n_h > 0
    count_easy = ema(state.count_easy, n_e, state.seen_easy, has_e)
    p_easy = ema(state.p_easy, m_e, state.seen_easy, has_e)
    count_hard = ema(state.count_hard, n_h, state.seen_hard, has_h)
    p_hard = ema(state.p_hard, m_h, state.seen_hard, has_h)
    seen_easy, seen_hard = state.seen_easy | has_e, state.seen_hard | has_h
    ready = seen_easy & seen_hard
    # Dummy statistics where not ready, so that no log(0) is ever formed.
    solved = _balanced_gamma(weight, jnp.where(ready, count_easy, 1.0), jnp.where(ready, p_easy, 0.9),
                            jnp.where(ready, count_hard, 1.0), jnp.where(ready, p_hard, 0.1),
                            gamma_max=gamma_max, **static)
    gamma = jnp.where(ready, solved, state.gamma)
    new = AdaptiveGammaState(count_easy, count_hard, p_easy, p_hard, seen_easy, seen_hard, gamma)
    return jax.tree_util.tree_map(jax.lax.stop_gradient, new)

  def loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None):
    new = statistics(state, logits, labels, where, ignore_index)
    shape = jnp.shape(logits)[:-1] if head == "softmax" else jnp.broadcast_shapes(jnp.shape(logits), jnp.shape(labels))
    gamma = new.gamma[group_of(labels, shape)]
    fn = loss_from_coefficient(coefficient, head=head, **static, gamma=gamma)
    return fn(logits, labels, alpha=alpha, where=where, ignore_index=ignore_index), new

  return StatefulLoss(init, loss)


# ----------------------------------------------------------------------------- GHM-C


def ghm_coefficient(base="ce", *, bins: int = 10, momentum: float = 0.75, head: str = "sigmoid",
                    **params) -> StatefulLoss:
  """Gradient harmonizing mechanism (GHM-C, Li et al. 2019) as an injected gradient scale.

  The gradient norm of an example is u = |p - y| = 1 - p_t (sigmoid; softmax: 1 - p_t of the
  true class). With M equal bins on [0, 1], R_b the EMA (``momentum``) of the number of examples
  in bin b and n the number of bins occupied in the current batch, each example's loss and
  gradient are scaled by

  .. math:: β_i = \\frac{N}{n\\,R_{b(i)}}, \\qquad \\sum_i β_i = N \\text{ when } R = \\text{the batch's counts},

  N = the number of (unmasked) examples, so every occupied bin carries the same total weight
  (reduce with the mean, as the reference implementation divides by N). A bin seen for the first
  time starts its EMA at its count (not at zero); empty bins keep their EMA. Everything is
  arrays: ``jnp.zeros(M).at[bin].add(1)``, no host synchronisation, ``jit``/``vmap`` work.

  Args:
    base: catalog name or `ScaleCoefficient` (GHM-C uses ``"ce"``).
    bins: M ≥ 1.
    momentum: EMA momentum in [0, 1) (0: the current batch only, GHM without momentum).
    head: ``"sigmoid"`` or ``"softmax"``.
    **params: the base coefficient's hyper-parameters.

  Returns:
    `StatefulLoss` with `GHMState`.

  Example:
    Two bins: two easy examples share bin 0 (β = 3/(2·2)), the hard one has bin 1 (β = 3/2):

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> sl = ge.ghm_coefficient("ce", bins=2, momentum=0.0)
    >>> logits, labels = jnp.array([-2.0, 3.0, 4.0]), jnp.array([1, 1, 1])
    >>> losses, state = sl.loss(logits, labels, sl.init())
    >>> print(np.asarray(losses, float).round(4))  # 1.5·2.1269, 0.75·0.0486, 0.75·0.0181
    [3.1904 0.0364 0.0136]
    >>> print(state.counts)
    [2. 1.]
  """
  _check_head(head)
  _positive_int("bins", bins)
  _fraction("momentum", momentum, upper_open=True)
  coefficient, static = _base(base, params)
  base_loss = loss_from_coefficient(coefficient, head=head, **static)

  def init():
    return GHMState(counts=jnp.zeros((bins,), jnp.float32))

  def histogram(logits, labels, where, ignore_index):
    _, log_q = _true_class_probability(logits, labels, head, where, ignore_index)
    u = jnp.exp(log_q)
    index = jnp.clip(jnp.floor(u * bins).astype(jnp.int32), 0, bins - 1)
    mask = _valid_mask(labels, u.shape, where, ignore_index)
    counts = jnp.zeros((bins,), jnp.float32).at[index.ravel()].add(mask.ravel().astype(jnp.float32))
    return index, mask, counts

  def advance(state, counts):
    blended = jnp.where(state.counts > 0, momentum * state.counts + (1.0 - momentum) * counts, counts)
    return GHMState(counts=jnp.where(counts > 0, blended, state.counts))

  def loss(logits, labels, state, *, alpha=None, where=None, ignore_index=None):
    index, mask, counts = histogram(logits, labels, where, ignore_index)
    new = advance(state, counts)
    current = new.counts
    total = jnp.sum(counts)
    occupied = jnp.sum(counts > 0).astype(jnp.float32)
    # Every unmasked example's bin is occupied now, so R_b > 0 wherever it is used.
    beta = jnp.where(mask, total / (jnp.maximum(occupied, 1.0) * jnp.maximum(current[index], 1e-30)), 0.0)
    beta = jax.lax.stop_gradient(beta)
    value = base_loss(logits, labels, alpha=alpha, where=where, ignore_index=ignore_index)
    return beta * value, new

  return StatefulLoss(init, loss)
