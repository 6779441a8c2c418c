"""Losses from user formulas and user JAX functions: the same path as the catalog."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import gradeng as ge
from tests.reference import relative_errors

LOGITS = np.linspace(-40, 40, 33).astype(np.float32)


def _reference(g, z, y, memo):
  """(L, dL/dz) for a sigmoid head, from g alone by 50-digit quadrature.

  Label 0 at z is label 1 at -z (the same p, q and L; dL/dz changes sign): ``memo`` keeps
  (L, g·p·q) per signed logit s·z, so the grid's mirrored points are integrated once.
  """
  s = 1 if y == 1 else -1
  t = s * float(z)  # exact: a float negated
  if t not in memo:
    p = 1 / (1 + mp.exp(-mp.mpf(t)))
    q = 1 / (1 + mp.exp(mp.mpf(t)))
    # L = ∫_p^1 -g(t) dt = ∫_0^q -g(1 - u) du, integrated in u = 1 - t so that p → 1 keeps digits.
    memo[t] = (mp.quad(lambda u: -g(1 - u, u), [0, q]), g(p, q) * p * q)
  value, slope = memo[t]
  return value, slope * s


CASES = [
    # formula, params, g(p, q) in mpmath
    ("-(1-p)**2/p", {}, lambda p, q: -(q**2) / p),
    ("-(1-p)**gamma/p", {"gamma": 2.5}, lambda p, q: -(q**2.5) / p),
    ("-exp(-p)/p", {}, lambda p, q: -mp.exp(-p) / p),
    ("log(p)/p", {}, lambda p, q: mp.log(p) / p),
    ("-(1-p)/p * (1 + sin(pi*p)**2)", {}, lambda p, q: -q / p * (1 + mp.sin(mp.pi * p) ** 2)),
]


@pytest.mark.slow
@pytest.mark.parametrize("formula,params,g", CASES, ids=[c[0] for c in CASES])
def test_formula_losses_match_mpmath(formula, params, g):
  loss = ge.loss_from_coefficient(ge.coefficient(formula), **params)
  assert loss.forward_method.startswith(("closed form (", "approximant (")) or loss.forward_method == "quadrature"
  memo = {}
  values_and_grads = jax.jit(jax.vmap(jax.value_and_grad(lambda z, y: loss(z, y))))  # both labels: one compilation
  for label in (0, 1):
    labels = jnp.full(LOGITS.shape, label, jnp.int32)
    values, grads = values_and_grads(jnp.asarray(LOGITS), labels)
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(grads))
    refs = [_reference(g, z, label, memo) for z in LOGITS]
    for got, want in ((values, [r[0] for r in refs]), (grads, [r[1] for r in refs])):
      errors = [e for e in relative_errors(np.asarray(got), want) if e is not None]
      assert len(errors) >= 10 and max(errors) <= 1e-5, (formula, label, max(errors))


def test_formula_equal_to_catalog_maki():
  z = jnp.linspace(-12, 12, 25)
  y = (jnp.arange(25) % 2).astype(jnp.int32)
  user = ge.loss_from_coefficient(ge.coefficient("-(1-p)**gamma/p"), gamma=2)
  maki = lambda a, y: ge.maki_loss(a, y, gamma=2)  # noqa: E731

  @jax.jit  # both losses and their gradients in one compiled program
  def values_and_grads(z):
    return [(f(z, y), jax.grad(lambda a: f(a, y).sum())(z)) for f in (user, maki)]

  (user_values, user_grad), (maki_values, maki_grad) = values_and_grads(z)
  np.testing.assert_allclose(user_values, maki_values, rtol=1e-5, atol=1e-30)
  np.testing.assert_allclose(user_grad, maki_grad, rtol=1e-6)


def test_softmax_head_for_a_formula():
  logits = 3 * jax.random.normal(jax.random.PRNGKey(0), (16, 5))
  labels = jnp.arange(16) % 5
  user = ge.loss_from_coefficient(ge.coefficient("log(p)/p"), head="softmax")
  both = jax.jit(lambda z: (user(z, labels), ge.qce_loss(z, labels, head="softmax")))  # one compilation
  np.testing.assert_allclose(*both(logits), rtol=1e-5)


def test_loss_from_gradient_with_a_training_time_argument():
  """g may depend on a traced value (here a smooth warm-up bound |g| < cap)."""

  def bounded_ce(p, cap):
    return -1.0 / (p + 1.0 / cap)

  loss = ge.loss_from_gradient(bounded_ce)
  z = jnp.array([-6.0, -1.0, 0.0, 2.0])
  y = jnp.ones(4, jnp.int32)

  @jax.jit
  def step_loss(z, cap):
    return ge.loss_from_gradient(bounded_ce, cap=cap)(z, y)

  p = jax.nn.sigmoid(z)
  # L(p) = ∫_p^1 dt / (t + 1/c) = log((1 + 1/c) / (p + 1/c)).
  expected = jnp.log((1 + 1 / 2.0) / (p + 1 / 2.0))
  np.testing.assert_allclose(step_loss(z, 2.0), expected, rtol=1e-5)
  grad = jax.jit(jax.grad(lambda a: step_loss(a, 2.0).sum()))(z)
  np.testing.assert_allclose(grad, -p * (1 - p) / (p + 0.5), rtol=1e-5)
  # With a huge cap it is cross-entropy.
  np.testing.assert_allclose(step_loss(z, 1e30), jax.jit(ge.cross_entropy_loss)(z, y), rtol=1e-5)
  assert loss.forward_method == "quadrature"
