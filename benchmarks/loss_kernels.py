"""Forward+backward time of gradeng's injected losses vs optax autodiff, measured in one run.

    python benchmarks/loss_kernels.py [--repeats 15] [--sigmoid-size 10000000] [--json out.json]

Sigmoid head: 10^7 float32 logits, peer `optax.losses.sigmoid_focal_loss` under `jax.grad`.
Softmax head: [32·8732, 21] logits (SSD300 on VOC: 32 images × 8732 anchors × 21 classes), peer
`optax.losses.softmax_cross_entropy_with_integer_labels` and a focal loss written on
`log_softmax` (what a user would write without gradeng), both under `jax.grad`.
Each case: jit, one warm-up, then the best of ``--repeats`` timed runs of value-and-grad of the
mean loss (the machine is shared: the minimum is the least noisy statistic; the 1-minute load
average before and after is printed); the ratio column is our best / the peer's best (≤ 1 means
we are faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import optax

import gradeng as ge


def _time(fn, *args, repeats):
  out = fn(*args)
  jax.block_until_ready(out)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return min(times)


def _value_and_grad(loss):
  return jax.jit(jax.value_and_grad(lambda z, y: jnp.mean(loss(z, y))))


def _softmax_focal_autodiff(logits, labels, gamma=2.0):
  log_p = jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None], -1)[..., 0]
  return -((1 - jnp.exp(log_p)) ** gamma) * log_p


def run(sigmoid_size: int, repeats: int):
  key_z, key_y = jax.random.split(jax.random.PRNGKey(0))
  rows = []

  z = 4.0 * jax.random.normal(key_z, (sigmoid_size,), jnp.float32)
  y_int = jax.random.bernoulli(key_y, 0.1, (sigmoid_size,)).astype(jnp.int32)
  y_float = y_int.astype(jnp.float32)
  peer = _time(_value_and_grad(lambda a, b: optax.losses.sigmoid_focal_loss(a, b, gamma=2.0)),
               z, y_float, repeats=repeats)
  cases = {
      "focal γ=2 (int labels)": (lambda a, b: ge.focal_loss(a, b, gamma=2.0), y_int),
      "focal γ=2 (float labels)": (lambda a, b: ge.focal_loss(a, b, gamma=2.0), y_float),
      "maki γ=1": (lambda a, b: ge.maki_loss(a, b, gamma=1), y_int),
      "maki γ=2": (lambda a, b: ge.maki_loss(a, b, gamma=2), y_int),
      "maki γ=3": (lambda a, b: ge.maki_loss(a, b, gamma=3), y_int),
      "maki γ=5": (lambda a, b: ge.maki_loss(a, b, gamma=5), y_int),
      "maki γ=10": (lambda a, b: ge.maki_loss(a, b, gamma=10), y_int),
      "maki γ=2.5": (lambda a, b: ge.maki_loss(a, b, gamma=2.5), y_int),
      "qce": (lambda a, b: ge.qce_loss(a, b), y_int),
  }
  rows.append(("sigmoid", f"{sigmoid_size:.0e}", "optax.sigmoid_focal_loss γ=2 (peer)", peer, 1.0))
  for name, (fn, labels) in cases.items():
    t = _time(_value_and_grad(fn), z, labels, repeats=repeats)
    rows.append(("sigmoid", f"{sigmoid_size:.0e}", f"gradeng {name}", t, t / peer))

  shape = (32 * 8732, 21)
  logits = 4.0 * jax.random.normal(key_z, shape, jnp.float32)
  labels = jax.random.randint(key_y, shape[:1], 0, 21)
  peer_ce = _time(_value_and_grad(optax.losses.softmax_cross_entropy_with_integer_labels),
                  logits, labels, repeats=repeats)
  peer_focal = _time(_value_and_grad(_softmax_focal_autodiff), logits, labels, repeats=repeats)
  rows.append(("softmax", "32·8732×21", "optax softmax CE (peer)", peer_ce, 1.0))
  rows.append(("softmax", "32·8732×21", "autodiff softmax focal γ=2 (peer)", peer_focal, peer_focal / peer_ce))
  for name, fn, ref in (
      ("ce", lambda a, b: ge.cross_entropy_loss(a, b, head="softmax"), peer_ce),
      ("focal γ=2", lambda a, b: ge.focal_loss(a, b, gamma=2.0, head="softmax"), peer_focal),
      ("maki γ=1", lambda a, b: ge.maki_loss(a, b, gamma=1, head="softmax"), peer_focal),
  ):
    t = _time(_value_and_grad(fn), logits, labels, repeats=repeats)
    peer_name = "optax CE" if ref is peer_ce else "autodiff focal"
    rows.append(("softmax", "32·8732×21", f"gradeng {name} (vs {peer_name})", t, t / ref))
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sigmoid-size", type=int, default=10_000_000)
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--json", help="also write the rows as JSON here")
  args = parser.parse_args()
  load_before = os.getloadavg()[0]
  rows = run(args.sigmoid_size, args.repeats)
  load_after = os.getloadavg()[0]
  device = jax.devices()[0]
  print(f"jax {jax.__version__}, device {device.platform}:{device.device_kind}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, best of "
        f"{args.repeats} runs, 1-min load average {load_before:.1f} before, {load_after:.1f} after")
  print("| head | size | loss (forward+backward) | best ms | ratio to peer |")
  print("|---|---|---|---|---|")
  for head, size, name, t, ratio in rows:
    print(f"| {head} | {size} | {name} | {1e3 * t:.1f} | {ratio:.2f}× |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump([dict(zip(("head", "size", "loss", "seconds", "ratio"), r)) for r in rows], f, indent=1)


if __name__ == "__main__":
  main()
