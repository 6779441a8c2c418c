"""Derivation reports: one Markdown page per catalog loss, generated from `gradeng.derive`.

Each report gives the scale coefficient g(p), the integral L(p) = ∫_p^1 -g(t) dt, the closed form
with L(1) = 0 found by `derive`, its verification by differentiation, the property table (paper
§2–§3, §7), the LaTeX, the logit-space weight w = p·g, a comparison of the closed form (mpmath)
with the library's float64 forward value, and notes. The Maki report adds the Taylor-tail
identity, PolyLoss-1 with ε = -1, real γ through ₂F₁ / Lerch Φ, and a measured table of the
float64 error of the paper's alternating binomial formula next to gradeng's `maki_tail`.

Reports are deterministic (no timestamps, fixed number formats): ``write_reports`` regenerates
them and a test checks the committed ``derivations/`` against it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import sympy as sp

from gradeng.runtime import CATALOG, MAKI, POLY1
from gradeng.runtime import ScaleCoefficient
from gradeng.symbolic import P, expression, substitute
from gradeng.runtime import loss_value
from gradeng.runtime import maki_tail
from gradeng.symbolic import Derivation, derive
from gradeng.runtime import InputError
from gradeng.symbolic import numeric_function

#: Per catalog loss: the parameter sets to derive at (``None`` = symbolic parameters).
CASES: dict[str, tuple[Mapping[str, Any] | None, ...]] = {
    "ce": ({},),
    "focal": (None, {"gamma": 2}),
    "maki": (None, {"gamma": 1}, {"gamma": 2}, {"gamma": sp.Rational(5, 2)}),
    "qce": ({},),
    "poly1": (None, {"epsilon": 1}, {"epsilon": -1}),
    "gce": (None, {"q": sp.Rational(7, 10)}),
}
#: Per catalog loss: the parameters whose properties, LaTeX and library check head the report
#: (the paper's values for focal and Maki, the defaults otherwise).
HEADLINE: dict[str, Mapping[str, Any]] = {
    "ce": {}, "focal": {"gamma": 2}, "maki": {"gamma": 1}, "qce": {}, "poly1": {"epsilon": 1},
    "gce": {"q": sp.Rational(7, 10)},
}
#: p at which the closed form is compared with the library's float64 forward value.
CHECK_PS = (0.01, 0.3, 0.5, 0.9, 0.999, 0.999999)
#: The measured table of the paper's Maki formula: γ values and q = 1 - p values.
ALTERNATING_GAMMAS = (1, 2, 5, 10, 20)
ALTERNATING_QS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-6)
REFERENCE_DIGITS = 60

_SYMBOL_NAMES = {"gamma": "γ", "epsilon": "ε", "q": "q"}

NOTES: dict[str, str] = {
    "ce": (
        "Cross-entropy: γ = 0 of both focal and Maki loss. g → -1 as p → 1, so every easy "
        "example keeps contributing: with 1000 easy examples at p = 0.9 and 10 hard ones at "
        "p = 0.3 the summed coefficients are −1111 vs −33 (paper §2.1, `gradeng budget`). In logit "
        "space w = p·g = -1 for every p."),
    "focal": (
        "Focal loss (Lin et al. 2017). The paper's two properties hold: |g| decreases as p → 1 "
        "and g → 0 there; with γ = 2 the 1000 easy examples sum to −32 against −33 for the 10 hard "
        "ones (paper §2.1). Near p = 1, w = p·g ≈ -(γ+1)(1-p)^γ. gradeng evaluates "
        "w = -γ·exp(log p + (γ-1)·log(1-p) + log(-log p)) - (1-p)^γ from log p and log(1-p), "
        "finite for γ < 1 where (1-p)^(γ-1) alone overflows."),
    "qce": (
        "Quadratic cross-entropy (paper §3.2): g = CE's coefficient times -log p, so "
        "L = (CE)²/2 and w = log p → 0 linearly as p → 1. The paper normalises it by the number of "
        "elements (§3.3), not by the number of positives."),
    "poly1": (
        "Poly-1 (Leng et al. 2022): L = -log p + ε(1-p), g = -1/p - ε. With ε = -1 it is Maki "
        "γ = 1 (the derivation at ε = -1 above is p - log p - 1, the Maki γ = 1 form); for "
        "ε > -1, g → -(1+ε) ≠ 0 as p → 1, so easy examples keep a constant share."),
    "gce": (
        "Generalized cross-entropy (Zhang & Sabuncu 2018): L = (1 - p^q)/q, g = -p^(q-1). "
        "q → 0 recovers CE; q = 1 gives 1 - p (MAE on the probability). g → -1 as p → 1: like "
        "CE, it does not silence easy examples; it damps hard ones (noisy labels) instead."),
}


def _fmt_params(params: Mapping[str, Any]) -> str:
  return ", ".join(f"{_SYMBOL_NAMES.get(k, k)} = {v}" for k, v in sorted(params.items()))


def _code(expr: Any) -> str:
  return f"`{expr}`"


def _math(latex: str) -> str:
  return f"$$\n{latex}\n$$"


def _headline(name: str, derivations: list[tuple[str, Derivation]]) -> tuple[str, Derivation]:
  return derivations[CASES[name].index(HEADLINE[name])]


def _derivations(name: str) -> list[tuple[str, Derivation]]:
  coefficient = CATALOG[name]
  out = []
  for params in CASES[name]:
    if params is None:
      title = "general " + ", ".join(_SYMBOL_NAMES.get(k, k) for k in coefficient.params)
      out.append((title, derive(coefficient)))
    else:
      title = _fmt_params(params) if params else "no parameters"
      out.append((title, derive(coefficient, **params)))
  return out


def _verification_text(d: Derivation) -> str:
  """Re-checks the closed form here, without time limits, so the text does not depend on how
  fast `derive`'s own (time-limited) checks ran; `derive`'s verdict is shown next to it."""
  difference = sp.simplify(sp.expand_func(sp.diff(d.loss, P) - d.g))
  at_one = sp.simplify(d.loss.subs(P, 1))
  if at_one.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
    at_one = sp.limit(d.loss, P, 1, "-")
  checks = [f"dL/dp - g(p) simplifies to {_code(difference)}", f"L(1) = {_code(at_one)}"]
  ok = difference == 0 and at_one == 0
  verdict = {True: "verified", False: "rejected", None: "not checked"}[d.verified]
  return f"{'✓' if ok else '✗'} " + "; ".join(checks) + f" (SymPy). `derive`: {verdict}."


def _derivation_section(title: str, d: Derivation) -> list[str]:
  t = sp.Symbol("t", positive=True)
  integrand = (-d.g).subs(P, t)
  lines = [f"### {title}", ""]
  lines += ["Scale coefficient:", "", _math(f"g(p) = {sp.latex(d.g)}"), ""]
  lines += ["Integral (L(1) = 0 fixes the constant):", "",
            _math(f"L(p) = \\int_p^1 -g(t)\\,dt = \\int_p^1 {sp.latex(integrand)}\\,dt"), ""]
  if d.loss is None:
    lines += ["No closed form: the library integrates g numerically.", ""]
    return lines
  lines += ["Closed form:", "", _math(f"L(p) = {sp.latex(d.loss)}"), "",
            f"SymPy: {_code(d.loss)}", ""]
  lines += ["Verification by differentiation:", "",
            _math(f"\\frac{{dL}}{{dp}} = {sp.latex(sp.diff(d.loss, P))}"), "",
            _verification_text(d), ""]
  if d.stable_form is not None:
    lines += ["Form to evaluate near p → 1 (no cancellation):", "",
              _math(f"L(p) = {sp.latex(d.stable_form)}"), ""]
  hyper = d.hypergeometric_form()
  if hyper is not None:
    lines += ["With Φ(z, 1, a) = ₂F₁(1, a; a+1; z)/a:", "", _math(f"L(p) = {sp.latex(hyper)}"), ""]
  notes = [n for n in d.notes if "gave up after" not in n]  # time-outs depend on the machine
  if notes:
    lines += ["Derivation notes:", ""] + [f"- {n}" for n in notes] + [""]
  return lines


def _properties_table(d: Derivation) -> list[str]:
  lines = ["| property | holds | evidence |", "|---|:---:|---|"]
  mark = {True: "✓", False: "✗", None: "?"}
  for check in d.properties:
    evidence = check.evidence.replace("|", "\\|")
    lines.append(f"| {check.name} | {mark[check.holds]} | {evidence} |")
  return lines


def _library_check(coefficient: ScaleCoefficient, d: Derivation) -> list[str]:
  """Closed form at 50 digits vs the library's float64 forward value at `CHECK_PS`."""
  if d.loss is None or d.loss.free_symbols - {P}:
    return []
  closed = numeric_function(d.loss, (P,))
  params = {k: float(v) for k, v in d.params.items()}
  with jax.enable_x64(True):
    library = np.asarray(loss_value(coefficient, np.array(CHECK_PS, np.float64), **params))
  lines = ["| p | L(p), closed form (50 digits) | gradeng `loss_value` (float64) | rel. error |",
           "|---:|---:|---:|---:|"]
  with mpmath.workdps(50):
    for p, got in zip(CHECK_PS, library):
      exact = mpmath.mpf(closed(mpmath.mpf(p)))  # at the float64 value of p, as the library
      error = abs(float((mpmath.mpf(float(got)) - exact) / exact)) if exact else abs(float(got))
      lines.append(f"| {p:g} | {mpmath.nstr(exact, 12)} | {float(got):.12g} | {_err(error)} |")
  return lines


