"""Stateful coefficients: warm-up, periodic (SGDR), batch-adaptive γ, GHM-C."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradeng as ge
from gradeng.runtime import _stateful as st
from gradeng.runtime import FOCAL, MAKI


def _logits_for(p):
  """Logits with σ(z) = p."""
  p = np.asarray(p, np.float64)
  return jnp.asarray(np.log(p) - np.log1p(-p), jnp.float32)


def _update(sl, state, logits, labels, **kw):
  """The state after a batch: the second output of ``loss``."""
  return sl.loss(logits, labels, state, **kw)[1]


def _train_step(sl, y):
  """``(logits, state) -> (values, state after the batch, ∂Σvalues/∂logits)``, compiled as one
  function (one compilation serves a test's values, states and gradients)."""
  @jax.jit
  def step(a, s):
    values, after = sl.loss(a, y, s)
    return values, after, jax.grad(lambda b: sl.loss(b, y, s)[0].sum())(a)
  return step


def _surrogate_grad(weight_fn, z, y):
  """d/dz of Σ stop_gradient(w)·log p_t: the injected rule w·∂log p_t/∂z (sigmoid head)."""
  def f(z):
    signed = jnp.where(y == 1, z, -z)
    log_p, log_q = jax.nn.log_sigmoid(signed), jax.nn.log_sigmoid(-signed)
    return jnp.sum(jax.lax.stop_gradient(weight_fn(log_p, log_q)) * log_p)
  return jax.grad(f)(z)


# ----------------------------------------------------------------------------- schedules


def test_sgdr_factor_hand_values():
  factor = jax.jit(st.sgdr_factor, static_argnames=("period", "t_mult", "floor"))  # 3 compiles
  f = lambda t, **kw: float(factor(t, **kw))
  assert f(0, period=10) == 1.0
  assert f(5, period=10) == pytest.approx(0.5, abs=1e-7)
  assert f(10, period=10) == 1.0  # restart
  assert f(5, period=10, floor=0.2) == pytest.approx(0.6, abs=1e-7)
  # T_mult = 2: cycles [0, 10), [10, 30), [30, 70).
  assert f(10, period=10, t_mult=2) == 1.0
  assert f(20, period=10, t_mult=2) == pytest.approx(0.5, abs=1e-7)
  assert f(30, period=10, t_mult=2) == 1.0
  assert f(50, period=10, t_mult=2) == pytest.approx(0.5, abs=1e-6)
  assert f(70, period=10, t_mult=2) == 1.0


def test_sgdr_factor_is_optax_cosine_decay_repeated():
  schedule = optax.cosine_decay_schedule(1.0, decay_steps=16, alpha=0.1)
  steps = jnp.arange(48)
  ours, theirs = jax.jit(lambda s: (jax.vmap(lambda t: st.sgdr_factor(t, period=16, floor=0.1))(s),
                                    jax.vmap(schedule)(s % 16)))(steps)
  np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_warmup_bound_hand_values():
  b = lambda t, **kw: float(jnp.exp(st.warmup_bound(t, bound=2.0, warmup_steps=10, **kw)))
  assert b(0) == pytest.approx(2.0)
  assert b(5) == pytest.approx(4.0, rel=1e-6)  # 1/B halves
  assert b(10) == math.inf and b(11) == math.inf
  assert b(5, schedule="exponential", growth=100.0) == pytest.approx(20.0, rel=1e-5)
  assert b(10, schedule="exponential") == math.inf


# ----------------------------------------------------------------------------- warm-up


def test_warmup_ce_closed_form_and_gradient():
  """CE capped smoothly: g = -1/(p + 1/B), L = log((1 + 1/B)/(p + 1/B)), dL/dz = -p(1-p)/(p + 1/B)."""
  sl = ge.warmup_coefficient("ce", bound=2.0, warmup_steps=10) if hasattr(ge, "warmup_coefficient") \
      else st.warmup_coefficient("ce", bound=2.0, warmup_steps=10)
  z = jnp.array([-6.0, -1.0, 0.0, 2.0])
  y = jnp.ones(4, jnp.int32)
  state = sl.init()
  values, _, grad = _train_step(sl, y)(z, state)
  closed_form = jax.jit(lambda p: (jnp.log(1.5 / (p + 0.5)), -p * (1 - p) / (p + 0.5)))
  want_values, want_grad = closed_form(jax.nn.sigmoid(z))
  np.testing.assert_allclose(values, want_values, rtol=1e-5)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-5)


