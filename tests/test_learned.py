"""The learnable family (Maki mixture): properties for every θ, numerics, θ-gradients, bad input."""

from __future__ import annotations

import functools
import math

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings

import gradeng as ge
from gradeng.runtime import (
    check_exponents, learned_coefficient, maki_mixture, maki_mixture_loss, mixture_formula,
    weights_from_theta)
from tests.reference import LOSS_AND_COEFFICIENT

EXPONENTS = (0, 1, 2, 3, 4)
LOGITS = np.array([-40.0, -20.0, -5.0, -1.0, 0.0, 0.5, 3.0, 10.0, 20.0, 40.0], np.float32)


def _reference(p, q, weights, exponents):
  """(L, g) of the mixture at mpmath precision, from the hypergeometric Maki tails."""
  maki_l, maki_g = LOSS_AND_COEFFICIENT["maki"]
  value = mp.fsum(mp.mpf(float(c)) * maki_l(p, q, k) for c, k in zip(weights, exponents))
  g = mp.fsum(mp.mpf(float(c)) * maki_g(p, q, k) for c, k in zip(weights, exponents))
  return value, g


@functools.lru_cache(maxsize=None)
def _jitted(exponents):
  def value_and_dz(z, y, c):
    f = lambda z: maki_mixture_loss(z, y, weights=c, exponents=exponents)
    return f(z), jax.grad(lambda z: jnp.sum(f(z)))(z)

  return jax.jit(value_and_dz)


@jax.jit
def _curves64(c):
  """g, w and L of the mixture on a p grid in float64 (call under ``jax.enable_x64``)."""
  family = maki_mixture(EXPONENTS)
  p = jnp.linspace(1e-4, 1.0, 2001, dtype=jnp.float64)
  log_p, log_q = jnp.log(p), jnp.log1p(-p)
  params = {f"c{i}": c[i] for i in range(len(EXPONENTS))}
  w = family.weight(log_p, log_q, **params)
  return w / p, w, family.loss(log_p, log_q, **params)


weights_strategy = st.lists(st.floats(0.0, 5.0, allow_nan=False, width=32), min_size=5, max_size=5
                            ).filter(lambda c: sum(c) > 1e-3)


@settings(max_examples=15, deadline=None)
@given(weights_strategy, st.sampled_from([0, 1]))
def test_loss_and_gradient_match_mpmath_for_random_weights(weights, label):
  value, dz = _jitted(EXPONENTS)(jnp.asarray(LOGITS), jnp.full(LOGITS.shape, label), jnp.asarray(weights))
  s = 1 if label == 1 else -1
  for z, got_value, got_dz in zip(LOGITS, np.asarray(value), np.asarray(dz)):
    p = 1 / (1 + mp.exp(-s * mp.mpf(float(z))))
    q = 1 / (1 + mp.exp(s * mp.mpf(float(z))))
    want_value, g = _reference(p, q, weights, EXPONENTS)
    want_dz = g * p * q * s
    assert np.isfinite(got_value) and np.isfinite(got_dz)
    for got, want in ((got_value, want_value), (got_dz, want_dz)):
      want = float(want)
      if abs(want) > 1e-30:  # float32's normal range (a loss of 1e-35 may flush to 0)
        assert abs(got - want) <= 2e-5 * abs(want) + 1e-37, (z, label, got, want)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-6.0, 6.0, allow_nan=False), min_size=5, max_size=5))
def test_paper_properties_hold_for_every_theta(theta):
  """g ≤ 0, |g| non-increasing, L convex decreasing with L(1) = 0, |w| ≤ Σc = 1, for random θ."""
  c = np.asarray(weights_from_theta(jnp.asarray(theta, jnp.float32)), np.float64)
  assert np.all(c >= 0) and math.isclose(c.sum(), 1.0, rel_tol=1e-6)
  with jax.enable_x64(True):
    g, w, loss = (np.asarray(a) for a in _curves64(jnp.asarray(c, jnp.float64)))
  assert np.all(g <= 0)
  assert np.all(np.diff(np.abs(g)) <= 1e-12 * np.abs(g[:-1]))  # |g| non-increasing in p
  assert np.all(np.abs(w) <= c.sum() * (1 + 1e-12))  # bounded logit weight, max at p → 0
  assert loss[-1] == 0.0 and np.all(loss >= 0)
  assert np.all(np.diff(loss) <= 0)  # L decreasing
  assert np.all(np.diff(loss, 2) >= -1e-9)  # L convex (L'' = g' ≥ 0)
  assert math.isclose(g[-1], -c[0], rel_tol=1e-9, abs_tol=1e-15)  # g(1) = -c₀


