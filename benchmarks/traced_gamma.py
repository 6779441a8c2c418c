"""γ as a traced input (meta-learning γ, a per-batch γ): compile and run time vs optax autodiff.

    python benchmarks/traced_gamma.py [--size 1000000] [--repeats 15] [--json out.json]

Each function is the jitted value and gradient **in the logits and in γ** of the mean loss on
``--size`` float32 sigmoid logits (4·N(0, 1), 10% positives), γ passed as a JAX scalar, so that
one compiled program serves every γ. Peer: `optax.losses.sigmoid_focal_loss` at the same γ under
`jax.grad`. Printed per loss and γ: the compile time of the first call (one process, in the order
of the table: the first row pays for warming the compiler up, so it is timed on a throw-away
program first), then the best run time, best / the peer's best, and the median over interleaved
rounds of the per-round ratio (`loss_kernels.interleaved`: every function once per round, in a
new seeded random order).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import optax

import gradeng as ge

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loss_kernels import interleaved, ratio_row, markdown as kernel_table  # noqa: E402  (the benchmark script beside this one)

GAMMAS = (0.5, 1.7, 4.5, 12.5)
LOSSES = {
    "optax focal": lambda z, y, g: optax.losses.sigmoid_focal_loss(z, y.astype(z.dtype), gamma=g),
    "gradeng focal": lambda z, y, g: ge.focal_loss(z, y, gamma=g),
    "gradeng maki": lambda z, y, g: ge.maki_loss(z, y, gamma=g),
}


def _value_and_grads(loss):
  return jax.jit(jax.value_and_grad(lambda z, y, g: jnp.mean(loss(z, y, g)), argnums=(0, 2)))


def run(size: int, repeats: int) -> tuple[list[dict], dict]:
  """The rows (loss × γ against optax at that γ) and the compile seconds per loss."""
  key_z, key_y = jax.random.split(jax.random.PRNGKey(0))
  z = 4.0 * jax.random.normal(key_z, (size,), jnp.float32)
  y = jax.random.bernoulli(key_y, 0.1, (size,)).astype(jnp.int32)
  jax.block_until_ready(jax.jit(lambda v: jnp.mean(jnp.exp(v)))(z))  # the compiler's warm-up
  compiled, compile_seconds = {}, {}
  for name, loss in LOSSES.items():
    fn = _value_and_grads(loss)
    start = time.perf_counter()
    compiled[name] = fn.lower(z, y, jnp.float32(1.0)).compile()
    compile_seconds[name] = time.perf_counter() - start
  rows = []
  for gamma in GAMMAS:
    named = {f"{name}, traced γ={gamma}": fn for name, fn in compiled.items()}
    times = interleaved(named, {name: (z, y, jnp.float32(gamma)) for name in named}, repeats)
    rows += [ratio_row("sigmoid", f"{size:.0e}", name, times, f"optax focal, traced γ={gamma}")
             for name in named]
  return rows, compile_seconds


def markdown(rows: list[dict], compile_seconds: dict) -> str:
  """The compile seconds, then the rows as `loss_kernels.markdown` writes them."""
  lines = ["| loss | compile s |", "|---|---:|"]
  lines += [f"| {name} | {seconds:.2f} |" for name, seconds in compile_seconds.items()]
  return "\n".join(lines) + "\n\n" + kernel_table(rows)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--size", type=int, default=1_000_000)
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--json", help="also write the rows and compile seconds as JSON here")
  args = parser.parse_args()
  load_before = os.getloadavg()[0]
  rows, compile_seconds = run(args.size, args.repeats)
  device = jax.devices()[0]
  print(f"jax {jax.__version__}, device {device.platform}:{device.device_kind}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.repeats} "
        f"interleaved rounds, 1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after")
  print(markdown(rows, compile_seconds))
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"rows": rows, "compile_seconds": compile_seconds}, f, indent=1)


if __name__ == "__main__":
  main()