@pytest.mark.parametrize("base,params", [("ce", {}), ("focal", {"gamma": 2.0}), ("maki", {"gamma": 1.5}),
                                         ("qce", {})])
@pytest.mark.parametrize("head", ["sigmoid", "softmax"])
def test_warmup_bound_really_bounds_the_gradient(base, params, head):
  """|dL/dz_y| ≤ B·p(1-p), i.e. |dL/dz_y|/(1-p) ≤ B·p ≤ B, at every step of the warm-up."""
  sl = st.warmup_coefficient(base, bound=3.0, warmup_steps=8, head=head, **params)
  if head == "sigmoid":
    z = jnp.linspace(-30.0, 30.0, 121)
    y = jnp.ones_like(z, dtype=jnp.int32)
  else:
    z = jnp.stack([jnp.linspace(-30.0, 30.0, 121), jnp.zeros(121), jnp.full(121, 1.0)], axis=-1)
    y = jnp.zeros(121, jnp.int32)
  train_step = _train_step(sl, y)
  for step in (0, 4, 7):
    state = st.StepState(jnp.int32(step))
    bound = float(jnp.exp(st.warmup_bound(state.step, bound=3.0, warmup_steps=8)))
    grad = train_step(z, state)[2]
    g_true = grad if head == "sigmoid" else grad[:, 0]
    logit_true = z if head == "sigmoid" else z[:, 0] - jax.nn.logsumexp(z[:, 1:], axis=-1)
    p_q = jnp.exp(jax.nn.log_sigmoid(logit_true) + jax.nn.log_sigmoid(-logit_true))  # p(1-p)
    assert np.all(np.isfinite(grad))
    assert np.all(np.abs(g_true) <= bound * p_q * (1 + 1e-5))
  # After the warm-up the base loss and gradient are back (forward by quadrature: ~1e-6).
  state = train_step(z, state)[1]
  assert int(state.step) == 8
  base_loss = ge.loss_from_coefficient(ge.get_coefficient(base), head=head, **params)
  values, _, grad = train_step(z, state)
  expected_values, expected_grad = jax.jit(
      lambda a: (base_loss(a, y), jax.grad(lambda b: base_loss(b, y).sum())(a)))(z)
  np.testing.assert_allclose(values, expected_values, rtol=2e-5, atol=1e-7)
  np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-7)


def test_warmup_focal_gradient_against_mpmath():
  """dL/dz = g_c(p_t)·p_t(1-p_t)(2y-1), g_c = g/(1 + |g|/B), g the focal coefficient (γ = 2) written
  out by hand and evaluated in mpmath at 30 digits; B = B_0/(1 - t/T) at t = 1, T = 4, B_0 = 1.5."""
  mp = pytest.importorskip("mpmath")
  sl = st.warmup_coefficient("focal", bound=1.5, warmup_steps=4, gamma=2.0)
  z = np.linspace(-8.0, 8.0, 33)
  y = np.arange(33) % 2

  def reference(zi, yi):
    bound = mp.mpf(1.5) / (1 - mp.mpf(1) / 4)
    p = 1 / (1 + mp.exp(-mp.mpf(float(zi)) if yi == 1 else mp.mpf(float(zi))))  # p_t
    g = 2 * (1 - p) * mp.log(p) - (1 - p) ** 2 / p
    g_c = g / (1 + abs(g) / bound)
    return float(g_c * p * (1 - p) * (1 if yi == 1 else -1))

  with mp.workdps(30):
    expected = np.array([reference(zi, yi) for zi, yi in zip(z, y)])
  got = _train_step(sl, jnp.asarray(y))(jnp.asarray(z, jnp.float32), st.StepState(jnp.int32(1)))[2]
  np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-9)


# ----------------------------------------------------------------------------- periodic


