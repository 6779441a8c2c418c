"""`derive` over a second variable: pair weights on a similarity or a distance.

The machinery is the one of L(p) = ∫_p^1 -g(t) dt with the variable, its domain and the
reference point as data. Expected values are the losses' published forms, evaluated by mpmath:
contrastive (Hadsell et al., 2006) φ₊(d) = d²/2, φ₋(d) = (m - d)²/2 for d < m; binomial deviance
(Yi et al., 2014) φ(s) = log(1 + exp(α(s - λ)))/α on negative pairs, its mirror on positive ones.
"""

import mpmath
import pytest
import sympy as sp

from gradeng.symbolic import P
from gradeng.symbolic import derive
from gradeng.symbolic import DivergentIntegralError
from gradeng.symbolic import coefficient
from gradeng.runtime import Variable
from gradeng.symbolic import DISTANCE, PROBABILITY, SIMILARITY, as_variable

POINTS = ("-0.99", "-0.5", "0", "0.3", "0.97")


def value(derivation, x, **params):
  """φ(x) of a derivation at 40 digits (x and parameters exact decimals)."""
  symbol = derivation.variable.symbol
  subs = {symbol: sp.Rational(x), **{s: sp.Rational(str(params[s.name]))
                                     for s in derivation.loss.free_symbols if s.name in params}}
  return mpmath.mpf(str(sp.N(derivation.loss.subs(subs), 40)))


def softplus(x):
  return mpmath.log1p(mpmath.exp(x))


def test_contrastive_positive_pairs_distance():
  derivation = derive("d", variable="d")
  assert derivation.verified is True
  assert derivation.variable == DISTANCE
  with mpmath.workdps(40):
    for d in ("0", "0.25", "1.5", "3"):
      assert value(derivation, d) == mpmath.mpf(d)**2 / 2


def test_contrastive_negative_pairs_reference_at_the_margin():
  coef = coefficient("d - m", variable="d", reference="m", params={"m": "positive"})
  derivation = derive(coef, m=sp.Rational(3, 2))
  assert derivation.verified is True
  assert derivation.variable.reference == sp.Rational(3, 2)
  with mpmath.workdps(40):
    for d in ("0", "0.5", "1.5"):
      assert abs(value(derivation, d) - (mpmath.mpf(3) / 2 - mpmath.mpf(d))**2 / 2) < 1e-35
  symbolic = derive(coef)  # m left free: φ = (d - m)²/2 as an expression in m
  m = sp.Symbol("m", positive=True)
  assert sp.simplify(symbolic.loss - (symbolic.variable.symbol - m)**2 / 2) == 0


@pytest.mark.parametrize("alpha,lam", [(2, "0.5"), (25, "0.5")])
def test_binomial_deviance_negative_pair_weight(alpha, lam):
  # w(s) = σ(α(s - λ)) integrates from s = -1 to softplus(α(s - λ))/α - softplus(α(-1 - λ))/α.
  derivation = derive("1/(1 + exp(-alpha*(s - lam)))", variable="s", alpha=alpha,
                      lam=sp.Rational(lam))
  assert derivation.verified is True
  assert derivation.variable == SIMILARITY
  with mpmath.workdps(40):
    a, l = mpmath.mpf(alpha), mpmath.mpf(lam)
    for s in POINTS:
      want = (softplus(a * (mpmath.mpf(s) - l)) - softplus(a * (-1 - l))) / a
      assert abs(value(derivation, s) - want) <= 1e-30 * max(1, abs(want))


def test_binomial_deviance_positive_pair_weight_reference_at_one():
  # Positive pairs: w(s) = -σ(-α(s - λ)), zero loss at s = 1.
  positive = Variable("s", -1, 1, reference=1, description="cosine similarity")
  derivation = derive("-1/(1 + exp(alpha*(s - lam)))", variable=positive, alpha=2,
                      lam=sp.Rational(1, 2))
  assert derivation.verified is True
  with mpmath.workdps(40):
    for s in POINTS:
      want = (softplus(-2 * (mpmath.mpf(s) - mpmath.mpf("0.5")))
              - softplus(-2 * (1 - mpmath.mpf("0.5")))) / 2
      assert abs(value(derivation, s) - want) <= 1e-30 * max(1, abs(want))
  assert value(derivation, "1") == 0


def test_probability_is_the_default_variable():
  explicit = derive("-(1-p)**gamma/p", variable="p", gamma=2)
  default = derive("-(1-p)**gamma/p", gamma=2)
  assert explicit.variable == default.variable == PROBABILITY
  assert PROBABILITY.symbol == P
  assert sp.simplify(explicit.loss - default.loss) == 0
  assert len(default.properties) == 4
  assert derive("d", variable="d").properties == ()


def test_divergent_at_the_reference_point():
  with pytest.raises(DivergentIntegralError, match="s = -1"):
    derive("1/(1 + s)", variable="s")


def test_discontinuous_on_the_domain_is_refused():
  with pytest.raises(ValueError, match="not continuous"):
    derive("1/s", variable="s")


def test_variable_spec_errors():
  with pytest.raises(ValueError, match="unknown variable"):
    as_variable("theta")
  with pytest.raises(ValueError, match="below"):
    Variable("s", 1, -1, reference=1)
  with pytest.raises(ValueError, match="differs from the variable"):
    derive(coefficient("d", variable="d"), variable="s")
  # In a formula over s, `p` is not the variable: it is reported as a parameter.
  assert set(coefficient("s*p", variable="s").params) == {"p"}


def test_cli_derives_a_pair_weight(capsys):
  from gradeng.cli import main  # pylint: disable=import-outside-toplevel

  assert main(["derive", "d - m", "--variable", "d", "--reference", "m", "--param", "m=3/2",
               "--quiet"]) == 0
  out = capsys.readouterr().out
  assert "g(d) = d - 3/2" in out and "L(d) = " in out and "verified     yes" in out
  assert "properties" not in out  # the paper's properties are about p
