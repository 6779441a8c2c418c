"""Forward+backward time of gradeng's injected losses vs optax autodiff, interleaved in one run.

    python benchmarks/loss_kernels.py [--repeats 15] [--sigmoid-size 10000000] [--softmax-images 32]
                                      [--json out.json]

Sigmoid head: 10^7 float32 logits, peer `optax.losses.sigmoid_focal_loss` under `jax.grad`
(γ = 2, and at each real γ of Maki's rows, where optax's (1 - p_t)^γ is a real power).
Softmax head: [32·8732, 21] logits (SSD300 on VOC: 32 images × 8732 anchors × 21 classes), peer
`optax.losses.softmax_cross_entropy_with_integer_labels` and a focal loss written on
`log_softmax` (what a user would write without gradeng), both under `jax.grad`.
Each function is jitted (value-and-grad of the mean loss) and warmed up; then ``--repeats``
rounds time every function of a head once, back to back (in a new seeded random order each
round), so that load drifts on the shared machine hit peers and gradeng alike. Printed per row:
the best time, best / the peer's best, the median over rounds of the per-round ratio to the peer,
and the same median for the process's CPU time (all threads; time slices lost to other
processes do not count), ≤ 1: gradeng faster; the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gradeng as ge

#: Real (non-integer) γ timed for Maki, each against optax's focal loss at γ = 2 and at the same γ.
REAL_GAMMAS = (0.5, 1.5, 2.5, 3.7, 7.3)


def _value_and_grad(loss):
  return jax.jit(jax.value_and_grad(lambda z, y: jnp.mean(loss(z, y))))


def interleaved(fns: dict, args: dict, repeats: int) -> tuple[dict, dict]:
  """name -> per-round wall seconds and process CPU seconds (all threads); every function runs
  once per round, in a new (seeded) random order each round: no fixed neighbours."""
  for name, fn in fns.items():
    jax.block_until_ready(fn(*args[name]))
  names = list(fns)
  wall = {name: [] for name in names}
  cpu = {name: [] for name in names}
  order = np.random.default_rng(0)
  for _ in range(repeats):
    for name in order.permutation(names):
      start, start_cpu = time.perf_counter(), time.process_time()
      jax.block_until_ready(fns[name](*args[name]))
      wall[name].append(time.perf_counter() - start)
      cpu[name].append(time.process_time() - start_cpu)
  return wall, cpu


def ratio_row(head, size, name, times, peer):
  wall, cpu = times
  ts, ps = np.asarray(wall[name]), np.asarray(wall[peer])
  return {"head": head, "size": size, "loss": name, "peer": peer, "best_s": float(ts.min()),
          "best_ratio": float(ts.min() / ps.min()), "median_ratio": float(np.median(ts / ps)),
          "cpu_median_ratio": float(np.median(np.asarray(cpu[name]) / np.asarray(cpu[peer])))}


def _softmax_focal_autodiff(logits, labels, gamma=2.0):
  log_p = jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None], -1)[..., 0]
  return -((1 - jnp.exp(log_p)) ** gamma) * log_p


def _optax_focal(gamma):
  return lambda a, b: optax.losses.sigmoid_focal_loss(a, b, gamma=gamma)


def run(sigmoid_size: int, repeats: int, softmax_images: int = 32) -> list[dict]:
  """The rows of both heads' tables (the softmax head: ``softmax_images`` × 8732 anchors)."""
  key_z, key_y = jax.random.split(jax.random.PRNGKey(0))
  rows = []

  z = 4.0 * jax.random.normal(key_z, (sigmoid_size,), jnp.float32)
  y_int = jax.random.bernoulli(key_y, 0.1, (sigmoid_size,)).astype(jnp.int32)
  y_float = y_int.astype(jnp.float32)
  size = f"{sigmoid_size:.0e}"
  peer = "optax focal γ=2"
  cases = {peer: (_optax_focal(2.0), y_float)}
  cases.update({
      "gradeng focal γ=2 (int labels)": (lambda a, b: ge.focal_loss(a, b, gamma=2.0), y_int),
      "gradeng focal γ=2 (float labels)": (lambda a, b: ge.focal_loss(a, b, gamma=2.0), y_float),
      **{f"gradeng maki γ={g}": (lambda a, b, g=g: ge.maki_loss(a, b, gamma=g), y_int)
         for g in (1, 2, 3, 5, 10)},
      "gradeng qce": (lambda a, b: ge.qce_loss(a, b), y_int),
  })
  for g in REAL_GAMMAS:
    cases[f"optax focal γ={g}"] = (_optax_focal(g), y_float)
    cases[f"gradeng maki γ={g}"] = (lambda a, b, g=g: ge.maki_loss(a, b, gamma=g), y_int)
  times = interleaved({k: _value_and_grad(f) for k, (f, _) in cases.items()},
                       {k: (z, labels) for k, (_, labels) in cases.items()}, repeats)
  for name in cases:
    rows.append(ratio_row("sigmoid", size, name, times, peer))
    gamma = name.partition("maki γ=")[2]
    if gamma and float(gamma) in REAL_GAMMAS:
      rows.append(ratio_row("sigmoid", size, name, times, f"optax focal γ={gamma}"))

  shape = (softmax_images * 8732, 21)
  logits = 4.0 * jax.random.normal(key_z, shape, jnp.float32)
  labels = jax.random.randint(key_y, shape[:1], 0, 21)
  fns = {
      "optax softmax CE": optax.losses.softmax_cross_entropy_with_integer_labels,
      "autodiff softmax focal γ=2": _softmax_focal_autodiff,
      "gradeng ce": lambda a, b: ge.cross_entropy_loss(a, b, head="softmax"),
      "gradeng focal γ=2": lambda a, b: ge.focal_loss(a, b, gamma=2.0, head="softmax"),
      "gradeng maki γ=1": lambda a, b: ge.maki_loss(a, b, gamma=1, head="softmax"),
  }
  times = interleaved({k: _value_and_grad(f) for k, f in fns.items()},
                       {k: (logits, labels) for k in fns}, repeats)
  peers = {"optax softmax CE": "optax softmax CE", "autodiff softmax focal γ=2": "optax softmax CE",
           "gradeng ce": "optax softmax CE", "gradeng focal γ=2": "autodiff softmax focal γ=2",
           "gradeng maki γ=1": "autodiff softmax focal γ=2"}
  for name in fns:
    rows.append(ratio_row("softmax", f"{softmax_images}·8732×21", name, times, peers[name]))
  return rows


