"""API parity with optax, Keras, kornia and torchvision: conventions as value tests.

Peer numbers come from optax run in the same process, or are derived by hand from the peer's
documented formula (Keras, kornia and torchvision are not dependencies).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradeng as ge

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(0.0, 3.0, (5, 4)).astype(np.float32)
INT_LABELS = np.array([0, 3, 1, 1, 2])
ONE_HOT = np.eye(4, dtype=np.float32)[INT_LABELS]
SOFT = RNG.dirichlet(np.ones(4), 5).astype(np.float32)

CATALOG = [(ge.cross_entropy_loss, {}), (ge.focal_loss, {"gamma": 2.0}), (ge.maki_loss, {"gamma": 2}),
           (ge.maki_loss, {"gamma": 0.5}), (ge.qce_loss, {}), (ge.poly1_loss, {"epsilon": -0.5}),
           (ge.gce_loss, {"q": 0.7})]
IDS = ["ce", "focal", "maki2", "maki0.5", "qce", "poly1", "gce"]


def test_soft_targets_cross_entropy_is_optax_softmax_cross_entropy():
  # Ours op by op (its operations at this shape are shared with the tests below); the optax
  # reference compiled, one program.
  got = ge.cross_entropy_loss(LOGITS, SOFT, head="softmax")
  g = jax.grad(lambda z: ge.cross_entropy_loss(z, SOFT, head="softmax").sum())(LOGITS)
  reference = jax.jit(lambda z: (optax.softmax_cross_entropy(z, SOFT),
                                 jax.grad(lambda z: optax.softmax_cross_entropy(z, SOFT).sum())(z)))
  expected, g_ref = reference(LOGITS)
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-7)


def test_integer_cross_entropy_is_optax_with_integer_labels():
  got = ge.cross_entropy_loss(LOGITS, INT_LABELS, head="softmax")
  expected = jax.jit(optax.softmax_cross_entropy_with_integer_labels)(LOGITS, INT_LABELS)
  np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize(("loss", "hyper"), CATALOG, ids=IDS)
def test_one_hot_targets_equal_the_integer_path(loss, hyper):
  as_int = loss(LOGITS, INT_LABELS, head="softmax", **hyper)
  as_one_hot = loss(LOGITS, ONE_HOT, head="softmax", **hyper)
  # The same per-class margin formula: bit for bit for kernels that read log(1 - p); those that
  # read only log p sum the other classes directly on the integer path (a few ulp apart).
  np.testing.assert_allclose(as_one_hot, as_int, rtol=5e-7, atol=0)
  g_int = jax.grad(lambda z: loss(z, INT_LABELS, head="softmax", **hyper).sum())(LOGITS)
  g_hot = jax.grad(lambda z: loss(z, ONE_HOT, head="softmax", **hyper).sum())(LOGITS)
  np.testing.assert_allclose(g_hot, g_int, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(("loss", "hyper"), CATALOG, ids=IDS)
def test_soft_targets_are_the_target_weighted_sum(loss, hyper):
  # L = Σ_c y_c L(p_c): one integer-label call per class, weighted by the targets.
  per_class = np.stack([loss(LOGITS, np.full(5, c), head="softmax", **hyper) for c in range(4)], -1)
  np.testing.assert_allclose(loss(LOGITS, SOFT, head="softmax", **hyper),
                             (SOFT * per_class).sum(-1), rtol=2e-6)


def test_class_axis_argument():
  moved = np.moveaxis(LOGITS, -1, 0)
  np.testing.assert_array_equal(ge.maki_loss(moved, INT_LABELS, head="softmax", axis=0, gamma=2),
                                ge.maki_loss(LOGITS, INT_LABELS, head="softmax", gamma=2))
  np.testing.assert_array_equal(ge.focal_loss(moved, SOFT.T, head="softmax", axis=0),
                                ge.focal_loss(LOGITS, SOFT, head="softmax"))
  with pytest.raises(ValueError, match=r"`axis` must be in \[-2, 1\]"):
    ge.focal_loss(LOGITS, INT_LABELS, head="softmax", axis=2)


def test_per_logit_where_is_optax_where():
  where = RNG.random((5, 4)) > 0.3
  where[:, 0] = True
  targets = np.where(where, SOFT, 0.0)
  targets /= targets.sum(-1, keepdims=True)
  got = ge.cross_entropy_loss(LOGITS, targets, head="softmax", where=where)
  np.testing.assert_allclose(got, optax.softmax_cross_entropy(LOGITS, targets, where=where), rtol=1e-6)
  # Integer labels: the excluded classes leave the softmax (CE over the included logits only).
  labels = np.zeros(5, int)
  masked = np.where(where, LOGITS, -np.inf)
  expected = -(masked[:, 0] - np.log(np.exp(masked).sum(-1)))
  np.testing.assert_allclose(ge.cross_entropy_loss(LOGITS, labels, head="softmax", where=where),
                             expected, rtol=1e-6)
  g = jax.grad(lambda z: ge.focal_loss(z, labels, head="softmax", where=where).sum())(LOGITS)
  assert np.all(np.asarray(g)[~where] == 0.0)


def test_scalar_alpha_on_the_softmax_head_is_keras_and_kornia():
  # Keras CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0) docstring example: y_pred are
  # probabilities; mean of α(1-p_t)^γ(-log p_t) = (0.25·0.05²·(-log 0.95) + 0.25·0.9²·(-log 0.1))/2.
  probs = np.array([[0.05, 0.95, 1e-7], [0.1, 0.8, 0.1]])
  labels = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
  keras = jax.jit(lambda probs: ge.focal_loss(jnp.log(probs), labels, head="softmax", alpha=0.25,
                                               gamma=2.0).mean())  # compiled: a shape of its own
  got = keras(jnp.asarray(probs / probs.sum(-1, keepdims=True), jnp.float32))
  np.testing.assert_allclose(got, 0.23315276, rtol=1e-5)
  # kornia.losses.focal_loss(alpha=α): α(1-p_t)^γ(-log p_t) for integer targets: α scales every class.
  base = ge.focal_loss(LOGITS, INT_LABELS, head="softmax")
  np.testing.assert_allclose(ge.focal_loss(LOGITS, INT_LABELS, head="softmax", alpha=0.3), 0.3 * base,
                             rtol=1e-6)
  weights = np.array([1.0, 2.0, 0.5, 3.0], np.float32)  # the [C] vector stays per-class
  np.testing.assert_allclose(ge.focal_loss(LOGITS, INT_LABELS, head="softmax", alpha=weights),
                             weights[INT_LABELS] * base, rtol=1e-6)


SIGMOID_Z = np.array([-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0], np.float32)
SIGMOID_Y = np.array([0.0, 0.3, 1.0, 0.5, 0.9, 0.1, 1.0], np.float32)


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_sigmoid_focal_modulated_convention_is_optax(alpha):
  @jax.jit  # one compiled program: op by op, the modulated convention's jvps compile ~140 operations
  def values_and_grads(z):
    got = ge.focal_loss(z, SIGMOID_Y, gamma=2.0, alpha=alpha, soft_labels="modulated")
    expected = optax.losses.sigmoid_focal_loss(z, SIGMOID_Y, alpha=alpha, gamma=2.0)
    g = jax.grad(lambda z: ge.focal_loss(z, SIGMOID_Y, alpha=alpha, soft_labels="modulated").sum())(z)
    g_ref = jax.grad(lambda z: optax.losses.sigmoid_focal_loss(z, SIGMOID_Y, alpha=alpha).sum())(z)
    return got, expected, g, g_ref

  got, expected, g, g_ref = values_and_grads(SIGMOID_Z)
  np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-30)
  np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-7)


def test_sigmoid_focal_default_soft_convention_is_kornia():
  # kornia's binary_focal_loss_with_logits: y·FL(p) + (1 - y)·FL(1 - p), FL(p) = -(1-p)^γ log p.
  z, y = SIGMOID_Z.astype(np.float64), SIGMOID_Y.astype(np.float64)
  p = 1.0 / (1.0 + np.exp(-z))
  fl_pos = -((1.0 - p) ** 2) * -np.logaddexp(0.0, -z)
  fl_neg = -(p ** 2) * -np.logaddexp(0.0, z)
  got = jax.jit(lambda z: ge.focal_loss(z, SIGMOID_Y))(SIGMOID_Z)  # compiled: a shape of its own
  np.testing.assert_allclose(got, y * fl_pos + (1 - y) * fl_neg, rtol=2e-5, atol=1e-30)


def test_hard_labels_agree_in_both_conventions_and_with_torchvision():
  # torchvision.ops.sigmoid_focal_loss(alpha=0.25, gamma=2): α_t(1-p_t)^γ·BCE, hard targets.
  y = np.array([0, 1, 1, 0, 1, 0, 1])
  z = SIGMOID_Z.astype(np.float64)
  p = 1.0 / (1.0 + np.exp(-z))
  p_t = np.where(y == 1, p, 1 - p)
  bce = np.where(y == 1, np.logaddexp(0.0, -z), np.logaddexp(0.0, z))
  expected = np.where(y == 1, 0.25, 0.75) * (1 - p_t) ** 2 * bce
  both = jax.jit(lambda z: (ge.focal_loss(z, y, alpha=0.25),  # compiled: a shape of its own
                            ge.focal_loss(z, y.astype(np.float32), alpha=0.25, soft_labels="modulated")))
  hard, modulated = both(SIGMOID_Z)
  np.testing.assert_allclose(hard, expected, rtol=2e-5, atol=1e-30)
  np.testing.assert_allclose(modulated, expected, rtol=2e-5, atol=1e-30)


def test_bad_soft_targets():
  with pytest.raises(ValueError, match=r"sum to 1 \(within 0.001\).*sum 0.9"):
    ge.cross_entropy_loss(LOGITS[:1], np.array([[0.5, 0.2, 0.2, 0.0]]), head="softmax")
  with pytest.raises(ValueError, match=r"≥ 0 and sum to 1.*-0.5"):
    ge.cross_entropy_loss(LOGITS[:1], np.array([[1.5, -0.5, 0.0, 0.0]]), head="softmax")
  with pytest.raises(ValueError, match=r"soft targets must have the shape of `logits` \(5, 4\)"):
    ge.cross_entropy_loss(LOGITS, SOFT[:, :3], head="softmax")
  bad = jnp.asarray(SOFT).at[1].set(jnp.array([0.5, 0.2, 0.2, 0.0]))
  value, grad = jax.jit(jax.value_and_grad(lambda z, y: ge.maki_loss(z, y, head="softmax", gamma=2).sum()))(
      LOGITS, bad)
  assert np.isnan(value) and np.all(np.isnan(grad[1])) and np.all(np.isfinite(np.delete(grad, 1, 0)))
  tolerant = SOFT.copy()
  tolerant[:, 0] += 5e-4  # within SOFT_TARGET_TOLERANCE
  assert np.all(np.isfinite(ge.cross_entropy_loss(LOGITS, tolerant, head="softmax")))


def test_soft_targets_are_differentiable():
  # ∂L/∂y_c = L(p_c) (a distillation teacher's gradient), here for Maki γ = 2.
  per_class = np.stack([ge.maki_loss(LOGITS, np.full(5, c), head="softmax", gamma=2) for c in range(4)], -1)
  g = jax.grad(lambda y: ge.maki_loss(LOGITS, y, head="softmax", gamma=2).sum())(jnp.asarray(SOFT))
  np.testing.assert_allclose(g, per_class, rtol=2e-6)


def test_soft_targets_stay_accurate_at_extreme_logits():
  # q = 1 - p_0 = 3e^{-12}/(1 + 3e^{-12}): Maki γ=2 is q³/3 + q⁴/4 + …, not noise from 1 - p_0.
  # The row repeated to the [5, 4] shape of the other soft-target tests (eager mode compiles
  # each operation once per shape); every row is checked.
  z = np.tile(np.array([[12.0, 0.0, 0.0, 0.0]], np.float32), (5, 1))
  targets = np.tile(np.array([[1.0, 0.0, 0.0, 0.0]], np.float32), (5, 1))
  q = 3.0 * np.exp(-12.0) / (1.0 + 3.0 * np.exp(-12.0))
  got = np.asarray(ge.maki_loss(z, targets, head="softmax", gamma=2))
  np.testing.assert_allclose(got, np.full(5, q ** 3 / 3.0 + q ** 4 / 4.0), rtol=1e-5)