def _err(value: float) -> str:
  if value == 0:
    return "0"
  return f"{value:.1e}"


# ------------------------------------------------------------------------------ Maki specifics


def paper_maki_formula(p: float, gamma: int) -> float:
  """The paper's Maki loss for integer γ, evaluated literally in float64 (§3.1):

  .. math::
    L = -\\Big(\\log p + \\sum_{k=1}^{γ} \\frac{C_γ^k (-p)^k}{k} - \\sum_{k=1}^{γ} \\frac{C_γ^k (-1)^k}{k}\\Big)

  Exact algebra, but the terms are ~2^γ/γ while L ~ (1-p)^{γ+1}/(γ+1): never use it numerically.
  """
  first = 0.0
  second = 0.0
  for k in range(1, gamma + 1):
    c = float(math.comb(gamma, k))
    first += c * (-p) ** k / k
    second += c * (-1.0) ** k / k
  return -(math.log(p) + first - second)


def taylor_maki_formula(p: float, gamma: int) -> float:
  """CE minus its first γ Taylor terms in q = 1 - p, literally in float64: -log p - Σ_{j≤γ} q^j/j."""
  q = 1.0 - p
  return -math.log(p) - math.fsum(q**j / j for j in range(1, gamma + 1))


def maki_reference(p: mpmath.mpf, gamma: float) -> mpmath.mpf:
  """L_γ(p) = q^{γ+1}/(γ+1)·₂F₁(1, γ+1; γ+2; q), q = 1 - p, at the current mpmath precision."""
  a = mpmath.mpf(gamma) + 1
  q = 1 - p
  return q**a / a * mpmath.hyp2f1(1, a, a + 1, q)


