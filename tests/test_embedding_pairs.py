"""Pair/triplet losses and center loss: hand-derived values, peer implementations, the injected
pair weights against autodiff, the three triplet conditions, the center update rule, bad input."""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradeng as ge
from gradeng.embedding import _pairs

RNG = np.random.default_rng(7)
X = RNG.normal(size=(12, 5))
Y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
PARAMS = {"contrastive": (1.0,), "binomial_deviance": (2.0, 0.5, 1.0),
          "multi_similarity": (2.0, 50.0, 0.5, 0.1), "circle": (80.0, 0.4)}


# ----------------------------------------------------------------------------- references


def _cos(x):
  n = x / np.linalg.norm(x, axis=1, keepdims=True)
  return n @ n.T


def _reference(name, x, y, **kw):
  """Loop implementations written from the papers' equations (float64 NumPy)."""
  s, out = _cos(x), []
  n = x / np.linalg.norm(x, axis=1, keepdims=True)
  for i in range(len(y)):
    pos = [j for j in range(len(y)) if y[j] == y[i] and j != i]
    neg = [j for j in range(len(y)) if y[j] != y[i]]
    if name == "contrastive":
      m = kw.get("margin", 1.0)
      d = lambda j: np.linalg.norm(n[i] - n[j])
      out.append(np.mean([d(j) ** 2 / 2 for j in pos]) + np.mean([max(m - d(j), 0) ** 2 / 2 for j in neg]))
    elif name == "binomial_deviance":
      a, lam, c = 2.0, 0.5, 1.0
      out.append(np.mean([math.log1p(math.exp(-a * (s[i, j] - lam))) for j in pos])
                 + np.mean([math.log1p(math.exp(a * c * (s[i, j] - lam))) for j in neg]))
    elif name == "multi_similarity":
      a, b, lam, eps = 2.0, 50.0, 0.5, 0.1
      kp = [j for j in pos if s[i, j] - eps < max(s[i, k] for k in neg)]
      kn = [j for j in neg if s[i, j] + eps > min(s[i, k] for k in pos)]
      out.append(math.log1p(sum(math.exp(-a * (s[i, j] - lam)) for j in kp)) / a
                 + math.log1p(sum(math.exp(b * (s[i, j] - lam)) for j in kn)) / b)
    elif name == "circle":
      g, m = 80.0, 0.4
      sp = sum(math.exp(-g * max(1 + m - s[i, j], 0) * (s[i, j] - 1 + m)) for j in pos)
      sn = sum(math.exp(g * max(s[i, j] + m, 0) * (s[i, j] - m)) for j in neg)
      out.append(math.log1p(sn * sp))
  return np.array(out)


LOSSES = {
    "contrastive": ge.embedding.contrastive_loss, "binomial_deviance": ge.embedding.binomial_deviance_loss,
    "multi_similarity": ge.embedding.multi_similarity_loss, "circle": ge.embedding.circle_loss,
}


@functools.cache
def _pair_losses():
  """Every pair loss of X, Y in one compiled program (float64)."""
  with jax.enable_x64(True):
    losses = jax.jit(lambda x, y: {name: f(x, y) for name, f in LOSSES.items()})
    return {k: np.asarray(v) for k, v in losses(jnp.asarray(X), jnp.asarray(Y)).items()}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_pair_losses_match_loop_reference(name):
  got = _pair_losses()[name]
  assert got.dtype == np.float64
  np.testing.assert_allclose(got, _reference(name, X, Y), rtol=1e-10)


@pytest.mark.parametrize("name", sorted(_pairs.PAIR_RULES))
def test_injected_pair_weights_equal_autodiff_of_the_rule(name):
  _, rule = _pairs.PAIR_RULES[name]
  with jax.enable_x64(True):
    s = ge.embedding.cosine_similarity_matrix(jnp.asarray(X))
    pos, neg = ge.embedding.pair_masks(jnp.asarray(Y))
    params = tuple(jnp.float64(p) for p in PARAMS[name])
    injected_loss = lambda t: ge.embedding.pair_loss(rule, t, pos, neg, *PARAMS[name])  # noqa: E731
    # The three Jacobians in one compiled program (one compilation instead of three).
    auto, injected, forward = jax.jit(lambda t: (jax.jacrev(lambda u: rule(u, pos, neg, *params)[0])(t),
                                                 jax.jacrev(injected_loss)(t), jax.jacfwd(injected_loss)(t)))(s)
  np.testing.assert_allclose(injected, auto, rtol=1e-10, atol=1e-12)
  np.testing.assert_allclose(forward, auto, rtol=1e-10, atol=1e-12)
  assert np.abs(np.asarray(injected)).sum() > 0


