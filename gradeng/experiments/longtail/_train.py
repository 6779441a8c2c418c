"""One loss over its seeds: Adam on minibatches (lax.scan), seeds vmapped."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradeng as ge
import gradeng.longtail as lt
from gradeng.experiments.longtail._model import apply_mlp, init_mlp


def _stateless(fn):
  return (lambda: jnp.zeros((), jnp.int32)), (lambda z, y, s: (fn(z, y), s))


def _stateful(sl, reduce):
  return sl.init, (lambda z, y, s: (lambda v, n: (reduce(v), n))(*sl.loss(z, y, s)))


def objective(name: str, counts, config):
  """(init_state, fn(logits, labels, state) -> (scalar loss, new state)) for a loss name."""
  n = jnp.asarray(counts)
  mean = jnp.mean
  per_logit = lambda v: jnp.mean(jnp.sum(v, -1))  # noqa: E731 - sigmoid heads: Σ classes, mean batch
  if name == "ce":
    return _stateless(lambda z, y: mean(ge.cross_entropy_loss(z, y, head="softmax")))
  if name == "focal":
    return _stateless(lambda z, y: mean(ge.focal_loss(z, y, gamma=2.0, head="softmax")))
  if name == "maki":
    return _stateless(lambda z, y: mean(ge.maki_loss(z, y, gamma=1, head="softmax")))
  if name == "cb_focal":
    return _stateless(lambda z, y: mean(lt.class_balanced_loss(z, y, class_counts=n, beta=0.999,
                                                               base="focal", gamma=2.0)))
  if name == "balanced_softmax":
    return _stateless(lambda z, y: mean(lt.balanced_softmax_loss(z, y, class_counts=n)))
  if name == "ldam_drw":
    drw = int(config.drw_fraction * config.steps)
    return _stateful(lt.ldam_drw(n, drw_step=drw, scale=1.0, max_margin=0.5), mean)
  if name == "eqlv2":
    return _stateful(lt.eqlv2(10), per_logit)
  if name == "seesaw":
    return _stateful(lt.seesaw(10), mean)
  if name == "efl":
    return _stateful(lt.equalized_focal(10), per_logit)
  raise ge.InputError(f"Unknown long-tail loss {name!r}.")


def train_loss(name: str, data, config, seeds) -> jax.Array:
  """Test-set predictions ``[seeds, N_test]`` of one loss, one run per seed (vmapped)."""
  x_train, y_train, x_test, _, counts = data
  x_train, y_train, x_test = map(jnp.asarray, (x_train, y_train, x_test))
  init_state, fn = objective(name, counts, config)
  optimizer = optax.adam(config.learning_rate)

  def one_seed(seed):
    key = jax.random.PRNGKey(seed)
    key, init_key = jax.random.split(key)
    params = init_mlp(init_key, x_train.shape[1], config.hidden, 10)
    carry = (params, optimizer.init(params), init_state())

    def step(carry, step_key):
      params, opt_state, state = carry
      idx = jax.random.randint(step_key, (config.batch,), 0, x_train.shape[0])
      (value, state), grads = jax.value_and_grad(
          lambda p: fn(apply_mlp(p, x_train[idx]), y_train[idx], state), has_aux=True)(params)
      updates, opt_state = optimizer.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state, state), value

    (params, _, _), _ = jax.lax.scan(step, carry, jax.random.split(key, config.steps))
    return jnp.argmax(apply_mlp(params, x_test), -1)

  return jax.jit(jax.vmap(one_seed))(jnp.asarray(np.asarray(seeds), jnp.uint32))
