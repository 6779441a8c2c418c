"""Traced parameters of a user formula outside the values where the loss exists give NaN: the
admissible set is inferred from g (∫_p^1 -g converges at p = 1, g defined on (0, 1));
where it cannot be, a traced parameter with an undeclared domain is refused when the loss is
built."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import gradeng as ge
from gradeng.runtime import Domain
from gradeng.symbolic import P
from gradeng.symbolic import parameter_domains
from gradeng.runtime import InputError

Z = jnp.array([0.3, -1.2])
Y = jnp.array([1, 0])


_COMPILED = {}


def _traced(formula, name, value, **declared):
  """The loss at (Z, Y) and its derivative in the parameter, with the parameter traced: compiled
  once per formula and declaration, for every value a module's tests pass."""
  key = (formula, name, repr(declared))
  if key not in _COMPILED:
    coefficient = ge.coefficient(formula, **declared)
    _COMPILED[key] = (
        jax.jit(lambda v: ge.loss_from_coefficient(coefficient, **{name: v})(Z, Y)),
        jax.jit(jax.grad(lambda v: ge.loss_from_coefficient(coefficient, **{name: v})(Z, Y).sum())))
  loss_at, grad_at = _COMPILED[key]
  return np.asarray(loss_at(value)), float(grad_at(value))


# The issue's command, compiled once for every γ.
_ISSUE_COMMAND = jax.jit(lambda g: ge.loss_from_coefficient(ge.coefficient("-(1-p)**gamma/p"), gamma=g)(Z, Y))


@pytest.mark.parametrize("gamma", [-1.0, -2.0, -5.0])
def test_traced_gamma_outside_the_convergent_domain_is_nan(gamma):
  # The issue's command: γ = -1 gave [43.4, 43.1], γ = -2 ~1.5e19, γ = -5 inf.
  out = _ISSUE_COMMAND(gamma)
  assert np.all(np.isnan(np.asarray(out)))
  loss, grad = _traced("-(1-p)**gamma/p", "gamma", gamma)
  assert np.all(np.isnan(loss)) and np.isnan(grad)


def _reference_loss(formula, gamma):
  """L at (Z, Y) to 20 digits: ∫_p^1 -g(t) dt with p the probability of the label."""
  g = sp.lambdify((P, sp.Symbol("gamma")), ge.symbolic.expression(ge.coefficient(formula)),
                  modules="mpmath")
  with mp.workdps(20):
    out = []
    for z, y in zip(np.asarray(Z, np.float64), np.asarray(Y)):
      q = 1 / (1 + mp.exp(mp.mpf(z) if y == 1 else -mp.mpf(z)))  # 1 - p
      out.append(float(mp.quad(lambda u: -g(1 - u, mp.mpf(gamma)), [0, q])))
  return np.array(out)


@pytest.mark.parametrize("formula", ["-(1-p)**gamma/p", "-(1-p)**gamma*(1+p)/p",
                                     "-(1-p)**gamma/sqrt(p)"])
def test_traced_parameter_inside_the_domain_matches_the_python_number(formula):
  coefficient = ge.coefficient(formula)
  # One compilation of the traced loss and one of its γ-gradient serve every γ below.
  loss_at = jax.jit(lambda v: ge.loss_from_coefficient(coefficient, gamma=v)(Z, Y))
  grad_at = jax.jit(jax.grad(lambda v: ge.loss_from_coefficient(coefficient, gamma=v)(Z, Y).sum()))
  for gamma in (-0.5, 0.5, 2.0):
    loss, grad = np.asarray(loss_at(gamma)), float(grad_at(gamma))
    assert np.all(np.isfinite(loss)) and np.isfinite(grad)
    np.testing.assert_allclose(loss, _reference_loss(formula, gamma), rtol=2e-5)
  # The static path agrees with the traced one (one Python-number γ: a closed-form build).
  fixed = ge.loss_from_coefficient(coefficient, gamma=2.0)(Z, Y)
  np.testing.assert_allclose(np.asarray(loss_at(2.0)), np.asarray(fixed), rtol=2e-5)
  for gamma in (-1.0, -3.0):  # (1-p)^γ·(1+p)/p and (1-p)^γ/√p diverge at p = 1 for γ ≤ -1
    loss, grad = np.asarray(loss_at(gamma)), float(grad_at(gamma))
    assert np.all(np.isnan(loss)) and np.isnan(grad)


def test_admissible_sets_from_convergence_and_definition():
  a = sp.Symbol("a", real=True)
  real = (("a", Domain()),)
  # Convergence at p = 1: the exponent of (1 - p) in the leading term exceeds -1.
  assert parameter_domains(-(1 - P)**a / sp.sqrt(P), real)["a"] == Domain(lower=-1, lower_open=True)
  assert parameter_domains(-(1 - P)**(a - 2) * sp.log(2 - P) / P, real)["a"] == Domain(
      lower=0, lower_open=True)  # log(2 - p) ~ q adds 1
  # A declared domain is intersected.
  declared = parameter_domains(-(1 - P)**a / P, (("a", Domain(lower=0.0)),))["a"]
  assert declared == Domain(lower=0.0)
  # Definition on (0, 1): a fractional power of a linear function must have a base ≥ 0 there.
  assert parameter_domains(-sp.sqrt(a - P) / P, real)["a"] == Domain(lower=1)
  # A pole at p = -a inside (0, 1) (-1 < a < 0): not one interval, so a sentence.
  assert "not one interval" in parameter_domains(-(1 - P)**2 / (P + a), real)["a"]
  assert parameter_domains(-(1 - P)**2 / (P + a), (("a", Domain(lower=0.0)),))["a"] == Domain(
      lower=0.0)


def test_traced_parameter_whose_domain_cannot_be_inferred_must_be_declared():
  formula = "-exp(-a/(1-p))/p"  # e^{-a/q}: not a power of q as p → 1
  with pytest.raises(InputError, match=r"Declare the values it may take.*params="):
    _traced(formula, "a", 1.0)
  loss, _ = _traced(formula, "a", 1.0, params={"a": "positive"})  # declared: trusted
  assert np.all(np.isfinite(loss))
  loss, grad = _traced(formula, "a", -1.0, params={"a": "positive"})
  assert np.all(np.isnan(loss)) and np.isnan(grad)
  with pytest.raises(InputError, match="not one interval"):
    _traced("-(1-p)**(a**2 - 2)/p", "a", 2.0)  # |a| > 1


def test_python_number_parameters_are_not_affected():
  # Concrete values are checked when the loss is built (DivergentIntegralError), as before.
  with pytest.raises(InputError):
    ge.loss_from_coefficient(ge.coefficient("-(1-p)**gamma/p"), gamma=-1.0)(Z, Y)


def test_derivation_reports_the_narrowed_domain():
  assert ge.derive("-(1-p)**gamma/p").domains["gamma"] == Domain(lower=-1, lower_open=True)