def test_contrastive_pair_weights_by_hand():
  # two unit embeddings at 90°: d = √2; positive pair weight d, negative −[m − d]₊.
  x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  pos_d = jax.grad(lambda d: ge.embedding.pair_loss(_pairs._contrastive_rule, d, jnp.array([[False, True], [True, False]]),
                                          jnp.zeros((2, 2), bool), 1.0).sum())
  # a negative pair at d = 0.5 inside margin 2: value (2 − 0.5)²/2 = 1.125, weight −1.5
  rule = lambda d: _pairs._contrastive_rule(d, jnp.zeros((2, 2), bool), ~jnp.eye(2, dtype=bool), 2.0)  # noqa: E731
  # Both in one compiled program.
  weights, (value, weight) = jax.jit(lambda x, d: (pos_d(ge.embedding.pairwise_distances(x)), rule(d)))(
      x, jnp.array([[0.0, 0.5], [0.5, 0.0]]))
  np.testing.assert_allclose(weights, [[0, math.sqrt(2)], [math.sqrt(2), 0]], rtol=1e-6)
  np.testing.assert_allclose(value, [1.125, 1.125])
  np.testing.assert_allclose(weight, [[0, -1.5], [-1.5, 0]])


# ----------------------------------------------------------------------------- triplets


def test_triplet_three_conditions_by_hand():
  d_ap = jnp.array([0.1, 0.5, 0.9])
  d_an = jnp.array([0.5, 0.6, 0.2])  # m = 0.2: satisfied, inside the margin, outlier
  np.testing.assert_array_equal(ge.embedding.triplet_conditions(d_ap, d_an, 0.2), [1, 2, 3])
  # 1-D embeddings: a = 0, p = ±d_ap, n = d_an on the other side
  a = jnp.zeros((3, 1))
  p, n = d_ap[:, None], -d_an[:, None]

  @jax.jit  # both variants, values and gradients, in one compiled program
  def values_and_grads(*t):
    out = {}
    for drop in (False, True):
      f = lambda *u, drop=drop: ge.embedding.triplet_margin_loss(*u, margin=0.2, drop_outliers=drop)  # noqa: E731
      out[drop] = f(*t), jax.grad(lambda *u: f(*u).sum(), argnums=(0, 1, 2))(*t)
    return out

  results = values_and_grads(a, p, n)
  for drop, expected in [(False, [0.0, 0.1, 0.9]), (True, [0.0, 0.1, 0.0])]:
    values, (ga, gp, gn) = results[drop]
    np.testing.assert_allclose(values, expected, atol=1e-6)
    live = np.array([0.0, 1.0, 0.0 if drop else 1.0])
    # ∂/∂p of d(a,p) = sign(p − a) = +1, ∂/∂n of −d(a,n) = −sign(n − a) = +1
    np.testing.assert_allclose(gp[:, 0], live)
    np.testing.assert_allclose(gn[:, 0], live)
    np.testing.assert_allclose(ga[:, 0], -2 * live)


