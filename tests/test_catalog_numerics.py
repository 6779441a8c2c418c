"""Catalog losses against 50-digit mpmath references over logits in [-40, 40], both heads."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge
from tests.reference import relative_errors, sigmoid_reference, softmax_reference

TOLERANCE = 1e-5

CASES = [
    ("ce", {}),
    ("focal", {"gamma": 0.0}),
    ("focal", {"gamma": 0.5}),
    ("focal", {"gamma": 2.0}),
    ("focal", {"gamma": 5.0}),
    *[("maki", {"gamma": g}) for g in (0, 1, 2, 5, 20, 50, 0.5, 2.5)],
    ("qce", {}),
    ("poly1", {"epsilon": 1.0}),
    ("poly1", {"epsilon": -1.0}),
    ("poly1", {"epsilon": -0.5}),
    ("gce", {"q": 0.7}),
    ("gce", {"q": 0.05}),
    ("gce", {"q": 1.0}),
]
IDS = [f"{n}-{p}" for n, p in CASES]

LOGITS = np.concatenate([np.linspace(-40, 40, 81), [-1e-3, 1e-4, 17.5, -17.5, 33.3]]).astype(np.float32)


def _value_and_grad(name, params, head):
  return _compiled_value_and_grad(name, tuple(sorted(params.items())), head)


@functools.lru_cache(maxsize=None)  # one compilation per case, shared by both sigmoid labels
def _compiled_value_and_grad(name, params, head):
  fn, params = ge.LOSSES[name], dict(params)
  return jax.jit(jax.vmap(jax.value_and_grad(lambda z, y: fn(z, y, head=head, **params))))


@pytest.mark.parametrize("name,params", CASES, ids=IDS)
@pytest.mark.parametrize("label", [0, 1])
def test_sigmoid_head_matches_mpmath(name, params, label):
  labels = np.full(LOGITS.shape, label, np.int32)
  values, grads = _value_and_grad(name, params, "sigmoid")(jnp.asarray(LOGITS), jnp.asarray(labels))
  assert np.all(np.isfinite(values)) and np.all(np.isfinite(grads))
  refs = [sigmoid_reference(name, z, label, params) for z in LOGITS]
  for kind, got, want in (("value", values, [r[0] for r in refs]), ("grad", grads, [r[1] for r in refs])):
    errors = relative_errors(np.asarray(got), want)
    checked = [(e, z) for e, z in zip(errors, LOGITS) if e is not None]
    assert len(checked) >= 10, "too few points with a normal float32 reference"
    worst, at = max(checked)
    assert worst <= TOLERANCE, f"{kind} rel. error {worst:.2e} at z={at}"


@pytest.mark.parametrize("name,params", CASES, ids=IDS)
def test_softmax_head_matches_mpmath(name, params):
  rng = np.random.default_rng(0)
  num_classes = 21
  logits = rng.uniform(-40, 40, size=(24, num_classes)).astype(np.float32)
  labels = rng.integers(0, num_classes, size=24).astype(np.int32)
  # Rows where the true class dominates (p_t → 1) and where it is hopeless (p_t → 0).
  logits[:4, :] = rng.normal(size=(4, num_classes))
  logits[np.arange(4), labels[:4]] = [5.0, 15.0, 30.0, 40.0]
  logits[4:8] = rng.normal(size=(4, num_classes))
  logits[np.arange(4, 8), labels[4:8]] = [-5.0, -15.0, -30.0, -40.0]
  values, grads = _value_and_grad(name, params, "softmax")(jnp.asarray(logits), jnp.asarray(labels))
  assert np.all(np.isfinite(values)) and np.all(np.isfinite(grads))
  for row in range(len(labels)):
    ref_value, ref_grad = softmax_reference(name, logits[row], int(labels[row]), params)
    (e,) = relative_errors([values[row]], [ref_value])
    assert e is None or e <= TOLERANCE, f"row {row} value rel. error {e:.2e}"
    for e, g in zip(relative_errors(np.asarray(grads[row]), ref_grad), ref_grad):
      # Entries far below the row's largest gradient are set by float32 rounding of p_j itself.
      if e is not None and abs(g) > 1e-30:
        assert e <= TOLERANCE, f"row {row} grad rel. error {e:.2e}"


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("name,params", CASES, ids=IDS)
def test_low_precision_inputs_are_finite(name, params, dtype):
  fn = ge.LOSSES[name]
  z = jnp.asarray(np.linspace(-60, 60, 121), dtype)
  for head, labels, logits in (
      ("sigmoid", jnp.arange(121) % 2, z),
      ("softmax", jnp.arange(121) % 3, jnp.stack([z, -z, 0.5 * z], axis=-1)),
  ):
    # Per-element values and gradients (a float16 *sum* of QCE values may overflow by itself).
    value, pullback = jax.vjp(lambda x: fn(x, labels, head=head, **params), logits)
    (grad,) = pullback(jnp.ones_like(value))
    assert value.dtype == dtype and grad.dtype == dtype
    assert bool(jnp.all(jnp.isfinite(value))) and bool(jnp.all(jnp.isfinite(grad)))


@functools.partial(jax.jit, static_argnames="gamma")
def _focal_and_ce_gradients(z, y, rows, labels, gamma):
  """Gradients of focal and CE on both heads, in one compiled program per γ."""
  grad = lambda fn, x, t, **kw: jax.grad(lambda x: jnp.sum(fn(x, t, **kw)))(x)  # noqa: E731
  return (grad(ge.focal_loss, z, y, gamma=gamma), grad(ge.cross_entropy_loss, z, y),
          grad(ge.focal_loss, rows, labels, gamma=gamma, head="softmax"),
          grad(ge.cross_entropy_loss, rows, labels, head="softmax"))


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_gradient_at_infinite_logits_is_cross_entropy_s(gamma):
  """At p = 0 and p = 1 exactly the focal weight is CE's (γ p q^{γ-1} log p → 0): finite
  gradients ±1 / 0 at logits ±inf, as for CE and Maki, where exp(-inf + inf) gave NaN."""
  z = jnp.array([-jnp.inf, jnp.inf, -jnp.inf, jnp.inf])
  y = jnp.array([1, 1, 0, 0])
  # Softmax head: a class at -inf (p_c = 0) in the row, and the true class at -inf.
  rows = jnp.array([[0.0, -jnp.inf, 1.0], [-jnp.inf, 0.0, 1.0]])
  labels = jnp.array([0, 0])
  focal, ce, focal_rows, ce_rows = _focal_and_ce_gradients(z, y, rows, labels, gamma)
  np.testing.assert_array_equal(focal, ce)
  np.testing.assert_array_equal(focal, [-1.0, 0.0, 0.0, 1.0])
  assert np.all(np.isfinite(focal_rows))
  np.testing.assert_allclose(focal_rows[1], ce_rows[1], rtol=1e-6)
  np.testing.assert_allclose(focal_rows[1], [-1.0, 1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-6)
  assert focal_rows[0, 1] == 0.0
