"""A runtime `gradeng.runtime.ScaleCoefficient` read as SymPy: g, its variable and parameter
symbols (the coefficient's formula parsed with its parameter domains, or the expression a
formula coefficient was built from)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import sympy as sp

from gradeng.runtime import ScaleCoefficient, is_concrete_number
from gradeng.symbolic._parse import parse_formula, read_variable
from gradeng.symbolic._variable import P, SymbolicVariable


@dataclasses.dataclass(frozen=True, eq=False)
class SymbolicForm:
  """What a coefficient made from a SymPy expression carries for the symbolic side.

  Attributes:
    expr: g as a SymPy expression in the variable's symbol and the parameter symbols.
    variable: the variable with its exact bounds and reference.

  Example:
    >>> import gradeng as ge
    >>> from gradeng.symbolic import P, SymbolicForm
    >>> coefficient = ge.coefficient(-(1 - P)**2 / P, name="maki2")
    >>> isinstance(coefficient.builder, SymbolicForm)
    True
    >>> coefficient.builder.expr
    -(1 - p)**2/p
  """

  expr: sp.Expr
  variable: SymbolicVariable


@functools.lru_cache(maxsize=256)
def _parsed(coefficient: ScaleCoefficient) -> tuple[sp.Expr, SymbolicVariable]:
  if isinstance(coefficient.builder, SymbolicForm):
    return coefficient.builder.expr, coefficient.builder.variable
  if coefficient.formula is None:
    raise ValueError(f"coefficient `{coefficient.name}` has no formula for g; the symbolic side "
                     "needs one (e.g. formula='-(1-p)**gamma/p').")
  variable = read_variable(coefficient.variable, coefficient.params)
  expr = parse_formula(coefficient.formula, params=coefficient.params,
                       domains=coefficient.params, variable=variable)
  return expr, variable


def expression(coefficient: ScaleCoefficient) -> sp.Expr:
  """g of a coefficient as a SymPy expression (its formula parsed with the parameter domains'
  assumptions; cached).

  Example:
    >>> import gradeng as ge
    >>> from gradeng.symbolic import expression
    >>> expression(ge.MAKI)
    -(1 - p)**gamma/p
  """
  return _parsed(coefficient)[0]


def symbolic_variable(coefficient: ScaleCoefficient) -> SymbolicVariable:
  """The coefficient's variable with exact bounds and reference (see `SymbolicVariable`).

  Args:
    coefficient: a `ScaleCoefficient`.

  Returns:
    Its `SymbolicVariable` (cached).

  Example:
    >>> import gradeng as ge
    >>> from gradeng.symbolic import symbolic_variable
    >>> symbolic_variable(ge.MAKI).describe()
    'p (probability of the true class) in [0, 1], L = 0 at p = 1'
  """
  return _parsed(coefficient)[1]


def parameter_symbols(coefficient: ScaleCoefficient) -> dict[str, sp.Symbol]:
  """Parameter name -> the SymPy symbol used in `expression` (parameters g does not use get a
  plain symbol).

  Args:
    coefficient: a `ScaleCoefficient`.

  Returns:
    ``{name: sympy.Symbol}``, with the assumptions of the parameter domains.

  Example:
    >>> import gradeng as ge
    >>> from gradeng.symbolic import parameter_symbols
    >>> gamma = parameter_symbols(ge.MAKI)["gamma"]
    >>> gamma, gamma.is_nonnegative
    (gamma, True)
  """
  by_name = {s.name: s for s in expression(coefficient).free_symbols}
  return {name: by_name.get(name, sp.Symbol(name)) for name in coefficient.params}


def substitute(coefficient: ScaleCoefficient, **values: Any) -> sp.Expr:
  """g with the given parameters substituted (exact rationals/integers), defaults filled in.

  Example:
    >>> import gradeng as ge
    >>> from gradeng.symbolic import substitute
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
  cancel catastrophically as p → 1).

  .. math::
    w(p) = p\\,g(p)

  Args:
    g: the coefficient as a SymPy expression in p.

  Returns:
    w = p·g.

  Example:
    >>> import gradeng as ge
    >>> from gradeng.symbolic import weight_expression
    >>> weight_expression(ge.parse_formula("-(1-p)**2/p - 1/p"))
    -(1 - p)**2 - 1
  """
  if g.is_Add:
    return sp.Add(*(weight_expression(term) for term in g.args))
  return P * g


