"""From a formula to the runtime's kernel: the symbolic side's half of the one path.

`coefficient` makes a `gradeng.runtime.ScaleCoefficient` from a formula, `derive` derives its
loss. `FormulaBuilder` is the kernel builder `coefficient` attaches: when the runtime asks for a
kernel it derives L (cached), rewrites w = p·g and L onto stable log-space primitives, checks
the closed form in float32 against float64 quadrature over logits ±40 and falls back to
quadrature where it does not hold; which programs it chose is kept on disk, so that a later
build (in a new process too) builds them again without measuring. The runtime only evaluates
what it is given.
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

from gradeng.runtime import (Domain, InputError, Kernel, ScaleCoefficient, Variable, as_domain,
                             freeze_params, is_concrete_number, quadrature_loss)
from gradeng.symbolic import _cache as _cache
from gradeng.symbolic._approximant import CHECK_LOGITS as APPROXIMANT_LOGITS
from gradeng.symbolic._approximant import Approximant, Piece, approximant, approximant_function
from gradeng.symbolic._derive import Derivation, derive_coefficient, traced_domains
from gradeng.symbolic._expression import (SymbolicForm, expression, symbolic_variable,
                                          weight_expression)
from gradeng.symbolic._jaxify import NotJaxifiable, log_space_function
from gradeng.symbolic._parse import (FormulaError, _check_param_names, parse_formula,
                                     read_variable)
from gradeng.symbolic._properties import NONNEGATIVE_LOSS
from gradeng.symbolic._stabilize import (choose_weight, stabilize, stable_method, stable_program,
                                         weight_program)
from gradeng.symbolic._variable import P, PROBABILITY, SymbolicVariable, as_variable, to_runtime


#: Relative error a derived closed form may show against quadrature before it is rejected.
CLOSED_FORM_TOLERANCE = 1e-5
#: Wall-clock seconds building a loss from a user formula waits for SymPy's derivation: None, so
#: that the kernel a formula gets does not depend on the machine's load. The derivation is bounded
#: by SymPy's own work instead (`gradeng.symbolic._limits`), and its outcome, "no closed form"
#: included, is cached on disk. A build given a number (``derive_timeout=``, interactive use) stops
#: SymPy past it and builds without a closed form (``forward_method`` says so); that outcome is
#: not cached.
DERIVATION_TIMEOUT: float | None = None

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


def _quadrature_reference(weight: Callable, params: Mapping[str, Any]) -> np.ndarray:
  """L by float64 quadrature of the weight on `_CHECK_LOGITS` (the closed forms' reference).

  Runs on constants only (the grid and Python-number parameters), evaluated eagerly even while
  a caller is being traced by `jax.jit`, so a loss can be built inside a jitted function; one
  compiled program, not one per primitive.
  """
  with jax.ensure_compile_time_eval():
    with jax.enable_x64(True):
      z64 = jnp.asarray(_CHECK_LOGITS, jnp.float64)
      return np.asarray(jax.jit(lambda log_p: quadrature_loss(weight)(log_p, None, **params))(
          jax.nn.log_sigmoid(z64)))


def _closed_form_error(value: Callable, reference: np.ndarray, params: Mapping[str, Any]) -> float:
  """Max relative error of a float32 closed form against the float64 quadrature ``reference``
  (`_quadrature_reference`) on logits ±40."""
  with jax.ensure_compile_time_eval():
    z32 = jnp.asarray(_CHECK_LOGITS, jnp.float32)
    got = np.asarray(jax.jit(lambda log_p, log_q: value(log_p, log_q, **params))(
        jax.nn.log_sigmoid(z32), jax.nn.log_sigmoid(-z32)), np.float64)
  normal = np.abs(reference) > np.finfo(np.float32).tiny / np.finfo(np.float32).eps
  if not np.all(np.isfinite(got[normal])):
    return math.inf
  return float(np.max(np.abs(got[normal] - reference[normal]) / np.abs(reference[normal]), initial=0.0))


class NegativeLossWarning(UserWarning):
  """A coefficient whose loss L = ∫_p^1 -g is negative somewhere on (0, 1): minimising it lowers
  p there, training the wrong way (usually a sign mistake in g).

  Example:
    >>> import warnings, gradeng as ge
    >>> with warnings.catch_warnings(record=True) as caught:
    ...   warnings.simplefilter("always")
    ...   loss = ge.loss_from_coefficient(ge.coefficient("(1-p)/p"))  # the sign of CE's g flipped
    >>> [type(w.message).__name__ for w in caught]
    ['NegativeLossWarning']
  """


def _nonnegative(derivation: Derivation) -> tuple[bool | None, str]:
  """(holds, evidence) of the L ≥ 0 property, kept on disk with the derivation (computing it
  starts the SymPy worker, which a build from the cache should not need)."""
  name = _cache.key("nonnegative loss", derivation.g, derivation.loss,
                    tuple(sorted(derivation.coefficient.defaults.items())))
  entry = _cache.load(name)
  if isinstance(entry, dict) and entry.get("holds") in (True, False, None) and isinstance(
      entry.get("evidence"), str):
    return entry["holds"], entry["evidence"]
  check = next((c for c in derivation.properties if c.name == NONNEGATIVE_LOSS), None)
  found = (None, "") if check is None else (check.holds, check.evidence)
  _cache.store(name, {"holds": found[0], "evidence": found[1]})
  return found


def _warn_if_negative(coefficient: ScaleCoefficient, derivation: Any) -> None:
  holds, evidence = _nonnegative(derivation)
  if holds is False:
    warnings.warn(NegativeLossWarning(
        f"the loss of `{coefficient.name}` (g = {derivation.g}) is negative on part of (0, 1): "
        f"{evidence}. Minimising it lowers p there, training the wrong way; a loss's g is "
        "≤ 0 where it should push p up (cross-entropy: g = -1/p). Silence this warning only if "
        "that is what you mean."), stacklevel=7)


#: Float32 relative error (logits ±40) of the forms preferred first: the issue's target. Forms
#: within `CLOSED_FORM_TOLERANCE` only are taken when none reaches it.
TARGET_TOLERANCE = 2e-6
#: Weight of a transcendental primitive in `kernel_cost` (an add or multiply weighs 1).
TRANSCENDENTAL_COST = 10
#: Times a loop body is counted in `kernel_cost` (its trip count is not known from the jaxpr).
LOOP_COST = 10
_TRANSCENDENTAL = frozenset({
    "exp", "exp2", "log", "log1p", "expm1", "pow", "sin", "cos", "tan", "asin", "acos", "atan",
    "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "logistic", "erf", "erfc",
    "erf_inv", "lgamma", "digamma", "polygamma", "igamma", "igammac", "igamma_grad_a", "zeta",
    "bessel_i0e", "bessel_i1e", "sqrt", "rsqrt", "cbrt"})


def _jaxpr_cost(jaxpr: Any) -> int:
  total = 0
  for equation in jaxpr.eqns:
    name = equation.primitive.name
    inner = 0
    for value in equation.params.values():
      for item in value if isinstance(value, (tuple, list)) else (value,):
        sub = getattr(item, "jaxpr", None)
        if sub is not None and hasattr(sub, "eqns"):
          inner += _jaxpr_cost(sub)
        elif hasattr(item, "eqns"):
          inner += _jaxpr_cost(item)
    if name in ("while", "scan"):
      total += LOOP_COST * inner
    elif inner:
      total += inner
    else:
      total += TRANSCENDENTAL_COST if name in _TRANSCENDENTAL else 1
  return total


def kernel_cost(value: Callable, params: Mapping[str, Any]) -> int:
  """A deterministic cost of a log-space loss ``value(log_p, log_q, **params)``: the primitives
  of its jaxpr on float32 inputs, a transcendental one (exp, log, …) counted
  `TRANSCENDENTAL_COST` times and a loop body `LOOP_COST` times (sub-jaxprs are entered).

  Wall-clock timing would make the choice of a kernel depend on the machine's load; this count
  is the same everywhere.
  """
  x = jax.ShapeDtypeStruct((8,), jnp.float32)
  with jax.ensure_compile_time_eval():
    closed = jax.make_jaxpr(lambda log_p, log_q: value(log_p, log_q, **params))(x, x)
  return _jaxpr_cost(closed.jaxpr)


def _approximant_error(value: Callable, reference: tuple[float, ...]) -> float:
  """Max float32 relative error of an approximant against its mpmath references at
  `gradeng.symbolic._approximant.CHECK_LOGITS` (values below float32's normal range skipped)."""
  with jax.ensure_compile_time_eval():
    z = jnp.asarray(APPROXIMANT_LOGITS, jnp.float32)
    # One compiled program, not one per primitive as eager evaluation would compile.
    got = np.asarray(jax.jit(value)(jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)), np.float64)
  want = np.asarray(reference, np.float64)
  normal = np.abs(want) > 1e1 * np.finfo(np.float32).tiny
  if not np.all(np.isfinite(got[normal])):
    return math.inf
  return float(np.max(np.abs(got[normal] - want[normal]) / np.abs(want[normal]), initial=0.0))


@dataclasses.dataclass(frozen=True)
class _Candidate:
  value: Callable
  method: str
  error: float
  cost: int
  recipe: dict[str, Any]  # how to build `value` again without measuring (see `_kernel`)

  @property
  def tier(self) -> int:
    return 0 if self.error <= TARGET_TOLERANCE else 1


def _closed_forms(derivation: Derivation, weight: Callable, names: list[str],
                  params: Mapping[str, Any]) -> list[_Candidate]:
  """The derived closed form and its stabilised rewrite, each where it passes
  `CLOSED_FORM_TOLERANCE` against float64 quadrature of the weight."""
  forms = []
  stable = stabilize(derivation.g, derivation.loss)
  if stable is not None:
    forms.append((stable.value, stable_method(stable.near, stable.far),
                  {"form": "stabilised", "near": stable.near, "far": stable.far}))
  if stable is None or forms[0][1] != "closed form (derived)":
    try:
      forms.append((log_space_function(derivation.loss, names), "closed form (derived)",
                    {"form": "derived"}))
    except NotJaxifiable:
      pass
  out = []
  reference = _quadrature_reference(weight, params) if forms else None
  for value, method, recipe in forms:
    error = _closed_form_error(value, reference, params)
    if error <= CLOSED_FORM_TOLERANCE:
      out.append(_Candidate(value, method, error, kernel_cost(value, params), recipe))
  return out


def _approximant_candidate(g: sp.Expr) -> tuple[_Candidate | None, str]:
  fitted, note, reference = approximant(g)
  if fitted is None:
    return None, note
  value = approximant_function(fitted)
  name = _cache.key("approximant float32 error", g, jax.__version__)
  entry = _cache.load(name)
  error = entry.get("error") if isinstance(entry, dict) else None
  if not isinstance(error, float):
    error = _approximant_error(value, reference)
    _cache.store(name, {"error": error})
  if error > CLOSED_FORM_TOLERANCE:
    return None, f"approximant refused: float32 error {error:.1e} > {CLOSED_FORM_TOLERANCE:g}"
  return _Candidate(value, f"approximant ({fitted.describe()})", error,
                    kernel_cost(value, {}), {"form": "approximant"}), note


@functools.lru_cache(maxsize=1)
def _cheapest_approximant_cost() -> int:
  """`kernel_cost` of the cheapest approximant a fit can give (degree 4 on both pieces, no
  closed-form terms): a closed form that costs no more than this is taken without fitting one;
  any other is fitted and the cheaper of the two accurate ones is taken."""
  cheapest = Approximant(0.5, (1, 1), Piece(1, 0.5, (1.0,) * 5), (), Piece(1, 0.5, (1.0,) * 5),
                         0.0, 1.0)
  return kernel_cost(approximant_function(cheapest), {})


#: The modules whose code decides which programs a kernel is made of: part of the key of a
#: cached choice (`_kernel`), with those of the derivation (`gradeng.symbolic._cache`).
_KERNEL_SOURCES = ("gradeng.symbolic._compile", "gradeng.symbolic._stabilize",
                   "gradeng.symbolic._jaxify", "gradeng.symbolic._functions",
                   "gradeng.symbolic._expression", "gradeng.runtime._special",
                   "gradeng.runtime._trigonometry", "gradeng.runtime._quadrature")


def _rebuild(recipe: Any, derivation: Derivation, default_weight: Callable,
             names: list[str]) -> tuple[Callable, Callable | None, str] | None:
  """(weight, value or None for quadrature, forward method) from a cached choice, built without
  measuring anything; None when the entry does not describe a kernel of this code."""
  try:
    weight = weight_program(derivation.g, default_weight, *recipe["weight"])
    form, method = recipe["loss"]["form"], str(recipe["method"])
    if form == "quadrature":
      return weight, None, method
    if form == "stabilised":
      value = stable_program(derivation.g, derivation.loss, recipe["loss"]["near"],
                             recipe["loss"]["far"])
    elif form == "derived":
      value = log_space_function(derivation.loss, names)
    elif form == "approximant":
      fitted = approximant(derivation.g)[0]
      value = None if fitted is None else approximant_function(fitted)
    else:
      return None
  except (KeyError, TypeError, ValueError, NotJaxifiable):
    return None
  return None if value is None else (weight, value, method)


@functools.lru_cache(maxsize=256)
def _kernel(coefficient: ScaleCoefficient, frozen_params: tuple,
            timeout: float | None) -> tuple[Kernel, str]:
  """The kernel of a formula coefficient: weight w = p·g stabilised (the backward pass), and
  for L the cheapest accurate form.

  Forms: SymPy's closed form, its stabilised rewrite, and the fitted approximant
  (`gradeng.symbolic._approximant`, for Python-number parameters). Those within
  `TARGET_TOLERANCE` in float32 are preferred, then those within `CLOSED_FORM_TOLERANCE`; among
  them the lowest `kernel_cost` wins (a count of primitives, not a timing, so that the choice
  is the same on every machine). The approximant is fitted only when no closed form reaches
  `TARGET_TOLERANCE` or the best one costs more than the cheapest approximant. Quadrature is the
  last resort, and the only path for traced (JAX) parameters.

  The choice (which weight and which form of L, not the programs) is a function of the
  derivation, the parameters and the code, so it is kept on disk beside the derivation
  (`gradeng.symbolic._cache`): a later build, in this process or another, builds the chosen
  programs again without measuring them.
  """
  params = dict(frozen_params)
  names = list(coefficient.params)
  default_weight = coefficient.weight  # hand-written, or generated from g
  if default_weight is None:
    default_weight = log_space_function(weight_expression(expression(coefficient)), names)
  if coefficient.loss is not None:
    return Kernel(coefficient.loss, default_weight, coefficient.name), "closed form (catalog)"
  if not all(is_concrete_number(v) for v in params.values()):
    return (Kernel(quadrature_loss(default_weight), default_weight, coefficient.name),
            "quadrature (traced parameters)")
  derivation = derive_coefficient(coefficient, timeout=timeout, **params)
  _warn_if_negative(coefficient, derivation)
  # Only a choice made on a remembered derivation and on weights generated from g is kept.
  remembered = coefficient.weight is None and derivation.verification != "gave up (time limit)"
  name = _cache.key("kernel", _cache.source_version(_KERNEL_SOURCES), jax.__version__,
                    expression(coefficient), derivation.g, derivation.loss, tuple(names),
                    frozen_params, repr(symbolic_variable(coefficient)))
  built = _rebuild(_cache.load(name), derivation, default_weight, names) if remembered else None
  if built is None:
    built, recipe = _choose(coefficient, derivation, default_weight, names, params, timeout)
    if remembered:
      _cache.store(name, recipe)
  weight, value, method = built
  return Kernel(quadrature_loss(weight) if value is None else value, weight,
                coefficient.name), method


def _choose(coefficient: ScaleCoefficient, derivation: Derivation, default_weight: Callable,
            names: list[str], params: Mapping[str, Any], timeout: float | None
            ) -> tuple[tuple[Callable, Callable | None, str], dict[str, Any]]:
  """The kernel's programs by measurement (see `_kernel`) and the recipe that names them."""
  near, far = choose_weight(derivation.g, default_weight, params)
  weight = weight_program(derivation.g, default_weight, near, far)  # w = p·g, no cancellation
  candidates = [] if derivation.loss is None else _closed_forms(derivation, weight, names, params)
  best = min(candidates, key=lambda c: (c.tier, c.cost), default=None)
  note = ""
  if symbolic_variable(coefficient) == PROBABILITY and not derivation.g.free_symbols - {P} and (
      best is None or best.tier > 0 or best.cost > _cheapest_approximant_cost()):
    fitted, note = _approximant_candidate(derivation.g)
    if fitted is not None:
      candidates.append(fitted)
      best = min(candidates, key=lambda c: (c.tier, c.cost))
  recipe: dict[str, Any] = {"weight": [near, far]}
  if best is not None:
    return (weight, best.value, best.method), {**recipe, "loss": best.recipe,
                                               "method": best.method}
  method = "quadrature" + (f" ({note})" if note else "")
  if derivation.verification == "gave up (time limit)":
    method = (f"quadrature (SymPy stopped after {timeout:g} s; `gradeng.derive(..., "
              "timeout=None)` derives and caches a closed form for later builds)")
  return (weight, None, method), {**recipe, "loss": {"form": "quadrature"}, "method": method}


def coefficient(formula: str | sp.Expr, *, name: str | None = None,
                params: Mapping[str, Domain | str] | None = None,
                defaults: Mapping[str, float] | None = None,
                variable: Variable | SymbolicVariable | str | None = None,
                reference: str | float | sp.Expr | None = None) -> ScaleCoefficient:
  """A `ScaleCoefficient` from a formula for g(p) = dL/dp (or a pair weight dφ/ds, dφ/dd).

  Args:
    formula: g as text (parsed safely by `parse_formula`) or a SymPy expression in
      `gradeng.symbolic.P`.
    name: the coefficient's name; defaults to the formula text.
    params: parameter name -> `Domain` or domain name (``"real"``, ``"nonnegative"``,
      ``"positive"``, ``"nonnegative_integer"``, ``"unit_interval"``). Parameters that the formula
      uses but that are not declared here are ``"real"``.
    defaults: default parameter values, checked against the domains.
    variable: what g is the derivative with respect to: ``"p"`` (default; L(1) = 0),
      ``"s"`` (a similarity in [-1, 1], φ(-1) = 0), ``"d"`` (a distance ≥ 0, φ(0) = 0) or a
      `gradeng.runtime.Variable`.
    reference: another point where the loss is 0 (a number or a formula in the parameters,
      e.g. ``"m"`` for a margin); parsed like the formula.

  Returns:
    The coefficient; its symbols carry SymPy assumptions from the domains.

  Raises:
    FormulaError: the formula is invalid.
    InputError: a default for an unknown parameter, not a number or outside its domain; an
      unknown variable.

  Example:
    >>> from gradeng.symbolic import coefficient
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

  The same machinery integrates a coefficient over another variable: a pair weight
  w(s) = dφ/ds on a similarity s ∈ [-1, 1] gives φ(s) = ∫_{-1}^s w(t) dt, one on a distance
  d ≥ 0 gives φ(d) = ∫_0^d w(t) dt; the variable, its domain and the reference point where the
  loss is 0 are data (`gradeng.runtime.Variable`), e.g. a margin
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
    >>> from gradeng.symbolic import derive
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
