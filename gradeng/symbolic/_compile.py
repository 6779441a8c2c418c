"""From a coefficient's formula to the runtime's kernel: the symbolic side's half of the one path.

`expression` reads a `gradeng.runtime.ScaleCoefficient` as SymPy (its formula parsed with the
parameter domains, or the expression a formula coefficient was built from). `FormulaBuilder` is
the kernel builder `gradeng.coefficient` attaches to a coefficient: when the runtime asks for a
kernel it derives L (cached), rewrites w = p·g and L onto stable log-space primitives, checks
the closed form in float32 against float64 quadrature over logits ±40 and falls back to
quadrature where it does not hold. The runtime only evaluates what it is given.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from gradeng.runtime._coefficient import Domain, ScaleCoefficient, is_concrete_number
from gradeng.runtime._inject import Kernel
from gradeng.runtime._losses import freeze_params
from gradeng.runtime._quadrature import quadrature_loss
from gradeng.symbolic._variable import P, SymbolicVariable, as_variable, to_runtime

#: Relative error a derived closed form may show against quadrature before it is rejected.
CLOSED_FORM_TOLERANCE = 1e-5
#: Wall-clock seconds building a loss from a user formula waits for SymPy's derivation. Past it,
#: the loss is built on quadrature at once (the forward method says so) instead of blocking on a
#: derivation that may end in quadrature anyway; ``gradeng.derive(..., timeout=None)`` run once
#: ahead of time caches the closed form on disk for every later build.
DERIVATION_TIMEOUT = 20.0

_CHECK_LOGITS = np.linspace(-40.0, 40.0, 321)


@dataclasses.dataclass(frozen=True, eq=False)
class FormulaBuilder:
  """The kernel builder of a coefficient made from a formula (see `gradeng.runtime.KernelBuilder`).

  Attributes:
    expr: g as a SymPy expression in the variable's symbol and the parameter symbols.
    variable: the variable with its exact bounds and reference.
  """

  expr: sp.Expr
  variable: SymbolicVariable

  def kernel(self, coefficient: ScaleCoefficient, params: Mapping[str, Any],
             timeout: Any = ...) -> tuple[Kernel, str]:
    return _kernel(coefficient, freeze_params(params),
                   DERIVATION_TIMEOUT if timeout is ... else timeout)

  def traced_domains(self, coefficient: ScaleCoefficient,
                     params: Mapping[str, Any]) -> Mapping[str, Domain]:
    from gradeng.symbolic._derive import traced_domains  # _derive imports this module

    return traced_domains(coefficient, freeze_params(params))


def formula_coefficient(name: str, expr: sp.Expr, *, formula: str | None = None,
                        params: Mapping[str, Domain] | None = None,
                        defaults: Mapping[str, float] | None = None,
                        variable: SymbolicVariable | None = None, **fields: Any) -> ScaleCoefficient:
  """A runtime `ScaleCoefficient` for a SymPy g, with a `FormulaBuilder` for its kernel.

  ``formula`` is the text shown for g (default: SymPy's printing of ``expr``); ``fields`` are
  the coefficient's other fields (``weight``, ``loss``, ``latex_name``, ``reference``).
  """
  variable = as_variable(variable)
  return ScaleCoefficient(
      name=name, formula=formula if formula is not None else sp.sstr(expr),
      params=dict(params or {}), defaults=dict(defaults or {}), variable=to_runtime(variable),
      builder=FormulaBuilder(expr, variable), **fields)


@functools.lru_cache(maxsize=256)
def _parsed(coefficient: ScaleCoefficient) -> tuple[sp.Expr, SymbolicVariable]:
  from gradeng.symbolic._parse import parse_formula  # the parser builds coefficients with this module

  if isinstance(coefficient.builder, FormulaBuilder):
    return coefficient.builder.expr, coefficient.builder.variable
  if coefficient.formula is None:
    raise ValueError(f"coefficient `{coefficient.name}` has no formula for g; the symbolic side "
                     "needs one (e.g. formula='-(1-p)**gamma/p').")
  variable = as_variable(coefficient.variable, coefficient.params)
  expr = parse_formula(coefficient.formula, params=coefficient.params,
                       domains=coefficient.params, variable=variable)
  return expr, variable


def expression(coefficient: ScaleCoefficient) -> sp.Expr:
  """g of a coefficient as a SymPy expression (its formula parsed with the parameter domains'
  assumptions; cached).

  Example:
    >>> import gradeng as ge
    >>> expression(ge.MAKI)
    -(1 - p)**gamma/p
  """
  return _parsed(coefficient)[0]


def symbolic_variable(coefficient: ScaleCoefficient) -> SymbolicVariable:
  """The coefficient's variable with exact bounds and reference (see `SymbolicVariable`)."""
  return _parsed(coefficient)[1]


def parameter_symbols(coefficient: ScaleCoefficient) -> dict[str, sp.Symbol]:
  """Parameter name -> the SymPy symbol used in `expression` (parameters g does not use get a
  plain symbol)."""
  by_name = {s.name: s for s in expression(coefficient).free_symbols}
  return {name: by_name.get(name, sp.Symbol(name)) for name in coefficient.params}


def substitute(coefficient: ScaleCoefficient, **values: Any) -> sp.Expr:
  """g with the given parameters substituted (exact rationals/integers), defaults filled in.

  Example:
    >>> import gradeng as ge
    >>> substitute(ge.FOCAL, gamma=0)
    -1/p
  """
  values = coefficient.resolve_params(values)
  symbols = parameter_symbols(coefficient)
  subs = {symbols[k]: sp.nsimplify(v) for k, v in values.items() if is_concrete_number(v)}
  return expression(coefficient).subs(subs)


def weight_expression(g: sp.Expr) -> sp.Expr:
  """w = p·g with p distributed over the top-level sum only, so that SymPy's automatic
  p·p^{-1} = 1 cancels while factors such as (1 - p)^2 stay unexpanded (expanding them would
  cancel catastrophically as p → 1)."""
  if g.is_Add:
    return sp.Add(*(weight_expression(term) for term in g.args))
  return P * g


def _closed_form_error(value: Callable, weight: Callable, params: Mapping[str, Any]) -> float:
  """Max relative error of a float32 closed form against float64 quadrature on logits ±40.

  Runs on constants only (the grid and Python-number parameters), evaluated eagerly even while
  a caller is being traced by `jax.jit`, so a loss can be built inside a jitted function.
  """
  with jax.ensure_compile_time_eval():
    with jax.enable_x64(True):
      z64 = jnp.asarray(_CHECK_LOGITS, jnp.float64)
      reference = np.asarray(quadrature_loss(weight)(jax.nn.log_sigmoid(z64), None, **params))
    z32 = jnp.asarray(_CHECK_LOGITS, jnp.float32)
    got = np.asarray(value(jax.nn.log_sigmoid(z32), jax.nn.log_sigmoid(-z32), **params), np.float64)
  normal = np.abs(reference) > np.finfo(np.float32).tiny / np.finfo(np.float32).eps
  if not np.all(np.isfinite(got[normal])):
    return math.inf
  return float(np.max(np.abs(got[normal] - reference[normal]) / np.abs(reference[normal]), initial=0.0))


class NegativeLossWarning(UserWarning):
  """A coefficient whose loss L = ∫_p^1 -g is negative somewhere on (0, 1): minimising it lowers
  p there, training the wrong way (usually a sign mistake in g)."""


def _warn_if_negative(coefficient: ScaleCoefficient, derivation: Any) -> None:
  from gradeng.symbolic._properties import NONNEGATIVE_LOSS  # _properties imports _derive

  check = next((c for c in derivation.properties if c.name == NONNEGATIVE_LOSS), None)
  if check is not None and check.holds is False:
    warnings.warn(NegativeLossWarning(
        f"the loss of `{coefficient.name}` (g = {derivation.g}) is negative on part of (0, 1): "
        f"{check.evidence}. Minimising it lowers p there, training the wrong way; a loss's g is "
        "≤ 0 where it should push p up (cross-entropy: g = -1/p). Silence this warning only if "
        "that is what you mean."), stacklevel=7)


@functools.lru_cache(maxsize=256)
def _kernel(coefficient: ScaleCoefficient, frozen_params: tuple,
            timeout: float | None) -> tuple[Kernel, str]:
  from gradeng.symbolic._derive import derive  # _derive imports this module
  from gradeng.symbolic._jaxify import NotJaxifiable, log_space_function
  from gradeng.symbolic._stabilize import stable_closed_form, stable_weight

  params = dict(frozen_params)
  names = list(coefficient.params)
  weight = coefficient.weight  # hand-written, or generated from g
  if weight is None:
    weight = log_space_function(weight_expression(expression(coefficient)), names)
  if coefficient.loss is not None:
    return Kernel(coefficient.loss, weight, coefficient.name), "closed form (catalog)"
  value, method = quadrature_loss(weight), "quadrature"
  if all(is_concrete_number(v) for v in params.values()):
    derivation = derive(coefficient, timeout=timeout, **params)
    _warn_if_negative(coefficient, derivation)
    if derivation.verification == "gave up (time limit)":
      method = (f"quadrature (SymPy stopped after {timeout:g} s; `gradeng.derive(..., "
                "timeout=None)` derives and caches a closed form for later builds)")
    weight = stable_weight(derivation.g, weight, params)  # w = p·g, no cancellation (backward)
    value = quadrature_loss(weight)
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
