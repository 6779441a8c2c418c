"""User formulas for g(p): forward method, float32 accuracy and speed of the derived losses.

    python benchmarks/formulas.py [--size 1000000] [--repeats 5] [--json out.json] [--only N ...]

For each formula g(p) (with parameters where it has them) the loss is built as a user would,
``ge.loss_from_coefficient(ge.coefficient(formula), **params)`` (without the interactive
derivation time limit, ``derive_timeout=None``), and reported with:

* its forward method (``f.forward_method``: closed form — catalog, derived or stabilised — or
  quadrature);
* the max float32 relative error of L(σ(z)) over logits z ∈ [-40, 40] (161 points) against
  L = ∫_p^1 -g(t) dt by mpmath quadrature at 30 digits (independent of SymPy's antiderivative;
  points where L is below float32's normal range are skipped);
* forward+backward time of the mean loss on ``--size`` float32 logits (labels 1 with
  probability 0.1), best of ``--repeats`` runs after a warm-up, divided by the best time of the
  catalog focal loss (γ = 2) timed in alternation with it (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import mpmath
import numpy as np

import gradeng as ge

#: (formula for g(p), parameters, what kind of formula it is).
FORMULAS: list[tuple[str, dict, str]] = [
    ("-(1-p)**2*(1+p)/p", {}, "polynomial × 1/p (README)"),
    ("-(1-p)**4/p", {}, "polynomial × 1/p (Maki γ=4 by hand)"),
    ("-(1-p)**2/p", {}, "polynomial × 1/p"),
    ("-(1-p)*(2-p)/p", {}, "polynomial × 1/p"),
    ("-(1-p)**3*(1+3*p)/p", {}, "polynomial × 1/p"),
    ("-(1 - p**2)/p", {}, "polynomial × 1/p"),
    ("-1/p - 1", {}, "polynomial × 1/p (Poly-1, ε=1)"),
    ("-(1-p)**2*(1+p+p**2)/p", {}, "polynomial × 1/p"),
    ("-(1-p)**8/p", {}, "polynomial × 1/p (Maki γ=8 by hand)"),
    ("-p**5", {}, "polynomial"),
    ("-(1-p)**3", {}, "polynomial"),
    ("-1/(p*(1+p))", {}, "rational"),
    ("-1/p**2", {}, "rational"),
    ("-(1-p)/p**2", {}, "rational"),
    ("-(1-p)**2/(p*(1+p**2))", {}, "rational"),
    ("log(p)/p", {}, "with logs (QCE)"),
    ("log(p)**2/p*(-1)", {}, "with logs"),
    ("-(1-p)**2*log(2-p)/p", {}, "with logs"),
    ("-sqrt(1-p)/p", {}, "powers (Maki γ=1/2)"),
    ("-1/sqrt(p)", {}, "powers"),
    ("-(1-p)**gamma/p", {"gamma": 2.5}, "parametric (Maki γ=2.5)"),
    ("-(1-p)**gamma*(1+a*p)/p", {"gamma": 2, "a": 0.5}, "parametric"),
    ("-p**(b-1)", {"b": 0.7}, "parametric (GCE)"),
    ("-exp(-p)/p", {}, "no elementary antiderivative (Ei)"),
]

LOGITS = np.linspace(-40.0, 40.0, 161)


def _reference(coefficient, params):
  """L(σ(z)) by mpmath quadrature of -g on [p, 1] at 30 digits, for each z in `LOGITS`."""
  import sympy as sp

  from gradeng.symbolic import P, substitute

  g = substitute(coefficient, **params)
  f = sp.lambdify(P, -g, modules="mpmath")
  out = []
  with mpmath.workdps(30):
    for z in LOGITS.astype(np.float32).astype(np.float64):
      p = 1 / (1 + mpmath.exp(-mpmath.mpf(float(z))))
      q = 1 / (1 + mpmath.exp(mpmath.mpf(float(z))))
      # substitute t = 1 - u so that the short interval near p = 1 keeps its digits
      out.append(mpmath.quad(lambda u: f(1 - u), [0, q]))
  return out


def _max_error(loss, reference) -> float:
  z = jnp.asarray(LOGITS, jnp.float32)
  got = np.asarray(jax.jit(loss)(z, jnp.ones(z.shape, jnp.int32)), np.float64)
  worst = 0.0
  for g, want in zip(got, reference):
    if abs(want) > 1e1 * np.finfo(np.float32).tiny:
      if not np.isfinite(g):
        return float("inf")
      worst = max(worst, float(abs((mpmath.mpf(g) - want) / want)))
  return worst


def _compiled(loss, z, y):
  fn = jax.jit(jax.value_and_grad(lambda a, b: jnp.mean(loss(a, b))))
  jax.block_until_ready(fn(z, y))
  return fn


def _best_times(fns, z, y, repeats):
  """Best of ``repeats`` runs of each function, interleaved so that all see the same load."""
  times = [[] for _ in fns]
  for _ in range(repeats):
    for fn, out in zip(fns, times):
      start = time.perf_counter()
      jax.block_until_ready(fn(z, y))
      out.append(time.perf_counter() - start)
  return [min(t) for t in times]


def run(size: int, repeats: int, only=None):
  key_z, key_y = jax.random.split(jax.random.PRNGKey(0))
  z = 4.0 * jax.random.normal(key_z, (size,), jnp.float32)
  y = jax.random.bernoulli(key_y, 0.1, (size,)).astype(jnp.int32)
  focal_fn = _compiled(lambda a, b: ge.focal_loss(a, b, gamma=2.0), z, y)
  rows, focal_times = [], []
  for index, (formula, params, kind) in enumerate(FORMULAS):
    if only and index not in only:
      continue
    start = time.perf_counter()
    coefficient = ge.coefficient(formula)
    # No build-time limit on SymPy: the method reported must not depend on the machine's load.
    loss = ge.loss_from_coefficient(coefficient, derive_timeout=None, **params)
    build = time.perf_counter() - start
    error = _max_error(loss, _reference(coefficient, params))
    focal, seconds = _best_times([focal_fn, _compiled(loss, z, y)], z, y, repeats)
    focal_times.append(focal)
    rows.append(dict(index=index, formula=formula, params=params, kind=kind,
                     method=loss.forward_method, max_rel_error=error, seconds=seconds,
                     focal_seconds=focal, ratio_to_focal=seconds / focal, build_seconds=build))
    print(f"[{index}] {formula} {params}: {loss.forward_method}, error {error:.1e}, "
          f"{seconds / focal:.2f}× focal (built in {build:.1f} s)", flush=True)
  return min(focal_times, default=float("nan")), rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--size", type=int, default=1_000_000)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--json", help="also write the rows as JSON here")
  parser.add_argument("--only", type=int, nargs="*", help="indices of formulas to run")
  args = parser.parse_args()
  load_before = os.getloadavg()[0]
  focal, rows = run(args.size, args.repeats, set(args.only or ()))
  load_after = os.getloadavg()[0]
  print(f"\njax {jax.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {args.size:.0e} logits, best of {args.repeats}, best focal γ=2 "
        f"{1e3 * focal:.1f} ms, 1-min load average {load_before:.1f} before, {load_after:.1f} after")
  print("| # | g(p) | kind | forward method | max rel. error (f32 vs mpmath) | time / focal |")
  print("|---:|---|---|---|---:|---:|")
  for r in rows:
    params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
    g = f"`{r['formula']}`" + (f" ({params})" if params else "")
    print(f"| {r['index']} | {g} | {r['kind']} | {r['method']} | {r['max_rel_error']:.1e} "
          f"| {r['ratio_to_focal']:.2f}× |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(dict(focal_seconds=focal, rows=rows), f, indent=1)


if __name__ == "__main__":
  main()
