"""Derivation reports of the pair losses: from each pair weight w(x) = ∂L/∂x to φ(x) by `derive`.

For every loss that is a sum over pairs, L = Σ φ(x_ij), the pair weight is the coefficient and
`gradeng.derive` (with the variable — similarity s or distance d — its domain and reference
point as data) integrates it: φ(x) = ∫_r^x w(t) dt. Each report shows w, φ, SymPy's
verification, and a check against the library: the injected loss of a single pair
(`gradeng.embedding.PAIR_RULES`) minus the derived φ must be a constant (the libraries fix φ's additive
constant differently: 0 at s → ±∞ instead of at the reference point).

Multi-similarity and circle are log-sum-exp losses over all pairs of an anchor; their reports use
the one-pair limit (a single mined positive and negative), where the weight is a function of the
pair's own similarity. Triplet pair weights are ±1 on d(a,p) and d(a,n) of an active triplet.

Circle loss is designed from its weight (Sun et al. 2020): α_p = [1 + m − s]₊ is held constant
in the gradient, so the injected weight −γα_p σ(·) is not the derivative of the value the loss
reports. SymPy finds no closed form for its integral (`derive` falls back to quadrature after
its time limit), so its report integrates the weight with mpmath and shows how far the reported
value is from that integral.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sympy as sp

from gradeng.experiments.common import atomic_write_text

# loss -> [(pair, formula of w, variable name, reference, params, library rule args)]
REPORTS = {
    "contrastive": ("Hadsell et al. 2006", [
        ("positive pair", "d", "d", 0, {}, ("contrastive", "d", (1.0,), "positive")),
        ("negative pair (d < m)", "d - m", "d", "m", {"m": 1}, ("contrastive", "d", (1.0,), "negative")),
    ]),
    "binomial_deviance": ("Yi et al. 2014", [
        ("positive pair", "-alpha/(1 + exp(alpha*(s - lam)))", "s", 1, {"alpha": 2, "lam": "1/2"},
         ("binomial_deviance", "s", (2.0, 0.5, 1.0), "positive")),
        ("negative pair", "alpha*C/(1 + exp(-alpha*C*(s - lam)))", "s", -1,
         {"alpha": 2, "C": 1, "lam": "1/2"}, ("binomial_deviance", "s", (2.0, 0.5, 1.0), "negative")),
    ]),
    "multi_similarity": ("Wang et al. 2019 (one mined pair of each kind)", [
        ("positive pair", "-1/(1 + exp(alpha*(s - lam)))", "s", 1, {"alpha": 2, "lam": "1/2"}, None),
        ("negative pair", "1/(1 + exp(-beta*(s - lam)))", "s", -1, {"beta": 50, "lam": "1/2"}, None),
    ]),
    "circle": ("Sun et al. 2020 (one positive pair; the one negative at its decision boundary "
               "s_n = m, where its factor e^{γα_n(s_n − m)} is 1)", [
        ("positive pair", "-gamma*(1 + m - s)/(1 + exp(gamma*(1 + m - s)*(s - 1 + m)))", "s", 1,
         {"gamma": 80, "m": "2/5"}, ("circle", "s", (80.0, 0.4), "positive")),
    ]),
    "triplet": ("Schroff et al. 2015 (an active triplet: conditions 2, and 3 unless dropped)", [
        ("anchor–positive distance", "1", "d", 0, {}, None),
        ("anchor–negative distance", "-1", "d", 0, {}, None),
    ]),
}


def _variable(name, reference):
  from gradeng.runtime import DISTANCE, SIMILARITY, Variable

  base = DISTANCE if name == "d" else SIMILARITY
  if reference == base.reference or (isinstance(reference, int) and sp.Integer(reference) == base.reference):
    return base
  return Variable(base.name, base.lower, base.upper, reference=reference, description=base.description)


#: Weights SymPy does not integrate in closed form: their φ is integrated numerically.
NO_CLOSED_FORM = frozenset({"circle"})


def _derive(formula, variable, reference, params):
  from gradeng import coefficient, derive

  exact = {k: sp.Rational(v) if isinstance(v, str) else v for k, v in params.items()}
  if isinstance(reference, str):  # a reference point in a parameter (the margin)
    coef = coefficient(formula, variable=variable, reference=reference,
                       params={k: "positive" for k in params})
    return derive(coef, **exact)
  return derive(formula, variable=_variable(variable, reference), **exact)


def _points(variable: str) -> list[float]:
  return [0.2, 0.5, 0.8] if variable == "d" else [-0.5, 0.0, 0.4, 0.9]


def _library_pair(rule_args, x: float) -> tuple[float, float]:
  """The library rule's value and injected weight for anchor 0 with one pair at ``x``; for
  circle, whose value needs a pair of each kind, plus a negative at s = m (factor 1)."""
  import jax.numpy as jnp

  from gradeng.embedding import PAIR_RULES

  name, variable, params, kind = rule_args
  rule = PAIR_RULES[name][1]
  self_value = 0.0 if variable == "d" else 1.0
  other = params[-1] if name == "circle" else self_value  # circle: the negative at s_n = m
  m = jnp.array([[self_value, x, other], [x, self_value, 0.0], [other, 0.0, self_value]])
  pair = jnp.zeros((3, 3), bool).at[0, 1].set(True).at[1, 0].set(True)
  extra = jnp.zeros((3, 3), bool)
  if name == "circle":
    extra = extra.at[0, 2].set(True).at[2, 0].set(True)
  pos, neg = (pair, extra) if kind == "positive" else (extra, pair)
  values, weights = rule(m, pos, neg, *(jnp.float32(p) for p in params))
  return float(values[0]), float(weights[0, 1])


def _library_offsets(phi, rule_args) -> list[float]:
  """Library one-pair value − φ(x) at a few points (constant if they agree)."""
  return [_library_pair(rule_args, x)[0] - phi(x) for x in _points(rule_args[1])]


def _numeric_report(formula, variable, reference, params, rule_args) -> list[str]:
  """φ(x) = ∫_r^x w by mpmath quadrature, the library's weight against w, its value against φ."""
  import mpmath

  from gradeng.symbolic import coefficient, expression, symbolic_variable

  coef = coefficient(formula, variable=_variable(variable, reference))
  x, g = symbolic_variable(coef).symbol, expression(coef)
  exact = {symbol: sp.Rational(params[symbol.name]) if isinstance(params[symbol.name], str)
           else params[symbol.name] for symbol in g.free_symbols if symbol.name in params}
  weight = g.subs(exact)
  w = sp.lambdify(x, weight, "mpmath")
  points = _points(variable)
  library = [_library_pair(rule_args, t) for t in points]  # (value, weight) at each point
  with mpmath.workdps(30):
    phis = [float(mpmath.quad(w, [reference, t])) for t in points]
    weight_errors = [lib[1] - float(w(t)) for lib, t in zip(library, points)]
  offsets = [lib[0] - phi for lib, phi in zip(library, phis)]
  spread = float(np.max(offsets) - np.min(offsets))
  return [
      f"$$w({x}) = {sp.latex(weight)}$$", "",
      f"Reference point (φ = 0): {x} = {reference}", "",
      "SymPy finds no closed form for φ = ∫ w; φ(x) by mpmath quadrature at "
      f"{', '.join(f'{t:g}' for t in points)}: {', '.join(f'{phi:.6f}' for phi in phis)}.", "",
      "Library injected weight − w at the same points: "
      f"{', '.join(f'{e:.1e}' for e in weight_errors)} (the formula is the library's weight).", "",
      f"Library one-pair value − φ: {', '.join(f'{o:.6f}' for o in offsets)} (spread {spread:.1e}: "
      f"{'a constant' if spread < 1e-5 else 'not a constant: the value the loss reports is not the integral of the weight it injects, because α is held constant in the gradient (the paper’s detach)'}).", "",
  ]