def test_triplet_margin_loss_matches_optax():
  a, p, n = (jnp.asarray(RNG.normal(size=(64, 6)), jnp.float32) for _ in range(3))
  margins = (0.0, 0.5, 2.0)

  @jax.jit  # every margin, ours and the peer's, values and gradients: one compilation
  def values_and_grads(*t):
    out = []
    for margin in margins:
      for f in (lambda *u, m=margin: ge.embedding.triplet_margin_loss(*u, margin=m),
                lambda *u, m=margin: optax.losses.triplet_margin_loss(*u, margin=m, eps=0.0)):
        out.append((f(*t), jax.grad(lambda *u: f(*u).sum(), (0, 1, 2))(*t)))
    return out

  results = values_and_grads(a, p, n)
  for k, margin in enumerate(margins):
    (ours, g_ours), (peer, g_peer) = results[2 * k:2 * k + 2]
    np.testing.assert_allclose(ours, peer, rtol=1e-5, atol=1e-6)
    for mine, theirs in zip(g_ours, g_peer):
      np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def _mined_triplets(x, y, margin, mining, drop):
  """Per anchor: its active (p, n, hinge) triplets and the divisor of their sum (loop, float64).

  Ties go to the first index (Python's min/max), as the mining's argmin/argmax."""
  d = np.sum((x[:, None] - x[None]) ** 2, -1)  # squared distances, no normalisation
  for a in range(len(y)):
    pos = [j for j in range(len(y)) if y[j] == y[a] and j != a]
    neg = [j for j in range(len(y)) if y[j] != y[a]]
    def hinge(p, n):
      if d[a, p] > d[a, n] and drop:
        return None
      v = d[a, p] - d[a, n] + margin
      return v if v > 0 else None
    if mining == "all":
      candidates = list(itertools.product(pos, neg))
    elif mining == "hard":
      candidates = [(max(pos, key=lambda j: d[a, j]), min(neg, key=lambda j: d[a, j]))]
    else:
      candidates = []
      for p in pos:
        farther = [j for j in neg if d[a, j] > d[a, p]]
        candidates.append((p, min(farther, key=lambda j: d[a, j]) if farther
                           else max(neg, key=lambda j: d[a, j])))
    active = [(p, n, v) for p, n in candidates if (v := hinge(p, n)) is not None]
    yield active, {"all": max(len(active), 1), "hard": 1, "semi-hard": len(pos)}[mining]


def _mined_reference(x, y, margin, mining, drop):
  return np.array([sum(v for _, _, v in active) / divisor
                   for active, divisor in _mined_triplets(x, y, margin, mining, drop)])


def _mined_weights_reference(x, y, margin, mining, drop):
  """+1 on d(a,p), −1 on d(a,n) per active triplet, over the anchor's divisor."""
  weights = np.zeros((len(y), len(y)))
  for a, (active, divisor) in enumerate(_mined_triplets(x, y, margin, mining, drop)):
    for p, n, _ in active:
      weights[a, p] += 1 / divisor
      weights[a, n] -= 1 / divisor
  return weights


@functools.cache
def _mined_losses():
  """Every (mining, drop_outliers) triplet loss of X, Y in one compiled program (float64)."""
  with jax.enable_x64(True):
    losses = jax.jit(lambda x, y: {(m, d): ge.embedding.triplet_loss(x, y, margin=2.0, mining=m, drop_outliers=d,
                                                                     normalize=False)
                                   for m in _pairs.TRIPLET_MINING for d in (False, True)})
    return {k: np.asarray(v) for k, v in losses(jnp.asarray(X), jnp.asarray(Y)).items()}


@pytest.mark.parametrize("mining", _pairs.TRIPLET_MINING)
@pytest.mark.parametrize("drop", [False, True])
def test_mined_triplet_loss_matches_loop_reference(mining, drop):
  got = _mined_losses()[mining, drop]
  assert got.dtype == np.float64
  np.testing.assert_allclose(got, _mined_reference(X, Y, 2.0, mining, drop), rtol=1e-10)


@pytest.mark.parametrize("mining", _pairs.TRIPLET_MINING)
def test_mined_triplet_injected_gradient_equals_autodiff(mining):
  rule = ge.embedding.TRIPLET_RULES[mining]
  with jax.enable_x64(True):
    d = ge.embedding.pairwise_distances(jnp.asarray(X), squared=True)
    pos, neg = ge.embedding.pair_masks(jnp.asarray(Y))
    # drop_outliers is an argument (a traced scalar): one compilation of both Jacobians per mining.
    jacobians_at = jax.jit(lambda t, drop: (
        jax.jacrev(lambda u: rule(u, pos, neg, jnp.float64(2.0), drop)[0])(t),
        jax.jacrev(lambda u: ge.embedding.pair_loss(rule, u, pos, neg, 2.0, drop))(t)))
    for drop in (0.0, 1.0):
      auto, injected = jacobians_at(d, jnp.float64(drop))
      np.testing.assert_allclose(injected, auto, atol=1e-12)


