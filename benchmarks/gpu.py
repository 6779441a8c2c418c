"""The GPU variant of the kernel and formula benchmarks, in one process tree, for a lent device.

    python benchmarks/gpu.py --out DIR [--sigmoid-size 100000000] [--softmax-images 256]
                             [--formula-size 100000000] [--repeats 15] [--workers 14]
                             [--only N ...]

Three parts, each written to DIR as soon as it is done (atomically), so that a run stopped at
its time limit still returns what it measured:

1. ``builds.json`` — every formula of `formulas.FORMULAS` built once on a cold cache
   (``GRADENG_CACHE_DIR`` = a new temporary directory shared by the builds) by a pool of
   CPU-only processes (``JAX_PLATFORMS=cpu``; the kernel choice does not depend on the backend),
   each also computing the formula's mpmath reference (`formulas.reference`). The build seconds
   are those of processes running side by side: an upper bound on a quiet first build.
2. ``kernels.json`` — `loss_kernels.run` on the GPU: the catalog losses against optax autodiff,
   interleaved rounds, ratios within this run.
3. ``formulas.json`` — in this (GPU) process, each formula built again from the warm cache
   (second build), its float32 value and gradient errors against the reference, computed on the
   GPU, and its forward+backward time against the catalog focal loss (`formulas.speed`).

Everything is printed as Markdown at the end (the tables of `loss_kernels.markdown` and
`formulas.table`). Nothing here asks for a GPU: on a machine without one it measures the CPU
(useful to try the script before a lease).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import formulas  # noqa: E402  (the benchmark scripts beside this one)


def _write_atomically(path: pathlib.Path, data) -> None:
  with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
    json.dump(data, handle, indent=1, default=str)
  os.replace(handle.name, path)


def _build_on_cpu(index: int, cache: str) -> dict:
  """Pool task: a cold build of formula ``index`` and its reference (as decimal strings)."""
  os.environ["JAX_PLATFORMS"] = "cpu"
  os.environ["GRADENG_CACHE_DIR"] = cache
  import mpmath

  import gradeng as ge

  formula = formulas.FORMULAS[index]
  start = time.perf_counter()
  loss = ge.loss_from_coefficient(ge.coefficient(formula.g), **formula.params)
  build = time.perf_counter() - start
  reference = formulas.reference(formula)
  return dict(index=index, first_build_seconds=build, first_method=loss.forward_method,
              reference={z: [mpmath.nstr(v, formulas.DIGITS) for v in values]
                         for z, values in reference.items()})


def builds(selected: list[int], workers: int, cache: str, out: pathlib.Path) -> dict:
  done = {}
  context = multiprocessing.get_context("spawn")
  start = time.perf_counter()
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
    futures = {pool.submit(_build_on_cpu, i, cache): i for i in selected}
    for future in concurrent.futures.as_completed(futures):
      index = futures[future]
      try:
        done[index] = future.result()
      except Exception:  # noqa: BLE001 - reported in the row, the others go on
        done[index] = dict(index=index, error="first build failed",
                           log_tail=traceback.format_exc()[-1500:])
      row = done[index]
      print(f"[build {len(done)}/{len(selected)}] #{index} {formulas.FORMULAS[index].g}: "
            + (row.get("error") or f"{row['first_method'][:60]}, "
               f"{row['first_build_seconds']:.1f} s"), flush=True)
      _write_atomically(out / "builds.json", {str(k): {k2: v2 for k2, v2 in v.items()
                                                       if k2 != "reference"}
                                              for k, v in done.items()})
  print(f"builds: {time.perf_counter() - start:.1f} s wall with {workers} processes", flush=True)
  return done


def kernels(args, out: pathlib.Path) -> list[dict]:
  import loss_kernels

  rows = loss_kernels.run(args.sigmoid_size, args.repeats, args.softmax_images)
  _write_atomically(out / "kernels.json", rows)
  return rows


def measure_formulas(selected: list[int], built: dict, args, out: pathlib.Path) -> list[dict]:
  import jax
  import mpmath

  import gradeng as ge

  rows = {}
  library = formulas._library_fingerprint()  # noqa: SLF001 - the script beside this one
  for index in selected:
    formula = formulas.FORMULAS[index]
    row = dict(index=index, formula=formula.g, params=formula.params, kind=formula.kind,
               elementary=formula.elementary, size=args.formula_size, repeats=args.repeats,
               backend=jax.default_backend(), device=str(jax.devices()[0].device_kind),
               first_library=library, library=library)
    first = built.get(index, {})
    try:
      if "error" in first:
        raise RuntimeError(first["error"] + "\n" + first.get("log_tail", ""))
      with mpmath.workdps(formulas.DIGITS):
        reference = {float(z): tuple(mpmath.mpf(v) for v in values)
                     for z, values in first["reference"].items()}
      start = time.perf_counter()
      loss = ge.loss_from_coefficient(ge.coefficient(formula.g), **formula.params)
      row.update(first_build_seconds=first["first_build_seconds"],
                 first_method=first["first_method"],
                 second_build_seconds=time.perf_counter() - start, method=loss.forward_method)
      row.update(formulas.accuracy(loss, formula, reference))
      row.update(formulas.speed(loss, args.formula_size, args.repeats))
    except Exception:  # noqa: BLE001 - reported in the row, the others go on
      row.update(error="measurement failed", log_tail=traceback.format_exc()[-1500:])
    row["misses"] = formulas._verdict(row)  # noqa: SLF001 - the script beside this one
    rows[index] = row
    print(formulas._progress(row, len(rows), len(selected)), flush=True)  # noqa: SLF001
    _write_atomically(out / "formulas.json", {str(k): v for k, v in rows.items()})
  return [rows[i] for i in selected]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="folder for builds/kernels/formulas.json")
  parser.add_argument("--sigmoid-size", type=int, default=100_000_000)
  parser.add_argument("--softmax-images", type=int, default=256)
  parser.add_argument("--formula-size", type=int, default=100_000_000)
  parser.add_argument("--repeats", type=int, default=15, help="interleaved timing rounds")
  parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
  parser.add_argument("--only", type=int, nargs="*", help="indices of formulas to run")
  parser.add_argument("--skip-kernels", action="store_true")
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  selected = [i for i in range(len(formulas.FORMULAS)) if not args.only or i in args.only]

  with tempfile.TemporaryDirectory(prefix="gradeng-gpu-cache-") as cache:
    built = builds(selected, args.workers, cache, out)  # before this process starts JAX
    os.environ["GRADENG_CACHE_DIR"] = cache
    import jax

    device = jax.devices()[0]
    header = (f"jax {jax.__version__}, backend {jax.default_backend()}, device "
              f"{device.device_kind} (×{jax.device_count()}), {os.cpu_count()} CPUs, python "
              f"{sys.version.split()[0]}; {args.repeats} interleaved rounds")
    print(header, flush=True)
    kernel_rows = []
    if not args.skip_kernels:
      try:
        kernel_rows = kernels(args, out)
      except Exception:  # noqa: BLE001 - the formulas still run
        traceback.print_exc()
    formula_rows = measure_formulas(selected, built, args, out)

  import loss_kernels

  print("\n" + header)
  if kernel_rows:
    print(f"\nKernels (sigmoid {args.sigmoid_size:.0e} logits, softmax "
          f"{args.softmax_images}·8732×21):\n" + loss_kernels.markdown(kernel_rows))
  print(f"\nFormulas ({args.formula_size:.0e} logits):\n"
        + formulas.table(formula_rows))


if __name__ == "__main__":
  main()