def test_vanishing_family_has_g_zero_at_one():
  family = maki_mixture((1, 2))
  assert float(ge.scale_coefficient(family, 1.0, c0=0.3, c1=0.7)) == 0.0


@pytest.mark.parametrize("head", ["sigmoid", "softmax"])
def test_unit_vectors_and_poly1_are_catalog_losses(head):
  key = jax.random.key(0)
  if head == "sigmoid":
    z = jnp.asarray(LOGITS)
    y = jnp.asarray([0, 1] * 5)
  else:
    z = 8.0 * jax.random.normal(key, (10, 4))
    y = jnp.arange(10) % 4

  @jax.jit
  def both(z):
    mix = lambda c: functools.partial(maki_mixture_loss, weights=c, head=head)
    pairs = [(mix([1.0, 0.0, 0.0]), functools.partial(ge.cross_entropy_loss, head=head)),
             (mix([0.0, 0.0, 1.0]), functools.partial(ge.maki_loss, gamma=2, head=head)),
             (mix([0.75, 0.25]), functools.partial(ge.poly1_loss, epsilon=-0.25, head=head))]
    return [[(f(z, y), jax.grad(lambda v: f(v, y).sum())(z)) for f in pair] for pair in pairs]

  (ce, maki, poly1) = both(z)
  for (got, got_grad), (want, want_grad) in (ce, maki, poly1):
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(got_grad, want_grad, rtol=2e-6, atol=1e-7)
  # A unit vector's weight is that Maki weight, computed the same way: the same gradient, bit for bit.
  for (_, got_grad), (_, want_grad) in (ce, maki):
    np.testing.assert_array_equal(got_grad, want_grad)


def test_bf16_logits_stay_finite():
  z = jnp.asarray(LOGITS, jnp.bfloat16)
  y = jnp.ones(z.shape, jnp.int32)
  f = lambda z: maki_mixture_loss(z, y, weights=[0.2, 0.3, 0.5])
  value, dz = jax.jit(lambda z: (f(z), jax.grad(lambda z: jnp.sum(f(z)))(z)))(z)
  assert value.dtype == jnp.bfloat16 and np.all(np.isfinite(np.asarray(value, np.float32)))
  assert np.all(np.isfinite(np.asarray(dz, np.float32)))


def test_derive_prints_the_learned_loss_as_a_formula():
  weights = [0.125, 0.25, 0.0, 0.625]
  formula = mixture_formula(weights)
  assert formula == "-(0.125 + 0.25*(1-p) + 0.625*(1-p)**3)/p"
  derivation = ge.derive(formula)
  assert derivation.verified is True
  coefficient = learned_coefficient(weights)
  assert ge.derive(coefficient).loss.equals(derivation.loss)
  # The printed closed form, evaluated exactly, equals the stable Maki-tail evaluation.
  for p in (0.01, 0.3, 0.9):
    (symbol,) = derivation.loss.free_symbols
    exact = float(derivation.loss.subs(symbol, mp.mpf(p)).evalf(30))
    stable = float(ge.loss_value(coefficient, p))
    assert stable == pytest.approx(exact, rel=1e-5)
  # Hand check at p = 1/2: 0.125·ln 2 + 0.25·(ln 2 - 1/2) + 0.625·(ln 2 - 1/2 - 1/8 - 1/24).
  ln2 = math.log(2)
  want = 0.125 * ln2 + 0.25 * (ln2 - 0.5) + 0.625 * (ln2 - 0.5 - 0.125 - 1 / 24)
  assert float(ge.loss_value(coefficient, 0.5)) == pytest.approx(want, rel=1e-6)


