"""The one path from a scale coefficient to a JAX loss: `loss_from_coefficient`.

A coefficient becomes a `Kernel` (log-space value L and weight w = p·g), and the kernel is
applied to logits by `gradeng.runtime.apply_kernel`, which injects the derivative. The catalog
losses are this path applied to catalog coefficients (hand-written log-space forms); a
coefficient made from a formula brings its own kernel builder from `gradeng.symbolic` (derived,
stabilised and checked ahead of time); a weight alone is integrated by quadrature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from gradeng.runtime._coefficient import ScaleCoefficient, is_concrete_number
from gradeng.runtime._errors import InputError
from gradeng.runtime._inject import Kernel, LossFunction, apply_kernel, poison
from gradeng.runtime._quadrature import quadrature_loss


@functools.lru_cache(maxsize=256)
def _kernel(coefficient: ScaleCoefficient, frozen_params: tuple,
            timeout: Any = ...) -> tuple[Kernel, str]:
  if coefficient.weight is not None and coefficient.loss is not None:
    return Kernel(coefficient.loss, coefficient.weight, coefficient.name), "closed form (catalog)"
  if coefficient.builder is not None:  # a formula: compiled by gradeng.symbolic
    return coefficient.builder.kernel(coefficient, dict(frozen_params), timeout)
  return Kernel(quadrature_loss(coefficient.weight), coefficient.weight, coefficient.name), "quadrature"


def freeze_params(params: Mapping[str, Any]) -> tuple:
  """Parameters as a hashable key: traced values are keyed by name only (a kernel never
  specialises on them, so any placeholder works).

  Args:
    params: parameter name -> value (numbers, or JAX arrays that may be traced).

  Returns:
    A sorted tuple of ``(name, value)`` pairs, non-numbers replaced by ``"<traced>"``.

  Example:
    >>> import jax.numpy as jnp
    >>> from gradeng.runtime import freeze_params
    >>> freeze_params({"gamma": 2.0, "alpha": jnp.float32(0.5)})
    (('alpha', '<traced>'), ('gamma', 2.0))
  """
  return tuple(sorted((k, v if is_concrete_number(v) else "<traced>") for k, v in params.items()))


def coefficient_kernel(coefficient: ScaleCoefficient, params: Mapping[str, Any],
                       timeout: Any = ...) -> tuple[Kernel, str]:
  """The `Kernel` a coefficient runs on for these (resolved) parameters, and how its forward
  value is computed (``"closed form (catalog)"``, ``"quadrature"``, …). Cached.

  Args:
    coefficient: the `ScaleCoefficient`.
    params: its resolved parameters (`ScaleCoefficient.resolve_params`).
    timeout: the derivation time limit for a formula coefficient (``...``: the default).

  Returns:
    ``(kernel, forward_method)``; ``kernel.value`` and ``kernel.weight`` are L and w as
    functions of ``(log_p, log_q, **params)``.

  Example:
    >>> import math
    >>> import gradeng as ge
    >>> kernel, method = ge.runtime.coefficient_kernel(ge.FOCAL, {"gamma": 2.0})
    >>> method
    'closed form (catalog)'
    >>> round(float(kernel.value(math.log(0.5), math.log(0.5), gamma=2.0)), 4)  # focal L(0.5)
    0.1733
  """
  return _kernel(coefficient, freeze_params(params), timeout)


def loss_from_coefficient(
    coefficient: ScaleCoefficient, *, head: str = "sigmoid",
    derive_timeout: float | None = ..., **params: Any
) -> LossFunction:
  """A JAX loss ``f(logits, labels, *, alpha=None, where=None, …, **params)`` from g(p).

  The backward pass is exactly g(p_t)·∂p_t/∂z, computed in log space (w = p·g); the forward
  value is the coefficient's stable closed form when it has one, else the SymPy-derived closed
  form if it matches quadrature to `CLOSED_FORM_TOLERANCE` over logits in [-40, 40], else the
  quadrature L(p) = ∫_0^{-log p} -w(e^{-s}) ds. The choice is in ``f.forward_method``.

  For a coefficient made from a formula (`gradeng.coefficient`), the kernel comes from its
  builder in `gradeng.symbolic`: the derivation and its float64 check are an ahead-of-time step
  on constants, cached per (coefficient, Python-number parameters), so building a loss inside
  `jax.jit` works. Python-number
  parameters are static (the kernel specialises on them: Maki γ = 1 compiles without digamma);
  JAX values are differentiable inputs (``jax.grad`` w.r.t. γ, second derivatives included).

  Args:
    coefficient: the scale coefficient (see `gradeng.coefficient` to build one from a formula).
    head: ``"sigmoid"`` (binary / multi-label) or ``"softmax"`` (multi-class).
    derive_timeout: wall seconds to wait for SymPy to derive a user formula's closed form
      (``...``, the default: `gradeng.symbolic.DERIVATION_TIMEOUT`; None: no limit but SymPy's
      own). Past it the
      loss is built on quadrature, and ``forward_method`` says so; a derivation cached on disk
      (by an earlier build or by `gradeng.derive`) is used at once whatever the limit.
    **params: hyper-parameters (e.g. ``gamma=2``); Python numbers are checked against their
      domains now, JAX values make the loss (and its gradient) NaN where they are out of domain.
      They may also be given, or overridden, when the loss is called: ``f(z, y, gamma=3.0)``.

  Returns:
    The per-element loss function; its keyword arguments (``alpha``, ``where``,
    ``ignore_index``, ``axis``, ``broadcast``, ``soft_labels``) are those of
    `gradeng.runtime.apply_kernel`.

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> qce = ge.loss_from_coefficient(ge.coefficient("log(p)/p"))
    >>> float(qce(jnp.array([0.0]), jnp.array([1]))[0])  # log(1/2)^2 / 2
    0.2402265...
  """
  given = dict(params)
  params = coefficient.resolve_params(given)
  kernel, method = coefficient_kernel(coefficient, params, derive_timeout)
  traced = {k: v for k, v in params.items() if not is_concrete_number(v)}
  domains = coefficient.params
  if traced and coefficient.loss is None and coefficient.builder is not None:
    domains = coefficient.builder.traced_domains(coefficient, params)  # where ∫_p^1 -g converges

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

  Example:
    Maki's g with γ = β = 1 written in JAX matches the catalog's closed form:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> f = ge.loss_from_gradient(lambda p, beta: -(1 - p)**beta / p, beta=1.0, name="maki1")
    >>> z, y = jnp.array([0.0, 2.0]), jnp.array([1, 1])
    >>> print(np.asarray(f(z, y), float).round(4))
    [0.1931 0.0077]
    >>> print(np.asarray(ge.maki_loss(z, y, gamma=1), float).round(4))
    [0.1931 0.0077]
    >>> print(np.asarray(f(z, y, beta=0.0), float).round(4))  # β = 0: cross-entropy
    [0.6931 0.1269]
    >>> f.__name__, f.forward_method
    ('maki1_loss', 'quadrature')
  """

  def weight(log_p, log_q, **kw):
    del log_q
    p = jnp.exp(log_p)
    return p * scale_fn(p, **kw)

  kernel = Kernel(quadrature_loss(weight), weight, name, uses_log_q=False)

  def rebuild(hyper):
    unknown = set(hyper) - set(params)
    if unknown:
      raise TypeError(
          f"Loss `{name}` got unknown parameter(s) {sorted(unknown)} when called; it was built "
          f"with {sorted(params)} (`loss_from_gradient(..., name=value)` declares them)."
      )
    return _bind(kernel, "quadrature", head, {**params, **hyper}, rebuild)

  return _bind(kernel, "quadrature", head, params, rebuild)
