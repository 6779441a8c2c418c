"""From a formula to the runtime's kernel: the symbolic side's half of the one path.

`coefficient` makes a `gradeng.runtime.ScaleCoefficient` from a formula, `derive` derives its
loss. `FormulaBuilder` is the kernel builder `coefficient` attaches: when the runtime asks for a
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

from gradeng.runtime import Domain, ScaleCoefficient, as_domain, is_concrete_number
from gradeng.runtime import InputError
from gradeng.runtime import Kernel
from gradeng.runtime import freeze_params
from gradeng.runtime import quadrature_loss
from gradeng.symbolic._derive import Derivation, derive_coefficient, traced_domains
from gradeng.symbolic._expression import SymbolicForm, expression, weight_expression
from gradeng.symbolic._jaxify import NotJaxifiable, log_space_function
from gradeng.symbolic._parse import (FormulaError, _check_param_names, parse_formula,
                                     read_variable)
from gradeng.symbolic._properties import NONNEGATIVE_LOSS
from gradeng.symbolic._stabilize import stable_closed_form, stable_weight
from gradeng.symbolic._variable import SymbolicVariable, as_variable, to_runtime

Variable = SymbolicVariable

#: Relative error a derived closed form may show against quadrature before it is rejected.
CLOSED_FORM_TOLERANCE = 1e-5
#: Wall-clock seconds building a loss from a user formula waits for SymPy's derivation. Past it,
#: the loss is built on quadrature at once (the forward method says so) instead of blocking on a
#: derivation that may end in quadrature anyway; ``gradeng.derive(..., timeout=None)`` run once
#: ahead of time caches the closed form on disk for every later build.
DERIVATION_TIMEOUT = 20.0

_CHECK_LOGITS = np.linspace(-40.0, 40.0, 321)


@dataclasses.dataclass(frozen=True, eq=False)
class FormulaBuilder(SymbolicForm):
  """The kernel builder of a coefficient made from a formula (see `gradeng.runtime.KernelBuilder`):
  its `SymbolicForm` (``expr``, ``variable``) compiled to a kernel when the runtime asks."""

  def kernel(self, coefficient: ScaleCoefficient, params: Mapping[str, Any],
             timeout: Any = ...) -> tuple[Kernel, str]:
    return _kernel(coefficient, freeze_params(params),
                   DERIVATION_TIMEOUT if timeout is ... else timeout)

  def traced_domains(self, coefficient: ScaleCoefficient,
                     params: Mapping[str, Any]) -> Mapping[str, Domain]:
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
  params = dict(frozen_params)
  names = list(coefficient.params)
  weight = coefficient.weight  # hand-written, or generated from g
  if weight is None:
    weight = log_space_function(weight_expression(expression(coefficient)), names)
  if coefficient.loss is not None:
    return Kernel(coefficient.loss, weight, coefficient.name), "closed form (catalog)"
  value, method = quadrature_loss(weight), "quadrature"
  if all(is_concrete_number(v) for v in params.values()):
    derivation = derive_coefficient(coefficient, timeout=timeout, **params)
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


def coefficient(formula: str | sp.Expr, *, name: str | None = None,
                params: Mapping[str, Domain | str] | None = None,
                defaults: Mapping[str, float] | None = None,
                variable: Variable | str | None = None,
                reference: str | float | sp.Expr | None = None) -> ScaleCoefficient:
  """A `ScaleCoefficient` from a formula for g(p) = dL/dp (or a pair weight dφ/ds, dφ/dd).

  Args:
    formula: g as text (parsed safely by `parse_formula`) or a SymPy expression in
      `gradeng.runtime._coefficient.P`.
    name: the coefficient's name; defaults to the formula text.
    params: parameter name -> `Domain` or domain name (``"real"``, ``"nonnegative"``,
      ``"positive"``, ``"nonnegative_integer"``, ``"unit_interval"``). Parameters that the formula
      uses but that are not declared here are ``"real"``.
    defaults: default parameter values, checked against the domains.
    variable: what g is the derivative with respect to: ``"p"`` (default; L(1) = 0),
      ``"s"`` (a similarity in [-1, 1], φ(-1) = 0), ``"d"`` (a distance ≥ 0, φ(0) = 0) or a
      `gradeng.runtime._variable.Variable`.
    reference: another point where the loss is 0 (a number or a formula in the parameters,
      e.g. ``"m"`` for a margin); parsed like the formula.

  Returns:
    The coefficient; its symbols carry SymPy assumptions from the domains.

  Raises:
    FormulaError: the formula is invalid.
    InputError: a default for an unknown parameter, not a number or outside its domain; an
      unknown variable.

  Example:
    >>> coefficient("-(1-p)**gamma/p", name="maki", params={"gamma": "nonnegative"}).params
    {'gamma': Domain(lower=0.0, upper=None, lower_open=False, upper_open=False, integer=False)}
  """
  declared = {key: as_domain(value) for key, value in dict(params or {}).items()}
  variable = read_variable(variable, declared)
  _check_param_names(declared, variable.name)
  if reference is not None:
    if isinstance(reference, str):
      reference = parse_formula(reference, domains=declared, variable=variable)
    variable = variable.with_reference(reference)
  if isinstance(formula, str):
    expr = parse_formula(formula, domains=declared, variable=variable)
    label = formula.strip()
  elif isinstance(formula, sp.Expr):
    expr = formula
    label = str(formula)
  else:
    raise FormulaError(f"a formula must be a string or SymPy expression; got "
                       f"{type(formula).__name__}.")
  used = sorted(s.name for s in expr.free_symbols | variable.reference.free_symbols
                if s.name != variable.name)
  domains = {**{key: as_domain("real") for key in used}, **declared}
  for key in dict(defaults or {}):
    if key not in domains:
      raise InputError(f"default for unknown parameter `{key}`; `{name or label}` takes "
                       f"{sorted(domains)}.")
  if not expr.has(variable.symbol):
    warnings.warn(f"g = {expr} does not depend on `{variable.name}` "
                  f"({variable.description or 'the variable'}): is `{variable.name}` spelled as "
                  f"in the formula? Its names {used} are taken as parameters.", UserWarning,
                  stacklevel=2)
  coef = formula_coefficient(name or label, expr, formula=label, params=domains,
                             defaults=dict(defaults or {}), variable=variable)
  for key, value in coef.defaults.items():
    try:
      number = float(value)
    except (TypeError, ValueError):
      raise InputError(f"default `{key}` of `{coef.name}` must be a number; got {value!r}.") from None
    if not coef.params[key].contains(number):
      raise InputError(f"default `{key}` = {value!r} of `{coef.name}` must be "
                       f"{coef.params[key].describe()}.")
  return coef


def derive(formula_or_coefficient: str | sp.Expr | ScaleCoefficient, *,
           variable: Variable | SymbolicVariable | str | None = None,
           timeout: float | None = None, progress: Callable[[str], None] | None = None,
           **params: Any) -> Derivation:
  """Derive the loss L(p) = ∫_p^1 -g(t) dt (L(1) = 0) from a scale coefficient g = dL/dp.

  The same machinery integrates a coefficient over another variable (issue 11): a pair weight
  w(s) = dφ/ds on a similarity s ∈ [-1, 1] gives φ(s) = ∫_{-1}^s w(t) dt, one on a distance
  d ≥ 0 gives φ(d) = ∫_0^d w(t) dt; the variable, its domain and the reference point where the
  loss is 0 are data (`gradeng.runtime._variable.Variable`), e.g. a margin
  ``Variable("d", 0, oo, reference=m)``.

  Args:
    formula_or_coefficient: a `ScaleCoefficient`, a SymPy expression in ``p`` or a formula
      string (parsed safely, see `gradeng.parse_formula`; parameters are then ``real``).
    variable: for a formula, the variable it is in: ``"p"`` (default), ``"s"``, ``"d"`` or a
      `Variable` (a `ScaleCoefficient` carries its own).
    timeout: wall-clock seconds to wait for SymPy (None: its own per-step limits only, see
      `gradeng.symbolic._limits`); past it the derivation gives up with a note and
      ``method == "numeric"``.
    progress: called with each step SymPy is on (``gradeng derive`` prints them).
    **params: numeric parameter values to substitute exactly (2.5 -> 5/2), checked against the
      coefficient's domains; parameters not given stay symbolic.

  Returns:
    A `Derivation`: ``.loss`` (closed form or ``None``), ``.verified``, ``.properties``,
    ``.latex()``.

  Raises:
    DivergentIntegralError: ∫_p^1 -g diverges at p = 1 (e.g. g = -1/(1-p)).
    ValueError: unknown parameters, values outside their domains, g not continuous on (0,1).
    gradeng.FormulaError: an invalid formula.

  Example:
    >>> derive("-(1-p)**gamma/p", gamma=2).loss
    p - (1 - p)**2/2 - log(p) - 1
  """
  coef, notes = formula_or_coefficient, ()
  if not isinstance(coef, ScaleCoefficient):
    coef = coefficient(coef, variable=variable)
    variable = None
    if coef.params:  # a misspelt variable silently became a parameter
      notes = (f"parameters found in the formula: {sorted(coef.params)} (undeclared: real); "
               "use `gradeng.coefficient(..., params=...)` to declare their domains",)
  return derive_coefficient(coef, variable=variable, timeout=timeout, progress=progress,
                            notes=notes, **params)