def render_report(name: str) -> str:
  reference, pairs = REPORTS[name]
  lines = [f"# {name.replace('_', ' ')} — pair weights to φ", "",
           f"Reference: {reference}. Generated by `gradeng reproduce` "
           "(`gradeng.experiments.embedding._derivations`) with `gradeng.derive`.", ""]
  for title, formula, variable, ref, params, rule_args in pairs:
    if name in NO_CLOSED_FORM:
      lines += [f"## {title}", "", f"Pair weight, parameters {params}:", "",
                *_numeric_report(formula, variable, ref, params, rule_args)]
      continue
    d = _derive(formula, variable, ref, params)
    x = d.variable.symbol
    lines += [f"## {title}", "",
              f"Pair weight, on {d.variable.description or d.variable.name} "
              f"{x} ∈ [{d.variable.lower}, {d.variable.upper}], parameters {params or 'none'}:", "",
              f"$$w({x}) = {sp.latex(d.g)}$$", "",
              f"Reference point (φ = 0): {x} = {d.variable.reference}", ""]
    if d.loss is None:
      lines += ["No closed form found; the library uses its own closed form.", ""]
      continue
    lines += [f"$$\\varphi({x}) = \\int_{{{sp.latex(d.variable.reference)}}}^{{{x}}} w(t)\\,dt = "
              f"{sp.latex(d.loss)}$$", "",
              f"Verified dφ/d{x} = w by `derive`: **{d.verified}** ({d.verification}).", ""]
    if rule_args is not None:
      phi = lambda t: float(sp.N(d.loss.subs(x, sp.Float(t)), 20))  # noqa: E731
      offsets = _library_offsets(phi, rule_args)
      spread = float(np.max(offsets) - np.min(offsets))
      lines += [f"Library one-pair value − φ at {len(offsets)} points: "
                f"{', '.join(f'{o:.6f}' for o in offsets)} (spread {spread:.1e}: "
                f"{'a constant, the two agree' if spread < 1e-5 else 'NOT constant'}).", ""]
  return "\n".join(lines)


def write_reports(out_dir) -> list[Path]:
  """Writes ``<out_dir>/<loss>.md`` for every pair loss and returns the paths."""
  out_dir = Path(out_dir)
  paths = []
  for name in REPORTS:
    path = out_dir / f"{name}.md"
    atomic_write_text(path, render_report(name) + "\n")
    paths.append(path)
  return paths
