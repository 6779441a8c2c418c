"""Every function a formula may call compiles to JAX and matches mpmath (the parser's,
the compiler's and the ranking's tables disagreed; `erfc`, `Gamma` and `min(a, b, c)` parsed but
did not compile)."""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import sympy as sp

from gradeng.symbolic import P
from gradeng.symbolic._functions import ELEMENTARY, TABLE, jax_function
from gradeng.symbolic import log_space_function
from gradeng.symbolic import numeric_function
from gradeng.symbolic._parse import FUNCTIONS, parse_formula

# Arguments inside every function's domain for p in (0, 1) (asin/acos need |x| ≤ 1).
ARGUMENTS = {1: "(p/2 + 1/4)", 2: "(p/2 + 1/4), (1 - p)", 3: "(p/2 + 1/4), (1 - p), p**2"}


def _formulas():
  for name, (_, least, most) in sorted(FUNCTIONS.items()):
    for count in sorted({least, min(most or 3, 3)}):
      if name == "log" and count == 2:
        yield f"log(p/2 + 1/4, 3)"
      else:
        yield f"{name}({ARGUMENTS[count]})"


@pytest.mark.parametrize("formula", list(_formulas()))
def test_every_parsable_function_compiles_and_matches_mpmath(formula):
  expr = parse_formula(formula)
  compiled = log_space_function(expr)
  reference = numeric_function(expr, (P,))
  for p in (0.1, 0.37, 0.8):
    got = float(compiled(jnp.log(jnp.float32(p)), jnp.log1p(-jnp.float32(p))))
    with mpmath.workdps(30):
      want = float(reference(mpmath.mpf(p)))
    assert math.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=formula)


def test_every_table_entry_resolves():
  for node in TABLE:
    assert callable(jax_function(node)), node
  assert jax_function(type(parse_formula("erfc(p)"))) is not None
  assert issubclass(type(parse_formula("sinh(p)")), ELEMENTARY)
  assert not issubclass(type(parse_formula("erf(p)")), ELEMENTARY)


def _table_expression(node: type):
  """An expression of each table class, with arguments in its domain for p in (0, 1)."""
  x = P / 2 + sp.Rational(1, 4)
  if node is sp.polygamma:
    return node(1, x)
  if node in (sp.Min, sp.Max):
    return node(x, 1 - P, P**2)
  if node is sp.acosh:
    return node(1 + x)
  if node in (sp.Abs, sp.sign):
    return node(P - sp.Rational(1, 2))
  if node is sp.Ei:  # Ei(-x) = -E1(x) (what SymPy's ∫ e^{-t}/t dt gives) and Ei(x) > 0
    return node(-x) + node(3 * x)
  return node(x)


@pytest.mark.parametrize("node", sorted(TABLE, key=lambda t: t.__name__), ids=lambda t: t.__name__)
def test_every_table_function_compiles_and_matches_mpmath(node):
  # Derived closed forms may contain table functions the parser does not offer (Ei, polygamma).
  expr = _table_expression(node)
  assert expr.has(sp.polygamma if node is sp.digamma else node), expr  # SymPy: ψ = ψ⁽⁰⁾
  compiled = log_space_function(expr)
  reference = numeric_function(expr, (P,))
  for p in (1e-4, 0.1, 0.37, 0.8, 0.999):
    got = float(compiled(jnp.log(jnp.float32(p)), jnp.log1p(-jnp.float32(p))))
    with mpmath.workdps(30):
      want = float(reference(mpmath.mpf(p)))
    assert math.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=str(expr))


def test_exponential_integral_closed_form_compiles():
  # g = -e^{-p}/p: L = Ei(-1) - Ei(-p) (SymPy: -Ei(p·exp_polar(iπ)) before cleaning); it fell
  # back to quadrature while Ei had no JAX counterpart.
  loss = sp.Ei(-1) - sp.Ei(-P)
  compiled = log_space_function(loss)
  reference = numeric_function(loss, (P,))
  for p in (1e-6, 0.01, 0.3, 0.7):
    got = float(compiled(jnp.log(jnp.float32(p)), jnp.log1p(-jnp.float32(p))))
    with mpmath.workdps(30):
      want = float(reference(mpmath.mpf(p)))
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("x", [-1.0, -0.5, -1e-3, -1e-18, 1e-18, 0.37, 1.0])
def test_ei_series_regime_matches_mpmath_with_exact_derivative(x):
  # Ei of an argument known to stay in [-1, 1] (e.g. Ei(-p)) compiles to the series alone.
  from gradeng.symbolic._functions import _expi, expi_near_zero

  with mpmath.workdps(30):
    want, slope = float(mpmath.ei(x)), float(mpmath.exp(x) / x)
  for fn in (expi_near_zero, _expi):
    np.testing.assert_allclose(float(fn(jnp.float32(x))), want, rtol=3e-6)
    np.testing.assert_allclose(float(jax.grad(fn)(jnp.float32(x))), slope, rtol=1e-6)


def test_ei_of_minus_p_uses_only_the_series():
  from gradeng.symbolic._jaxify import _within_unit_interval

  assert _within_unit_interval(-P) and _within_unit_interval(-P / 2)
  assert not any(_within_unit_interval(a) for a in (2 * P, -P - 1, P - sp.Rational(1, 2), P**2,
                                                    -P * sp.Symbol("a")))
  jaxpr = str(jax.make_jaxpr(log_space_function(sp.Ei(-P)))(jnp.float32(-3.0), jnp.float32(-0.05)))
  assert "while" not in jaxpr and jaxpr.count("div") < 60  # 20 series terms, no E1 fraction
