"""Forward+backward time of the injected embedding losses vs autodiff of the same formula.

    python benchmarks/embedding_losses.py [--batch 256] [--dim 64] [--repeats 20] [--json out.json]

Each case is value-and-grad w.r.t. the embeddings of the mean loss over a batch of ``--batch``
embeddings of size ``--dim`` (8 classes), jitted:

* injected: the public loss (pair weights / triplet conditions / center gradient / ArcFace
  slope injected with ``jax.custom_jvp``);
* autodiff: the same value formula differentiated by JAX — for the pair losses the rule's value
  alone (no injected weights), for center loss λ/2‖x − stop_gradient(c)‖², for ArcFace
  c·cos m − √(1 − c²)·sin m with the fallback in ``jnp.where`` (whose autodiff is NaN at c = ±1,
  which the injected slope avoids; the timing is on random data where it is finite).

Best of ``--repeats`` runs after a warm-up (the machine is shared: the minimum is the least noisy
statistic; the 1-minute load average before and after is printed). Ratio = injected / autodiff
(≤ 1: the injection costs nothing).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import jax
import jax.numpy as jnp

import gradeng as ge


def _time(fn, *args, repeats):
  jax.block_until_ready(fn(*args))
  best = math.inf
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    best = min(best, time.perf_counter() - start)
  return best


def _vg(loss):
  return jax.jit(jax.value_and_grad(lambda x, y: jnp.mean(loss(x, y))))


def _autodiff_rule(name, variable, params):
  rule = ge.embedding.PAIR_RULES[name][1] if name in ge.embedding.PAIR_RULES else ge.embedding.TRIPLET_RULES[name]

  def loss(x, y):
    pos, neg = ge.embedding.pair_masks(y)
    if variable == "s":
      m = ge.embedding.cosine_similarity_matrix(x)
    elif variable == "d":
      m = ge.embedding.pairwise_distances(ge.embedding.l2_normalize(x))
    else:
      m = ge.embedding.pairwise_distances(ge.embedding.l2_normalize(x), squared=True)
    return rule(m, pos, neg, *(jnp.float32(p) for p in params))[0]

  return loss


def _arcface_autodiff(x, y, w, scale=16.0, margin=0.5):
  c = ge.embedding.cosine_logits(x, w)
  sin = jnp.sqrt(jnp.maximum(1.0 - c * c, 0.0))
  target = jnp.where(c > math.cos(math.pi - margin), c * math.cos(margin) - sin * math.sin(margin),
                     c - margin * math.sin(margin))
  logits = scale * jnp.where(jax.nn.one_hot(y, w.shape[0], dtype=bool), target, c)
  return ge.cross_entropy_loss(logits, y, head="softmax")


def run(batch: int, dim: int, repeats: int):
  kx, kw = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, (batch, dim), jnp.float32)
  y = jnp.arange(batch, dtype=jnp.int32) % 8
  w = jax.random.normal(kw, (8, dim), jnp.float32)
  centers = ge.embedding.CenterState(jax.random.normal(kw, (8, dim), jnp.float32))
  center = ge.embedding.make_center_loss(8, dim, lam=0.1)
  cases = {
      "contrastive": (lambda a, b: ge.embedding.contrastive_loss(a, b, margin=1.0),
                      _autodiff_rule("contrastive", "d", (1.0,))),
      "binomial deviance": (ge.embedding.binomial_deviance_loss,
                            _autodiff_rule("binomial_deviance", "s", (2.0, 0.5, 1.0))),
      "multi-similarity": (ge.embedding.multi_similarity_loss,
                           _autodiff_rule("multi_similarity", "s", (2.0, 50.0, 0.5, 0.1))),
      "circle": (ge.embedding.circle_loss, _autodiff_rule("circle", "s", (80.0, 0.4))),
      "triplet semi-hard": (lambda a, b: ge.embedding.triplet_loss(a, b, mining="semi-hard"),
                            _autodiff_rule("semi-hard", "d2", (0.2, 0.0))),
      "triplet batch-all": (lambda a, b: ge.embedding.triplet_loss(a, b, mining="all"),
                            _autodiff_rule("all", "d2", (0.2, 0.0))),
      "center (λ=0.1)": (lambda a, b: center.loss(a, b, centers)[0],
                         lambda a, b: 0.05 * jnp.sum(jnp.square(a - jax.lax.stop_gradient(centers.centers)[b]), -1)),
      "arcface + CE": (lambda a, b: ge.cross_entropy_loss(ge.embedding.arcface_logits(a, w, b), b,
                                                          head="softmax"),
                       lambda a, b: _arcface_autodiff(a, b, w)),
  }
  rows = []
  for name, (injected, autodiff) in cases.items():
    f_inj, f_auto = _vg(injected), _vg(autodiff)
    (v1, g1), (v2, g2) = f_inj(x, y), f_auto(x, y)
    max_diff = float(jnp.max(jnp.abs(g1 - g2)) / jnp.maximum(jnp.max(jnp.abs(g2)), 1e-30))
    t_inj = _time(f_inj, x, y, repeats=repeats)
    t_auto = _time(f_auto, x, y, repeats=repeats)
    rows.append({"loss": name, "injected_ms": 1e3 * t_inj, "autodiff_ms": 1e3 * t_auto,
                 "ratio": t_inj / t_auto, "value_diff": float(abs(v1 - v2)),
                 "grad_rel_diff": max_diff})
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--dim", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--json", default=None)
  args = parser.parse_args()
  load_before = os.getloadavg()[0]
  rows = run(args.batch, args.dim, args.repeats)
  load_after = os.getloadavg()[0]
  print(f"jax {jax.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, batch {args.batch}, dim {args.dim}, "
        f"load {load_before:.1f} → {load_after:.1f}")
  print("| loss | injected (ms) | autodiff (ms) | ratio | |Δ value| | max rel Δ grad |")
  print("|---|---:|---:|---:|---:|---:|")
  for r in rows:
    print(f"| {r['loss']} | {r['injected_ms']:.3f} | {r['autodiff_ms']:.3f} | {r['ratio']:.2f} | "
          f"{r['value_diff']:.1e} | {r['grad_rel_diff']:.1e} |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"jax": jax.__version__, "load": [load_before, load_after], "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