def alternating_error_table() -> list[str]:
  """Measured relative errors of the paper's formula vs gradeng's `maki_tail` (see report)."""
  lines = [
      "| γ | 1 − p | L(p) (mpmath, 60 digits) | paper's alternating sum, float64 "
      "| CE − Taylor terms, float64 | gradeng `maki_tail` float32 | gradeng `maki_tail` float64 |",
      "|---:|---:|---:|---:|---:|---:|---:|",
  ]
  tiny32 = float(np.finfo(np.float32).tiny)
  for gamma in ALTERNATING_GAMMAS:
    ps = [1.0 - q for q in ALTERNATING_QS]  # float64 p; q64 = 1 - p is exact (Sterbenz)
    with mpmath.workdps(REFERENCE_DIGITS):
      exact = [maki_reference(mpmath.mpf(p), gamma) for p in ps]
      log_p = [mpmath.log(mpmath.mpf(p)) for p in ps]
      log_q = [mpmath.log(1 - mpmath.mpf(p)) for p in ps]
    log_p64 = np.array([float(v) for v in log_p])
    log_q64 = np.array([float(v) for v in log_q])
    f32 = np.asarray(maki_tail(jnp.asarray(log_p64, jnp.float32), jnp.asarray(log_q64, jnp.float32),
                               gamma), np.float64)
    with jax.enable_x64(True):
      f64 = np.asarray(maki_tail(jnp.asarray(log_p64, jnp.float64),
                                 jnp.asarray(log_q64, jnp.float64), gamma), np.float64)
    for i, (p, ref) in enumerate(zip(ps, exact)):
      def rel(value: float) -> str:
        with mpmath.workdps(REFERENCE_DIGITS):
          return _err(float(abs((mpmath.mpf(value) - ref) / ref)))

      f32_text = rel(f32[i]) if ref >= tiny32 else "underflow (L < float32 min)"
      lines.append(
          f"| {gamma} | {1.0 - p:.0e} | {mpmath.nstr(ref, 6)} | {rel(paper_maki_formula(p, gamma))} "
          f"| {rel(taylor_maki_formula(p, gamma))} | {f32_text} | {rel(f64[i])} |")
  return lines