def test_periodic_is_the_base_times_the_factor():
  sl = st.periodic_coefficient("maki", period=8, floor=0.1, gamma=2)
  z = jnp.linspace(-5.0, 5.0, 11)
  y = (jnp.arange(11) % 2).astype(jnp.int32)
  train_step = _train_step(sl, y)
  base_loss, base_grad = jax.jit(lambda a: (ge.maki_loss(a, y, gamma=2),
                                            jax.grad(lambda b: ge.maki_loss(b, y, gamma=2).sum())(a)))(z)
  state = sl.init()
  for step in range(10):
    f = float(st.sgdr_factor(step, period=8, floor=0.1))
    values, after, grad = train_step(z, state)
    np.testing.assert_allclose(values, f * base_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, f * base_grad, rtol=1e-6)
    state = after
  assert int(state.step) == 10


# ----------------------------------------------------------------------------- adaptive γ


def test_balanced_gamma_paper_numbers():
  """1000 easy at p = 0.9, 10 hard at p = 0.3 (§2.1): Maki γ = log(1000·0.3/(10·0.9))/log 7."""
  # One compiled bisection per weight (op by op, every call compiles its loop).
  balanced_gamma = jax.jit(st._balanced_gamma, static_argnums=0, static_argnames="gamma_max")
  maki = ge.loss_from_coefficient(MAKI, gamma=jnp.float32(0)).kernel.weight
  gamma = balanced_gamma(maki, 1000.0, 0.9, 10.0, 0.3, gamma_max=5.0)
  assert float(gamma) == pytest.approx(math.log(1000 * 0.3 / (10 * 0.9)) / math.log(7), rel=1e-5)
  # Focal: the summed |g| balance at the solved γ (the paper's γ = 2 gives -32 vs -33).
  gamma_focal = float(balanced_gamma(ge.loss_from_coefficient(FOCAL, gamma=jnp.float32(0)).kernel.weight,
                                     1000.0, 0.9, 10.0, 0.3, gamma_max=5.0))
  easy = 1000 * float(ge.scale_coefficient("focal", 0.9, gamma=gamma_focal))
  hard = 10 * float(ge.scale_coefficient("focal", 0.3, gamma=gamma_focal))
  assert easy == pytest.approx(hard, rel=1e-4) and 1.9 < gamma_focal < 2.0
  # Clipping: hard examples already dominate -> 0; easy ones dominate beyond γ_max -> γ_max.
  assert float(balanced_gamma(maki, 10.0, 0.9, 1000.0, 0.3, gamma_max=5.0)) == 0.0
  assert float(balanced_gamma(maki, 1e9, 0.9, 1.0, 0.3, gamma_max=5.0)) == 5.0


@pytest.mark.slow  # 4 s (--durations, 2 shared cores, 2026-12-04)
def test_adaptive_gamma_from_a_batch_and_empty_groups():
  sl = st.adaptive_gamma_coefficient("maki", gamma_init=1.0, momentum=0.5)
  # One compiled loss per batch shape (eager mode would compile the bisection loop on every call).
  loss = jax.jit(sl.loss)
  y = jnp.ones(1010, jnp.int32)
  z = jnp.concatenate([jnp.full(1000, _logits_for(0.9)), jnp.full(10, _logits_for(0.3))])
  state = loss(z, y, sl.init())[1]
  assert float(state.gamma[0]) == pytest.approx(math.log(1000 * 0.3 / (10 * 0.9)) / math.log(7), rel=1e-4)
  # A batch with no hard example: the hard EMA is kept, the easy one moves (momentum 0.5).
  easy_only = jnp.full(500, _logits_for(0.9))
  after = loss(easy_only, jnp.ones(500, jnp.int32), state)[1]
  assert float(after.count_hard[0]) == 10.0 and float(after.count_easy[0]) == pytest.approx(750.0)
  expected = math.log(750 * 0.3 / (10 * 0.9)) / math.log(7)
  assert float(after.gamma[0]) == pytest.approx(expected, rel=1e-4)
  # Before both groups have been seen, γ stays at gamma_init; the loss is finite.
  first_loss, first = loss(easy_only, jnp.ones(500, jnp.int32), sl.init())
  assert float(first.gamma[0]) == 1.0 and not bool(first.seen_hard[0])
  assert np.all(np.isfinite(first_loss))
  # Masked entries are ignored; an all-masked batch changes nothing.
  none = loss(z, y, state, where=jnp.zeros(1010, bool))[1]
  jax.tree_util.tree_map(np.testing.assert_array_equal, none, state)


