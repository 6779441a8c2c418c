"""Bad input gets a clear error naming the value and what is accepted."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge

Z = jnp.zeros(4)
Y = np.array([0, 1, 1, 0])


@pytest.mark.parametrize("gamma", [-0.5, math.inf, math.nan])
def test_invalid_gamma(gamma):
  with pytest.raises(ValueError, match=r"`gamma` of `maki` must be a real number in \[0, inf\)"):
    ge.maki_loss(Z, Y, gamma=gamma)
  with pytest.raises(ValueError, match="`gamma` of `focal`"):
    ge.focal_loss(Z, Y, gamma=gamma)


def test_integer_only_parameter_rejects_real_values():
  coef = ge.ScaleCoefficient("maki_integer", "-(1-p)**gamma/p", params={"gamma": "nonnegative_integer"},
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
    ge.cross_entropy_loss(Z, np.array([0, 2, 1, 0]))
  with pytest.raises(ValueError, match=r"\[0, 1\].*1.5"):
    ge.cross_entropy_loss(Z, [0.0, 1.5, 1.0, 0.0])
  with pytest.raises(ValueError, match=r"labels must be in \{0, …, 2\}; got e.g. \[3\]"):
    ge.focal_loss(jnp.zeros((2, 3)), np.array([0, 3]), head="softmax")
  with pytest.raises(ValueError, match=r"got e.g. \[-1\]"):
    ge.focal_loss(jnp.zeros((2, 3)), np.array([0, -1]), head="softmax")


def test_bad_labels_in_device_arrays_are_nan_without_a_host_copy():
  # A jax.Array is never read back to check it (no sync; not-fully-addressable arrays work):
  # its bad entries are NaN in the loss and in the gradient, as under jit.
  out = ge.cross_entropy_loss(Z, jnp.array([0, 2, 1, 0]))
  assert np.isnan(out[1]) and np.all(np.isfinite(np.asarray(out)[[0, 2, 3]]))
  out = ge.focal_loss(jnp.zeros((2, 3)), jnp.array([0, 3]), head="softmax")
  assert np.isnan(out[1]) and np.isfinite(out[0])


@pytest.mark.parametrize("head", ["sigmoid", "softmax"])
def test_bad_label_under_jit_poisons_the_gradient_too(head):
  # a NaN loss with a zero gradient would let a grad-only loop skip the row.
  logits, labels = (jnp.zeros(3), jnp.array([0, 5, 1])) if head == "sigmoid" else (
      jnp.zeros((3, 4)), jnp.array([0, 9, 1]))
  grad = jax.jit(jax.grad(lambda z, y: ge.focal_loss(z, y, head=head).sum()))(logits, labels)
  assert np.all(np.isnan(grad[1]))
  assert np.all(np.isfinite(np.delete(np.asarray(grad), 1, 0)))


def test_masked_out_labels_are_not_checked():
  out = ge.focal_loss(jnp.zeros((2, 3)), np.array([0, 7]), head="softmax", where=np.array([True, False]))
  assert float(out[1]) == 0.0
  grad = jax.grad(lambda z: ge.focal_loss(z, jnp.array([0, 7]), head="softmax",
                                          where=jnp.array([True, False])).sum())(jnp.zeros((2, 3)))
  assert np.all(np.isfinite(grad)) and np.all(grad[1] == 0.0)


def test_shapes_that_do_not_broadcast():
  with pytest.raises(ValueError, match=r"same shape; got `logits` \(4,\) and `labels` \(3,\)"):
    ge.qce_loss(Z, jnp.array([0, 1, 1]))
  with pytest.raises(ValueError, match=r"Shapes do not broadcast: `logits` \(4,\), `labels` \(3,\)"):
    ge.qce_loss(Z, jnp.array([0, 1, 1]), broadcast=True)
  with pytest.raises(ValueError, match="do not broadcast"):
    ge.qce_loss(jnp.zeros((5, 3)), jnp.zeros(4, jnp.int32), head="softmax", broadcast=True)
  with pytest.raises(ValueError, match=r"per-class vector of shape \(3,\)"):
    ge.qce_loss(jnp.zeros((5, 3)), jnp.zeros(5, jnp.int32), head="softmax", alpha=jnp.ones(4))


def test_non_float_logits_and_labels():
  with pytest.raises(TypeError, match="`logits` must be a floating-point array; got dtype int32"):
    ge.maki_loss(jnp.zeros(4, jnp.int32), Y)
  with pytest.raises(TypeError, match="integer class ids or float target distributions; got dtype bool"):
    ge.maki_loss(jnp.zeros((4, 2)), jnp.zeros(4, bool), head="softmax")
  with pytest.raises(ValueError, match=r"soft targets must have the shape of `logits` \(4, 2\)"):
    ge.maki_loss(jnp.zeros((4, 2)), jnp.zeros(4), head="softmax")


def test_unknown_head_and_alpha_range():
  with pytest.raises(ValueError, match=r"`head` must be one of \('sigmoid', 'softmax'\); got 'relu'"):
    ge.maki_loss(Z, Y, head="relu")
  with pytest.raises(ValueError, match=r"`alpha` must be in \[0, 1\]"):
    ge.focal_loss(Z, Y, alpha=1.5)


def test_sigmoid_head_does_not_broadcast_unless_asked():
  # (4, 1) logits against (4,) labels used to give a (4, 4) loss silently.
  with pytest.raises(ValueError, match=r"same shape; got `logits` \(4, 1\) and `labels` \(4,\).*broadcast=True"):
    ge.focal_loss(jnp.zeros((4, 1)), Y)
  assert ge.focal_loss(jnp.zeros((4, 1)), Y, broadcast=True).shape == (4, 4)
  with pytest.raises(ValueError, match=r"shape of `logits` without the class axis, \(4,\); got \(1,\)"):
    ge.focal_loss(jnp.zeros((4, 3)), np.array([1]), head="softmax")


def test_formula_loss_takes_hyper_parameters_when_called():
  # used to raise TypeError naming `_bind.<locals>.loss`.
  loss = ge.loss_from_coefficient(ge.coefficient("-(1-p)**gamma/p"), gamma=2)
  z = jnp.array([-1.0, 0.5, 3.0])
  np.testing.assert_allclose(loss(z, np.array([1, 0, 1]), gamma=3.0),
                             ge.maki_loss(z, np.array([1, 0, 1]), gamma=3), rtol=1e-5)
  with pytest.raises(TypeError, match=r"got unknown parameter\(s\) \['beta'\]; it takes \['gamma'\]"):
    loss(z, np.array([1, 0, 1]), beta=1.0)
  with pytest.raises(ValueError, match="diverges at p = 1"):
    loss(z, np.array([1, 0, 1]), gamma=-3.0)


def test_bad_input_to_the_symbolic_modules_raises_input_error(tmp_path):
  """Bad user input to the formula, derivation and report code is an `InputError`
  (a `ValueError`, so older ``except ValueError`` still catches it); none of these cases needs
  SymPy to integrate anything."""
  from gradeng.runtime import Variable, as_variable
  from gradeng.paper import render_report, write_reports

  cases = [
      lambda: ge.coefficient("p +"),  # _parse: a formula that does not parse
      lambda: ge.coefficient("-(1-p)**gamma/p", defaults={"gamma": "two"}),  # _parse: a default
      lambda: ge.coefficient("-1/p", variable="q"),  # _variable: an unknown variable
      lambda: ge.derive("-1/p", variable="q"),
      lambda: ge.derive("-(1-p)**gamma/p", beta=1),  # _derive: an unknown parameter
      lambda: ge.derive(ge.MAKI, gamma=-1),  # _derive: outside the parameter's domain
      lambda: as_variable("angle"),
      lambda: Variable("s", 1, -1),  # _variable: empty domain
      lambda: Variable("_s", -1, 1),
      lambda: render_report("hinge"),  # paper/_derivations: not a catalog loss
      lambda: write_reports(tmp_path, ["hinge"]),
  ]
  for case in cases:
    with pytest.raises(ge.InputError) as caught:
      case()
    assert isinstance(caught.value, ValueError)
  with pytest.raises(ge.InputError, match=r"default `gamma` of .* must be a number; got 'two'"):
    ge.coefficient("-(1-p)**gamma/p", defaults={"gamma": "two"})
  with pytest.raises(ge.InputError, match=r"unknown variable 'angle'"):
    as_variable("angle")
  with pytest.raises(ge.InputError, match=r"Unknown loss 'hinge'; the catalog has \['ce', "):
    render_report("hinge")
