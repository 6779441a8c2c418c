"""A formula with a sign or variable mistake is built with a clear warning, not silently."""

import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge


def test_a_negative_loss_warns_when_the_loss_is_built():
  with pytest.warns(ge.symbolic.NegativeLossWarning, match=r"negative on part of \(0, 1\).*min L = -26\.63"):
    loss = ge.loss_from_coefficient(ge.coefficient("(1-p)/p"))
  # L(1/2) = ∫_{1/2}^1 -(1-t)/t dt = -(log 2 - 1/2): the value is still the integral
  np.testing.assert_allclose(loss(jnp.array([0.0]), jnp.array([1])), [-(np.log(2) - 0.5)], rtol=1e-6)


def test_a_correct_sign_does_not_warn(recwarn):
  ge.loss_from_coefficient(ge.coefficient("-(1-p)/p"))
  assert not [w for w in recwarn if issubclass(w.category, ge.symbolic.NegativeLossWarning)]


def test_a_formula_that_does_not_depend_on_p_warns():
  with pytest.warns(UserWarning, match=r"does not depend on `p`.*\['x'\] are taken as parameters"):
    ge.coefficient("-(1-x)/x")


def test_bad_hyper_parameter_values_name_the_parameter():
  with pytest.raises(ge.InputError, match=r"`gamma` of `focal` must be a number .*got '2' of type str"):
    ge.focal_loss(jnp.zeros(2), jnp.ones(2), gamma="2")
  with pytest.raises(ge.InputError, match=r"needs a value for parameter\(s\) `gamma`"):
    ge.loss_from_coefficient(ge.coefficient("-(1-p)**gamma/p", params={"gamma": "nonnegative"}))
