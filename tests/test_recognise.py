"""Catalog combinations recognised before SymPy integrates.

Maki typed as a formula took 9-18 s of SymPy for γ = 0.1/0.2 (94-117 s measured here under load
before this change); recognised, it needs no integration. Expected terms are hand-derived in
q = 1 - p; losses are checked against mpmath quadrature of ∫_p^1 -g.
"""

import mpmath
import pytest
import sympy as sp

from gradeng.symbolic import P
from gradeng.symbolic import derive
from gradeng.symbolic import DivergentIntegralError
from gradeng.symbolic import coefficient, parse_formula
from gradeng.symbolic._recognise import recognise


def terms(formula):
  combination = recognise(parse_formula(formula))
  return None if combination is None else {
      (t.name, tuple(sorted(t.params.items()))): t.weight for t in combination.terms}


def test_catalog_coefficients_are_recognised():
  assert terms("-1/p") == {("ce", ()): 1}
  assert terms("log(p)/p") == {("qce", ()): 1}
  assert terms("-(1-p)**0.1/p") == {("maki", (("gamma", sp.Rational(1, 10)),)): 1}
  assert terms("-p**(-0.3)") == {("gce", (("q", sp.Rational(7, 10)),)): 1}
  gamma = sp.Symbol("gamma", real=True)
  assert terms("-(1-p)**gamma/p") == {("maki", (("gamma", gamma),)): 1}


def test_polynomial_times_one_over_p_is_a_maki_combination():
  # (1+p)(1-p)² = q²(2 - q) = 2q² - q³: 2·Maki₂ - Maki₃.
  assert terms("-(1-p)**2*(1+p)/p") == {("maki", (("gamma", 2),)): 2,
                                        ("maki", (("gamma", 3),)): -1}
  # Poly-1: -1/p - ε = -(1 + ε)/p + ε(1 - p)/p... i.e. (1+ε)·CE - ε·Maki₁.
  epsilon = sp.Symbol("epsilon", real=True)
  assert terms("-1/p - epsilon") == {("ce", ()): 1 + epsilon, ("maki", (("gamma", 1),)): -epsilon}


@pytest.mark.parametrize("formula", ["-log(1+p**7+sin(p)**3)/p**1.5", "-1/(p*(1+p))",
                                     "-exp(-p)/p", "-(1-p)**(-2)/p"])
def test_other_coefficients_are_not(formula):
  assert recognise(parse_formula(formula)) is None


@pytest.mark.parametrize("formula,params", [("-(1-p)**gamma/p", {"gamma": 0.1}),
                                            ("-(1-p)**2*(1+p)/p", {}),
                                            ("-(1-p)**gamma*(1+p)/p", {"gamma": 0.5}),
                                            ("log(p)/p - 2*p**0.5", {})])
def test_recognised_losses_match_quadrature(formula, params):
  d = derive(formula, **params)
  assert d.combination is not None and d.verified is True
  assert any(note.startswith("recognised as") for note in d.notes)
  g = sp.lambdify(P, d.g, "mpmath")
  loss = sp.lambdify(P, d.loss, "mpmath")
  with mpmath.workdps(30):
    for p in ("1e-6", "0.3", "0.9", "0.999"):
      want = mpmath.quad(lambda t: -g(t), [mpmath.mpf(p), 1])
      assert abs(loss(mpmath.mpf(p)) - want) <= 1e-20 * abs(want)


def test_divergent_exponent_still_raises():
  with pytest.raises(DivergentIntegralError):
    derive("-(1-p)**(-1)/p")


def test_parameter_domain_is_narrowed_to_where_the_integral_converges():
  # a traced γ = -1, -2, -5 gave finite, wrong Maki losses because a formula's
  # parameter was "real"; the derivation now says γ > -1, for the loss to poison the rest.
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  domain = derive("-(1-p)**gamma/p").domains["gamma"]
  assert domain.lower == -1 and domain.lower_open and domain.upper is None
  assert list(domain.contains_traced(jnp.array([-5.0, -2.0, -1.0, -0.5, 3.0]))) == [
      False, False, False, True, True]
  declared = coefficient("-(1-p)**gamma/p", params={"gamma": "nonnegative"})
  assert derive(declared).domains["gamma"].describe() == "a real number in [0, inf)"
