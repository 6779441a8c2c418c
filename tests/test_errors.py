"""Bad input gets a clear error naming the value and what is accepted."""

import math

import jax
import jax.numpy as jnp
import pytest

import gradeng as ge

Z = jnp.zeros(4)
Y = jnp.array([0, 1, 1, 0])


@pytest.mark.parametrize("gamma", [-0.5, math.inf, math.nan])
def test_invalid_gamma(gamma):
  with pytest.raises(ValueError, match=r"`gamma` of `maki` must be a real number in \[0, inf\)"):
    ge.maki_loss(Z, Y, gamma=gamma)
  with pytest.raises(ValueError, match="`gamma` of `focal`"):
    ge.focal_loss(Z, Y, gamma=gamma)


def test_integer_only_parameter_rejects_real_values():
  coef = ge.ScaleCoefficient("maki_integer", ge.MAKI.expr, params={"gamma": "nonnegative_integer"},
                             weight=ge.MAKI.weight, loss=ge.MAKI.loss)
  with pytest.raises(ValueError, match=r"`gamma` of `maki_integer` must be an integer in \[0, inf\); got 2.5"):
    ge.loss_from_coefficient(coef, gamma=2.5)
  assert ge.loss_from_coefficient(coef, gamma=2)(Z, Y).shape == (4,)


def test_other_parameter_domains():
  with pytest.raises(ValueError, match="`q` of `gce` must be a real number in \\(0, 1\\]"):
    ge.gce_loss(Z, Y, q=0.0)
  with pytest.raises(ValueError, match="`epsilon` of `poly1`"):
    ge.poly1_loss(Z, Y, epsilon=-2.0)
  with pytest.raises(TypeError, match="unknown parameter"):
    ge.loss_from_coefficient(ge.MAKI, beta=1.0)


def test_labels_out_of_range():
  with pytest.raises(ValueError, match=r"Sigmoid-head labels must be in \{0, 1\}.*got e.g. \[2\]"):
    ge.cross_entropy_loss(Z, jnp.array([0, 2, 1, 0]))
  with pytest.raises(ValueError, match=r"\[0, 1\].*1.5"):
    ge.cross_entropy_loss(Z, jnp.array([0.0, 1.5, 1.0, 0.0]))
  with pytest.raises(ValueError, match=r"labels must be in \{0, …, 2\}; got e.g. \[3\]"):
    ge.focal_loss(jnp.zeros((2, 3)), jnp.array([0, 3]), head="softmax")
  with pytest.raises(ValueError, match=r"got e.g. \[-1\]"):
    ge.focal_loss(jnp.zeros((2, 3)), jnp.array([0, -1]), head="softmax")


def test_masked_out_labels_are_not_checked():
  out = ge.focal_loss(jnp.zeros((2, 3)), jnp.array([0, 7]), head="softmax", where=jnp.array([True, False]))
  assert float(out[1]) == 0.0


def test_shapes_that_do_not_broadcast():
  with pytest.raises(ValueError, match=r"Shapes do not broadcast: `logits` \(4,\), `labels` \(3,\)"):
    ge.qce_loss(Z, jnp.array([0, 1, 1]))
  with pytest.raises(ValueError, match="do not broadcast"):
    ge.qce_loss(jnp.zeros((5, 3)), jnp.zeros(4, jnp.int32), head="softmax")
  with pytest.raises(ValueError, match=r"per-class vector of shape \(3,\)"):
    ge.qce_loss(jnp.zeros((5, 3)), jnp.zeros(5, jnp.int32), head="softmax", alpha=jnp.ones(4))


def test_non_float_logits_and_labels():
  with pytest.raises(TypeError, match="`logits` must be a floating-point array; got dtype int32"):
    ge.maki_loss(jnp.zeros(4, jnp.int32), Y)
  with pytest.raises(TypeError, match="integer class ids"):
    ge.maki_loss(jnp.zeros((4, 2)), jnp.zeros(4), head="softmax")


def test_unknown_head_and_alpha_range():
  with pytest.raises(ValueError, match=r"`head` must be one of \('sigmoid', 'softmax'\); got 'relu'"):
    ge.maki_loss(Z, Y, head="relu")
  with pytest.raises(ValueError, match=r"`alpha` must be in \[0, 1\]"):
    ge.focal_loss(Z, Y, alpha=1.5)


def test_differentiating_hyper_parameters_is_an_error():
  with pytest.raises(TypeError, match="hyper-parameters"):
    jax.grad(lambda g: ge.maki_loss(Z + 1.0, Y, gamma=g).sum())(2.0)