def test_negative_weight_given_by_hand_is_refused():
  with pytest.raises(ValueError, match=r"`weights\[1\]` must be a finite number ≥ 0.*got -0\.1"):
    maki_mixture_loss(jnp.zeros(3), jnp.ones(3, int), weights=[0.5, -0.1, 0.6])
  with pytest.raises(ValueError, match=r"`weights\[0\]`.*got nan"):
    mixture_formula([float("nan"), 1.0])
  with pytest.raises(ValueError, match="all 0"):
    maki_mixture_loss(jnp.zeros(3), jnp.ones(3, int), weights=[0.0, 0.0])
  with pytest.raises(ValueError, match=r"shape \(3,\)"):
    maki_mixture_loss(jnp.zeros(3), jnp.ones(3, int), weights=[0.5, 0.5], exponents=(0, 1, 2))
  with pytest.raises(ValueError, match=r"`c1` of `maki_mixture` must be a real number in \[0, inf\)"):
    ge.loss_from_coefficient(maki_mixture((0, 1)), c0=1.0, c1=-2.0)


def test_negative_traced_weight_gives_nan_under_jit():
  f = jax.jit(lambda c: maki_mixture_loss(jnp.zeros(3), jnp.ones(3, int), weights=c))
  assert np.all(np.isnan(f(jnp.asarray([0.5, -0.1]))))
  assert np.all(np.isfinite(f(jnp.asarray([0.5, 0.1]))))
  g = jax.jit(lambda a, b: maki_mixture_loss(jnp.zeros(3), jnp.ones(3, int), weights=[a, b]))
  assert np.all(np.isnan(g(0.5, -0.1)))  # a list of traced scalars is checked the same way
  np.testing.assert_allclose(g(0.5, 0.1), f(jnp.asarray([0.5, 0.1])), rtol=1e-6)


def test_family_whose_integral_diverges_at_one_is_refused():
  with pytest.raises(ge.DivergentIntegralError, match=r"`exponents\[1\]` = -1.*diverges at p = 1"):
    maki_mixture((0, -1))
  with pytest.raises(ge.DivergentIntegralError, match=r"`exponents\[0\]` = -2"):
    maki_mixture_loss(jnp.zeros(2), jnp.ones(2, int), weights=[1.0], exponents=(-2,))
  with pytest.raises(ValueError, match=r"-1 < k < 0 .*\|g\|.*grows"):
    check_exponents((0, -0.5))
  with pytest.raises(ValueError, match="duplicates"):
    check_exponents((0, 1, 1))
  # The symbolic path agrees: the same g given as a formula has no loss with L(1) = 0.
  with pytest.raises(ge.DivergentIntegralError):
    ge.derive("-(1 + (1-p)**(-1))/p")


def test_weight_gradients_are_the_maki_tails_under_jit_and_vmap():
  """L is linear in c: ∂ΣL/∂c_k = Σ L_k (Maki γ = k), and ∂(Σ z·dL/dz)/∂c_k = Σ z·dL_k/dz."""
  z = jnp.asarray(LOGITS)
  y = jnp.asarray([1, 0] * 5)
  value = lambda c: jnp.sum(maki_mixture_loss(z, y, weights=c))
  second = lambda c: jnp.sum(z * jax.grad(lambda z: jnp.sum(maki_mixture_loss(z, y, weights=c)))(z))
  maki = lambda k: jnp.sum(ge.maki_loss(z, y, gamma=k))
  maki_second = lambda k: jnp.sum(z * jax.grad(lambda z: jnp.sum(ge.maki_loss(z, y, gamma=k)))(z))
  batch = jnp.asarray([[0.2, 0.3, 0.5], [1.0, 0.0, 2.0]])

  @jax.jit
  def both(batch):  # one compilation: the vmapped gradients in c and the Maki references
    return [(jax.vmap(jax.grad(fn))(batch), jnp.stack([want(k) for k in range(3)]))
            for fn, want in ((value, maki), (second, maki_second))]

  for got, expected in both(batch):
    for row in np.asarray(got):  # the same for every c (linearity)
      np.testing.assert_allclose(row, np.asarray(expected), rtol=2e-5)
