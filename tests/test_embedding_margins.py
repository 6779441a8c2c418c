"""Margin softmax heads (NormFace, A-softmax, CosFace, ArcFace) against mpmath and by hand."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import gradeng as ge
from gradeng.embedding import _margins


def _mp_arcface(c, m):
  c, m = mp.mpf(c), mp.mpf(m)
  if c > mp.cos(mp.pi - m):
    return mp.cos(mp.acos(c) + m)
  return c - m * mp.sin(m)


def _mp_psi(c, m):
  theta = mp.acos(mp.mpf(c))
  k = int(mp.floor(m * theta / mp.pi))
  k = min(k, m - 1)
  return (-1) ** k * mp.cos(m * theta) - 2 * k


COSINES = np.concatenate([np.linspace(-0.999, 0.999, 41), [-0.5, 0.0, 0.3, 0.97]])


@functools.cache
def _targets_and_slopes(cosines, margins, *easy_margin):
  """`arcface_target` and its slope (float64) at ``cosines`` for every margin, in one compiled
  program (instead of each margin op by op)."""
  with jax.enable_x64(True):
    @jax.jit
    def targets_and_slopes(c):
      target = lambda t, m: _margins.arcface_target(t, m, *easy_margin)  # noqa: E731
      return [(target(c, m), jax.vmap(jax.grad(lambda t, m=m: target(t, m)))(c)) for m in margins]

    out = targets_and_slopes(jnp.asarray(cosines, jnp.float64))
  return {m: tuple(np.asarray(a) for a in pair) for m, pair in zip(margins, out)}


ARCFACE_MARGINS = (0.1, 0.35, 0.5, 1.0)


@pytest.mark.parametrize("margin", ARCFACE_MARGINS)
def test_arcface_target_value_and_slope_match_mpmath(margin):
  value, slope = _targets_and_slopes(tuple(COSINES), ARCFACE_MARGINS)[margin]
  assert value.dtype == slope.dtype == np.float64
  ref = np.array([float(_mp_arcface(v, margin)) for v in COSINES])
  ref_slope = np.array([float(mp.diff(lambda t: _mp_arcface(t, margin), mp.mpf(v)))
                        for v in COSINES])
  np.testing.assert_allclose(value, ref, rtol=1e-12, atol=1e-14)
  np.testing.assert_allclose(slope, ref_slope, rtol=1e-9)


def test_arcface_fallback_below_pi_minus_m_is_linear_and_monotone():
  m = 0.5
  c = jnp.linspace(-1.0, 1.0, 2001)
  f = np.asarray(jax.jit(_margins.arcface_target, static_argnums=1)(c, m))
  assert np.all(np.diff(f) > 0)  # the target logit never rises as θ grows
  # at c = -1 (θ = π) the fallback value c − m·sin m, by hand: −1 − 0.5·sin 0.5
  assert f[0] == pytest.approx(-1 - 0.5 * math.sin(0.5), rel=1e-6)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_sphereface_psi_matches_mpmath_and_decreases(m):
  with jax.enable_x64(True):
    psi = np.asarray(_margins.sphereface_psi(jnp.asarray(COSINES, jnp.float64), m))
  ref = np.array([float(_mp_psi(v, m)) for v in COSINES])
  np.testing.assert_allclose(psi, ref, rtol=1e-10, atol=1e-12)
  c = jnp.linspace(-1.0, 1.0, 4001)
  dense = np.asarray(_margins.sphereface_psi(c, m))
  assert np.all(np.diff(dense) >= -1e-5)  # ψ decreasing in θ = increasing in cos θ
  assert dense[0] == pytest.approx(1 - 2 * m, abs=1e-5) and dense[-1] == pytest.approx(1.0)


def test_sphereface_lambda_annealing_by_hand():
  got = np.asarray(ge.embedding.sphereface_lambda(jnp.array([0, 1000, 10**6])))
  np.testing.assert_allclose(got, [1000.0, 1000.0 / 121.0, 5.0], rtol=1e-6)


def _mp_logits(x, w, y, head, scale, margin, lam=0.0):
  """mpmath logits of one embedding x against class rows w."""
  x = [mp.mpf(v) for v in x]
  nx = mp.sqrt(mp.fsum(v * v for v in x))
  out = []
  for j, row in enumerate(w):
    row = [mp.mpf(v) for v in row]
    nw = mp.sqrt(mp.fsum(v * v for v in row))
    c = mp.fsum(a * b for a, b in zip(x, row)) / (nx * nw)
    if j == y and head == "arcface":
      c = _mp_arcface(c, margin)
    elif j == y and head == "cosface":
      c = c - margin
    elif j == y and head == "sphereface":
      c = (lam * c + _mp_psi(c, margin)) / (1 + lam)
    out.append((nx if scale is None else scale) * c)
  return out


HEADS = {
    "normface": lambda x, w, y: ge.embedding.normface_logits(x, w, scale=16.0),
    "cosface": lambda x, w, y: ge.embedding.cosface_logits(x, w, y, scale=16.0, margin=0.35),
    "arcface": lambda x, w, y: ge.embedding.arcface_logits(x, w, y, scale=16.0, margin=0.5),
    "sphereface": lambda x, w, y: ge.embedding.sphereface_logits(x, w, y, margin=4, lambda_=2.0),
}
MP_ARGS = {"normface": (16.0, 0.0), "cosface": (16.0, 0.35), "arcface": (16.0, 0.5),
           "sphereface": (None, 4)}


@pytest.mark.parametrize("head", sorted(HEADS))
def test_heads_value_and_embedding_gradient_match_mpmath(head):
  rng = np.random.default_rng(3)
  x = rng.normal(size=(4, 3))
  w = rng.normal(size=(5, 3))
  y = np.array([0, 2, 4, 1])
  scale, margin = MP_ARGS[head]
  mp_name = "normface" if head == "normface" else head
  with jax.enable_x64(True):
    f = HEADS[head]
    # the logits, and the gradient of the sum of all logits w.r.t. the embeddings: one compilation
    logits, grad = (np.asarray(a) for a in jax.jit(lambda e, w, y: (f(e, w, y), jax.grad(
        lambda u: jnp.sum(f(u, w, y)))(e)))(jnp.asarray(x), jnp.asarray(w), jnp.asarray(y)))
  for i in range(4):
    ref = _mp_logits(x[i], w, y[i] if head != "normface" else -1, mp_name, scale, margin, lam=2.0)
    np.testing.assert_allclose(logits[i], [float(v) for v in ref], rtol=1e-10, atol=1e-12)
    for d in range(3):
      def total(t, i=i, d=d):
        e = list(x[i])
        e[d] = t
        return mp.fsum(_mp_logits(e, w, y[i] if head != "normface" else -1, mp_name, scale,
                                  margin, lam=2.0))
      assert grad[i, d] == pytest.approx(float(mp.diff(total, mp.mpf(x[i, d]))), rel=1e-7, abs=1e-9)


DTYPES = (jnp.float32, jnp.bfloat16)


@functools.cache
def _logits_and_grads_at_special_embeddings():
  """Every head's logits and gradient at parallel, antiparallel and zero embeddings, in each dtype:
  one compiled program."""
  w = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
  xs = [jnp.array([[3.0, 0.0], [-2.0, 0.0], [0.0, 0.0], [1.0, 1e-4], [40.0, -40.0]], dtype) for dtype in DTYPES]
  y = jnp.array([0, 0, 1, 0, 2])

  def logits_and_grad(f, e):
    return f(e, w, y), jax.grad(lambda u: jnp.sum(f(u, w, y).astype(jnp.float32) ** 2))(e)

  out = jax.jit(lambda *es: [{head: logits_and_grad(f, e) for head, f in HEADS.items()} for e in es])(*xs)
  return dict(zip(DTYPES, out))


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_heads_finite_at_parallel_antiparallel_and_zero_embeddings(head, dtype):
  logits, grad = _logits_and_grads_at_special_embeddings()[dtype][head]
  assert logits.dtype == dtype
  assert np.all(np.isfinite(np.asarray(logits, np.float32)))
  assert np.all(np.isfinite(np.asarray(grad, np.float32)))
  # a zero embedding has cosine 0 with every class (the documented value)
  if head in ("normface", "cosface"):
    np.testing.assert_allclose(np.asarray(logits[2], np.float32),
                               [0.0, -16 * 0.35 if head == "cosface" else 0.0, 0.0],
                               atol=1e-6, rtol=1e-2 if dtype == jnp.bfloat16 else 1e-6)


def test_arcface_embedding_gradient_bounded_near_theta_zero():
  # d cos(θ+m)/dc = cos m + sin m·cot θ diverges as θ → 0, the gradient w.r.t. x must not:
  # its true norm is s·|sin(θ+m)|/‖x‖ ≤ s for ‖x‖ = 1.
  w = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  grad = jax.jit(jax.grad(lambda e: ge.embedding.arcface_logits(e, w, jnp.array([0]), scale=16.0, margin=0.5)[0, 0]))
  for angle in [0.0, 1e-8, 1e-5, 1e-3, 1e-2]:
    x = jnp.array([[math.cos(angle), math.sin(angle)]], jnp.float32)
    g = grad(x)
    norm = float(jnp.linalg.norm(g))
    assert np.isfinite(norm) and norm <= 16.0 * math.sin(angle + 0.5) * (1 + 1e-3) + 1e-3


def test_margin_head_feeds_catalog_losses():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(8, 4)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 3, 8))

  def arc_focal(e):
    return ge.focal_loss(ge.embedding.arcface_logits(e, w, y, scale=16.0, margin=0.5), y, gamma=2.0,
                         head="softmax").mean()

  def cos_maki(e):
    return ge.maki_loss(ge.embedding.cosface_logits(e, w, y, scale=16.0, margin=0.35), y, gamma=1,
                        head="softmax").mean()

  def plain_focal(e):
    return ge.focal_loss(ge.embedding.normface_logits(e, w, scale=16.0), y, gamma=2.0, head="softmax").mean()

  # One compiled program: both losses with their gradients, and NormFace's focal loss.
  arc, cos, plain = jax.jit(lambda e: (jax.value_and_grad(arc_focal)(e), jax.value_and_grad(cos_maki)(e),
                                       plain_focal(e)))(x)
  for value, grad in (arc, cos):
    assert np.isfinite(float(value)) and float(value) > 0
    assert np.all(np.isfinite(np.asarray(grad))) and float(jnp.abs(grad).sum()) > 0
  # the margin makes the loss larger than NormFace's at the same scale (target logit lowered)
  assert float(arc[0]) > float(plain)


def test_bad_labels_and_hyper_parameters():
  x, w = jnp.ones((2, 3)), jnp.ones((4, 3))
  with pytest.raises(ValueError, match=r"`labels` must be in \[0, 3\]; got 4"):
    ge.embedding.arcface_logits(x, w, jnp.array([0, 4]))
  with pytest.raises(ValueError, match=r"`labels` must be in \[0, 3\]; got -1"):
    ge.embedding.cosface_logits(x, w, jnp.array([-1, 0]))
  with pytest.raises(ValueError, match="`margin` must be a finite number ≥ 0.0 and ≤ 1.57"):
    ge.embedding.arcface_logits(x, w, jnp.array([0, 1]), margin=2.0)
  with pytest.raises(ValueError, match="`margin` must be an integer ≥ 1"):
    ge.embedding.sphereface_logits(x, w, jnp.array([0, 1]), margin=1.5)
  with pytest.raises(ValueError, match="same D"):
    ge.embedding.normface_logits(x, jnp.ones((4, 2)))
  jitted = jax.jit(lambda lab: ge.embedding.arcface_logits(x, w, lab))
  out = np.asarray(jitted(jnp.array([0, 7])))
  assert np.all(np.isfinite(out[0])) and np.all(np.isnan(out[1]))


def test_injected_arcface_slope_is_finite_where_naive_autodiff_is_not():
  m = 0.5

  def naive(c):  # the textbook form, differentiated by JAX (the benchmark's autodiff peer)
    return c * math.cos(m) - jnp.sqrt(jnp.maximum(1.0 - c * c, 0.0)) * math.sin(m)

  naive_slope = jax.jit(jax.grad(naive))  # one compilation for both points
  for c in (1.0, -1.0):  # ±inf, and inf·0 = NaN once chained to a parallel embedding
    assert not np.isfinite(float(naive_slope(jnp.float32(c))))
  assert np.isfinite(float(jax.jit(jax.grad(lambda c: _margins.arcface_target(c, m)))(jnp.float32(1.0))))


# --- ArcFace's easy margin (insightface / pytorch-metric-learning `easy_margin`) ---------------

def _np_arcface_easy(c, m):
  """The easy-margin target and its slope in float64 NumPy: cos(arccos c + m) where c > 0, else c."""
  c = np.asarray(c, np.float64)
  theta = np.arccos(c)
  value = np.where(c > 0, np.cos(theta + m), c)
  slope = np.where(c > 0, np.sin(theta + m) / np.sin(theta), 1.0)  # d cos(θ+m)/dc, dθ/dc = −1/sin θ
  return value, slope


EASY_COSINES = np.concatenate([COSINES, [-1e-6, -1e-12, 1e-12, 1e-6, 1e-3, -1e-3]])


EASY_MARGINS = (0.1, 0.5, 1.0)


@pytest.mark.parametrize("margin", EASY_MARGINS)
def test_arcface_easy_margin_target_and_slope_match_numpy(margin):
  value, slope = _targets_and_slopes(tuple(EASY_COSINES), EASY_MARGINS, True)[margin]
  assert value.dtype == slope.dtype == np.float64
  ref, ref_slope = _np_arcface_easy(EASY_COSINES, margin)
  np.testing.assert_allclose(value, ref, rtol=1e-12, atol=1e-15)
  np.testing.assert_allclose(slope, ref_slope, rtol=1e-9)
  # Either side of cos θ = 0 by hand: just above, cos(π/2 + m) = −sin m; at and below, c itself.
  assert value[EASY_COSINES == 1e-12][0] == pytest.approx(-math.sin(margin), rel=1e-9)
  assert value[EASY_COSINES == -1e-12][0] == -1e-12
  assert slope[EASY_COSINES == 1e-12][0] == pytest.approx(math.cos(margin), rel=1e-9)  # cot θ → 0
  assert np.all(slope[EASY_COSINES <= 0] == 1.0)
  with jax.enable_x64(True):
    at_zero = jax.value_and_grad(lambda t: _margins.arcface_target(t, margin, True))(jnp.float64(0.0))
  assert (float(at_zero[0]), float(at_zero[1])) == (0.0, 1.0)  # c = 0 belongs to the plain side


def test_arcface_easy_margin_differs_from_default_only_past_ninety_degrees():
  m = 0.5
  with jax.enable_x64(True):
    c = jnp.asarray(EASY_COSINES, jnp.float64)
    default = np.asarray(_margins.arcface_target(c, m))
    explicit = np.asarray(_margins.arcface_target(c, m, False))
    easy = np.asarray(_margins.arcface_target(c, m, True))
  np.testing.assert_array_equal(default, explicit)
  np.testing.assert_allclose(default, [float(_mp_arcface(v, m)) for v in EASY_COSINES], rtol=1e-12, atol=1e-15)
  positive = EASY_COSINES > 0
  np.testing.assert_array_equal(easy[positive], default[positive])
  np.testing.assert_array_equal(easy[~positive], EASY_COSINES[~positive])
  assert np.all(easy[~positive] > default[~positive])  # the margin is off: a higher target logit


@pytest.mark.parametrize("easy_margin", [False, True])
def test_arcface_logits_easy_margin_values_and_gradients_match_numpy(easy_margin):
  """Target logits s·f(cos θ) and their gradients w.r.t. the embedding, against the equations in
  float64 NumPy: d/dx s·f(x̂·ŵ) = s·f'(c)·(ŵ − c·x̂)/‖x‖, at angles either side of 90°."""
  scale, m = 16.0, 0.5
  degrees = np.array([30.0, 80.0, 89.9, 90.1, 100.0, 150.0, 175.0])
  angles = np.radians(degrees)
  norms = np.linspace(0.5, 3.0, len(angles))
  x = np.stack([np.cos(angles), np.sin(angles)], -1) * norms[:, None]
  w = np.array([[1.0, 0.0], [0.0, 1.0]])
  labels = np.zeros(len(angles), int)
  def logits_of(e, y):
    return ge.embedding.arcface_logits(e, jnp.asarray(w, jnp.float32), y, scale=scale, margin=m,
                                       easy_margin=easy_margin)

  # The logits and the per-embedding gradients of the target logit in one compiled program.
  logits, grads = jax.jit(lambda e, y: (logits_of(e, y), jax.vmap(jax.grad(
      lambda e, y: logits_of(e[None], y[None])[0, 0]))(e, y)))(jnp.asarray(x, jnp.float32), jnp.asarray(labels))
  c = np.cos(angles)
  if easy_margin:
    f, slope = _np_arcface_easy(c, m)
  else:  # the default, written out: cos(θ + m) up to θ + m = π, then c − m·sin m
    inside = angles + m <= np.pi
    f = np.where(inside, np.cos(angles + m), c - m * np.sin(m))
    slope = np.where(inside, np.sin(angles + m) / np.sin(angles), 1.0)
  x_hat = x / norms[:, None]
  want_grad = scale * slope[:, None] * (w[0] - c[:, None] * x_hat) / norms[:, None]
  np.testing.assert_allclose(np.asarray(logits[:, 0]), scale * f, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(logits[:, 1]), scale * np.sin(angles), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(grads), want_grad, rtol=1e-4, atol=1e-5)
  # 100° and 150°: the easy margin leaves the target at s·cos θ; the default lowers it.
  plain = scale * c[degrees >= 100.0][:2]
  if easy_margin:
    np.testing.assert_allclose(np.asarray(logits[:, 0])[degrees >= 100.0][:2], plain, rtol=1e-5)
  else:
    assert np.all(np.asarray(logits[:, 0])[degrees >= 100.0][:2] < plain - 1.0)


def test_arcface_default_is_the_fallback_and_easy_margin_must_be_a_bool():
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(16, 4)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 5, 16))
  # Each compiled on its own (one program holding both would share the computation).
  np.testing.assert_array_equal(jax.jit(ge.embedding.arcface_logits)(x, w, y),
                                jax.jit(lambda *a: ge.embedding.arcface_logits(*a, easy_margin=False))(x, w, y))
  with pytest.raises(ge.runtime.InputError, match=r"`easy_margin` must be True or False; got 'yes'"):
    ge.embedding.arcface_logits(x, w, y, easy_margin="yes")