@pytest.mark.slow  # 2.7 s (--durations, 2 shared cores, 2026-12-04)
def test_adaptive_gamma_loss_and_gradient_use_the_solved_gamma():
  sl = st.adaptive_gamma_coefficient("maki", momentum=0.9)
  key = jax.random.PRNGKey(0)
  z = 3 * jax.random.normal(key, (64,))
  y = (jax.random.uniform(jax.random.PRNGKey(1), (64,)) < 0.3).astype(jnp.int32)
  state = sl.init()
  values, after, grad = _train_step(sl, y)(z, state)  # the loss, the state it solved γ in
  # The references at that γ, compiled as one function (op by op costs twice as much).
  reference = jax.jit(lambda gamma: (ge.maki_loss(z, y, gamma=gamma),
                                     _surrogate_grad(lambda lp, lq: -jnp.exp(gamma * lq), z, y)))
  expected_values, expected = reference(after.gamma[0])
  np.testing.assert_allclose(values, expected_values, rtol=1e-6)
  np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


def test_adaptive_gamma_per_class_sigmoid_no_positives():
  sl = st.adaptive_gamma_coefficient("focal", per_class=True, gamma_init=2.0)
  z = jnp.array([-3.0, -2.0, 1.0, 0.5])  # negatives only: two easy, two hard
  y = jnp.zeros(4, jnp.int32)
  train_step = _train_step(sl, y)  # compiled once: the eager bisection loop compiles per call
  loss, state, _ = train_step(z, sl.init())  # the values and the state after the batch
  assert state.gamma.shape == (2,)
  assert float(state.gamma[1]) == 2.0 and not bool(state.seen_easy[1]) and not bool(state.seen_hard[1])
  assert float(state.count_easy[0]) == 2.0 and float(state.count_hard[0]) == 2.0
  assert np.all(np.isfinite(loss)) and np.all(np.isfinite(train_step(z, state)[2]))


@pytest.mark.slow  # 2 s (--durations, 2 shared cores, 2026-12-04)
def test_adaptive_gamma_per_class_softmax():
  sl = st.adaptive_gamma_coefficient("maki", per_class=True, num_classes=3, head="softmax", momentum=0.0)
  # Class 0: 1000 easy at p = 0.9 and 10 hard at 0.3 -> the paper's γ; class 2 absent -> γ_init.
  easy = jnp.log(jnp.array([0.9, 0.05, 0.05]))
  hard = jnp.log(jnp.array([0.3, 0.35, 0.35]))
  logits = jnp.concatenate([jnp.tile(easy, (1000, 1)), jnp.tile(hard, (10, 1)),
                            jnp.tile(jnp.log(jnp.array([0.1, 0.8, 0.1])), (4, 1))])
  labels = jnp.concatenate([jnp.zeros(1010, jnp.int32), jnp.ones(4, jnp.int32)])
  per_element, state = jax.jit(sl.loss)(logits, labels, sl.init())  # values, state after the batch
  assert float(state.gamma[0]) == pytest.approx(math.log(1000 * 0.3 / (10 * 0.9)) / math.log(7), rel=1e-3)
  assert float(state.gamma[2]) == 1.0  # never seen
  assert float(state.gamma[1]) == 1.0  # class 1: easy only so far
  reference = jax.jit(lambda a, b, gamma: ge.maki_loss(a, b, head="softmax", gamma=gamma))
  np.testing.assert_allclose(per_element[:1010], reference(logits[:1010], labels[:1010], state.gamma[0]),
                             rtol=1e-5)


# ----------------------------------------------------------------------------- GHM-C