def _maki_notes() -> list[str]:
  q = 1 - P
  lines = ["## Maki loss: structure and numerics", ""]
  lines += [
      "**CE minus its first γ Taylor terms.** Since -log p = -log(1 - q) = Σ_{j≥1} q^j/j with "
      "q = 1 - p, integer γ gives", "",
      _math(r"L_\gamma(p) = \int_p^1 \frac{(1-t)^\gamma}{t}\,dt = -\log p - \sum_{j=1}^{\gamma}"
            r"\frac{(1-p)^j}{j} = \sum_{j>\gamma} \frac{(1-p)^j}{j}."), "",
      "Checked with SymPy on `derive`'s closed forms:", "",
      "| γ | `derive` closed form | equals -log p - Σ_{j≤γ} (1-p)^j/j |", "|---:|---|:---:|"]
  for n in range(0, 6):
    d = derive(MAKI, gamma=n)
    target = -sp.log(P) - sp.Add(*[q**j / j for j in range(1, n + 1)])
    same = sp.simplify(sp.expand(d.loss - target)) == 0
    lines.append(f"| {n} | {_code(d.loss)} | {'✓' if same else '✗'} |")
  poly = sp.simplify(substitute(POLY1, epsilon=-1) - substitute(MAKI, gamma=1)) == 0
  lines += ["", "So γ = 0 is cross-entropy and γ = 1 (the paper's MCE, g = -(1-p)/p) is "
            "PolyLoss-1 with ε = -1: g_Poly-1(ε=-1) - g_Maki(γ=1) simplifies to 0 "
            f"{'✓' if poly else '✗'}.", ""]
  general = derive(MAKI)
  lines += [
      "**Real γ.** The paper notes that g = -(1-p)^γ/p has no elementary antiderivative for "
      "arbitrary γ. It has a special-function one, valid for every real γ > -1:", "",
      _math(f"L_\\gamma(p) = {sp.latex(general.loss)} = {sp.latex(general.hypergeometric_form())}"),
      "", "(Lerch Φ(z, 1, a) = Σ_n z^n/(n+a) = ₂F₁(1, a; a+1; z)/a.) "
      "`derive` also finds elementary forms for half-integer γ; they agree with ₂F₁ and with "
      "the library:", "",
      "| γ | p | `derive` closed form (50 digits) | ₂F₁ form (50 digits) | gradeng float64 |",
      "|---:|---:|---:|---:|---:|"]
  for gamma in (sp.Rational(1, 2), sp.Rational(5, 2)):
    d = derive(MAKI, gamma=gamma)
    closed = numeric_function(d.loss, (P,))
    for p in (0.1, 0.5, 0.9):
      with mpmath.workdps(50):
        c = mpmath.mpf(closed(mpmath.mpf(p)))
        h = maki_reference(mpmath.mpf(p), mpmath.mpf(gamma.p) / gamma.q)
      with jax.enable_x64(True):
        lib = float(loss_value(MAKI, np.float64(p), gamma=float(gamma)))
      lines.append(f"| {gamma} | {p:g} | {mpmath.nstr(c, 15)} | {mpmath.nstr(h, 15)} | {lib:.15g} |")
  lines += [
      "", "**Why the paper's formula must not be evaluated numerically.** The paper's closed "
      "form for integer γ,", "",
      _math(r"L = -\Big(\log p + \sum_{k=1}^{\gamma}\frac{C_\gamma^k(-p)^k}{k} - "
            r"\sum_{k=1}^{\gamma}\frac{C_\gamma^k(-1)^k}{k}\Big),"),
      "", "is exact algebra, but its terms are as large as C(γ, γ/2)/(γ/2) ~ 2^γ/γ with "
      "alternating signs while L ~ (1-p)^{γ+1}/(γ+1) → 0: float64 keeps ~16 digits of the terms "
      "and loses all of them once (1-p)^{γ+1} 2^{-γ} < 1e-16. The shorter finite form "
      "-log p - Σ_{j≤γ}(1-p)^j/j cancels the same way (terms ~ 1-p). gradeng's `maki_tail` "
      "evaluates the positive tail Σ_{k≥0} q^{γ+1+k}/(γ+1+k) for q ≤ 1/2 (and a p-expansion or "
      "Gauss–Laguerre quadrature of the ₂F₁ integral for q > 1/2), from log p and log(1-p), so "
      "nothing cancels. Measured relative errors (p is the float64 value 1 - q; the reference is "
      "L at exactly that p; gradeng gets log p and log(1-p) rounded to its dtype, as "
      "`log_sigmoid(±z)` gives them):", ""]
  lines += alternating_error_table()
  lines += ["", "An error ≥ 1 means no correct digit; for large γ near p = 1 the paper's formula "
            "returns rounding noise many orders of magnitude larger than L (and of either sign, so "
            "a negative loss). float32 cannot represent L below ~1.2e-38; gradeng then returns 0.",
            ""]
  return lines


