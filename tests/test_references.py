"""Reference tests: quadrature, the Maki-tail regime switches, Hessians at γ > 0 and
gradients at bad labels, each against mpmath or a hand derivation, not the implementation."""

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import gradeng as ge
from gradeng.runtime import integrate_weight
from gradeng.runtime import maki_tail


def _maki_reference(p, gamma):
  """L_γ(p) = ∫_p^1 (1-t)^γ/t dt = q^A/A · ₂F₁(1, A; A+1; q), A = γ + 1, q = 1 - p (50 digits)."""
  p = mp.mpf(p)
  q, a = 1 - p, mp.mpf(gamma) + 1
  return q ** a / a * mp.hyp2f1(1, a, a + 1, q)


# ----------------------------------------------------------------------------- quadrature


@pytest.mark.parametrize("name,weight,reference", [
    # w = p·g in log space, and L(p) = ∫_p^1 -g by mpmath quadrature of the textbook g.
    ("qce", lambda lp, lq: lp, lambda p: mp.quad(lambda t: -mp.log(t) / t, [p, 1])),
    ("maki_2.5", lambda lp, lq: -jnp.exp(2.5 * lq), lambda p: mp.quad(lambda t: (1 - t) ** 2.5 / t, [p, 1])),
    ("gce_0.3", lambda lp, lq: -jnp.exp(0.3 * lp), lambda p: mp.quad(lambda t: t ** (0.3 - 1), [p, 1])),
    ("sqrt_q", lambda lp, lq: -jnp.exp(0.5 * lq), lambda p: mp.quad(lambda t: mp.sqrt(1 - t) / t, [p, 1])),
])
def test_quadrature_against_mpmath(name, weight, reference):
  p = np.array([1e-30, 1e-6, 0.01, 0.3, 0.5, 0.9, 0.999, 1 - 1e-6], np.float64)
  log_p = jnp.asarray(np.log(p), jnp.float32)
  got = np.asarray(jax.jit(lambda lp: integrate_weight(weight, lp))(log_p), np.float64)
  # the reference at exactly the p the float32 log p represents
  expected = np.array([float(reference(mp.exp(mp.mpf(float(lp))))) for lp in np.asarray(log_p)])
  np.testing.assert_allclose(got, expected, rtol=2e-6)


def test_quadrature_in_float64_after_float32_keeps_float64_nodes():
  """A float32 integration first, then float64 under ``enable_x64`` in the same process: the
  float64 values keep float64 accuracy. (After a float32 warm-up detection run, nodes converted
  from one float64 NumPy array came out float32 inside ``enable_x64``: 6e-9 relative on the loss
  card; the rule is now kept per dtype.)"""
  weight = lambda lp, lq, gamma: -jnp.exp(gamma * lq)  # Maki: L = ∫_p^1 (1-t)^γ/t dt
  p = np.array([1e-6, 0.01, 0.3, 0.5, 0.9, 0.999])
  jax.jit(lambda lp, g: integrate_weight(weight, lp, gamma=g))(jnp.log(jnp.asarray(p, jnp.float32)), 2.0)
  with jax.enable_x64(True):
    got = jax.jit(lambda lp, g: integrate_weight(weight, lp, gamma=g))(jnp.log(jnp.asarray(p)), 2.0)
    assert got.dtype == jnp.float64
  np.testing.assert_allclose(np.asarray(got), [float(_maki_reference(v, 2)) for v in p], rtol=1e-13)


# ----------------------------------------------------------------------------- Maki tail regimes


def _around(x, rel=1e-3):
  return [x * (1 - rel), x * (1 + rel)]


@pytest.mark.parametrize("gamma", [0.5, 2.5, 9.0])
@pytest.mark.parametrize("traced", [False, True])
def test_maki_tail_on_both_sides_of_each_regime_switch(gamma, traced):
  """Regimes switch at q = 1/2 (tail series vs the rest) and at (γ+1)·p = 1 (small-p expansion vs
  Gauss–Laguerre); the float32 values just below and above each switch match 50-digit mpmath."""
  switches = [0.5, 1.0 / (gamma + 1.0)]
  p = np.array([x for s in switches for x in _around(s)] + [1e-20, 1e-4, 0.99, 1 - 1e-6])
  log_p = jnp.asarray(np.log(p), jnp.float32)
  log_q = jnp.asarray(np.log1p(-p), jnp.float32)
  if traced:
    got = jax.jit(maki_tail)(log_p, log_q, jnp.float32(gamma))
  else:
    got = jax.jit(lambda a, b: maki_tail(a, b, gamma))(log_p, log_q)
  # the p the float32 inputs represent: from log p below 1/2, from log(1 - p) above (where L
  # depends on q = 1 - p, which log p in float32 cannot carry to 7 digits)
  p32 = [mp.exp(mp.mpf(float(lp))) if x < 0.5 else 1 - mp.exp(mp.mpf(float(lq)))
         for x, lp, lq in zip(p, np.asarray(log_p), np.asarray(log_q))]
  expected = np.array([float(_maki_reference(x, gamma)) for x in p32])
  # atol: below the smallest float32 subnormal (q^(γ+1)/(γ+1) = 1e-61 at γ = 9, p = 1 - 1e-6)
  np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=3e-6, atol=1.5e-45)