def test_ghm_weights_on_a_hand_made_batch():
  """u = 1 - p = (.9975, .731, .5, .119), 4 bins -> bins (3, 2, 2, 0), counts (1, 0, 2, 1):
  β = N/(n R_b) = 4/(3·1), 4/(3·2), 4/(3·2), 4/(3·1)."""
  sl = st.ghm_coefficient("ce", bins=4, momentum=0.75)
  z = jnp.array([-6.0, -1.0, 0.0, 2.0])
  y = jnp.ones(4, jnp.int32)
  beta = jnp.array([4 / 3, 2 / 3, 2 / 3, 4 / 3])
  train_step = _train_step(sl, y)  # each batch's values, state after it and gradient: one compile
  values, state, grad = train_step(z, sl.init())
  # CE and its gradient, compiled once for both batches.
  ce = jax.jit(lambda a: (ge.cross_entropy_loss(a, y),
                          jax.grad(lambda b: ge.cross_entropy_loss(b, y).sum())(a)))
  ce_values, ce_grad = ce(z)
  np.testing.assert_allclose(values, beta * ce_values, rtol=1e-6)
  np.testing.assert_allclose(grad, beta * ce_grad, rtol=1e-6)
  np.testing.assert_array_equal(state.counts, [1.0, 0.0, 2.0, 1.0])
  # Second batch: all four in bin 0 -> R_0 = 0.75·1 + 0.25·4 = 1.75, other bins kept.
  z2 = jnp.full(4, 5.0)
  values2, state2, _ = train_step(z2, state)
  np.testing.assert_allclose(state2.counts, [1.75, 0.0, 2.0, 1.0])
  np.testing.assert_allclose(values2, 4 / (1 * 1.75) * ce(z2)[0], rtol=1e-6)


def test_ghm_mask_and_softmax():
  sl = st.ghm_coefficient("ce", bins=5, momentum=0.0, head="softmax")
  logits = jax.random.normal(jax.random.PRNGKey(2), (20, 4)) * 3
  labels = jnp.arange(20) % 4
  where = jnp.arange(20) < 15
  # The values and the state after the batch, from one compiled call.
  loss, after = jax.jit(lambda *a: sl.loss(*a, where=where))(logits, labels, sl.init())
  assert np.all(loss[15:] == 0)
  u, ce = jax.jit(lambda a: (1 - jax.nn.softmax(a)[jnp.arange(20), labels],
                             ge.cross_entropy_loss(a, labels, head="softmax")))(logits)
  index = np.minimum((np.asarray(u) * 5).astype(int), 4)[:15]
  counts = np.bincount(index, minlength=5)
  beta = 15 / ((counts > 0).sum() * counts[index])
  np.testing.assert_allclose(loss[:15], beta * ce[:15], rtol=1e-5)
  assert float(jnp.sum(after.counts)) == 15.0


# ----------------------------------------------------------------------------- transformations, checkpoints


def _all_losses():
  return {
      "warmup": st.warmup_coefficient("ce", bound=2.0, warmup_steps=5),
      "periodic": st.periodic_coefficient("focal", period=4, gamma=2.0),
      "adaptive": st.adaptive_gamma_coefficient("focal"),
      "adaptive_per_class": st.adaptive_gamma_coefficient("maki", per_class=True),
      "ghm": st.ghm_coefficient("ce", bins=10),
  }


@pytest.mark.parametrize("name", list(_all_losses()))
def test_jit_scan_vmap_and_npz_checkpoint(name, tmp_path):
  sl = _all_losses()[name]
  z = 2 * jax.random.normal(jax.random.PRNGKey(3), (6, 32))
  y = (jax.random.uniform(jax.random.PRNGKey(4), (6, 32)) < 0.2).astype(jnp.int32)

  def train(z, y):
    def step(state, _):
      loss = jnp.mean(sl.loss(z, y, state)[0])
      grad = jax.grad(lambda a: jnp.mean(sl.loss(a, y, state)[0]))(z)
      return _update(sl, state, z, y), (loss, jnp.sum(jnp.abs(grad)))
    return jax.lax.scan(step, sl.init(), length=3)

  batched = jax.jit(jax.vmap(train))
  state, (losses, grads) = batched(z, y)
  assert np.all(np.isfinite(losses)) and np.all(np.isfinite(grads))
  one_state = jax.tree_util.tree_map(lambda a: a[2], state)
  if name in ("ghm", "periodic"):  # the vmapped run equals a run on one row (cheap compiles only)
    _, (one_losses, _) = jax.jit(train)(z[2], y[2])
    np.testing.assert_allclose(losses[2], one_losses, rtol=1e-5)
  # Checkpoint round trip through .npz (plain arrays), then one more step gives the same loss.
  path = tmp_path / "state.npz"
  np.savez(path, **one_state._asdict())
  with np.load(path) as data:
    restored = sl.init()._replace(**{k: jnp.asarray(v) for k, v in data.items()})
  jax.tree_util.tree_map(np.testing.assert_array_equal, restored, one_state)
  loss = jax.jit(sl.loss)
  jax.tree_util.tree_map(np.testing.assert_array_equal, loss(z[2], y[2], restored), loss(z[2], y[2], one_state))


