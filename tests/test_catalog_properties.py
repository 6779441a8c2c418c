"""Identities between catalog losses, peer implementations (optax), and the injected backward."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradeng as ge

KEY = jax.random.PRNGKey(0)


def _random_binary(n=512, scale=8.0, seed=0):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  return scale * jax.random.normal(k1, (n,)), jax.random.bernoulli(k2, 0.3, (n,)).astype(jnp.int32)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_sigmoid_focal_equals_optax(gamma, alpha):
  logits, labels = _random_binary()
  float_labels = labels.astype(jnp.float32)

  def ours(z):
    return ge.focal_loss(z, labels, gamma=gamma, alpha=alpha)

  def theirs(z):
    return optax.losses.sigmoid_focal_loss(z, float_labels, gamma=gamma, alpha=alpha)

  np.testing.assert_allclose(ours(logits), theirs(logits), rtol=2e-6, atol=1e-7)
  np.testing.assert_allclose(
      jax.grad(lambda z: ours(z).sum())(logits), jax.grad(lambda z: theirs(z).sum())(logits),
      rtol=2e-5, atol=1e-7)


def test_softmax_ce_equals_optax():
  logits = 10 * jax.random.normal(KEY, (64, 21))
  labels = jax.random.randint(jax.random.PRNGKey(1), (64,), 0, 21)
  ours = lambda z: ge.cross_entropy_loss(z, labels, head="softmax").sum()
  theirs = lambda z: optax.softmax_cross_entropy_with_integer_labels(z, labels).sum()
  # One compiled program for a shape no other test uses (op by op compiles every operation).
  both = jax.jit(lambda z: (ours(z), theirs(z), jax.grad(ours)(z), jax.grad(theirs)(z)))
  v_ours, v_theirs, g_ours, g_theirs = both(logits)
  np.testing.assert_allclose(v_ours, v_theirs, rtol=1e-6)
  np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-7)


@functools.partial(jax.jit, static_argnames="head")
def _maki_gamma_one_and_zero(logits, labels, head):
  """p_t, CE, Maki γ = 1 and γ = 0, and Poly-1 ε = -1, in one compiled program."""
  if head == "sigmoid":
    p_t = jnp.where(labels == 1, jax.nn.sigmoid(logits), jax.nn.sigmoid(-logits))
  else:
    p_t = jnp.take_along_axis(jax.nn.softmax(logits), labels[:, None], -1)[:, 0]
  return (p_t, ge.cross_entropy_loss(logits, labels, head=head),
          ge.maki_loss(logits, labels, gamma=1, head=head),
          ge.maki_loss(logits, labels, gamma=0, head=head),
          ge.poly1_loss(logits, labels, epsilon=-1.0, head=head))


@pytest.mark.parametrize("head", ["sigmoid", "softmax"])
def test_maki_gamma_one_is_ce_minus_one_minus_p(head):
  if head == "sigmoid":
    logits, labels = _random_binary(scale=3.0)
  else:
    logits = 3 * jax.random.normal(KEY, (128, 5))
    labels = jax.random.randint(KEY, (128,), 0, 5)
  p_t, ce, maki_1, maki_0, poly_1 = map(np.asarray, _maki_gamma_one_and_zero(logits, labels, head))
  np.testing.assert_allclose(maki_1, ce - (1 - p_t), rtol=1e-4, atol=2e-6)
  np.testing.assert_allclose(maki_0, ce, rtol=1e-6)
  # γ = 1 is also PolyLoss-1 with ε = -1 (Leng et al. 2022).
  np.testing.assert_allclose(maki_1, poly_1, rtol=1e-6)


def _log_p_t(z, labels, head):
  if head == "sigmoid":
    return jax.nn.log_sigmoid(jnp.where(labels == 1, z, -z))
  return jnp.take_along_axis(jax.nn.log_softmax(z), labels[:, None], -1)[:, 0]


@functools.partial(jax.jit, static_argnames="head")  # the reference: one compilation per head
def _surrogate_grad(logits, labels, gamma, head):
  def surrogate(z):
    lp = _log_p_t(z, labels, head)
    return jnp.sum(-jax.lax.stop_gradient(-jnp.expm1(lp)) ** gamma * lp)

  return jax.grad(surrogate)(logits)


@settings(max_examples=25, deadline=None)
@given(gamma=st.floats(0.0, 30.0), seed=st.integers(0, 2**16), head=st.sampled_from(["sigmoid", "softmax"]))
def test_maki_gradient_equals_stop_gradient_surrogate(gamma, seed, head):
  """∇ Maki = ∇ of -stop_gradient((1-p)^γ)·log p: an independent check of the injected rule."""
  key = jax.random.PRNGKey(seed)
  if head == "sigmoid":
    logits = 6 * jax.random.normal(key, (64,))
    labels = jax.random.bernoulli(key, 0.5, (64,)).astype(jnp.int32)
  else:
    logits = 4 * jax.random.normal(key, (16, 7))
    labels = jax.random.randint(key, (16,), 0, 7)
  # Ours op by op with γ static (a compilation per γ would cost more than the cached operations).
  ours = jax.grad(lambda z: ge.maki_loss(z, labels, gamma=gamma, head=head).sum())(logits)
  np.testing.assert_allclose(ours, _surrogate_grad(logits, labels, gamma, head), rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ge.LOSSES))
def test_injected_gradient_matches_autodiff_of_forward(name):
  """Where the forward is smooth and well conditioned, autodiff of it agrees with the rule."""
  logits, labels = _random_binary(scale=3.0)
  fn = ge.LOSSES[name]
  kernel_value = ge.CATALOG[name].loss
  params = dict(ge.CATALOG[name].defaults)

  def plain(z):  # autodiff straight through the log-space closed form, no injection
    lp = jax.nn.log_sigmoid(jnp.where(labels == 1, z, -z))
    lq = jax.nn.log_sigmoid(jnp.where(labels == 1, -z, z))
    return kernel_value(lp, lq, **params).sum()

  np.testing.assert_allclose(jax.grad(lambda z: fn(z, labels).sum())(logits), jax.grad(plain)(logits),
                             rtol=1e-4, atol=1e-6)


def test_transformations_jit_vmap_grad_hessian():
  logits, labels = _random_binary(n=8, scale=2.0)
  f = lambda z, g: ge.maki_loss(z, labels, gamma=g).sum()
  np.testing.assert_allclose(jax.jit(f)(logits, 2.0), f(logits, 2.0), rtol=1e-6)
  # vmap over a traced γ and the second-order transformations run compiled, inside jit (one
  # compile instead of op-by-op).
  per_gamma = jax.jit(jax.vmap(f, in_axes=(None, 0)))(logits, jnp.array([0.0, 1.0, 2.5]))
  np.testing.assert_allclose(per_gamma[0], ge.cross_entropy_loss(logits, labels).sum(), rtol=1e-6)
  # Hessian (forward-over-reverse) of the sigmoid Maki loss, γ = 0 (CE): diag = p(1 - p).
  hess = jax.jit(jax.hessian(lambda z: ge.maki_loss(z, labels, gamma=0).sum()))(logits)
  p = jax.nn.sigmoid(logits)
  np.testing.assert_allclose(jnp.diag(hess), p * (1 - p), rtol=1e-5)
  np.testing.assert_allclose(hess - jnp.diag(jnp.diag(hess)), 0.0, atol=1e-7)
  # grad of grad (reverse over reverse) of focal agrees with the Hessian diagonal.
  g2 = jax.jit(jax.grad(lambda z: jax.grad(lambda x: ge.focal_loss(x, labels).sum())(z).sum()))(logits)
  focal_hessian = jax.jit(jax.hessian(lambda z: ge.focal_loss(z, labels).sum()))
  np.testing.assert_allclose(g2, jnp.diag(focal_hessian(logits)),
                             rtol=1e-5, atol=1e-7)


def test_soft_labels_are_the_label_mixture():
  logits = jnp.array([-3.0, 0.5, 4.0])
  y = jnp.array([0.25, 0.5, 0.9])

  @jax.jit  # one compiled program for a shape no other test uses
  def losses(y):
    got = ge.focal_loss(logits, y, gamma=2.0, alpha=0.3)
    pos = ge.focal_loss(logits, jnp.ones(3, jnp.int32), gamma=2.0)
    neg = ge.focal_loss(logits, jnp.zeros(3, jnp.int32), gamma=2.0)
    dy = jax.grad(lambda t: ge.focal_loss(logits, t, gamma=2.0, alpha=0.3).sum())(y)
    return got, pos, neg, dy

  got, pos, neg, dy = losses(y)
  np.testing.assert_allclose(got, 0.3 * y * pos + 0.7 * (1 - y) * neg, rtol=1e-6)
  # The derivative with respect to a soft label is α L(p) - (1 - α) L(1 - p).
  np.testing.assert_allclose(dy, 0.3 * pos - 0.7 * neg, rtol=1e-6)


def test_softmax_alpha_ignore_index_and_where():
  logits = jax.random.normal(KEY, (6, 4))
  labels = jnp.array([0, 1, 2, 3, -1, 1])
  alpha = jnp.array([0.25, 1.0, 2.0, 0.5])
  where = jnp.array([True, False, True, True, True, True])

  @jax.jit  # one compiled program for a shape no other test uses
  def losses(logits):
    plain = ge.qce_loss(logits, jnp.maximum(labels, 0), head="softmax")
    got = ge.qce_loss(logits, labels, head="softmax", alpha=alpha, ignore_index=-1)
    grad = jax.grad(lambda z: ge.qce_loss(z, labels, head="softmax", ignore_index=-1).sum())(logits)
    masked = ge.qce_loss(logits, jnp.maximum(labels, 0), head="softmax", where=where)
    return plain, got, grad, masked

  plain, got, grad, masked = losses(logits)
  expected = plain * alpha[jnp.maximum(labels, 0)] * (labels != -1)
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  assert np.all(grad[4] == 0) and np.all(grad[0] != 0)
  np.testing.assert_allclose(masked, plain * where, rtol=1e-6)


def test_bad_labels_under_jit_poison_instead_of_passing():
  logits = jnp.zeros((3, 4))
  out = jax.jit(lambda y: ge.maki_loss(logits, y, head="softmax"))(jnp.array([0, 4, 1]))
  assert np.isnan(out[1]) and np.isfinite(out[0]) and np.isfinite(out[2])
  out = jax.jit(lambda g: ge.maki_loss(jnp.zeros(3), jnp.ones(3, jnp.int32), gamma=g))(-1.0)
  assert np.all(np.isnan(out))


def test_coefficient_evaluation_reproduces_paper_section_2_1():
  """1000 easy examples at p = 0.9 and 10 hard at p = 0.3: CE −1111 vs −33, focal γ=2 −32 vs −33."""
  counts, p = jnp.array([1000.0, 10.0]), jnp.array([0.9, 0.3])

  @jax.jit  # one compiled program instead of each operation compiled for this shape
  def evaluated(p):
    return (ge.scale_coefficient("ce", p), ge.scale_coefficient("focal", p, gamma=2),
            ge.logit_weight(ge.MAKI, p, gamma=2), ge.loss_value("qce", p))

  ce, focal, maki_weight, qce_value = evaluated(p)
  np.testing.assert_allclose(counts * ce, [-1111.111, -33.333], rtol=1e-5)
  # By hand: 1000·(2·0.1·log 0.9 − 0.01/0.9) = −32.18; 10·(2·0.7·log 0.3 − 0.49/0.3) = −33.19.
  np.testing.assert_allclose(counts * focal, [-32.1832, -33.1890], rtol=1e-4)
  np.testing.assert_allclose(maki_weight, -((1 - p) ** 2), rtol=1e-6)
  np.testing.assert_allclose(qce_value, jnp.log(p) ** 2 / 2, rtol=1e-6)
  with pytest.raises(ValueError, match="Unknown loss 'nope'"):
    ge.scale_coefficient("nope", p)