def markdown(rows: list[dict]) -> str:
  """The rows as a Markdown table."""
  lines = ["| head | size | loss (forward+backward) | best ms | peer | best / peer's best | "
           "median per-round ratio | CPU time: median per-round ratio |",
           "|---|---|---|---:|---|---:|---:|---:|"]
  for r in rows:
    lines.append(f"| {r['head']} | {r['size']} | {r['loss']} | {1e3 * r['best_s']:.2f} | "
                 f"{r['peer']} | {r['best_ratio']:.2f}× | {r['median_ratio']:.2f}× | "
                 f"{r['cpu_median_ratio']:.2f}× |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sigmoid-size", type=int, default=10_000_000)
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--softmax-images", type=int, default=32, help="SSD300 images per batch")
  parser.add_argument("--json", help="also write the rows as JSON here")
  args = parser.parse_args()
  load_before = os.getloadavg()[0]
  rows = run(args.sigmoid_size, args.repeats, args.softmax_images)
  load_after = os.getloadavg()[0]
  device = jax.devices()[0]
  print(f"jax {jax.__version__}, device {device.platform}:{device.device_kind}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.repeats} "
        f"interleaved rounds, 1-min load average {load_before:.1f} before, {load_after:.1f} after")
  print(markdown(rows))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=1)


if __name__ == "__main__":
  main()