@pytest.mark.parametrize("name", ["adaptive", "adaptive_per_class", "ghm"])
def test_batch_statistics_run_once_per_training_step(name, monkeypatch):
  """``loss`` returns the post-batch state: one value-and-grad step traces the statistics once
  (before, ``loss`` computed them and the caller's ``update`` computed them again)."""
  calls = []
  original = st._true_class_probability

  def counting(*args, **kwargs):
    calls.append(1)
    return original(*args, **kwargs)

  monkeypatch.setattr(st, "_true_class_probability", counting)
  sl = _all_losses()[name]
  z = 2 * jax.random.normal(jax.random.PRNGKey(5), (48,))
  y = (jax.random.uniform(jax.random.PRNGKey(6), (48,)) < 0.25).astype(jnp.int32)

  def objective(a, state):
    values, new_state = sl.loss(a, y, state)
    return jnp.mean(values), new_state

  step = jax.jit(jax.value_and_grad(objective, has_aux=True))
  (value, state), grad = step(z, sl.init())
  step(z, state)  # a second step reuses the compiled function
  assert len(calls) == 1
  # The state that comes back is the one the statistics give for this batch, with no gradient.
  jax.tree_util.tree_map(np.testing.assert_array_equal, state, jax.jit(sl.loss)(z, y, sl.init())[1])
  assert np.isfinite(float(value)) and np.all(np.isfinite(grad))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("make,match", [
    (lambda: st.warmup_coefficient("ce", bound=0.0, warmup_steps=10), "`bound` must be a finite number > 0; got 0.0"),
    (lambda: st.warmup_coefficient("ce", bound=-1, warmup_steps=10), "`bound`"),
    (lambda: st.warmup_coefficient("ce", bound=1.0, warmup_steps=0), "`warmup_steps` must be an integer ≥ 1; got 0"),
    (lambda: st.warmup_coefficient("ce", bound=1.0, warmup_steps=5, schedule="cosine"), "`schedule` must be one of"),
    (lambda: st.warmup_coefficient("ce", bound=1.0, warmup_steps=5, schedule="exponential", growth=1.0), "`growth`"),
    (lambda: st.periodic_coefficient("ce", period=0), "`period` must be an integer ≥ 1; got 0"),
    (lambda: st.periodic_coefficient("ce", period=-3), "`period`"),
    (lambda: st.periodic_coefficient("ce", period=10, t_mult=0.5), "`t_mult` must be a finite number ≥ 1"),
    (lambda: st.periodic_coefficient("ce", period=10, floor=1.5), r"`floor` must be a number in \[0, 1\]"),
    (lambda: st.ghm_coefficient("ce", bins=0), "`bins` must be an integer ≥ 1; got 0"),
    (lambda: st.ghm_coefficient("ce", bins=2.5), "`bins`"),
    (lambda: st.ghm_coefficient("ce", momentum=1.0), r"`momentum` must be a number in \[0, 1\)"),
    (lambda: st.adaptive_gamma_coefficient("ce"), "parameter `gamma`"),
    (lambda: st.adaptive_gamma_coefficient("maki", gamma_max=0), "`gamma_max`"),
    (lambda: st.adaptive_gamma_coefficient("maki", gamma_init=7.0), "`gamma_init`"),
    (lambda: st.adaptive_gamma_coefficient("maki", threshold=1.0), "`threshold`"),
    (lambda: st.adaptive_gamma_coefficient("maki", per_class=True, head="softmax"), "`num_classes`"),
    (lambda: st.warmup_coefficient("focal", bound=1.0, warmup_steps=5, gamma=-1.0), "`gamma` of `focal`"),
    (lambda: st.warmup_coefficient("nope", bound=1.0, warmup_steps=5), "Unknown loss"),
    (lambda: st.periodic_coefficient("ce", period=5, head="tanh"), "`head` must be one of"),
])
def test_bad_input(make, match):
  with pytest.raises(ValueError, match=match):
    make()


def test_adaptive_gamma_is_not_a_caller_parameter():
  with pytest.raises(TypeError, match="set by the stateful coefficient"):
    st.adaptive_gamma_coefficient("maki", gamma=2.0)
