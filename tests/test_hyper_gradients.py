"""Hyper-parameters θ of an injected loss are differentiable inputs.

Every derivative is compared with central finite differences in float64 of the loss *value*
(never of the implementation's own gradient formula), so a wrong injected rule cannot pass.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge

Z = np.array([-6.0, -1.5, -0.2, 0.3, 2.0, 5.0])
Y = np.array([1, 0, 1, 1, 0, 1])
USER = ge.coefficient("-(1-p)**gamma/p - gamma")  # parameter gamma, quadrature when traced


def _focal(z, theta):
  return ge.focal_loss(z, Y, gamma=theta).sum()


def _maki(z, theta):
  return ge.maki_loss(z, Y, gamma=theta).sum()


def _user(z, theta):
  return ge.loss_from_coefficient(USER, gamma=theta)(z, Y).sum()


def _softmax_maki(z, theta):
  # Two-class rows [z_i, z_{5-i}]: p_t has the sigmoid cases' shape [6], so the eager kernel's
  # compiled operations are reused from them.
  return ge.maki_loss(jnp.stack([z, z[::-1]], axis=-1), Y, gamma=theta, head="softmax").sum()


LOSSES = {"focal": (_focal, 2.3), "maki": (_maki, 1.7), "user": (_user, 1.4),
          "softmax_maki": (_softmax_maki, 2.6)}


def _fd(f, x, eps=1e-5):
  return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.fixture(autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_d_loss_d_theta_matches_finite_differences(name):
  f, theta = LOSSES[name]
  z = jnp.asarray(Z)
  # One compilation (cheaper than running op by op, measured): the differences' values come with
  # the gradient.
  value_and_grad = jax.jit(jax.value_and_grad(f, argnums=1))
  got = value_and_grad(z, jnp.float64(theta))[1]
  expected = _fd(lambda t: value_and_grad(z, jnp.float64(t))[0], theta)
  np.testing.assert_allclose(got, expected, rtol=1e-6)


# The sigmoid losses' mixed derivatives are columns of their Hessians (test below), checked there
# in both orders; the softmax head has no Hessian test and is checked here.
@pytest.mark.parametrize("name", ["softmax_maki"])
def test_d_theta_of_d_loss_d_z_matches_finite_differences(name):
  f, theta = LOSSES[name]
  z = jnp.asarray(Z)
  grad_z = jax.jit(jax.grad(f, argnums=0))
  # Forward over scalar θ of the gradient in z.
  mixed = jax.jit(jax.jacfwd(grad_z, argnums=1))(z, jnp.float64(theta))
  expected = _fd(lambda t: grad_z(z, t), theta)
  np.testing.assert_allclose(mixed, expected, rtol=1e-5, atol=1e-10)
  # The other order (d/dz of dL/dθ, reverse over forward) is the same matrix column.
  other = jax.jit(jax.jacrev(jax.grad(f, argnums=1), argnums=0))(z, jnp.float64(theta))
  np.testing.assert_allclose(other, expected, rtol=1e-5, atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["focal", "maki", "user"])
def test_hessian_in_logits_and_theta(name):
  f, theta = LOSSES[name]

  def packed(x):
    return f(x[:-1], x[-1])

  x = jnp.concatenate([jnp.asarray(Z), jnp.array([theta])])
  # Compiled: cheaper than op by op since traced-γ Maki's series are loops, not unrolled (measured).
  hessian = jax.jit(jax.hessian(packed))(x)
  # Row i shifts x along e_i; batched, one program for both differences.
  grad = jax.jit(jax.vmap(jax.grad(packed)))
  expected = _fd(lambda e: grad(x + e * np.eye(len(x))), 0.0)
  np.testing.assert_allclose(hessian, expected, rtol=1e-5, atol=1e-9)
  np.testing.assert_allclose(hessian, hessian.T, rtol=1e-9, atol=1e-12)
  # The mixed column d/dθ of dL/dz also in the other order (reverse over reverse: d/dz of dL/dθ).
  other = jax.jit(jax.jacrev(jax.grad(f, argnums=1), argnums=0))(x[:-1], x[-1])
  np.testing.assert_allclose(other, expected[-1, :-1], rtol=1e-5, atol=1e-10)


@pytest.mark.slow
def test_vmap_over_theta_matches_per_theta_gradients():
  thetas = jnp.array([0.5, 1.0, 2.0, 3.5])
  z = jnp.asarray(Z)
  maki = jax.jit(_maki)
  batched = jax.jit(jax.vmap(jax.grad(_maki, argnums=1), in_axes=(None, 0)))(z, thetas)
  for theta, got in zip(thetas, batched):
    np.testing.assert_allclose(got, _fd(lambda t: maki(z, t), float(theta)), rtol=1e-6)


def test_theta_gradient_of_a_known_closed_form():
  # CE-weighted focal at γ: ∂/∂γ [-(1-p)^γ log p] = -(1-p)^γ log(1-p) log p; z = 0 → p = 1/2.
  got = jax.jit(jax.grad(lambda g: ge.focal_loss(jnp.zeros(6), np.ones(6, int), gamma=g).sum()))(2.0)
  np.testing.assert_allclose(got, -6 * (0.5 ** 2) * np.log(0.5) ** 2, rtol=1e-12)


def test_alpha_is_differentiable():
  # L = α·L(p) for positives, (1 - α)·L(1 - p) for negatives: ∂ΣL/∂α = Σ_pos L - Σ_neg L.
  z = jnp.asarray(Z)
  got, unweighted = jax.jit(lambda a: (jax.grad(lambda b: ge.focal_loss(z, Y, alpha=b).sum())(a),
                                       ge.focal_loss(z, Y)))(0.25)
  unweighted = np.asarray(unweighted)
  np.testing.assert_allclose(got, unweighted[Y == 1].sum() - unweighted[Y == 0].sum(), rtol=1e-12)


def test_out_of_domain_traced_theta_poisons_value_and_gradient():
  z = jnp.asarray(Z)
  value, grad = jax.jit(jax.value_and_grad(_maki, argnums=(0, 1)))(z, jnp.float64(-0.5))
  assert np.isnan(value) and np.isnan(grad[1]) and np.all(np.isnan(grad[0]))