# ---------------------------------------------------------------------------------------- pages


def render_report(name: str) -> str:
  """The Markdown report of one catalog loss.

  Args:
    name: a catalog name (``"ce"``, ``"focal"``, …).

  Returns:
    The report: g(p), w(p), the derivation of L(p) = ∫_p^1 -g(t) dt, the paper's properties,
    LaTeX and notes, as Markdown.

  Raises:
    InputError: an unknown name.

  Example:
    >>> import gradeng as ge
    >>> print(ge.paper.render_report("ce").splitlines()[0])
    # CE (`ce`): from the scale coefficient to the loss
  """
  if name not in CATALOG:
    raise InputError(f"Unknown loss {name!r}; the catalog has {sorted(CATALOG)}.")
  coefficient = CATALOG[name]
  derivations = _derivations(name)
  title = coefficient.latex_name or name
  lines = [f"# {title} (`{name}`): from the scale coefficient to the loss", "",
           "Generated by `gradeng derivations` from `gradeng.derive`; do not edit by hand.", ""]
  lines += [f"Reference: {coefficient.reference}." if coefficient.reference else "", ""]
  lines += ["## Scale coefficient", "", _math(f"g(p) = \\frac{{dL}}{{dp}} = {sp.latex(expression(coefficient))}"),
            "", f"SymPy: {_code(expression(coefficient))}", ""]
  if coefficient.params:
    lines += ["| parameter | domain | default |", "|---|---|---:|"]
    for pname, domain in coefficient.params.items():
      default = coefficient.defaults.get(pname, "—")
      lines.append(f"| {_SYMBOL_NAMES.get(pname, pname)} (`{pname}`) | {domain.describe()} | {default} |")
    lines.append("")
  weight = sp.simplify(P * expression(coefficient))
  lines += ["Logit-space weight (what reaches the logits, ∂L/∂z = w·∂log p/∂z):", "",
            _math(f"w(p) = p\\,g(p) = {sp.latex(weight)}"), ""]
  lines += ["## Derivation: L(p) = ∫_p^1 -g(t) dt, L(1) = 0", ""]
  for case_title, d in derivations:
    lines += _derivation_section(case_title, d)
  headline_title, headline = _headline(name, derivations)
  lines += [f"## Properties ({headline_title})", "",
            "The paper's properties of g (§2.1: |g| decreasing and g → 0 as p → 1; §7: bounded "
            "g at p → 0 instead of a warm-up) and the sign of L, checked by `derive` on a "
            "400-point grid at 50 digits and symbolically where SymPy can:", ""]
  lines += _properties_table(headline) + [""]
  lines += [f"## LaTeX ({headline_title})", "", "```latex", headline.latex(), "```", ""]
  library = _library_check(coefficient, headline)
  if library:
    lines += [f"## Closed form vs the library ({headline_title})", "",
              "gradeng's forward value is a separately written log-space form (not the SymPy "
              "expression); at the float64 value of p:", ""] + library + [""]
  lines += ["## Notes", ""]
  if name == "maki":
    lines += ["Maki loss (Kilbas & Paringer 2020, §3.1): g = -(1-p)^γ/p, the cross-entropy "
              "coefficient times (1-p)^γ, so that g → 0 as p → 1 like focal loss's. Named after "
              "the MakiFlow framework.", ""]
    lines += _maki_notes()
  else:
    lines += [NOTES[name], ""]
  return "\n".join(lines).rstrip("\n") + "\n"


