"""The one path from a scale coefficient to a JAX loss: `loss_from_coefficient`.

A coefficient becomes a `Kernel` (log-space value L and weight w = p·g), and the kernel is
applied to logits by `gradeng.runtime._inject.apply_kernel`, which injects the derivative. The catalog
losses are this path applied to catalog coefficients; user formulas and user JAX functions
take the same path with generated or numerically integrated parts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from gradeng.runtime._coefficient import ScaleCoefficient, is_concrete_number
from gradeng.runtime._inject import Kernel, LossFunction, apply_kernel, poison
from gradeng.runtime._quadrature import integrate_weight

if TYPE_CHECKING:
  import sympy as sp
# SymPy and the modules built on it (`_jaxify`, `_symbolic`, `_stabilize`) are imported inside the
# functions that need them: the catalog's losses never do, and `import gradeng` stays free of them.

#: Relative error a derived closed form may show against quadrature before it is rejected.
CLOSED_FORM_TOLERANCE = 1e-5
#: Wall-clock seconds building a loss from a user formula waits for SymPy's derivation. Past it,
#: the loss is built on quadrature at once (the forward method says so) instead of blocking on a
#: derivation that may end in quadrature anyway; ``gradeng.derive(..., timeout=None)`` run once
#: ahead of time caches the closed form on disk for every later build (issue 14 item 6).
DERIVATION_TIMEOUT = 20.0


class _Default:
  """The default of an argument that is read from a module constant when the call is made."""

  def __repr__(self):
    return "<default>"


_DEFAULT = _Default()
_CHECK_LOGITS = np.linspace(-40.0, 40.0, 321)


def _quadrature_value(weight: Callable) -> Callable:
  def value(log_p, log_q, **params):
    del log_q
    return integrate_weight(weight, log_p, **params)

  return value


def _closed_form_error(value: Callable, weight: Callable, params: Mapping[str, Any]) -> float:
  """Max relative error of a float32 closed form against float64 quadrature on logits ±40.

  Runs on constants only (the grid and Python-number parameters), evaluated eagerly even while
  a caller is being traced by `jax.jit`, so a loss can be built inside a jitted function.
  """
  with jax.ensure_compile_time_eval():
    with jax.enable_x64(True):
      z64 = jnp.asarray(_CHECK_LOGITS, jnp.float64)
      reference = np.asarray(_quadrature_value(weight)(jax.nn.log_sigmoid(z64), None, **params))
    z32 = jnp.asarray(_CHECK_LOGITS, jnp.float32)
    got = np.asarray(value(jax.nn.log_sigmoid(z32), jax.nn.log_sigmoid(-z32), **params), np.float64)
  normal = np.abs(reference) > np.finfo(np.float32).tiny / np.finfo(np.float32).eps
  if not np.all(np.isfinite(got[normal])):
    return math.inf
  return float(np.max(np.abs(got[normal] - reference[normal]) / np.abs(reference[normal]), initial=0.0))


def weight_expression(g: sp.Expr) -> sp.Expr:
  """w = p·g with p distributed over the top-level sum only, so that SymPy's automatic
  p·p^{-1} = 1 cancels while factors such as (1 - p)^2 stay unexpanded (expanding them would
  cancel catastrophically as p → 1)."""
  import sympy as sp

  from gradeng.runtime._coefficient import P

  if g.is_Add:
    return sp.Add(*(weight_expression(term) for term in g.args))
  return P * g


@functools.lru_cache(maxsize=256)
def _kernel(coefficient: ScaleCoefficient, frozen_params: tuple,
            timeout: float | None = None) -> tuple[Kernel, str]:
  params = dict(frozen_params)
  names = list(coefficient.params)
  weight = coefficient.weight  # hand-written (the catalog: no SymPy) or generated from g
  if weight is None:
    from gradeng.symbolic._jaxify import log_space_function

    weight = log_space_function(weight_expression(coefficient.expr), names)
  if coefficient.loss is not None:
    return Kernel(coefficient.loss, weight, coefficient.name), "closed form (catalog)"
  from gradeng.symbolic._jaxify import NotJaxifiable, log_space_function
  value, method = _quadrature_value(weight), "quadrature"
  if all(is_concrete_number(v) for v in params.values()):
    from gradeng.symbolic import derive  # SymPy integration is only needed for user formulas

    derivation = derive(coefficient, timeout=timeout, **params)
    if derivation.verification == "gave up (time limit)":
      method = (f"quadrature (SymPy stopped after {timeout:g} s; `gradeng.derive(..., "
                "timeout=None)` derives and caches a closed form for later builds)")
    from gradeng.symbolic._stabilize import stable_closed_form, stable_weight  # stable programs

    weight = stable_weight(derivation.g, weight, params)  # w = p·g, no cancellation (backward)
    value = _quadrature_value(weight)
    if derivation.loss is not None:
      closed = stable_closed_form(derivation.g, derivation.loss)
      if closed is None:
        try:
          closed = log_space_function(derivation.loss, names), "closed form (derived)"
        except NotJaxifiable:
          closed = None
      if closed is not None and _closed_form_error(closed[0], weight, params) <= CLOSED_FORM_TOLERANCE:
        value, method = closed
  return Kernel(value, weight, coefficient.name), method


def _freeze(params: Mapping[str, Any]) -> tuple:
  # Traced values are not hashable; they are keyed by position only (the kernel never
  # specialises on them, so any placeholder works).
  return tuple(sorted((k, v if is_concrete_number(v) else "<traced>") for k, v in params.items()))


def loss_from_coefficient(
    coefficient: ScaleCoefficient, *, head: str = "sigmoid",
    derive_timeout: float | None | _Default = _DEFAULT, **params: Any
) -> LossFunction:
  """A JAX loss ``f(logits, labels, *, alpha=None, where=None, …, **params)`` from g(p).

  The backward pass is exactly g(p_t)·∂p_t/∂z, computed in log space (w = p·g); the forward
  value is the coefficient's stable closed form when it has one, else the SymPy-derived closed
  form if it matches quadrature to `CLOSED_FORM_TOLERANCE` over logits in [-40, 40], else the
  quadrature L(p) = ∫_0^{-log p} -w(e^{-s}) ds. The choice is in ``f.forward_method``.

  The derivation and its float64 check are an ahead-of-time step on constants, cached per
  (coefficient, Python-number parameters): building a loss inside `jax.jit` works. Python-number
  parameters are static (the kernel specialises on them: Maki γ = 1 compiles without digamma);
  JAX values are differentiable inputs (``jax.grad`` w.r.t. γ, second derivatives included).

  Args:
    coefficient: the scale coefficient (see `gradeng.coefficient` to build one from a formula).
    head: ``"sigmoid"`` (binary / multi-label) or ``"softmax"`` (multi-class).
    derive_timeout: wall seconds to wait for SymPy to derive a user formula's closed form
      (default: `DERIVATION_TIMEOUT` when called; None: no limit but SymPy's own). Past it the
      loss is built on quadrature, and ``forward_method`` says so; a derivation cached on disk
      (by an earlier build or by `gradeng.derive`) is used at once whatever the limit.
    **params: hyper-parameters (e.g. ``gamma=2``); Python numbers are checked against their
      domains now, JAX values make the loss (and its gradient) NaN where they are out of domain.
      They may also be given, or overridden, when the loss is called: ``f(z, y, gamma=3.0)``.

  Returns:
    The per-element loss function; its keyword arguments (``alpha``, ``where``,
    ``ignore_index``, ``axis``, ``broadcast``, ``soft_labels``) are those of
    `gradeng.runtime._inject.apply_kernel`.

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> qce = ge.loss_from_coefficient(ge.coefficient("log(p)/p"))
    >>> float(qce(jnp.array([0.0]), jnp.array([1]))[0])  # log(1/2)^2 / 2
    0.2402265...
  """
  given = dict(params)
  params = coefficient.resolve_params(given)
  if derive_timeout is _DEFAULT:
    derive_timeout = DERIVATION_TIMEOUT
  kernel, method = _kernel(coefficient, _freeze(params), derive_timeout)
  traced = {k: v for k, v in params.items() if not is_concrete_number(v)}
  domains = coefficient.params
  if traced and coefficient.loss is None:  # a formula: narrowed to where ∫_p^1 -g converges
    from gradeng.symbolic._derive import traced_domains  # SymPy, only for traced parameters

    domains = traced_domains(coefficient, _freeze(params))

  def rebuild(hyper):
    return loss_from_coefficient(coefficient, head=head, derive_timeout=derive_timeout,
                                 **{**given, **hyper})

  def check(value):  # out-of-domain traced hyper-parameters poison the loss and its gradient
    for name, v in traced.items():
      value = poison(value, domains[name].contains_traced(v))
    return value

  loss = _bind(kernel, method, head, params, rebuild, check)
  loss.coefficient = coefficient
  return loss


def _bind(kernel, method, head, params, rebuild, check=None) -> LossFunction:
  def loss(logits, labels, *, alpha=None, where=None, ignore_index=None, axis=-1, broadcast=False,
           soft_labels="mixture", **hyper):
    options = dict(alpha=alpha, where=where, ignore_index=ignore_index, axis=axis,
                   broadcast=broadcast, soft_labels=soft_labels)
    if hyper:  # hyper-parameters given at call time override those given when built
      return rebuild(hyper)(logits, labels, **options)
    value = apply_kernel(kernel, logits, labels, head=head, params=params, **options)
    return value if check is None else check(value)

  loss.coefficient = None
  loss.params = params
  loss.forward_method = method
  loss.kernel = kernel  # the log-space L and w = p·g (the stateful coefficients wrap w)
  loss.__name__ = f"{kernel.name}_loss"
  return loss


def loss_from_gradient(
    scale_fn: Callable[..., jax.Array], *, head: str = "sigmoid", name: str = "custom", **params
) -> LossFunction:
  """A loss from a JAX function g(p, **params) alone: injected backward, forward by quadrature.

  Use it for coefficients that are easier to write in JAX than as a formula, including ones
  that depend on training-time values (pass them as ``params``; they may be traced, and are
  differentiable). The backward pass is exact whatever g is. The forward value is tanh–sinh
  quadrature, accurate to float32 for smooth g; a kink in g (e.g. ``minimum(1/p, cap)``)
  limits it to ~1e-3, and g receives p itself, so 1 - p loses digits as p → 1 (write a formula
  to stay in log space).

  Args:
    scale_fn: ``g(p, **params)`` elementwise; the weight is taken as p·g(p).
    head: ``"sigmoid"`` or ``"softmax"``.
    name: a name for the loss.
    **params: values passed to ``scale_fn``; the loss may be called with new values of these
      (``f(z, y, beta=0.5)``), not with other names.

  Returns:
    ``f(logits, labels, *, alpha=None, where=None, ignore_index=None, …, **params)``.
  """

  def weight(log_p, log_q, **kw):
    del log_q
    p = jnp.exp(log_p)
    return p * scale_fn(p, **kw)

  kernel = Kernel(_quadrature_value(weight), weight, name, uses_log_q=False)

  def rebuild(hyper):
    unknown = set(hyper) - set(params)
    if unknown:
      raise TypeError(
          f"Loss `{name}` got unknown parameter(s) {sorted(unknown)} when called; it was built "
          f"with {sorted(params)} (`loss_from_gradient(..., name=value)` declares them)."
      )
    return _bind(kernel, "quadrature", head, {**params, **hyper}, rebuild)

  return _bind(kernel, "quadrature", head, params, rebuild)


def _evaluate(coefficient, p, params, part: str) -> jax.Array:
  from gradeng.runtime._catalog import get_coefficient  # the catalog imports this module

  coefficient = get_coefficient(coefficient)
  params = coefficient.resolve_params(params)
  kernel, _ = _kernel(coefficient, _freeze(params), DERIVATION_TIMEOUT)
  p = jnp.asarray(p, jnp.promote_types(jnp.result_type(p), jnp.float32))
  return getattr(kernel, part)(jnp.log(p), jnp.log1p(-p), **params)


def logit_weight(coefficient: ScaleCoefficient | str, p, **params) -> jax.Array:
  """w(p) = p·g(p), the factor that reaches the logits (∂L/∂z = w·∂log p_t/∂z).

  ``coefficient`` is a `ScaleCoefficient` or a catalog name (``"maki"``).
  """
  return _evaluate(coefficient, p, params, "weight")


def scale_coefficient(coefficient: ScaleCoefficient | str, p, **params) -> jax.Array:
  """g(p), evaluated through the same log-space weight the losses use (g = w / p)."""
  p = jnp.asarray(p, jnp.promote_types(jnp.result_type(p), jnp.float32))
  return logit_weight(coefficient, p, **params) / p


def loss_value(coefficient: ScaleCoefficient | str, p, **params) -> jax.Array:
  """L(p) = ∫_p^1 -g(t) dt, the losses' forward value as a function of p."""
  return _evaluate(coefficient, p, params, "value")
