"""Symbolic derivation of a loss from its scale coefficient: `derive` and `Derivation`.

Kilbas & Paringer (2020), §2.1: a loss is fixed by its scale coefficient g(p) = dL/dp and
L(1) = 0,

.. math::
  L(p) = \\int_p^1 -g(t)\\,dt = \\int_0^{1-p} -g(1-u)\\,du .

`derive` finds L in closed form with SymPy where it can (trying the antiderivative in p and the
definite integral in q = 1 - p, each under a time limit), checks dL/dp = g symbolically or at
≥ 20 random points with mpmath, and reports the properties the paper discusses (§2-§3, §7).
Where SymPy cannot integrate, the derivation says so (``method == "numeric"``) and the JAX loss
integrates g numerically. An integral that diverges at p = 1 raises `DivergentIntegralError`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp

from gradeng.symbolic import _cache as _cache
from gradeng.runtime import Domain, ScaleCoefficient, is_concrete_number
from gradeng.symbolic._variable import P
from gradeng.runtime import InputError
from gradeng.symbolic._integrate import (antiderivative_loss, check_convergence, definite_loss,
                                     maki_forms, rank, realify, unevaluated)
from gradeng.symbolic._limits import (ATTEMPT_SECONDS, IMPROVE_SECONDS, NUMERIC_ATTEMPT_SECONDS,
                                      STEP_SECONDS, WorkerTimeout, attempt, gave_up_note,
                                      run_in_worker)
from gradeng.symbolic._mpeval import lerch_to_hyper
from gradeng.symbolic._properties import PropertyCheck, check_properties
from gradeng.symbolic._recognise import Combination, Term, recognise
from gradeng.symbolic._expression import expression, parameter_symbols, symbolic_variable
from gradeng.symbolic._variable import PROBABILITY, as_variable
from gradeng.symbolic._variable import SymbolicVariable as Variable
from gradeng.symbolic._verify import verify


@dataclasses.dataclass(frozen=True)
class _Solution:
  loss: sp.Expr | None
  verified: bool | None
  verification: str
  stable_form: sp.Expr | None
  notes: tuple[str, ...]
  combination: Combination | None = None


def _domains_key(domains: Mapping[str, Domain]) -> tuple[tuple[str, Domain], ...]:
  return tuple(sorted(domains.items()))


_SOLUTIONS: dict[tuple[Any, ...], _Solution] = {}


def _solution(g: sp.Expr, domains_key: tuple[tuple[str, Domain], ...], variable: Variable,
              timeout: float | None, on_progress: Callable[[str], None] | None) -> _Solution:
  """`_solve` in the SymPy worker, remembered for this process (catalog, figures and reports
  ask repeatedly) and on disk (`gradeng.symbolic._cache`, ``$GRADENG_CACHE_DIR``), so that a new
  process does not derive again.

  Every outcome of `_solve` is remembered, "no closed form found" included: `_solve` is bounded
  by SymPy's own work (`gradeng.symbolic._limits`), not by time, so its outcome is the same on a
  quiet and on a loaded machine and a second build of a formula SymPy cannot integrate costs
  nothing. A task past the worker's CPU-time backstop is remembered the same way (no closed
  form). Only ``timeout`` (wall seconds, for interactive use) makes the outcome depend on the
  machine: past it the worker is ended, the loss is left to numeric integration with a note,
  and that outcome is not remembered.
  """
  key = (g, domains_key, variable)
  if key in _SOLUTIONS:
    return _SOLUTIONS[key]
  name = _cache.key(g, tuple((n, repr(d)) for n, d in domains_key), repr(variable))
  solution = _from_entry(_cache.load(name))
  if solution is None:
    try:
      solution = run_in_worker(_solve, key, wall_seconds=timeout, on_progress=on_progress)
    except WorkerTimeout as error:
      if timeout is not None and str(error).endswith("(wall clock)."):
        note = (f"{error} No closed form was looked for beyond that (nor was convergence or "
                "continuity checked): the loss is integrated numerically.")
        return _Solution(None, None, "gave up (time limit)", None, (note,))
      solution = _Solution(None, None, "no closed form (numeric integration)", None,
                           (f"{error} (the safety limit of a derivation): no closed form found, "
                            "the loss is integrated numerically",))
    _cache.store(name, _to_entry(solution))
  _SOLUTIONS[key] = solution
  return solution


def _to_entry(solution: _Solution) -> dict[str, Any]:
  """A JSON-ready record of a solution (expressions by `sympy.srepr`)."""
  combination = solution.combination
  return {
      "loss": _cache.dump_expr(solution.loss), "verified": solution.verified,
      "verification": solution.verification,
      "stable_form": _cache.dump_expr(solution.stable_form), "notes": list(solution.notes),
      "combination": None if combination is None else {
          "terms": [[t.name, _cache.dump_expr(t.weight),
                     {k: _cache.dump_expr(v) for k, v in t.params.items()}]
                    for t in combination.terms],
          "loss": _cache.dump_expr(combination.loss),
          "stable_form": _cache.dump_expr(combination.stable_form),
          "conditions": [_cache.dump_expr(c) for c in combination.conditions]}}


def _from_entry(entry: dict[str, Any] | None) -> _Solution | None:
  """The solution of a cache entry, None for a missing or unreadable one."""
  if entry is None:
    return None
  try:
    stored = entry["combination"]
    combination = None if stored is None else Combination(
        tuple(Term(name, _cache.load_expr(weight),
                   {k: _cache.load_expr(v) for k, v in params.items()})
              for name, weight, params in stored["terms"]),
        _cache.load_expr(stored["loss"]), _cache.load_expr(stored["stable_form"]),
        tuple(_cache.load_expr(c) for c in stored["conditions"]))
    return _Solution(_cache.load_expr(entry["loss"]), entry["verified"], entry["verification"],
                     _cache.load_expr(entry["stable_form"]), tuple(entry["notes"]), combination)
  except (KeyError, TypeError, ValueError, SyntaxError):
    return None


def _solve(g: sp.Expr, domains_key: tuple[tuple[str, Domain], ...],
           variable: Variable = PROBABILITY) -> _Solution:
  """The closed form of L for g (run in the SymPy worker, see `gradeng.symbolic._limits`).

  SymPy's cache is emptied first, so that the work each step does (and so whether it fits its
  budget) does not depend on what the worker derived before.
  """
  sp.core.cache.clear_cache()
  domains = dict(domains_key)
  notes: list[str] = []
  combination = recognise(g) if variable == PROBABILITY else None
  if combination is None:
    _check_domain(g, notes, variable)
    check_convergence(g, notes, variable)
    explicit, stable, maki_notes = (maki_forms(g) if variable == PROBABILITY
                                    else (None, None, ()))
    notes.extend(maki_notes)
  else:
    # Each catalog term is continuous on (0, 1) and integrable at p = 1 (exponents > -1).
    explicit, stable = combination.loss, combination.stable_form
    notes.append(f"recognised as {combination.describe()} (catalog coefficients; no SymPy "
                 "integration needed)")
    notes.extend(f"valid where {condition}" for condition in combination.conditions)
    if len(combination.terms) == 1 and combination.terms[0].name == "maki":
      notes.extend(maki_forms(g)[2])
  candidates: list[tuple[tuple[int, int, int], sp.Expr, bool | None, str]] = []
  parametric = bool(g.free_symbols - {variable.symbol})

  def consider(loss: sp.Expr | None, source: str) -> bool:
    """Check a candidate; True when it is good enough to stop searching."""
    if loss is None or unevaluated(loss) or loss.has(sp.exp_polar):
      return False
    if loss.has(sp.I):
      real = attempt(lambda: realify(loss, domains, variable), STEP_SECONDS, notes, "making real")
      if real is not None and not real.has(sp.I):
        simplified = attempt(lambda: sp.simplify(real), STEP_SECONDS, notes, "simplify")
        loss = real if simplified is None else simplified
    checked = attempt(lambda: verify(g, loss, domains, variable), 2 * STEP_SECONDS, notes,
                       f"check of the {source}")
    verified, how = checked if checked is not None else (None, "check timed out")
    if verified is False:
      notes.append(f"{source} rejected: dL/dp ≠ g ({how})")
      return False
    rank_ = rank(loss, g)
    candidates.append((rank_, loss, verified, how))
    # Stop at a checked real form: elementary, or with parameters left (for which the
    # antiderivative in p only adds exp(iπγ)-type branch factors).
    return verified is True and rank_[0] == 0 and (rank_[1] == 0 or parametric)

  if combination is not None:
    if consider(explicit, "catalog combination") or (
        candidates and candidates[-1][2] is True):
      _, loss, verified, how = candidates[-1]
      return _Solution(loss, verified, how, stable, tuple(notes), combination)
    explicit, stable = None, None  # not confirmed: the general path decides
  done = consider(explicit, "finite form")
  if stable is not None and explicit is None:  # non-integer exponent: Lerch Φ first
    done = consider(stable, "Lerch form")
  x, r = variable.name, variable.reference
  definite = ("definite integral in q = 1 - p" if variable == PROBABILITY else
              f"definite integral from {x} = {r}")
  # g of p alone has the fitted approximant when SymPy finds nothing (parameters left free
  # have only quadrature): a smaller budget for it.
  budget = ATTEMPT_SECONDS if parametric or variable != PROBABILITY else NUMERIC_ATTEMPT_SECONDS
  ran_out = False
  for source, strategy in ((definite, definite_loss), (f"antiderivative in {x}",
                                                       antiderivative_loss)):
    if done:
      break
    # Once a checked form is in hand, or the definite integral used all of its budget (the
    # antiderivative is the same integration, in p instead of q = 1 - p), the next strategy
    # gets the smaller budget.
    seconds = (IMPROVE_SECONDS if ran_out or any(c[2] is True for c in candidates)
               else budget)
    raw = attempt(lambda strategy=strategy: strategy(g, notes, variable), seconds, notes, source)
    ran_out = bool(notes) and notes[-1] == gave_up_note(source, seconds)
    if raw is None:
      continue
    loss = attempt(lambda raw=raw: sp.simplify(raw), STEP_SECONDS, notes, "simplify")
    done = consider(raw if loss is None else loss, source)
  if not candidates:
    notes.append("no closed form found: the loss is integrated numerically")
    return _Solution(None, None, "no closed form (numeric integration)", stable, tuple(notes))
  _, loss, verified, how = min(candidates, key=lambda c: (c[2] is not True, c[0]))
  return _Solution(loss, verified, how, stable, tuple(notes))


def _check_domain(g: sp.Expr, notes: list[str], variable: Variable = PROBABILITY) -> None:
  """Raise when g is not continuous on all of the variable's open domain, (0, 1) for p
  (SymPy's `continuous_domain`)."""
  interval, x = variable.interval, variable.symbol
  found = attempt(lambda: sp.calculus.util.continuous_domain(g, x, interval), STEP_SECONDS,
                  notes, "continuity check")
  if found is not None and found != interval:
    if variable == PROBABILITY:
      raise InputError(
          f"g(p) = {g} is not continuous on all of (0, 1) (only on {found}); the loss "
          "∫_p^1 -g(t) dt needs g defined and continuous for every p in (0, 1).")
    raise InputError(
        f"g({x}) = {g} is not continuous on all of {interval} (only on {found}); the loss "
        f"∫_{variable.reference}^{x} g(t) dt needs g defined and continuous on the whole domain.")


def _check_domain_task(g: sp.Expr, variable: Variable) -> None:
  _check_domain(g, [], variable)


def check_coefficient(g: sp.Expr, variable: Variable = PROBABILITY) -> None:
  """Raise `gradeng.InputError` unless g is defined, real and continuous on the variable's open
  domain ((0, 1) for p): the check `derive` makes, for commands that only evaluate g (e.g.
  ``gradeng budget``). Runs SymPy in the worker (`gradeng.symbolic._limits`)."""
  run_in_worker(_check_domain_task, (g, variable))


def _substitute(coef: ScaleCoefficient, given: Mapping[str, Any]) -> dict[str, sp.Expr]:
  """Validated exact values (2.5 -> 5/2) of the given parameters; others stay symbolic."""
  unknown = set(given) - set(coef.params)
  if unknown:
    raise InputError(f"`{coef.name}` has no parameter(s) {sorted(unknown)}; it takes "
                     f"{sorted(coef.params) or 'none'}.")
  values = {}
  for name, value in given.items():
    if isinstance(value, sp.Basic) and value.is_number:
      value = float(value) if not value.is_Rational else value
    if not (is_concrete_number(value) or isinstance(value, sp.Rational)):
      raise InputError(f"parameter `{name}` must be a number; got {value!r}.")
    if not coef.params[name].contains(float(value)):
      raise InputError(f"`{name}` of `{coef.name}` must be {coef.params[name].describe()}; "
                       f"got {value!r}.")
    values[name] = value if isinstance(value, sp.Rational) else sp.nsimplify(value, rational=True)
  return values


@dataclasses.dataclass(frozen=True, eq=False)
class Derivation:
  """The loss derived from a scale coefficient: L(p) = ∫_p^1 -g(t) dt, L(1) = 0.

  Attributes:
    coefficient: the `ScaleCoefficient` derived from.
    params: the parameters substituted (exact SymPy numbers, e.g. γ = 5/2).
    g: the scale coefficient after substitution.
    loss: L(p) in closed form, or ``None`` when SymPy found none (then ``method == "numeric"``
      and the JAX loss integrates g numerically).
    method: ``"closed_form"`` or ``"numeric"``.
    verified: dL/dp = g checked (True/False), or ``None`` when there is nothing to check.
    verification: how: ``"symbolic"`` or ``"numeric at N points ..., max rel err ..."``.
    stable_form: for the Maki family g = c(1-p)^a/p, the form of L to evaluate near p → 1
      (the tail Σ_{j>a} (1-p)^j/j for integer a, (1-p)^(a+1) Φ(1-p, 1, a+1) otherwise).
    notes: remarks from the derivation (conditions, time-outs, stable forms).
    variable: the variable g acts on, with the parameters substituted in its reference point
      (`gradeng.runtime._variable.PROBABILITY` for p: L(p) = ∫_p^1 -g; for a pair weight on a
      similarity s or distance d, ``loss`` is φ(x) = ∫_r^x g(t) dt).
    combination: g as a linear combination of catalog coefficients (Maki, CE, QCE, GCE), when
      recognised (`gradeng.symbolic._recognise`); a loss can then be built from catalog kernels.
    domains: the admissible domain of each parameter left free: the declared one, narrowed to
      where the integral converges when the derivation knows it (g = -(1-p)^γ/p: γ > -1), so
      that a traced value outside it can be poisoned (`Domain.contains_traced`).
  """

  coefficient: ScaleCoefficient
  params: Mapping[str, sp.Expr]
  g: sp.Expr
  loss: sp.Expr | None
  method: str
  verified: bool | None
  verification: str
  stable_form: sp.Expr | None = None
  notes: tuple[str, ...] = ()
  variable: Variable = PROBABILITY
  combination: Combination | None = None
  domains: Mapping[str, Domain] = dataclasses.field(default_factory=dict)

  @functools.cached_property
  def properties(self) -> tuple[PropertyCheck, ...]:
    """`check_properties` of g (and L), at the coefficient's defaults for free parameters;
    empty for a variable other than p (the paper's properties are about p ∈ (0, 1))."""
    if self.variable.name != P.name:
      return ()
    free = {s.name: s for s in self.g.free_symbols if s != P}
    defaults = {name: self.coefficient.defaults[name] for name in free
                if name in self.coefficient.defaults}
    if not free or set(defaults) != set(free):
      return check_properties(self.g, self.loss)
    subs = {free[name]: sp.nsimplify(value, rational=True) for name, value in defaults.items()}
    at = ", ".join(f"{name}={value:g}" for name, value in sorted(defaults.items()))
    checks = check_properties(self.g.subs(subs),
                              None if self.loss is None else self.loss.subs(subs))
    return tuple(dataclasses.replace(c, evidence=f"at the defaults {at}: {c.evidence}")
                 for c in checks)

  def latex(self) -> str:
    """``g(p) = ..., \\quad L(p) = ...`` (L as an integral when it has no closed form)."""
    x, r = self.variable.name, sp.latex(self.variable.reference)
    integral = (r"\int_p^1 -g(t)\,dt" if self.variable == PROBABILITY
                else rf"\int_{{{r}}}^{{{x}}} g(t)\,dt")
    loss = (sp.latex(self.loss) if self.loss is not None
            else rf"{integral} \ \text{{(numeric)}}")
    return f"g({x}) = {sp.latex(self.g)}, \\quad L({x}) = {loss}"

  def hypergeometric_form(self) -> sp.Expr | None:
    """The loss (or its stable form) with Lerch Φ(z, 1, a) written as ₂F₁(1, a; a+1; z)/a."""
    source = self.loss if self.loss is not None and self.loss.has(sp.lerchphi) else (
        self.stable_form)
    if source is None or not source.has(sp.lerchphi):
      return None
    return lerch_to_hyper(source)


def derive_coefficient(coef: ScaleCoefficient, *, variable: Variable | str | None = None,
                       timeout: float | None = None, progress: Callable[[str], None] | None = None,
                       notes: tuple[str, ...] = (), **params: Any) -> Derivation:
  """`derive` of a `ScaleCoefficient` (see `gradeng.symbolic.derive`); ``notes`` are prepended
  to the derivation's notes."""
  found = notes
  if variable is not None and as_variable(variable) != symbolic_variable(coef):
    raise InputError(f"`variable` = {variable!r} differs from the variable of `{coef.name}` "
                     f"({coef.variable.describe()}); leave it out for a `ScaleCoefficient`.")
  values = _substitute(coef, params)
  expr, own = expression(coef), symbolic_variable(coef)
  reference = own.reference
  subs = {s: values[s.name] for s in expr.free_symbols | reference.free_symbols
          if s.name in values}
  g = expr.subs(subs)
  bound = own.with_reference(reference.subs(subs))
  free = {s.name for s in g.free_symbols | bound.reference.free_symbols
          if s != bound.symbol}
  domains = {name: coef.params[name] for name in free}
  solution = _solution(g, _domains_key(domains), bound, timeout, progress)
  return Derivation(
      coefficient=coef, params=values, g=g, loss=solution.loss,
      method="numeric" if solution.loss is None else "closed_form",
      verified=solution.verified, verification=solution.verification,
      stable_form=solution.stable_form, notes=found + solution.notes, variable=bound,
      combination=solution.combination,
      domains=_admissible(g, domains, solution.combination, bound))


def _admissible(g: sp.Expr, declared: Mapping[str, Domain], combination: Combination | None,
                variable: Variable) -> dict[str, Domain]:
  """The declared domains of the free parameters, narrowed to where ∫_p^1 -g converges and g is
  defined on (0, 1) (`parameter_domains`; a catalog combination's conditions too). A parameter
  whose admissible set cannot be inferred keeps its declared domain."""
  domains = dict(declared)
  for condition in (combination.conditions if combination is not None else ()):
    symbols = [s for s in condition.free_symbols if s.name in domains]
    if len(symbols) != 1 or len(condition.free_symbols) != 1:
      continue
    (symbol,) = symbols
    try:
      interval = sp.solve_univariate_inequality(condition, symbol, relational=False)
    except (NotImplementedError, ValueError, TypeError):
      continue
    if not isinstance(interval, sp.Interval):
      continue
    domains[symbol.name] = _narrow(domains[symbol.name], interval)
  if variable == PROBABILITY and domains:
    try:
      inferred = run_in_worker(parameter_domains, (g, _domains_key(domains)), seconds=STEP_SECONDS)
    except WorkerTimeout:
      inferred = {}
    domains.update({name: d for name, d in inferred.items() if isinstance(d, Domain)})
  return domains


# ---------------------------------------------------------------------------------------------
# Admissible parameter values: where ∫_p^1 -g converges and g is defined


#: What SymPy raises where it cannot expand, order or solve (PoleError: exp(-a/u) at u = 0).
_SYMPY_FAILURES = (NotImplementedError, ValueError, TypeError, AttributeError, ArithmeticError,
                   sp.PoleError)


def _power_of(term: sp.Expr, u: sp.Symbol) -> sp.Expr | None:
  """e with term = c·u^e·log(u)^k (c, e, k free of u), or None."""
  exponent = sp.Integer(0)
  for factor in sp.Mul.make_args(term):
    base, power = factor.as_base_exp()
    if not factor.has(u):
      continue
    if base == u and not power.has(u):
      exponent += power
    elif base == sp.log(u) and power.is_number:
      continue  # a power of log u does not move the threshold e > -1
    else:
      return None
  return exponent


def _convergence_conditions(g: sp.Expr) -> tuple[sp.Basic, ...] | None:
  """Conditions for ∫_p^1 -g to converge at p = 1: with u = 1 - p and -g(1 - u) ~ c·u^e·log(u)^k
  as u → 0, e > -1. A sum whose leading term SymPy cannot order (exponents that depend on the
  parameters) gives one condition per term (sufficient; refused where a term alone diverges for
  every value, as it could cancel with another). None when the behaviour at u → 0 is not of
  this form."""
  u = sp.Dummy("u", positive=True)
  expr = g.subs(P, 1 - u)

  def exponents(part: sp.Expr) -> list[sp.Expr]:
    found = []
    for term in sp.Add.make_args(sp.expand(part.as_leading_term(u))):
      exponent = _power_of(term, u)
      if exponent is None:
        raise NotImplementedError(f"leading term {term}")
      found.append(exponent)
    return found

  try:
    found = exponents(expr)
  except _SYMPY_FAILURES:
    try:
      found = [e for term in sp.Add.make_args(sp.expand(expr)) for e in exponents(term)]
    except _SYMPY_FAILURES:
      return None
    if any(e.is_number and not e > -1 for e in found):
      return None
  return tuple(e > -1 for e in found)


def _definition_conditions(g: sp.Expr) -> tuple[sp.Basic, ...]:
  """Conditions for g to be defined and real on (0, 1) that SymPy can state: no pole inside,
  and logarithms and fractional powers of linear functions of p positive on (0, 1)."""
  conditions: list[sp.Basic] = []
  try:
    poles = sp.singularities(g, P)
  except _SYMPY_FAILURES:
    poles = sp.EmptySet
  if isinstance(poles, sp.FiniteSet):
    for pole in poles:
      if pole.free_symbols and pole.is_real is not False:
        conditions.append(sp.Or(pole <= 0, pole >= 1))
  for node in g.atoms(sp.Pow, sp.log):
    base = node.args[0] if isinstance(node, sp.log) else node.base
    if isinstance(node, sp.Pow) and node.exp.is_integer:
      continue
    if not (base.has(P) and base.free_symbols - {P}):
      continue
    try:
      if sp.Poly(base, P).degree() != 1:
        continue
    except sp.PolynomialError:
      continue
    # A linear function is positive on the open (0, 1) iff it is ≥ 0 at both ends and not 0
    # at both.
    at_0, at_1 = base.subs(P, 0), base.subs(P, 1)
    conditions.append(sp.And(at_0 >= 0, at_1 >= 0, sp.Or(at_0 > 0, at_1 > 0)))
  return tuple(conditions)


def _interval(domain: Domain) -> sp.Interval:
  lower = -sp.oo if domain.lower is None else sp.nsimplify(domain.lower, rational=True)
  upper = sp.oo if domain.upper is None else sp.nsimplify(domain.upper, rational=True)
  return sp.Interval(lower, upper, domain.lower_open or domain.lower is None,
                     domain.upper_open or domain.upper is None)


def parameter_domains(g: sp.Expr,
                      domains_key: tuple[tuple[str, Domain], ...]) -> dict[str, Domain | str]:
  """Each parameter's declared domain intersected with the values for which ∫_p^1 -g converges
  at p = 1 and g is defined on (0, 1), or, where that set cannot be inferred or is not one
  interval, a sentence saying why (run in the SymPy worker).

  Args:
    g: the coefficient with its known parameters substituted.
    domains_key: (name, declared `Domain`) of the parameters left free.
  """
  declared = dict(domains_key)
  convergence = _convergence_conditions(g)
  conditions = (convergence or ()) + _definition_conditions(g)
  symbols = {s.name: s for s in g.free_symbols if s.name in declared}
  out: dict[str, Domain | str] = {}
  for name, domain in declared.items():
    if name not in symbols:
      out[name] = domain
      continue
    symbol = symbols[name]
    if convergence is None:
      out[name] = ("the behaviour of g(p) as p → 1 is not a power of 1 - p SymPy can read, so "
                   f"the values of `{name}` for which ∫_p^1 -g converges are not known")
      continue
    own = [c for c in conditions if symbol in c.free_symbols]
    if any(c.free_symbols - {symbol} for c in own):
      out[name] = (f"the condition(s) {[str(c) for c in own]} tie `{name}` to other parameters")
      continue
    try:
      admissible = sp.And(*own).as_set().intersect(_interval(domain)) if own else (
          _interval(domain))
    except _SYMPY_FAILURES:
      out[name] = f"SymPy cannot solve {[str(c) for c in own]} for `{name}`"
      continue
    if admissible is sp.EmptySet:
      out[name] = (f"no value of `{name}` in its domain ({domain.describe()}) makes "
                   "∫_p^1 -g converge with g defined on (0, 1)")
    elif isinstance(admissible, sp.Interval):
      out[name] = _narrow(domain, admissible)
    else:
      out[name] = (f"the admissible values of `{name}` ({admissible}) are not one interval")
  return out


@functools.lru_cache(maxsize=256)
def traced_domains(coefficient: ScaleCoefficient, frozen_params: tuple) -> dict[str, Domain]:
  """The domains against which traced (JAX) values of a coefficient's parameters are checked,
  for `gradeng.loss_from_coefficient`: the declared ones, narrowed to where ∫_p^1 -g converges
  and g is defined (`parameter_domains`), the Python-number parameters substituted.

  Args:
    coefficient: a coefficient without a hand-written loss (a user formula).
    frozen_params: sorted (name, value) pairs, ``"<traced>"`` for traced values.

  Raises:
    InputError: a traced parameter whose admissible values cannot be inferred and whose domain
      was left undeclared ("real"): the loss would be finite and wrong outside them.
  """
  domains = dict(coefficient.params)
  traced = {name for name, value in frozen_params if not is_concrete_number(value)}
  if not traced or symbolic_variable(coefficient) != PROBABILITY:
    return domains
  symbols = parameter_symbols(coefficient)
  subs = {symbols[name]: sp.nsimplify(value, rational=True)
          for name, value in frozen_params if name not in traced}
  g = expression(coefficient).subs(subs)
  key = _domains_key({name: domains[name] for name in traced})
  try:
    inferred = run_in_worker(parameter_domains, (g, key), seconds=STEP_SECONDS)
  except WorkerTimeout:
    inferred = {name: "SymPy ran out of time" for name in traced}
  for name, found in inferred.items():
    if isinstance(found, Domain):
      domains[name] = found
    elif domains[name] == Domain():  # undeclared: refuse rather than risk a finite wrong loss
      raise InputError(
          f"traced parameter `{name}` of g(p) = {expression(coefficient)}: {found}. Declare the values "
          f"it may take, e.g. `gradeng.coefficient(formula, params={{'{name}': 'positive'}})` "
          "(names: nonnegative, positive, nonnegative_integer, unit_interval; or a "
          "`gradeng.runtime.Domain(lower=..., upper=...)`), or pass it as a Python "
          "number.")
  return domains


def _narrow(domain: Domain, interval: sp.Interval) -> Domain:
  """``domain`` ∩ ``interval`` (interval ends from SymPy; ±oo for unbounded)."""
  lower, lower_open = domain.lower, domain.lower_open
  if interval.start.is_finite and (lower is None or float(interval.start) > lower or (
      float(interval.start) == lower and interval.left_open)):
    lower, lower_open = float(interval.start), bool(interval.left_open)
  upper, upper_open = domain.upper, domain.upper_open
  if interval.end.is_finite and (upper is None or float(interval.end) < upper or (
      float(interval.end) == upper and interval.right_open)):
    upper, upper_open = float(interval.end), bool(interval.right_open)
  return dataclasses.replace(domain, lower=lower, lower_open=lower_open, upper=upper,
                             upper_open=upper_open)