# ----------------------------------------------------------------------------- Hessians, γ > 0


def _sigmoid_focal_reference(z, gamma, y):
  """L(z) = -(1 - p_t)^γ log p_t, p_t = σ(±z), and its second derivative in z (mpmath, 50 digits)."""
  def loss(x):
    p = 1 / (1 + mp.exp(-x if y == 1 else x))
    return -(1 - p) ** gamma * mp.log(p)
  return float(mp.diff(loss, mp.mpf(z), 2))


@pytest.mark.parametrize("gamma", [0.5, 2.0, 3.5])
@pytest.mark.parametrize("y", [0, 1])
def test_focal_hessian_at_saturated_logits_against_mpmath(gamma, y):
  z = np.array([-40.0, -15.0, -3.0, 0.0, 2.0, 15.0, 40.0])
  hessian = jax.jit(jax.vmap(jax.hessian(lambda a: ge.focal_loss(a, y, gamma=gamma))))
  # One compiled call: the grid, then a logit where p_t = 1 exactly in float32 (log p_t = 0).
  both = np.asarray(hessian(jnp.asarray([*z, 1e4 if y == 1 else -1e4], jnp.float32)), np.float64)
  got, far = both[:-1], both[-1:]
  expected = np.array([_sigmoid_focal_reference(x, gamma, y) for x in z])
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-30)
  # p_t = 1 exactly in float32: the second derivative is finite (0), not NaN.
  assert np.all(np.isfinite(far)) and abs(float(far[0])) < 1e-30


@pytest.mark.slow
def test_softmax_focal_hessian_is_finite_at_saturated_logits():
  z = jnp.array([[40.0, -40.0, 0.0], [-40.0, 40.0, 0.0], [1e4, -1e4, 0.0]], jnp.float32)
  labels = jnp.array([0, 0, 0])
  for gamma in (0.5, 2.0):  # compiled: one program per γ instead of op-by-op second derivatives
    hessian = jax.jit(jax.hessian(lambda a: ge.focal_loss(a, labels, gamma=gamma, head="softmax").sum()))(z)
    assert np.all(np.isfinite(hessian))


# ----------------------------------------------------------------------------- bad labels


def test_bad_label_gradients_are_nan_under_jit_and_masked_ones_are_zero():
  """Out-of-range labels (jit cannot raise): NaN loss and NaN gradient at that element only,
  the other elements' gradients exact (CE: dL/dz = σ(z) - y); a masked bad label is harmless."""
  grad = jax.jit(jax.grad(lambda z, y, w: ge.cross_entropy_loss(z, y, where=w).sum()))
  z = jnp.array([0.5, -1.0, 2.0])
  g = np.asarray(grad(z, jnp.array([1, 2, 0]), jnp.ones(3, bool)))
  sigma = 1 / (1 + np.exp(-np.asarray(z, np.float64)))
  assert np.isnan(g[1])
  np.testing.assert_allclose(g[[0, 2]], [sigma[0] - 1, sigma[2]], rtol=1e-6)
  masked = np.asarray(grad(z, jnp.array([1, 2, 0]), jnp.array([True, False, True])))
  np.testing.assert_allclose(masked, [sigma[0] - 1, 0.0, sigma[2]], rtol=1e-6)
  # Softmax head: a label ≥ C poisons its row; other rows are softmax(z) - onehot(y).
  sgrad = jax.jit(jax.grad(lambda z, y: ge.focal_loss(z, y, gamma=0.0, head="softmax").sum()))
  logits = jnp.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]])
  gs = np.asarray(sgrad(logits, jnp.array([1, 3])))
  assert np.all(np.isnan(gs[1]))
  expected = np.asarray(jax.nn.softmax(logits[0])) - np.array([0.0, 1.0, 0.0])
  np.testing.assert_allclose(gs[0], expected, rtol=1e-6, atol=1e-7)
