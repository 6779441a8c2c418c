"""Recognise a coefficient as a linear combination of catalog coefficients, before any SymPy
integration (Maki typed as a formula took 9-18 s of SymPy; ``ge.maki_loss`` is
instant).

With q = 1 - p and the logit weight w(p) = p·g(p), the catalog's building blocks are

=================  ==================  ===============================================
term of w          coefficient          loss L(p) = ∫_p^1 -g(t) dt
=================  ==================  ===============================================
-q^a  (a > -1)     Maki, γ = a (a = 0:  Σ_{j>a} q^j/j (integer a), q^(a+1) Φ(q, 1, a+1)
                   cross-entropy)
log p              QCE                  log²(p)/2
-p^b  (b ≠ 0)      GCE, q = b           (1 - p^b)/b
=================  ==================  ===============================================

and p^k q^a (integer k ≥ 0) is the Maki combination Σ_j C(k, j) (-1)^j q^(a+j). So for example
g = -(1-p)²(1+p)/p has w = -q²(2 - q) = -2q² + q³: L = 2·L_Maki,2 - L_Maki,3 (Kilbas & Paringer's
Maki losses, §3.1; the same decomposition the stable rewrite uses).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import sympy as sp

from gradeng.symbolic._variable import P

_Q = sp.Dummy("q", positive=True)


@dataclasses.dataclass(frozen=True)
class Term:
  """One catalog coefficient in a combination: ``weight · g_name(p; params)``.

  Attributes:
    name: the catalog name (``"ce"``, ``"maki"``, ``"qce"``, ``"gce"``).
    weight: its (exact, possibly parametric) multiplier.
    params: its parameters (``{"gamma": a}`` for Maki, ``{"q": b}`` for GCE).
  """

  name: str
  weight: sp.Expr
  params: Mapping[str, sp.Expr]

  def describe(self) -> str:
    args = ", ".join(f"{k}={v}" for k, v in self.params.items())
    weight = f"({self.weight})" if isinstance(self.weight, sp.Add) else f"{self.weight}"
    return f"{weight}·{self.name}" + (f"({args})" if args else "")


@dataclasses.dataclass(frozen=True)
class Combination:
  """g = Σ terms, with the closed form L assembled from the catalog's forms.

  Attributes:
    terms: the catalog coefficients and their weights.
    loss: L(p) in closed form (finite for integer Maki exponents, with Lerch Φ otherwise).
    stable_form: L with each Maki part as its tail Σ_{j>a} q^j/j or q^(a+1) Φ(q, 1, a+1), the
      form to evaluate near p → 1; ``None`` when there is no Maki part, or a cross-entropy
      part (whose -log p would cancel against the tails).
    conditions: what the parameters must satisfy for the integral to converge (``gamma > -1``).
  """

  terms: tuple[Term, ...]
  loss: sp.Expr
  stable_form: sp.Expr | None
  conditions: tuple[sp.Expr, ...]

  def describe(self) -> str:
    """``2·maki(gamma=2) + -1·maki(gamma=3)``."""
    return " + ".join(t.describe() for t in self.terms)


def _power_parts(factor: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
  """(k, a) with factor = p^k · (1-p)^a, or None."""
  k, a = sp.Integer(0), sp.Integer(0)
  for part in sp.Mul.make_args(factor):
    if part == 1:
      continue
    base, exponent = part.as_base_exp()
    if base == P:
      k += exponent
    elif base == 1 - P:
      a += exponent
    else:
      return None
  return k, a


def _maki_loss(a: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
  """(finite or Lerch form, stable form) of L for g = -q^a/p."""
  q = 1 - P
  if a.is_Integer and a >= 0:
    n = int(a)
    j = sp.Symbol("j", integer=True, positive=True)
    finite = -sp.log(P) - sp.Add(*[q**i / i for i in range(1, n + 1)])
    return finite, (sp.Sum(q**j / j, (j, n + 1, sp.oo)) if n > 0 else finite)
  lerch = q**(a + 1) * sp.lerchphi(q, 1, a + 1)
  return lerch, lerch


def recognise(g: sp.Expr) -> Combination | None:
  """g as a combination of catalog coefficients (see the module docstring), or None.

  Args:
    g: a scale coefficient in p (parameters may be symbolic).

  Returns:
    The `Combination`, or None when some term of p·g is none of the catalog's.
  """
  weight = sp.expand(sp.powsimp(sp.expand_power_base(P * g, force=False)))
  maki: dict[sp.Expr, sp.Expr] = {}
  qce = sp.Integer(0)
  gce: dict[sp.Expr, sp.Expr] = {}
  for term in sp.Add.make_args(weight):
    constant, factor = term.as_independent(P, as_Add=False)
    if factor == sp.log(P):
      qce += constant
      continue
    parts = _power_parts(factor)
    if parts is None:
      return None
    k, a = parts
    if k.is_Integer and k >= 0:
      # p^k q^a = Σ_j C(k, j) (-1)^j q^(a+j): Maki terms (-q^e has weight -c).
      for j in range(int(k) + 1):
        exponent = a + j
        maki[exponent] = maki.get(exponent, 0) - constant * sp.binomial(k, j) * (-1)**j
    elif a == 0 and k.is_zero is False:  # p^b, b ≠ 0 (b = 0 would be cross-entropy)
      gce[k] = gce.get(k, 0) - constant
    else:
      return None
  conditions = []
  for exponent in maki:
    if exponent.is_number:
      if not exponent > -1:
        return None  # divergent at p = 1: the general path raises DivergentIntegralError
    elif (exponent > -1) is not sp.true:
      conditions.append(exponent > -1)
  terms, loss, stable = [], sp.Integer(0), sp.Integer(0)
  for exponent, multiplier in sorted(maki.items(), key=lambda item: sp.default_sort_key(item[0])):
    multiplier = sp.factor_terms(multiplier)
    if multiplier == 0:
      continue
    name, params = ("ce", {}) if exponent == 0 else ("maki", {"gamma": exponent})
    terms.append(Term(name, multiplier, params))
    finite, tail = _maki_loss(exponent)
    loss += multiplier * finite
    stable += multiplier * tail
  if qce != 0:
    terms.append(Term("qce", qce, {}))
    loss += qce * sp.log(P)**2 / 2
    stable += qce * sp.log(P)**2 / 2
  for exponent, multiplier in gce.items():
    terms.append(Term("gce", multiplier, {"q": exponent}))
    loss += multiplier * (1 - P**exponent) / exponent
    stable += multiplier * (1 - P**exponent) / exponent
  if not terms:
    return None
  if len(terms) > 1 and not loss.has(sp.lerchphi):
    loss = sp.expand(loss)  # e.g. Poly-1: -εp + ε - log p rather than a sum of catalog forms
  has_tail = (any(term.name == "maki" for term in terms)
              and not any(term.name == "ce" for term in terms))
  return Combination(tuple(terms), loss, stable if has_tail else None, tuple(conditions))