@pytest.mark.parametrize("mining", _pairs.TRIPLET_MINING)
@pytest.mark.parametrize("margin", [0.0, 1.0, 2.0])
def test_mined_triplets_on_tied_distances_match_loop_reference(mining, margin):
  # integer points: squared distances are small integers, so mined distances tie, duplicates
  # sit at d = 0 and d(a,p) + m = d(a,n) hits the condition-1 boundary exactly
  x = np.random.default_rng(3).integers(-1, 2, size=(12, 2)).astype(float)
  with jax.enable_x64(True):
    d = ge.embedding.pairwise_distances(jnp.asarray(x), squared=True)
    pos, neg = ge.embedding.pair_masks(jnp.asarray(Y))
    for drop in (False, True):
      value, weights = jax.jit(ge.embedding.TRIPLET_RULES[mining])(d, pos, neg, jnp.float64(margin),
                                                              jnp.float64(drop))
      np.testing.assert_allclose(value, _mined_reference(x, Y, margin, mining, drop), rtol=1e-12, atol=1e-12)
      np.testing.assert_allclose(weights, _mined_weights_reference(x, Y, margin, mining, drop),
                                 rtol=1e-12, atol=1e-12)


def test_drop_outliers_changes_only_condition_three():
  # batch-hard on these points picks an outlier for anchor 0 (its negative is nearer than its positive)
  x = jnp.array([[0.0], [3.0], [1.0], [10.0]])
  y = jnp.array([0, 0, 1, 1])
  keep, drop = jax.jit(lambda x, y: [ge.embedding.triplet_loss(x, y, margin=0.5, mining="hard", normalize=False,
                                                               squared=False, drop_outliers=d)
                                     for d in (False, True)])(x, y)  # one compilation
  # anchor 0: d(a,p) = 3, d(a,n) = 1 → condition 3: 3 − 1 + 0.5 = 2.5 kept, 0 dropped
  assert float(keep[0]) == pytest.approx(2.5) and float(drop[0]) == 0.0
  # anchor 1: p = 0 (d 3), n = 2 (d 2) → 1.5; anchor 2: p = 3 (d 9), n = 0 (d 1) → 8.5;
  # anchor 3: p = 2 (d 9), n = 1 (d 7) → 2.5; all four are condition 3
  np.testing.assert_allclose(keep, [2.5, 1.5, 8.5, 2.5])
  np.testing.assert_allclose(drop, [0.0, 0.0, 0.0, 0.0])


@pytest.mark.slow
def test_no_valid_triplet_or_pair_gives_documented_zero_not_nan():
  x = jnp.asarray(RNG.normal(size=(4, 3)), jnp.float32)
  fs = [lambda x, y, m=m: ge.embedding.triplet_loss(x, y, mining=m) for m in _pairs.TRIPLET_MINING]
  fs += [ge.embedding.multi_similarity_loss, ge.embedding.circle_loss, ge.embedding.contrastive_loss, ge.embedding.binomial_deviance_loss]
  both = jax.jit(lambda e, lab: [jax.value_and_grad(lambda u: f(u, lab).sum())(e) for f in fs])
  for y in (jnp.array([0, 1, 2, 3]), jnp.array([5, 5, 5, 5])):  # no positives / no negatives
    for k, (value, grad) in enumerate(both(x, y)):
      assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))
      if k < 5:  # the mined losses are exactly 0; contrastive/binomial keep their other pair type
        assert float(value) == 0.0 and float(jnp.abs(grad).sum()) == 0.0


DTYPES = (jnp.float32, jnp.bfloat16)


