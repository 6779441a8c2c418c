"""Free-logit dynamics: the paper's §2.1 gradient-budget argument, run for many steps.

Kilbas & Paringer (2020), §2.1: 1000 easy examples at p = 0.9 and 10 hard ones at p = 0.3 give
summed scale coefficients of −1111 vs −33 under cross-entropy, so the easy ones dominate the
update; focal loss (γ = 2) balances them (−32 vs −33). Here each example owns a logit and all share
a bias (see `FreeLogitConfig`), and the trajectories show how p_easy, p_hard and the hard group's
share of the gradient move under each loss.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _losses
from ._config import FreeLogitConfig
from ._metrics import gradient_share, pairwise_sum

#: per-training outputs: name -> description (trajectories have ``steps + 1`` entries, state
#: before each update and after the last)
OUTPUTS = {
    "p_easy": "mean p_t of the easy group, per step",
    "p_hard": "mean p_t of the hard group, per step",
    "share_logit": "hard group's share of Σ|dL/dz|, per step",
    "share_g": "hard group's share of Σ|g(p_t)| (scale coefficients, paper §2.1), per step",
    "bias": "the shared bias b, per step",
}


def make_training(config: FreeLogitConfig, loss: str) -> Callable[..., dict[str, jax.Array]]:
  """``train(hyper, ratio, seed) -> outputs`` for one loss kind; all three args may be traced."""
  loss = _losses.resolve(loss, config.formulas)  # a catalog name, or the config's FormulaLoss
  n_easy, n_hard = config.easy_groups, config.n_hard
  labels = jnp.concatenate([jnp.zeros(n_easy, jnp.int32), jnp.ones(n_hard, jnp.int32)])
  hard = labels == 1
  sign = 2.0 * labels - 1.0

  def observe(z, counts, hyper):
    log_p = jax.nn.log_sigmoid(sign * z)
    p = jnp.exp(log_p)
    dz = _losses.logit_gradients(loss, z, labels, hyper)
    g = _losses.swept_scale_coefficient(loss, p, hyper)
    easy_counts = jnp.where(hard, 0.0, counts)
    record = {
        "p_easy": pairwise_sum(easy_counts * p) / pairwise_sum(easy_counts),
        "p_hard": pairwise_sum(jnp.where(hard, p, 0.0)) / n_hard,
        "share_logit": gradient_share(dz, hard, counts),
        "share_g": gradient_share(g, hard, counts),
    }
    return dz, record

  def train(hyper, ratio, seed):
    key_easy, key_hard = jax.random.split(jax.random.key(seed))
    theta = jnp.concatenate([
        -jax.scipy.special.logit(config.p_easy) + config.jitter * jax.random.normal(key_easy, (n_easy,)),
        jax.scipy.special.logit(config.p_hard) + config.jitter * jax.random.normal(key_hard, (n_hard,)),
    ])
    counts = jnp.where(hard, 1.0, ratio * n_hard / n_easy)

    def step(carry, _):
      theta, bias = carry
      dz, record = observe(theta + bias, counts, hyper)
      record["bias"] = bias
      theta = theta - config.lr * dz
      bias = bias - config.bias_lr * pairwise_sum(counts * dz) / pairwise_sum(counts)
      return (theta, bias), record

    (theta, bias), records = jax.lax.scan(step, (theta, jnp.zeros(())), length=config.steps)
    _, last = observe(theta + bias, counts, hyper)
    last["bias"] = bias
    return jax.tree.map(lambda xs, x: jnp.concatenate([xs, x[None]]), records, last)

  return train


def summarise(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Scalar summaries per training (host NumPy; leading axis = trainings)."""
  p_hard = outputs["p_hard"]
  reached = p_hard >= 0.5
  return {
      "p_hard_final": p_hard[:, -1],
      "p_easy_final": outputs["p_easy"][:, -1],
      "share_logit_initial": outputs["share_logit"][:, 0],
      "share_g_initial": outputs["share_g"][:, 0],
      "share_logit_final": outputs["share_logit"][:, -1],
      "steps_to_p_hard_half": np.where(reached.any(axis=1), np.argmax(reached, axis=1), -1),
  }
