"""Softmax cross-entropy forward+backward: gradeng vs optax, interleaved in one run.

    python benchmarks/softmax_ce.py [--rounds 40]

[32·8732, 21] float32 logits (SSD300 on VOC: 32 images × 8732 anchors × 21 classes), integer
labels; jitted value-and-grad of the mean loss. Each round times optax's
`softmax_cross_entropy_with_integer_labels`, `ge.cross_entropy_loss(head="softmax")` and
`ge.maki_loss(gamma=1, head="softmax")` back to back. The machine is shared, so two statistics
are printed: best/best and the median over rounds of the per-round ratio (≤ 1: gradeng faster).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import optax

import gradeng as ge


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=40)
  args = parser.parse_args()

  def value_and_grad(loss):
    return jax.jit(jax.value_and_grad(lambda z, y: jnp.mean(loss(z, y))))

  key_z, key_y = jax.random.split(jax.random.PRNGKey(0))
  z = 3.0 * jax.random.normal(key_z, (32 * 8732, 21), jnp.float32)
  y = jax.random.randint(key_y, (32 * 8732,), 0, 21)
  fns = {
      "optax": value_and_grad(optax.losses.softmax_cross_entropy_with_integer_labels),
      "gradeng ce": value_and_grad(lambda a, b: ge.cross_entropy_loss(a, b, head="softmax")),
      "gradeng maki γ=1": value_and_grad(lambda a, b: ge.maki_loss(a, b, gamma=1, head="softmax")),
  }
  for fn in fns.values():
    jax.block_until_ready(fn(z, y))
  load_before = os.getloadavg()[0]
  times = {name: [] for name in fns}
  for _ in range(args.rounds):
    for name, fn in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn(z, y))
      times[name].append(time.perf_counter() - start)
  print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, load average {load_before:.1f} → {os.getloadavg()[0]:.1f}")
  peer = times["optax"]
  for name, ts in times.items():
    ratios = sorted(t / p for t, p in zip(ts, peer))
    print(f"{name:18s} best {min(ts) * 1e3:7.1f} ms   best/best {min(ts) / min(peer):.3f}   "
          f"median per-round ratio {ratios[len(ratios) // 2]:.3f}")


if __name__ == "__main__":
  main()
