"""Trainings per second of the swept toy simulations vs a Python loop and a PyTorch loop.

Same grid (≥ 1,000 trainings), same run, three ways:

* **swept**: `gradeng.experiments.toy.run_sweep` — the grid vmapped, jitted once per loss kind, sharded
  (``shard_map``) over the devices, chunks saved to disk. Timed cold (incl. compilation) and warm
  (best of `REPEATS`), compute alone and end-to-end with the saving.
* **(a) jitted loop**: a Python ``for`` over the grid calling a jitted single-training function
  (the very `make_training` the sweep vmaps), compiled before timing, best of `REPEATS`.
* **(b) PyTorch loop**: the same training written in PyTorch (CPU, eager, one thread: faster than
  two on tensors this small), a Python ``for`` over the grid, timed once. The losses here are the
  textbook CE and focal formulas, for this baseline only.

Each training computes the same outputs (per-step gradient shares, final metrics). The
random numbers differ between JAX and PyTorch, so the per-setting means are printed side by side
as a check that the work is the same.

Run (needs the ``[bench]`` extra, torch)::

  python benchmarks/toy_sweep.py            # full: 1,008 trainings per simulation
  python benchmarks/toy_sweep.py --quick    # smoke run, 48 trainings
  python benchmarks/toy_sweep.py --record   # also write the section in benchmarks/RESULTS.md

By default the script exposes one XLA host device per CPU core, so the sweep is sharded over
all cores (set ``XLA_FLAGS`` yourself to override); the loops run on one device.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + f" --xla_force_host_platform_device_count={os.cpu_count()}").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gradeng.experiments import toy  # noqa: E402
from gradeng.experiments.toy import _classify, _free_logit, _sweep  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- toy_sweep:begin -->", "<!-- toy_sweep:end -->"
LOSSES = (("ce", (None,)), ("focal", (0.5, 1.0, 2.0, 3.0, 5.0)))
NOTES = """
Reading the numbers: "compute" is the sharded jitted function over all chunks with outputs fetched
to the host; "end-to-end" adds the atomic saving of chunks, `results.npz` and `summary.json`.
The 1- and 2-device sweeps are checked bit-identical in the same run. The machine is shared
(see the load average above), so timings move by up to ~2× between runs; ratios are within one run.
On this 2-core CPU the sweep's advantage over the jitted loop comes from amortising per-step loop
and dispatch overhead, which is large for the free-logit training (20 logits) and small for
logistic regression on 256 points (compute-bound per step), hence the different ratios. The
PyTorch means differ from JAX's only through the random streams (different data/init draws).
"""
REPEATS = 3  # warm timings of the sweep and of the jitted loop: best of 3 (the machine is shared)


def configs(quick: bool):
  seeds = tuple(range(2 if quick else 42))  # 6 settings × 4 ratios × 42 seeds = 1,008
  # batch 84: CE's 168 cells and focal's 840 fill 2 devices × 84 exactly, so no padding cell is
  # computed (with 252, CE's chunk is padded to 504 and focal's to 1,008: 1.5× the work).
  common = dict(losses=LOSSES, imbalance=(1.0, 10.0, 100.0, 1000.0), seeds=seeds,
                chunk_size=48 if quick else 1008, batch=8 if quick else 84)
  return [
      toy.FreeLogitConfig(name="bench-free_logit", steps=100, **common),
      toy.ClassificationConfig(name="bench-gaussian_logreg", dataset="gaussian", model="logreg",
                               steps=100, lr=0.05, n_train=256, n_test=256, **common),
  ]


# ---------------------------------------------------------------------------- JAX, swept / loop


def swept(config, devices):
  """Seconds of the sharded sweep: (compute cold incl. compile, compute warm, end-to-end warm).

  "compute" runs every chunk through the jitted, sharded, vmapped function and fetches the
  outputs to the host; "end-to-end" is `run_sweep` into a fresh directory (chunks, results.npz,
  summary.json written atomically) with the compilation already cached.
  """
  execute = _sweep._Executor(config, devices)
  chunks = _sweep.plan_chunks(config)
  timings = []
  for _ in range(1 + REPEATS):  # the first includes the compilation
    start = time.perf_counter()
    for chunk in chunks:
      execute(chunk)
    timings.append(time.perf_counter() - start)
  with tempfile.TemporaryDirectory() as tmp:
    ends = []
    for i in range(REPEATS):
      start = time.perf_counter()
      result = toy.run_sweep(config, Path(tmp) / f"run{i}", devices=devices, progress=False)
      ends.append(time.perf_counter() - start)
  timings, end_to_end = [timings[0], min(timings[1:])], min(ends)
  return (*timings, end_to_end), result.arrays


def jitted_loop(config):
  module = _free_logit if config.kind == "free_logit" else _classify
  functions = {loss: jax.jit(module.make_training(config, loss)) for loss, _ in config.losses}
  for loss, hypers in config.losses:  # compile outside the timing
    jax.block_until_ready(functions[loss](np.float32(hypers[0] or np.nan), np.float32(1), np.uint32(0)))
  timings = []
  for _ in range(REPEATS):
    outputs = []
    start = time.perf_counter()
    for loss, hyper, ratio, seed in toy.grid_cells(config):
      out = functions[loss](np.float32(np.nan if hyper is None else hyper), np.float32(ratio),
                            np.uint32(seed))
      outputs.append(jax.device_get(out))
    timings.append(time.perf_counter() - start)
  return min(timings), outputs


# ---------------------------------------------------------------------------- PyTorch loop


def torch_loss(torch, loss, z, y, hyper):
  sign = 2 * y - 1
  log_p = torch.nn.functional.logsigmoid(sign * z)
  if loss == "ce":
    return -log_p
  return -(1 - log_p.exp()) ** hyper * log_p  # focal


def torch_free_logit(torch, config, loss, hyper, ratio, seed):
  generator = torch.Generator().manual_seed(seed)
  n_easy, n_hard = config.easy_groups, config.n_hard
  y = torch.cat([torch.zeros(n_easy), torch.ones(n_hard)])
  hard = y == 1
  sign = 2 * y - 1
  logit = lambda p: math.log(p / (1 - p))
  theta = torch.cat([-logit(config.p_easy) + config.jitter * torch.randn(n_easy, generator=generator),
                     logit(config.p_hard) + config.jitter * torch.randn(n_hard, generator=generator)])
  counts = torch.where(hard, 1.0, ratio * n_hard / n_easy)
  bias = torch.zeros(())
  easy = counts * (~hard)
  records = {k: [] for k in ("p_easy", "p_hard", "share_logit", "share_g", "bias")}
  for _ in range(config.steps + 1):
    z = (theta + bias).requires_grad_(True)
    (dz,) = torch.autograd.grad(torch_loss(torch, loss, z, y, hyper).sum(), z)
    with torch.no_grad():
      p = torch.sigmoid(sign * z)
      g = dz / (p * (1 - p) * sign)  # g = (dL/dz) / (dp_t/dz)
      records["p_easy"].append((easy * p).sum() / easy.sum())
      records["p_hard"].append(p[hard].mean())
      records["share_logit"].append((counts * dz.abs())[hard].sum() / (counts * dz.abs()).sum())
      records["share_g"].append((counts * g.abs())[hard].sum() / (counts * g.abs()).sum())
      records["bias"].append(bias)
      theta = theta - config.lr * dz
      bias = bias - config.bias_lr * (counts * dz).sum() / counts.sum()
  return {k: torch.stack(v).numpy() for k, v in records.items()}


def torch_sample(torch, n, n_minority, separation, generator):
  y = (torch.arange(n) < n_minority).float()
  x = (2 * y - 1)[:, None] * (separation / 2 / math.sqrt(2)) + torch.randn(n, 2, generator=generator)
  return x, y


def torch_logreg(torch, config, loss, hyper, ratio, seed):
  generator = torch.Generator().manual_seed(seed)
  n = config.n_train
  x, y = torch_sample(torch, n, min(max(round(n / (1 + ratio)), 1), n - 1), config.separation, generator)
  model = torch.nn.Linear(2, 1)
  with torch.no_grad():  # Flax's default init: lecun normal (truncated at ±2σ, rescaled), zero bias
    std = 1 / math.sqrt(2) / 0.87962566103423978
    torch.nn.init.trunc_normal_(model.weight, 0.0, std, -2 * std, 2 * std, generator=generator)
    model.bias.zero_()
  optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
  share_minority, share_hard = [], []
  for _ in range(config.steps):
    z = model(x)[:, 0]
    z.retain_grad()
    optimizer.zero_grad()
    torch_loss(torch, loss, z, y, hyper).mean().backward()
    with torch.no_grad():
      magnitude = z.grad.abs()
      p_t = torch.sigmoid((2 * y - 1) * z)
      share_minority.append(magnitude[y == 1].sum() / magnitude.sum())
      share_hard.append(magnitude[p_t < 0.5].sum() / magnitude.sum())
    optimizer.step()
  with torch.no_grad():
    x_test, y_test = torch_sample(torch, 2 * config.n_test, config.n_test, config.separation, generator)
    z = model(x_test)[:, 0]
    weights = torch.where(y_test == 1, 1.0, ratio)
    recall = float(((z >= 0) & (y_test == 1)).sum() / (y_test == 1).sum())
    order = torch.argsort(-z)
    w, t = weights[order], y_test[order]
    true_pos, false_pos = torch.cumsum(w * t, 0), torch.cumsum(w * (1 - t), 0)
    ap = float((w * t * true_pos / (true_pos + false_pos)).sum() / (w * t).sum())
    probs = torch.sigmoid(z)
    bins = torch.clamp((probs * 10).long(), 0, 9)
    gap = torch.zeros(10).index_add_(0, bins, weights * (probs - y_test))
    ece = float(gap.abs().sum() / weights.sum())
  return {"recall": recall, "average_precision": ap, "ece": ece,
          "share_minority": torch.stack(share_minority).numpy(),
          "share_hard": torch.stack(share_hard).numpy()}


def torch_loop(config):
  import torch
  torch.set_num_threads(1)  # tensors of ≤ 512 elements: threads only add overhead
  train = torch_free_logit if config.kind == "free_logit" else torch_logreg
  outputs = []
  start = time.perf_counter()
  for loss, hyper, ratio, seed in toy.grid_cells(config):
    outputs.append(train(torch, config, loss, hyper, ratio, seed))
  return time.perf_counter() - start, outputs, torch.__version__, torch.get_num_threads()


# ---------------------------------------------------------------------------- report


def check_metric(config):
  return "p_hard" if config.kind == "free_logit" else "recall"


def setting_means(config, metric, per_cell):
  """Mean over ratios and seeds of a final metric per (loss, hyper) setting."""
  cells = toy.grid_cells(config)
  means = {}
  for (loss, hyper, _, _), value in zip(cells, per_cell):
    means.setdefault((loss, hyper), []).append(value)
  return {k: float(np.mean(v)) for k, v in means.items()}


def machine() -> str:
  try:
    return subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
  except (OSError, subprocess.CalledProcessError):
    return [platform.processor() or platform.machine()]


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="48 trainings per simulation (smoke run)")
  parser.add_argument("--record", action="store_true", help=f"write the section in {RESULTS}")
  args = parser.parse_args()

  lines = []
  emit = lambda text="": (print(text, flush=True), lines.append(text))
  devices = jax.devices()
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  emit(f"jax {jax.__version__} on {len(devices)} {devices[0].platform} device(s); "
       f"load average at start {load:.2f}; python {platform.python_version()}")
  for config in configs(args.quick):
    n = config.n_cells
    (cold1, warm1, end1), arrays = swept(config, devices[:1])
    (cold, warm, end), arrays_all = swept(config, devices)
    for key in arrays:  # sharding does not change a bit
      np.testing.assert_array_equal(arrays[key], arrays_all[key], err_msg=key)
    loop_s, loop_out = jitted_loop(config)
    torch_s, torch_out, torch_version, threads = torch_loop(config)
    metric = check_metric(config)
    final = lambda v: v[-1] if np.ndim(v) else v
    jax_means = setting_means(config, metric, [final(v) for v in arrays[metric]])
    loop_means = setting_means(config, metric, [final(o[metric]) for o in loop_out])
    torch_means = setting_means(config, metric, [final(o[metric]) for o in torch_out])
    emit()
    emit(f"### {config.kind}: {config.name}, {n} trainings × {config.steps} steps")
    emit()
    emit(f"| method | seconds | trainings/s | swept ({len(devices)} devices, warm) is faster by |")
    emit("| --- | ---: | ---: | ---: |")
    rows = [
        (f"swept, {len(devices)} device(s), compute, warm", warm),
        (f"swept, {len(devices)} device(s), compute, cold (incl. compile)", cold),
        (f"swept, {len(devices)} device(s), `run_sweep` end-to-end incl. saving, warm", end),
        ("swept, 1 device, compute, warm", warm1),
        ("swept, 1 device, compute, cold (incl. compile)", cold1),
        ("swept, 1 device, `run_sweep` end-to-end incl. saving, warm", end1),
        ("(a) Python loop of a jitted training, warm", loop_s),
        (f"(b) PyTorch {torch_version} CPU loop ({threads} thread)", torch_s),
    ]
    for label, seconds in rows:
      emit(f"| {label} | {seconds:.3f} | {n / seconds:,.0f} | {seconds / warm:,.1f}× |")
    emit()
    emit(f"Same work check — mean final `{metric}` per setting (swept / jitted loop / PyTorch):")
    emit("")
    for key in jax_means:
      label = key[0] if key[1] is None else f"{key[0]} γ={key[1]:g}"
      emit(f"- {label}: {jax_means[key]:.4f} / {loop_means[key]:.4f} / {torch_means[key]:.4f}")
  if args.record:
    record(lines, args.quick)
  return 0


def record(lines, quick):
  cpu = [l for l in machine()][:10]
  section = "\n".join([
      BEGIN,
      "## Toy imbalance sweeps (`benchmarks/toy_sweep.py`)" + (" — quick" if quick else ""),
      "",
      f"Command: `python benchmarks/toy_sweep.py{' --quick' if quick else ''} --record`, "
      f"{time.strftime('%Y-%m-%d')}. Machine (`lscpu | head`):",
      "",
      "```",
      *cpu,
      "```",
      "",
      *lines,
      "",
      *NOTES.strip("\n").splitlines(),
      END,
  ])
  text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
  if BEGIN in text and END in text:
    text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
  else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
  RESULTS.write_text(text)
  print(f"wrote {RESULTS}")


if __name__ == "__main__":
  sys.exit(main())
