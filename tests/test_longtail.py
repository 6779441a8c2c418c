"""gradeng.longtail against the papers' equations written independently in float64 NumPy loops."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge
import gradeng.longtail as lt

RTOL, ATOL = 2e-5, 2e-6


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def _fd_grad(f, z, h=1e-6):
  """Central differences of a float64 NumPy function of a matrix (sum of its output)."""
  z = np.asarray(z, np.float64)
  g = np.zeros_like(z)
  for idx in np.ndindex(z.shape):
    up, down = z.copy(), z.copy()
    up[idx] += h
    down[idx] -= h
    g[idx] = (np.sum(f(up)) - np.sum(f(down))) / (2 * h)
  return g


def _grad(fn, z):  # compiled: one program, not each operation of the loss and its gradient
  return np.asarray(jax.jit(jax.grad(lambda x: jnp.sum(fn(x))))(jnp.asarray(z, jnp.float32)), np.float64)


def _compiled_step(sl, **kw):
  """One compiled training step of a stateful loss: (values, state after, ∂Σvalues/∂z).

  The forward and the gradient are computed as in eager code (the values are the loss's own
  forward, not the primal of its derivative); compiled once for every step of a stream."""
  @jax.jit
  def step(z, y, state):
    values, new = sl.loss(z, y, state, **kw)
    return values, new, jax.grad(lambda x: jnp.sum(sl.loss(x, y, state, **kw)[0]))(z)
  return step


def _close(got, want, rtol=RTOL, atol=ATOL):
  np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)


RNG = np.random.default_rng(0)
Z = RNG.normal(size=(6, 4)) * 2.0
Y = np.array([0, 1, 1, 3, 0, 0])          # class 2 absent from the batch
COUNTS = np.array([1e6, 300.0, 0.0, 1.0])  # extreme counts, a class never seen


# ----------------------------------------------------------------------------- class-balanced


def _cb_weights_ref(counts, beta):
  w = []
  for n in counts:
    n = max(n, 1.0)
    e = (1 - beta ** n) / (1 - beta) if beta > 0 else 1.0
    w.append(1.0 / e)
  w = np.array(w)
  return w * len(counts) / w.sum()


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.999, 0.9999])
def test_class_balanced_weights_match_effective_number(beta):
  got = lt.class_balanced_weights(COUNTS, beta=beta)
  _close(got, _cb_weights_ref(COUNTS, beta), rtol=1e-5)
  assert math.isclose(float(got.sum()), len(COUNTS), rel_tol=1e-5)


def test_class_balanced_softmax_values_and_gradients():
  w = _cb_weights_ref(COUNTS, 0.999)
  onehot = np.eye(4)[Y]

  def ref_focal(z):
    p = _softmax(z)[np.arange(len(Y)), Y]
    return w[Y] * -(1 - p) ** 2 * np.log(p)

  fn = lambda z: lt.class_balanced_loss(z, Y, class_counts=COUNTS, beta=0.999, base="focal", gamma=2.0)
  _close(fn(jnp.asarray(Z, jnp.float32)), ref_focal(Z))
  _close(_grad(fn, Z), _fd_grad(ref_focal, Z), rtol=1e-4, atol=1e-5)
  ce = lambda z: lt.class_balanced_loss(z, Y, class_counts=COUNTS, beta=0.999)
  _close(_grad(ce, Z), w[Y][:, None] * (_softmax(Z) - onehot), rtol=1e-4, atol=1e-6)
  # the same as the catalog loss with alpha = the weights (the catalog's softmax alpha)
  _close(ce(Z), ge.cross_entropy_loss(jnp.asarray(Z, jnp.float32), Y, head="softmax",
                                      alpha=lt.class_balanced_weights(COUNTS, beta=0.999)), rtol=1e-6)


def test_class_balanced_sigmoid_weights_every_logit_of_the_row():
  w = _cb_weights_ref(COUNTS, 0.99)
  t = np.eye(4)[Y]

  def ref(z):
    return w[Y][:, None] * -(t * np.log(_sigmoid(z)) + (1 - t) * np.log(_sigmoid(-z)))

  fn = lambda z: lt.class_balanced_loss(z, Y, class_counts=COUNTS, beta=0.99, head="sigmoid")
  _close(fn(Z), ref(Z))
  _close(_grad(fn, Z), w[Y][:, None] * (_sigmoid(Z) - t), rtol=1e-4, atol=1e-6)


def test_drw_switches_on_at_the_given_step():
  assert np.all(np.asarray(lt.drw_weights(4, COUNTS, drw_step=5)) == 1.0)
  _close(lt.drw_weights(5, COUNTS, drw_step=5), _cb_weights_ref(COUNTS, 0.9999), rtol=1e-5)


# ----------------------------------------------------------------------------- logit offsets


def _log_prior(counts):
  n = np.maximum(counts, 1.0)
  return np.log(n / n.sum())


@pytest.mark.parametrize("tau", [0.0, 1.0, 1.5])
def test_logit_adjusted_loss_and_gradient(tau):
  adjusted = Z + tau * _log_prior(COUNTS)
  onehot = np.eye(4)[Y]
  want = np.array([-math.log(_softmax(adjusted[b])[Y[b]]) for b in range(len(Y))])
  fn = lambda z: lt.logit_adjusted_loss(z, Y, class_counts=COUNTS, tau=tau)
  _close(fn(Z), want)
  _close(_grad(fn, Z), _softmax(adjusted) - onehot, rtol=1e-4, atol=1e-6)
  _close(lt.adjust_logits(Z, COUNTS, tau=tau), Z - tau * _log_prior(COUNTS), rtol=1e-6)
  pi = np.maximum(COUNTS, 1) / np.maximum(COUNTS, 1).sum()
  _close(lt.logit_adjusted_logit_weights(COUNTS, tau=tau), (pi[None, :] / pi[:, None]) ** tau, rtol=1e-4)


def test_balanced_softmax_is_the_count_weighted_softmax():
  n = np.maximum(COUNTS, 1.0)

  def ref(z):
    e = n * np.exp(z - z.max(-1, keepdims=True))
    return -np.log(e[np.arange(len(Y)), Y] / e.sum(-1))

  fn = lambda z: lt.balanced_softmax_loss(z, Y, class_counts=COUNTS)
  _close(fn(Z), ref(Z))
  _close(_grad(fn, Z), _fd_grad(ref, Z), rtol=1e-4, atol=1e-6)
  _close(fn(Z), lt.logit_adjusted_loss(Z, Y, class_counts=COUNTS, tau=1.0), rtol=1e-6)
  _close(lt.balanced_softmax_logit_weights(COUNTS), n[None, :] / n[:, None], rtol=1e-4)


def test_balanced_softmax_with_a_catalog_base_uses_its_coefficient():
  n = np.maximum(COUNTS, 1.0)

  def ref(z):  # Maki γ = 1 on the balanced probability: -log p - (1 - p)
    e = n * np.exp(z - z.max(-1, keepdims=True))
    p = e[np.arange(len(Y)), Y] / e.sum(-1)
    return -np.log(p) - (1 - p)

  fn = lambda z: lt.balanced_softmax_loss(z, Y, class_counts=COUNTS, base="maki", gamma=1)
  _close(fn(Z), ref(Z), rtol=1e-4, atol=1e-6)
  _close(_grad(fn, Z), _fd_grad(ref, Z), rtol=1e-4, atol=1e-5)


def test_ldam_margins_loss_and_gradient():
  n = np.maximum(COUNTS, 1.0)
  margins = n ** -0.25
  margins = margins * 0.5 / margins.max()
  _close(lt.ldam_margins(COUNTS, max_margin=0.5), margins, rtol=1e-5)
  s = 10.0
  onehot = np.eye(4)[Y]
  shifted = s * (Z - margins[Y][:, None] * onehot)
  want = np.array([-math.log(_softmax(shifted[b])[Y[b]]) for b in range(len(Y))])
  fn = lambda z: lt.ldam_loss(z, Y, class_counts=COUNTS, max_margin=0.5, scale=s)
  _close(fn(Z), want, rtol=1e-4)
  _close(_grad(fn, Z), s * (_softmax(shifted) - onehot), rtol=1e-4, atol=1e-5)
  pair = lt.ldam_logit_weights(COUNTS, max_margin=0.5, scale=s)
  _close(np.diag(pair), np.ones(4))
  _close(pair[1, 0], math.exp(s * margins[1]), rtol=1e-5)


def test_ldam_drw_state_and_deferred_weights():
  sl = lt.ldam_drw(COUNTS, drw_step=2, scale=1.0, beta=0.999)
  state = sl.init()
  w = _cb_weights_ref(COUNTS, 0.999)
  plain = lt.ldam_loss(Z, Y, class_counts=COUNTS, scale=1.0)
  for step in range(4):
    values, state = sl.loss(jnp.asarray(Z, jnp.float32), Y, state)
    _close(values, np.asarray(plain) * (w[Y] if step >= 2 else 1.0), rtol=1e-5)
  assert int(state.step) == 4


# ----------------------------------------------------------------------------- EQL


def test_equalization_loss_removes_rare_classes_negative_gradient():
  lam = 0.01  # frequencies: 0.9997, 3e-4, 0, 1e-6 -> classes 1, 2, 3 are rare
  freq = COUNTS / COUNTS.sum()
  t = np.eye(4)[Y]
  w = np.array([[1.0 - (freq[j] < lam) * (1 - t[b, j]) for j in range(4)] for b in range(len(Y))])
  _close(lt.equalization_logit_weights(Y, COUNTS, frequency_threshold=lam), w)

  def ref(z):
    return w * -(t * np.log(_sigmoid(z)) + (1 - t) * np.log(_sigmoid(-z)))

  fn = lambda z: lt.equalization_loss(z, Y, class_counts=COUNTS, frequency_threshold=lam)
  _close(fn(Z), ref(Z))
  _close(_grad(fn, Z), w * (_sigmoid(Z) - t), rtol=1e-4, atol=1e-6)
  # background proposals (E = 0) keep every negative gradient
  bg = lt.equalization_logit_weights(Y, COUNTS, frequency_threshold=lam, foreground=np.zeros(6, bool))
  assert np.all(np.asarray(bg) == 1.0)


# ----------------------------------------------------------------------------- EQL v2


class _EQLv2Ref:
  def __init__(self, c, gain=4.0, steepness=12.0, midpoint=0.8):
    self.pos, self.neg = np.zeros(c), np.zeros(c)
    self.gain, self.steep, self.mid = gain, steepness, midpoint

  def weights(self, y):
    c = len(self.pos)
    ratio = np.array([self.pos[j] / self.neg[j] if self.neg[j] > 0 else np.inf for j in range(c)])
    r = 1 / (1 + np.exp(-self.steep * (ratio - self.mid)))
    q = 1 + self.gain * (1 - r)
    t = np.eye(c)[y]
    return q * t + r * (1 - t), t

  def step(self, z, y):
    w, t = self.weights(y)
    value = w * -(t * np.log(_sigmoid(z)) + (1 - t) * np.log(_sigmoid(-z)))
    grad = w * (_sigmoid(z) - t)
    self.pos += np.sum(np.abs(grad) * t, 0)
    self.neg += np.sum(np.abs(grad) * (1 - t), 0)
    return value, grad


def test_eqlv2_values_gradients_and_state_over_steps():
  sl, ref = lt.eqlv2(4), _EQLv2Ref(4)
  state = sl.init()
  train_step = _compiled_step(sl)
  rng = np.random.default_rng(1)
  for step in range(5):
    z = rng.normal(size=(8, 4)) * 3
    y = rng.choice(4, size=8, p=[0.7, 0.25, 0.05, 0.0])  # class 3 never seen
    want_value, want_grad = ref.step(z, y)
    value, new, grad = train_step(jnp.asarray(z, jnp.float32), y, state)
    grad = np.asarray(grad, np.float64)
    _close(value, want_value, rtol=1e-4, atol=1e-6)
    _close(grad, want_grad, rtol=1e-4, atol=1e-6)
    state = new
    _close(state.positive, ref.pos, rtol=1e-4, atol=1e-6)
    _close(state.negative, ref.neg, rtol=1e-4, atol=1e-6)
  w = np.asarray(lt.eqlv2_logit_weights(state, np.array([0, 3])))
  assert w[0, 3] < 1e-3  # a class with no positive gradient: its suppression is removed
  assert w[1, 3] > 4.9   # and its own positives are amplified by 1 + gain


# ----------------------------------------------------------------------------- Seesaw


class _SeesawRef:
  def __init__(self, c, p=0.8, q=2.0):
    self.counts, self.p, self.q = np.zeros(c), p, q

  def step(self, z, y):
    c = len(self.counts)
    for label in y:
      self.counts[label] += 1
    n = np.maximum(self.counts, 1)
    sigma = _softmax(z)
    values, grads = [], []
    for b, i in enumerate(y):
      s = np.ones(c)
      for j in range(c):
        if j == i:
          continue
        m = (n[j] / n[i]) ** self.p if n[j] < n[i] else 1.0
        comp = (sigma[b, j] / sigma[b, i]) ** self.q if sigma[b, j] > sigma[b, i] else 1.0
        s[j] = m * comp
      e = np.exp(z[b] - z[b].max())
      denom = sum(s[j] * e[j] for j in range(c) if j != i) + e[i]
      hat = np.array([(s[j] if j != i else 1.0) * e[j] / denom for j in range(c)])
      values.append(-math.log(hat[i]))
      grads.append(hat - np.eye(c)[i])
    return np.array(values), np.array(grads)


def test_seesaw_values_gradients_and_counts_over_steps():
  sl, ref = lt.seesaw(4), _SeesawRef(4)
  state = sl.init()
  train_step = _compiled_step(sl)
  rng = np.random.default_rng(2)
  for step in range(4):
    z = rng.normal(size=(8, 4)) * 2
    y = rng.choice(4, size=8, p=[0.8, 0.15, 0.05, 0.0])
    want_value, want_grad = ref.step(z, y)
    value, new, grad = train_step(jnp.asarray(z, jnp.float32), y, state)
    _close(value, want_value, rtol=1e-4, atol=1e-6)
    _close(grad, want_grad, rtol=1e-4, atol=1e-6)
    state = new
    _close(state.counts, ref.counts)


def test_seesaw_pair_weights_equation():
  z = np.array([[0.0, 1.0, -1.0]])
  counts = np.array([1e6, 1.0, 0.0])
  # Both calls in one compiled program (op by op, each operation compiles for this shape).
  weights = jax.jit(lambda: (lt.seesaw_logit_weights(z, np.array([0]), counts, mitigation_power=0.8,
                                                     compensation_power=2.0),
                             lt.seesaw_logit_weights(z, np.array([1]), counts)))
  frequent, rare = weights()
  w = np.asarray(frequent, np.float64)
  _close(w[0], [1.0, (1 / 1e6) ** 0.8 * math.exp(2.0), (1 / 1e6) ** 0.8], rtol=1e-4)
  # a rare example (class 1) is not mitigated towards the frequent class; compensation only
  w = np.asarray(rare, np.float64)
  _close(w[0], [1.0, 1.0, 1.0], rtol=1e-6)


# ----------------------------------------------------------------------------- EFL


class _EFLRef:
  def __init__(self, c, gamma=2.0, scale=8.0, alpha=0.25):
    self.pos, self.neg = np.zeros(c), np.zeros(c)
    self.gamma, self.scale, self.alpha = gamma, scale, alpha

  def gammas(self):
    g = np.array([min(max(p / n, 0.0), 1.0) if n > 0 else 1.0 for p, n in zip(self.pos, self.neg)])
    return self.gamma + self.scale * (1 - g)

  def step(self, z, y):
    gj = self.gammas()
    t = np.eye(len(gj))[y]

    def value(x):
      p_t = np.where(t == 1, _sigmoid(x), _sigmoid(-x))
      a_t = self.alpha * t + (1 - self.alpha) * (1 - t)
      return a_t * (gj / self.gamma) * (1 - p_t) ** gj * -np.log(p_t)

    grad = _fd_grad(value, z)
    self.pos += np.sum(np.abs(grad) * t, 0)
    self.neg += np.sum(np.abs(grad) * (1 - t), 0)
    return value(z), grad


def test_equalized_focal_values_gradients_and_state_over_steps():
  sl, ref = lt.equalized_focal(4), _EFLRef(4)
  state = sl.init()
  train_step = _compiled_step(sl, alpha=0.25)
  rng = np.random.default_rng(3)
  for step in range(4):
    z = rng.normal(size=(6, 4)) * 2
    y = rng.choice(4, size=6, p=[0.7, 0.2, 0.1, 0.0])
    _close(lt.equalized_focal_gammas(state), ref.gammas(), rtol=1e-5)
    want_value, want_grad = ref.step(z, y)
    value, new, grad = train_step(jnp.asarray(z, jnp.float32), y, state)
    _close(value, want_value, rtol=1e-4, atol=1e-6)
    _close(grad, want_grad, rtol=1e-3, atol=1e-5)
    state = new
    _close(state.positive, ref.pos, rtol=1e-3, atol=1e-5)
    _close(state.negative, ref.neg, rtol=1e-3, atol=1e-5)
  gammas = np.asarray(lt.equalized_focal_gammas(state))
  assert gammas[3] == pytest.approx(10.0)  # never seen: γ_b + s
  assert gammas[0] < gammas[2]


def test_equalized_focal_logit_weights_relative_to_cross_entropy():
  state = lt.EqualizedFocalState(positive=jnp.array([1.0, 1.0]), negative=jnp.array([2.0, 4.0]))
  z, y = np.array([[0.3, -1.2]]), np.array([0])
  gj = 2.0 + 8.0 * (1 - np.array([0.5, 0.25]))
  t = np.eye(2)[y]
  p = np.where(t == 1, _sigmoid(z), _sigmoid(-z))
  # focal w(p) = γ p (1-p)^{γ-1} log p - (1-p)^γ, relative to CE's w = -1
  want = (gj / 2.0) * ((1 - p) ** gj - gj * p * (1 - p) ** (gj - 1) * np.log(p))
  got = jax.jit(lambda: lt.equalized_focal_logit_weights(state, z, y))()  # one compile, not one per op
  _close(got, want, rtol=1e-4)


# ----------------------------------------------------------------------------- numerics, API


def _all_losses():
  counts = np.array([1e6, 1.0, 0.0])
  stateful = {"ldam_drw": lt.ldam_drw(counts, drw_step=0, scale=1.0), "eqlv2": lt.eqlv2(3),
              "seesaw": lt.seesaw(3), "efl": lt.equalized_focal(3)}
  plain = {
      "cb_focal": lambda z, y: lt.class_balanced_loss(z, y, class_counts=counts, beta=0.999, base="focal"),
      "cb_sigmoid": lambda z, y: lt.class_balanced_loss(z, y, class_counts=counts, head="sigmoid"),
      "la": lambda z, y: lt.logit_adjusted_loss(z, y, class_counts=counts, tau=1.0),
      "bs": lambda z, y: lt.balanced_softmax_loss(z, y, class_counts=counts),
      "ldam": lambda z, y: lt.ldam_loss(z, y, class_counts=counts, scale=30.0),
      "eql": lambda z, y: lt.equalization_loss(z, y, class_counts=counts, frequency_threshold=0.1),
  }
  for name, sl in stateful.items():
    plain[name] = lambda z, y, sl=sl: sl.loss(z, y, sl.init())[0]
  return plain


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_extreme_logits_give_finite_values_and_gradients(dtype):
  # Six rows of three classes, the shape of `test_jit_and_masks` (eager mode compiles each
  # operation once per shape): the extreme rows, then their mirror images.
  z = jnp.asarray([[40.0, -40.0, 0.0], [-40.0, 40.0, -40.0], [40.0, 40.0, -40.0],
                   [-40.0, 40.0, 0.0], [40.0, -40.0, 40.0], [-40.0, -40.0, 40.0]], dtype)
  y = jnp.array([1, 2, 0, 0, 1, 2])
  for name, fn in _all_losses().items():
    value = fn(z, y)
    grad = jax.grad(lambda x: jnp.sum(fn(x, y).astype(jnp.float32)))(z)
    assert value.dtype == dtype, name
    assert np.all(np.isfinite(np.asarray(value, np.float32))), name
    assert np.all(np.isfinite(np.asarray(grad, np.float32))), name


def test_jit_and_masks():
  fns = _all_losses()
  z = jnp.asarray(Z[:, :3], jnp.float32)
  y = jnp.asarray(np.minimum(Y, 2))
  where = jnp.array([True, False, True, True, False, True])
  for name, fn in fns.items():
    _close(jax.jit(fn)(z, y), np.asarray(fn(z, y)), rtol=1e-5, atol=1e-6)
  masked = lt.logit_adjusted_loss(z, y, class_counts=[5, 3, 1], where=where)
  grad = jax.grad(lambda x: jnp.sum(lt.logit_adjusted_loss(x, y, class_counts=[5, 3, 1], where=where)))(z)
  assert np.all(np.asarray(masked)[~np.asarray(where)] == 0)
  assert np.all(np.asarray(grad)[~np.asarray(where)] == 0)


def test_state_survives_an_npz_round_trip(tmp_path):
  sl = lt.seesaw(3)
  _, state = jax.jit(sl.loss)(jnp.zeros((2, 3)), jnp.array([0, 2]), sl.init())  # one compile
  np.savez(tmp_path / "s.npz", **state._asdict())
  restored = sl.init()._replace(**np.load(tmp_path / "s.npz"))
  assert np.array_equal(np.asarray(restored.counts), np.asarray(state.counts))


def test_vmap_over_states():
  sl = lt.eqlv2(3)
  states = jax.vmap(lambda _: sl.init())(jnp.arange(2))
  z = jnp.zeros((2, 4, 3))
  y = jnp.array([[0, 1, 2, 0], [0, 0, 0, 0]])
  _, new = jax.jit(jax.vmap(sl.loss))(z, y, states)  # compiled: one program, not op-by-op under vmap
  assert new.positive.shape == (2, 3)
  assert float(new.positive[1, 2]) == 0.0


@pytest.mark.parametrize("call, match", [
    (lambda: lt.class_balanced_weights([1, 2], beta=1.0), "beta"),
    (lambda: lt.class_balanced_weights([1, -2], beta=0.9), "class_counts"),
    (lambda: lt.logit_adjustments([1, 2], tau=-1.0), "tau"),
    (lambda: lt.logit_adjusted_loss(jnp.zeros((1, 3)), jnp.array([0]), class_counts=[1, 2]), "one entry per class"),
    (lambda: lt.ldam_margins([1, 2], max_margin=0.0), "max_margin"),
    (lambda: lt.equalization_loss(jnp.zeros((1, 2)), jnp.array([0]), class_counts=[1, 2],
                                  frequency_threshold=2.0), "frequency_threshold"),
    (lambda: lt.seesaw(3, mitigation_power=-1.0), "mitigation_power"),
    (lambda: lt.eqlv2(3, steepness=float("nan")), "steepness"),
    (lambda: lt.equalized_focal(3, base="ce"), "gamma"),
    (lambda: lt.drw_weights(0, [1, 2], drw_step=-1), "drw_step"),
])
def test_bad_inputs_name_the_value_and_range(call, match):
  with pytest.raises(ge.InputError, match=match):
    call()