def render_index(names: Sequence[str] | None = None) -> str:
  """``derivations/index.md``: one row per catalog loss."""
  names = list(names or CATALOG)
  lines = ["# Derivation reports", "",
           "Generated by `gradeng derivations` (also part of `gradeng reproduce`); a test checks "
           "that these files match what the command generates now. Each report derives the loss "
           "L(p) = ∫_p^1 -g(t) dt (L(1) = 0) from the scale coefficient g(p) = dL/dp with "
           "`gradeng.derive`, verifies dL/dp = g, and checks the paper's properties.", "",
           "| loss | g(p) | L(p) | verified | \\|g\\| ↓ as p→1 | g→0 at p=1 | g bounded at p→0 | L ≥ 0 |",
           "|---|---|---|:---:|:---:|:---:|:---:|:---:|"]
  mark = {True: "✓", False: "✗", None: "?"}
  for name in names:
    derivations = _derivations(name)
    _, d = _headline(name, derivations)
    general = derivations[0][1]
    loss = general.loss if general.loss is not None else d.loss
    props = " | ".join(mark[c.holds] for c in d.properties)
    lines.append(f"| [{CATALOG[name].latex_name or name}]({name}.md) | {_code(general.g)} "
                 f"| {_code(loss)} | {mark[general.verified]} | {props} |")
  lines += ["", "Properties are evaluated at the paper's values (focal γ = 2, Maki γ = 1) or the "
            "defaults (Poly-1 ε = 1, GCE q = 0.7).", ""]
  return "\n".join(lines)


_ROW = re.compile(r"^\| \[[^\]]*\]\((?P<name>[A-Za-z0-9_]+)\.md\) \|")


def merge_index(existing: str, fresh: str, names: Sequence[str]) -> str:
  """``fresh`` (the index of ``names``) with the rows of the other catalog losses kept from
  ``existing``, in catalog order: a partial run (``--only maki``) updates the index, it does
  not truncate it."""
  rows = {m["name"]: line for line in existing.splitlines() if (m := _ROW.match(line))
          and m["name"] in CATALOG and m["name"] not in names}
  rows.update({m["name"]: line for line in fresh.splitlines() if (m := _ROW.match(line))})
  lines = [line for line in fresh.splitlines() if not _ROW.match(line)]
  at = lines.index(next(line for line in lines if line.startswith("|---"))) + 1
  ordered = [rows[name] for name in CATALOG if name in rows]
  return "\n".join(lines[:at] + ordered + lines[at:]) + ("\n" if fresh.endswith("\n") else "")


def _write(path: Path, text: str) -> None:
  """Write atomically (a temporary file renamed into place)."""
  temporary = path.with_name(f".{path.name}.tmp")
  temporary.write_text(text)
  os.replace(temporary, path)


def write_reports(out_dir: str | Path, names: Sequence[str] | None = None) -> list[Path]:
  """Write ``<name>.md`` for each catalog loss (all by default) and ``index.md`` to ``out_dir``;
  with ``names``, the index keeps the rows of the other losses already in it.

  Args:
    out_dir: the directory (created if needed).
    names: the catalog losses to write; default all.

  Returns:
    The paths written, the index last.

  Example:
    >>> import tempfile
    >>> import gradeng as ge
    >>> with tempfile.TemporaryDirectory() as out:
    ...   print([path.name for path in ge.paper.write_reports(out, ["ce"])])
    ['ce.md', 'index.md']
  """
  partial = names is not None and set(names) != set(CATALOG)
  names = list(names or CATALOG)
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  written = []
  for name in names:
    path = out_dir / f"{name}.md"
    _write(path, render_report(name))
    written.append(path)
  index = out_dir / "index.md"
  text = render_index(names)
  if partial and index.exists():
    text = merge_index(index.read_text(), text, names)
  _write(index, text)
  written.append(index)
  return written