@functools.cache
def _zero_and_duplicate_values_and_grads():
  """Each loss's value and gradient at zero and duplicate embeddings, in each dtype: one compiled
  program for both dtypes."""
  x = jnp.array([[0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [1.0, 2.0], [-40.0, 40.0]])
  y = jnp.array([0, 0, 1, 1, 0])
  fs = list(LOSSES.values()) + [lambda x, y, m=m: ge.embedding.triplet_loss(x, y, mining=m, squared=False)
                                for m in _pairs.TRIPLET_MINING]
  both = jax.jit(lambda *es: [[jax.value_and_grad(lambda u: f(u, y).astype(jnp.float32).sum())(e) for f in fs]
                              for e in es])
  return dict(zip(DTYPES, both(*(x.astype(dtype) for dtype in DTYPES))))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_and_duplicate_embeddings_are_finite(dtype):
  for value, grad in _zero_and_duplicate_values_and_grads()[dtype]:
    assert value.dtype == jnp.float32 and grad.dtype == dtype
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad, np.float32)))


@pytest.mark.parametrize("squared", [False, True])
def test_distance_diagonal_is_zero_with_zero_gradient_under_jit(squared):
  # Under jit XLA recomputed l2_normalize differently for the two broadcasts of a 4-row batch:
  # the diagonal was 3.7e-8 and the gradient of the trace 0.48 before it was masked.
  x = jax.random.normal(jax.random.key(0), (4, 16))
  distances = lambda x: ge.embedding.pairwise_distances(ge.embedding.l2_normalize(x), squared=squared)  # noqa: E731
  np.testing.assert_array_equal(np.diag(jax.jit(distances)(x)), 0.0)
  grad = jax.jit(jax.grad(lambda x: jnp.trace(distances(x))))(x)
  np.testing.assert_array_equal(grad, 0.0)


def test_pair_loss_bad_input():
  with pytest.raises(TypeError, match="`labels` must be integer"):
    ge.embedding.circle_loss(jnp.ones((3, 2)), jnp.array([0.0, 1.0, 1.0]))
  with pytest.raises(ValueError, match=r"`labels` must have shape \(3,\)"):
    ge.embedding.triplet_loss(jnp.ones((3, 2)), jnp.array([0, 1]))
  with pytest.raises(ValueError, match="`mining` must be one of"):
    ge.embedding.triplet_loss(jnp.ones((3, 2)), jnp.array([0, 1, 1]), mining="easy")
  with pytest.raises(ValueError, match="`margin` must be a finite number > 0"):
    ge.embedding.contrastive_loss(jnp.ones((3, 2)), jnp.array([0, 1, 1]), margin=0.0)


def test_pytorch_metric_learning_cross_check():
  """Values and gradients against pytorch-metric-learning (optional: needs torch)."""
  pytest.importorskip("pytorch_metric_learning")
  import torch
  from pytorch_metric_learning import losses, miners

  x = RNG.normal(size=(16, 4)).astype(np.float32)
  y = np.repeat(np.arange(4), 4)
  cases = [
      (lambda t, ty: losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5)(
          t, ty, miners.MultiSimilarityMiner(epsilon=0.1)(t, ty)), ge.embedding.multi_similarity_loss),
      (lambda t, ty: losses.CircleLoss(m=0.4, gamma=80)(t, ty), ge.embedding.circle_loss),
  ]
  for peer_fn, ours_fn in cases:
    t = torch.tensor(x, requires_grad=True)
    peer = peer_fn(t, torch.tensor(y))
    peer.backward()
    value, grad = jax.value_and_grad(lambda e: ours_fn(e, jnp.asarray(y)).mean())(jnp.asarray(x))
    assert float(value) == pytest.approx(float(peer.detach()), rel=1e-5)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-4, atol=1e-5 * max(1.0, float(value)))


# ----------------------------------------------------------------------------- center loss


def test_center_update_follows_wen_et_al_equation():
  centers = RNG.normal(size=(4, 3))
  x = RNG.normal(size=(7, 3))
  y = np.array([0, 0, 2, 2, 2, 1, 0])
  alpha = 0.3
  expected = centers.copy()
  for j in range(4):  # Δc_j = Σ_i δ(y_i=j)(c_j − x_i) / (1 + Σ_i δ(y_i=j))
    members = x[y == j]
    delta = np.sum(centers[j] - members, 0) / (1 + len(members))
    expected[j] = centers[j] - alpha * delta
  with jax.enable_x64(True):
    got = ge.embedding.center_update(jnp.asarray(centers), jnp.asarray(x), jnp.asarray(y), update_rate=alpha)
  np.testing.assert_allclose(got, expected, rtol=1e-12)
  np.testing.assert_array_equal(np.asarray(got)[3], centers[3])  # absent class unchanged


def test_center_loss_injected_gradient_and_state_contract():
  cl = ge.embedding.make_center_loss(num_classes=3, dim=2, lam=0.5, update_rate=0.5)
  state = cl.init()
  np.testing.assert_array_equal(state.centers, np.zeros((3, 2)))
  state = state._replace(centers=jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
  x = jnp.array([[2.0, 1.0], [0.0, 3.0]])
  y = jnp.array([0, 1])
  # value λ/2‖x − c‖² = 0.25·2 = 0.5 and 0.25·4 = 1.0; gradient λ(x − c) = [0.5, 0.5], [0, 1]
  # The loss, its state after the batch and its gradients in one compiled program.
  (values, after), (g_x, g_state) = jax.jit(lambda e, s: (cl.loss(e, y, s), jax.grad(
      lambda e, s: cl.loss(e, y, s)[0].sum(), argnums=(0, 1))(e, s)))(x, state)
  np.testing.assert_allclose(values, [0.5, 1.0])
  np.testing.assert_allclose(g_x, [[0.5, 0.5], [0.0, 1.0]])
  np.testing.assert_array_equal(g_state.centers, np.zeros((3, 2)))  # centers move only by the rule
  new = cl.update(state, x, y)
  # c_0 ← c_0 − 0.5·(c_0 − x_0)/2 = [1, 0] + 0.25·[1, 1]
  np.testing.assert_allclose(new.centers[0], [1.25, 0.25])
  np.testing.assert_allclose(after.centers, new.centers)
  step = jax.jit(lambda s, e, lab: cl.loss(e, lab, s)[1])
  np.testing.assert_allclose(step(state, x, y).centers, new.centers)


def test_update_rule_is_not_the_gradient_of_the_trained_variant():
  centers = jnp.zeros((2, 2))
  x = jnp.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
  y = jnp.array([0, 0, 0, 1])
  grad, step = jax.jit(lambda c: (  # one compilation
      jax.grad(lambda c: ge.embedding.trained_center_loss(x, y, c, lam=1.0).sum())(c),
      ge.embedding.center_update(c, x, y, update_rate=1.0) - c))(centers)
  # true gradient −λΣ(x_i − c_j): grows with the class count (3 vs 1)
  np.testing.assert_allclose(grad, [[-3.0, 0.0], [0.0, -1.0]])
  # α-rule: Σ(x_i − c_j)/(1 + n_j): 3/4 and 1/2, not proportional to the gradient
  np.testing.assert_allclose(step, [[0.75, 0.0], [0.0, 0.5]])


def test_center_loss_bad_input():
  cl = ge.embedding.make_center_loss(num_classes=3, dim=2)
  with pytest.raises(ValueError, match=r"`labels` must be in \[0, 2\]; got 3"):
    cl.loss(jnp.ones((2, 2)), jnp.array([0, 3]), cl.init())[0]
  with pytest.raises(ValueError, match="`update_rate` must be a number ≥ 0.0 and ≤ 1.0"):
    ge.embedding.make_center_loss(num_classes=3, dim=2, update_rate=1.5)
  with pytest.raises(ValueError, match="`num_classes` must be an integer ≥ 1"):
    ge.embedding.make_center_loss(num_classes=0, dim=2)
  out = jax.jit(lambda lab: cl.loss(jnp.ones((2, 2)), lab, cl.init())[0])(jnp.array([0, 9]))
  assert np.isfinite(float(out[0])) and np.isnan(float(out[1]))
  zero = cl.loss(jnp.zeros((2, 2)), jnp.array([0, 1]), cl.init())[0]
  np.testing.assert_array_equal(zero, [0.0, 0.0])
