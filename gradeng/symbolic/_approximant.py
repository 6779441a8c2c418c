"""A fitted approximation of L(p) = ∫_p^1 -g(t) dt that keeps its asymptotics at both ends.

For a formula SymPy does not integrate (or whose closed form is slower), the loss is fitted ahead
of time to high-precision values of the integral and evaluated in JAX from log p and
log q = log(1 - p), on two pieces split at p = 1/2:

* **near** (p ≥ 1/2, q ≤ 1/2): with -g(1 - q) ~ a·q^γ as q → 0 (SymPy's series; γ > -1 where the
  integral converges),

  .. math::
    L = q^{γ+1}\\,R(y), \\qquad y = q^{1/d},

  R a Chebyshev series on y ∈ [0, 2^{-1/d}] (R(0) = a/(γ+1)); d is the common denominator of the
  exponents' differences in the series (d = 1 when -g(1 - q)/q^γ is analytic).
* **far** (p < 1/2): with the terms c·p^e·(log p)^k, e ≤ 0, of the series of w = p·g at p = 0
  (the part of g that is not integrable at 0: CE's w → -1 gives L ~ -log p = s),

  .. math::
    L = G(p) + F(x), \\qquad G' = \\sum c\\,p^{e-1}(\\log p)^k, \\quad x = p^{1/d'},

  G in closed form (monomials p^e (log p)^k, evaluated from log p) and F a Chebyshev series on
  x ∈ [0, 2^{-1/d'}] (F is continuous at p = 0: what is left of g is integrable there). Where
  logarithms multiply positive powers (g = -p^p, w = -p - p²·log p - …), the series is taken to
  p^5 and its log terms go into G too: F alone would be p²·log p-rough at 0, which no
  polynomial fits.

The values fitted are ∫_p^1 -g at 30 digits by mpmath (tanh–sinh on consecutive short intervals,
in q near p = 1 and in log p below 1/2), the fit is a float64 least-squares Chebyshev fit on
Chebyshev nodes of the smallest degree that reproduces held-out points to `FIT_TOLERANCE`, and
the approximant is refused where SymPy cannot read the asymptotics, where no degree up to
`MAX_DEGREE` fits, or (in `gradeng.symbolic._compile`) where float32 evaluation over logits ±40
misses mpmath by more than the tolerance there. In float32 the near piece takes q = 1 - p from
log p (about 1 ulp; a float32 log q near -z is off by up to 2⁻²⁵|z|, which q^{γ+1} = e^{(γ+1) log q}
multiplies by γ + 1) and q^{m/d} for d = 1, 2 as q multiplied out (times √q); other powers are
`gradeng.runtime.power_from_log`'s compensated e^{(m/d)·log q}. A series is evaluated by
Horner's rule on its power-basis coefficients in t where they are as well conditioned as the
Chebyshev ones (`power_coefficients`), else by Clenshaw's recurrence.

The gradient of a loss never uses this: the kernel's weight w = p·g is injected exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import sympy as sp

from gradeng.runtime import complement_probability, horner, integer_power_applies, power_from_log
from gradeng.symbolic import _cache as _cache
from gradeng.symbolic._limits import STEP_SECONDS, WorkerTimeout, attempt, run_in_worker
from gradeng.symbolic._mpeval import numeric_function
from gradeng.symbolic._variable import P

#: Digits of the mpmath values fitted and checked against.
DIGITS = 30
#: Chebyshev nodes per piece.
NODES = 56
#: Highest polynomial degree tried per piece.
MAX_DEGREE = 40
#: Max relative float64 misfit at held-out points for a degree to be accepted.
FIT_TOLERANCE = 2e-9
#: Cancellation (Σ|terms| / |L|) accepted in the far piece before a lower split is tried.
MAX_CANCELLATION = 8.0
#: Order of the series of p·g at p = 0 whose p^e·(log p)^k terms (e > 0, k > 0) go into G.
LOG_SERIES_ORDER = 5
#: Logits at which references are returned for the float32 check of a fit: ±40 every 0.5 (the
#: benchmark's grid until 2026-12-05; `benchmarks/formulas.py` now checks every 0.05).
CHECK_LOGITS = np.linspace(-40.0, 40.0, 161).astype(np.float32).astype(np.float64)


class Refused(ValueError):
  """No approximant: the asymptotics cannot be read or no fit reaches the tolerance."""


@dataclasses.dataclass(frozen=True)
class Piece:
  """A Chebyshev series in v = x^{1/root} on [0, upper] (x = q near, p far).

  Attributes:
    root: d, the variable is x^{1/d}.
    upper: the end of the fitted range of v.
    coefficients: Chebyshev coefficients c_j of Σ c_j T_j(2v/upper - 1).
  """

  root: int
  upper: float
  coefficients: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Approximant:
  """L(p) on two pieces (see the module docstring).

  Attributes:
    split: the pieces meet at p = split (1/2, 1/4, 1/8 or 1/16).
    near_power: (m, d) with γ + 1 = m/d: L = q^{m/d}·R(q^{1/near.root}) for p ≥ split.
    near: the Chebyshev series R.
    head: (c, (m, d), k) terms c·p^{m/d}·(log p)^k of G, the closed part of L for p < split.
    far: the Chebyshev series F in p^{1/far.root}.
    fit_error: max relative float64 misfit at held-out points.
    cancellation: max over the check points below the split of Σ|terms of G + F| / |L|.
  """

  split: float
  near_power: tuple[int, int]
  near: Piece
  head: tuple[tuple[float, tuple[int, int], int], ...]
  far: Piece
  fit_error: float
  cancellation: float

  def to_json(self) -> dict[str, Any]:
    piece = lambda p: [p.root, p.upper, list(p.coefficients)]
    return {"split": self.split, "near_power": list(self.near_power), "near": piece(self.near),
            "head": [[c, list(e), k] for c, e, k in self.head], "far": piece(self.far),
            "fit_error": self.fit_error, "cancellation": self.cancellation}

  @classmethod
  def from_json(cls, data: dict[str, Any]) -> Approximant:
    piece = lambda p: Piece(int(p[0]), float(p[1]), tuple(map(float, p[2])))
    return cls(float(data["split"]), tuple(map(int, data["near_power"])), piece(data["near"]),
               tuple((float(c), tuple(map(int, e)), int(k)) for c, e, k in data["head"]),
               piece(data["far"]), float(data["fit_error"]), float(data["cancellation"]))

  def describe(self) -> str:
    m, d = self.near_power
    power = f"q^{m}" if d == 1 else f"q^({m}/{d})"
    return (f"{power}·R, degree {len(self.near.coefficients) - 1}, for p ≥ {self.split:g}; "
            f"degree {len(self.far.coefficients) - 1} below")


# ---------------------------------------------------------------------------------------------
# Asymptotics (SymPy, in the worker)


def _terms(series: sp.Expr, x: sp.Symbol) -> list[tuple[sp.Expr, sp.Rational, int]]:
  """(c, e, k) with series = Σ c·x^e·log(x)^k; `Refused` for anything else."""
  out = []
  for term in sp.Add.make_args(sp.expand(series.removeO())):
    coefficient, exponent, logs = sp.Integer(1), sp.Integer(0), 0
    for factor in sp.Mul.make_args(term):
      base, power = factor.as_base_exp()
      if base == x and power.is_Rational:
        exponent += power
      elif base == sp.log(x) and power.is_Integer and power > 0:
        logs += int(power)
      elif not factor.has(x) and factor.is_number:
        coefficient *= factor
      else:
        raise Refused(f"term {term} of the series is not c·x^e·log(x)^k with rational e")
    out.append((coefficient, sp.Rational(exponent), logs))
  return out


def _common_denominator(exponents: Sequence[sp.Rational]) -> int:
  return math.lcm(1, *[int(sp.Rational(e).q) for e in exponents])


def _near_asymptotics(g: sp.Expr) -> tuple[sp.Rational, int]:
  """(γ + 1, d): -g(1 - u) ~ a·u^γ, the series in u^{1/d}."""
  u = sp.Dummy("u", positive=True)
  h = -g.subs(P, 1 - u)
  leading = attempt(lambda: h.as_leading_term(u), STEP_SECONDS, [], "leading term at p → 1")
  if leading is None:
    raise Refused("SymPy cannot find the leading term of g as p → 1")
  found = _terms(leading, u)
  if len(found) != 1:
    raise Refused(f"the leading term of -g as p → 1 is not one power of 1 - p ({leading})")
  [(_, gamma, logs)] = found
  if logs:
    raise Refused(f"g has a logarithm of 1 - p as p → 1 ({leading})")
  if gamma <= -1:
    raise Refused(f"∫_p^1 -g diverges at p = 1 (-g ~ {leading})")
  order = int(math.floor(gamma)) + 4
  series = attempt(lambda: sp.series(h, u, 0, order), STEP_SECONDS, [], "series at p → 1")
  if series is None:
    raise Refused("SymPy cannot expand g as p → 1")
  terms = _terms(series, u)
  if any(k for _, _, k in terms):
    raise Refused(f"g has a logarithm of 1 - p as p → 1 ({series})")
  return gamma + 1, _common_denominator([e - gamma for _, e, _ in terms])


def _primitive(c: sp.Expr, e: sp.Rational, k: int) -> list[tuple[sp.Expr, sp.Rational, int]]:
  """Terms (c', e', k') of an antiderivative of c·p^{e-1}·(log p)^k: Σ c'·p^{e'}·(log p)^{k'}."""
  if e == 0:
    return [(c / (k + 1), sp.Integer(0), k + 1)]
  out = [(c / e, e, k)]
  if k:
    out += [(-k * c2 / e, e2, k2) for c2, e2, k2 in _primitive(c, e, k - 1)]
  return out


def _far_asymptotics(g: sp.Expr) -> tuple[list[tuple[sp.Expr, sp.Rational, int]], int]:
  """(G's terms, d'): G' = the part of g with w-exponents e ≤ 0 and, where logarithms multiply
  positive powers, every p^e·(log p)^k term with k > 0 up to `LOG_SERIES_ORDER`; F = L - G in
  p^{1/d'}."""
  w = sp.expand(P * g) if g.is_Add else P * g
  series = attempt(lambda: sp.series(w, P, 0, 3), STEP_SECONDS, [], "series at p → 0")
  if series is None:
    raise Refused("SymPy cannot expand p·g as p → 0")
  terms = _terms(series, P)
  if any(k for _, e, k in terms if e > 0):
    # p^e·log(p)^k with e > 0 (p^p = e^{p log p}) leaves F too rough for a polynomial in p: its
    # terms go into G as far as the series is taken, what is left of F has ≥ 4 derivatives at 0.
    longer = attempt(lambda: sp.series(w, P, 0, LOG_SERIES_ORDER), STEP_SECONDS, [],
                     "series at p → 0")
    if longer is None:
      raise Refused(f"p·g has p^e·log(p)^k terms with e > 0 as p → 0 ({series}), and SymPy "
                    f"cannot expand it to order {LOG_SERIES_ORDER}")
    terms = _terms(longer, P)
  singular = [(c, e, k) for c, e, k in terms if e <= 0 or k > 0]
  head = [term for c, e, k in singular for term in _primitive(c, e, k)]
  return head, _common_denominator([e for _, e, _ in terms if e > 0])


# ---------------------------------------------------------------------------------------------
# Values at 30 digits and the fit (mpmath and NumPy, in the worker)


def _chebyshev_nodes(upper: float, count: int) -> list[mpmath.mpf]:
  return [mpmath.mpf(upper) * (1 + mpmath.cos(mpmath.pi * (2 * j + 1) / (2 * count))) / 2
          for j in range(count)]


def _cumulative(f: Callable, points: Sequence[mpmath.mpf], start: mpmath.mpf) -> list[mpmath.mpf]:
  """∫_start^x f for each x of ``points`` (ascending, ≥ start), by consecutive intervals."""
  out, total, left = [], mpmath.mpf(0), start
  for x in points:
    if x > left:
      total += mpmath.quad(f, [left, x])
      left = x
    out.append(total)
  return out


def _fit(v: np.ndarray, values: np.ndarray, v_held: np.ndarray, held: np.ndarray,
         scale: np.ndarray, upper: float) -> tuple[np.ndarray, float]:
  """The lowest-degree Chebyshev least-squares fit on [0, upper] whose misfit at the held-out
  points, relative to ``scale``, is within `FIT_TOLERANCE`."""
  t, t_held = 2 * v / upper - 1, 2 * v_held / upper - 1
  best = math.inf
  for degree in range(4, min(MAX_DEGREE, len(v) - 8) + 1, 2):
    coefficients = np.polynomial.chebyshev.chebfit(t, values, degree)
    misfit = np.abs(np.polynomial.chebyshev.chebval(t_held, coefficients) - held) / scale
    error = float(np.max(misfit))
    best = min(best, error)
    if error <= FIT_TOLERANCE:
      return coefficients, error
  raise Refused(f"no Chebyshev fit of degree ≤ {MAX_DEGREE} on [0, {upper:.3g}] within "
                f"{FIT_TOLERANCE:g} (best {best:.1e})")


def fit_approximant(g: sp.Expr) -> tuple[dict[str, Any] | None, str, list[float]]:
  """Fit the approximant of ∫_p^1 -g (run in the SymPy worker).

  The split between the pieces is the first of p = 1/2, 1/4, 1/8, 1/16 where both pieces fit
  and the far piece's terms cancel by at most `MAX_CANCELLATION` (Σ|terms| / |L| at the check
  points), else the one where they cancel least (L = -log p + F cancels for p → 1/2 when g
  vanishes fast at p = 1, e.g. -(1-p)^8/p; the near piece q^{γ+1}·R(q) does not cancel).

  Args:
    g: the scale coefficient, numbers only besides `P`.

  Returns:
    (``Approximant.to_json()`` or None, a sentence saying what was done or why it was refused,
    L at `CHECK_LOGITS` to 30 digits as floats, empty when refused before computing them).
  """
  sp.core.cache.clear_cache()  # the work of each step must not depend on earlier tasks
  if g.free_symbols - {P}:
    return None, "g has free parameters", []
  try:
    near_exponent, near_root = _near_asymptotics(g)
    head, far_root = _far_asymptotics(g)
  except Refused as reason:
    return None, str(reason), []
  u, v = sp.Dummy("u", positive=True), sp.Dummy("v", negative=True)
  minus_g_of_q = numeric_function(-g.subs(P, 1 - u), (u,))  # 1 - (1 - u) = u exactly
  minus_w_of_log_p = numeric_function(-(P * g).subs(P, sp.exp(v)), (v,))
  with mpmath.workdps(DIGITS):
    exponent = mpmath.mpf(near_exponent.p) / near_exponent.q
    gamma = exponent - 1
    head_mp = [(mpmath.mpf(sp.N(c, DIGITS + 5)), mpmath.mpf(e.p) / e.q, k) for c, e, k in head]
    check_p = [1 / (1 + mpmath.exp(-mpmath.mpf(z))) for z in CHECK_LOGITS]
    check_q = [1 / (1 + mpmath.exp(mpmath.mpf(z))) for z in CHECK_LOGITS]
    values: dict[tuple[str, mpmath.mpf], mpmath.mpf] = {}

    def loss(points_q: list[mpmath.mpf], points_p: list[mpmath.mpf]) -> None:
      """L at new points into `values`: in q (near; mpmath's quad tolerance is absolute, so the
      tiny L ~ q^{γ+1} is integrated scaled) and in log p from p = 1/2 (far, cumulative)."""
      for q in {*points_q, mpmath.mpf(1) / 2}:
        if ("q", q) not in values:  # q^{γ+1} ∫_0^1 q^{-γ}·(-g(1 - q·t)) dt: O(1) integrand
          values["q", q] = q**exponent * mpmath.quad(
              lambda t, q=q: minus_g_of_q(q * t) / q**gamma, [0, 1])
      at_half = values["q", mpmath.mpf(1) / 2]
      far = sorted({p for p in points_p if ("p", p) not in values}, reverse=True)
      for p, value in zip(far, _cumulative(lambda s: minus_w_of_log_p(-s),
                                           [-mpmath.log(p) for p in far], mpmath.log(2))):
        values["p", p] = at_half + value

    def closed(p):
      log_p = mpmath.log(p)
      return sum((c * p**e * log_p**k for c, e, k in head_mp), mpmath.mpf(0))

    def cancellation(p):
      log_p = mpmath.log(p)
      terms = [abs(c * p**e * log_p**k) for c, e, k in head_mp]
      return (sum(terms) + abs(values["p", p] - closed(p))) / abs(values["p", p])

    loss(check_q, [])  # references where p ≥ 1/2 (the far ones come with the first split)
    tried, reasons = [], []
    for split in (mpmath.mpf(1) / 2, mpmath.mpf(1) / 4, mpmath.mpf(1) / 8, mpmath.mpf(1) / 16):
      y_upper = (1 - split) ** (mpmath.mpf(1) / near_root)
      y_nodes = _chebyshev_nodes(y_upper, NODES)
      y_held = [(a + b) / 2 for a, b in zip(y_nodes, y_nodes[1:])]
      x_upper = split ** (mpmath.mpf(1) / far_root)
      x_nodes = _chebyshev_nodes(x_upper, NODES)
      x_held = [(a + b) / 2 for a, b in zip(x_nodes, x_nodes[1:])]
      loss([y**near_root for y in y_nodes + y_held],
           [x**far_root for x in x_nodes + x_held] + [p for p in check_p if p < 1 / 2])
      near = lambda y: values["q", y**near_root] / (y**near_root) ** exponent
      far = lambda x: values["p", x**far_root] - closed(x**far_root)
      to_float = lambda points: np.array([float(x) for x in points])
      try:
        near_c, near_error = _fit(
            to_float(y_nodes), to_float(map(near, y_nodes)), to_float(y_held),
            to_float(map(near, y_held)), np.abs(to_float(map(near, y_held))), float(y_upper))
        far_c, far_error = _fit(
            to_float(x_nodes), to_float(map(far, x_nodes)), to_float(x_held),
            to_float(map(far, x_held)), np.abs(to_float(values["p", x**far_root]
                                                        for x in x_held)), float(x_upper))
      except Refused as reason:
        reasons.append(f"split at p = {mpmath.nstr(split, 3)}: {reason}")
        continue
      worst = max((float(cancellation(p)) for p in check_p if p < split), default=1.0)
      approximant = Approximant(
          float(split), (int(near_exponent.p), int(near_exponent.q)),
          Piece(near_root, float(y_upper), tuple(map(float, near_c))),
          tuple((float(c), (int(e.p), int(e.q)), int(k)) for c, e, k in head),
          Piece(far_root, float(x_upper), tuple(map(float, far_c))),
          max(near_error, far_error), worst)
      tried.append(approximant)
      if worst <= MAX_CANCELLATION:
        break
    reference = [float(values["q", q]) if q <= 1 / 2 else float(values["p", p])
                 for p, q in zip(check_p, check_q)]
  if not tried:
    return None, "; ".join(reasons), reference
  approximant = min(tried, key=lambda a: a.cancellation) if tried[-1].cancellation > (
      MAX_CANCELLATION) else tried[-1]
  return approximant.to_json(), f"fitted ({approximant.describe()})", reference


# ---------------------------------------------------------------------------------------------
# Evaluation in JAX


def _clenshaw(coefficients: Sequence[float], t: jnp.ndarray) -> jnp.ndarray:
  b1 = jnp.zeros_like(t)
  b2 = jnp.zeros_like(t)
  for c in coefficients[:0:-1]:
    b1, b2 = c + 2 * t * b1 - b2, b1
  return coefficients[0] + t * b1 - b2


#: Horner's rule is used where Σ|a_j| ≤ this times Σ|c_j| (see `power_coefficients`).
HORNER_GROWTH = 2.0


@functools.lru_cache(maxsize=256)
def power_coefficients(piece: Piece) -> tuple[float, ...] | None:
  """a_j with Σ a_j t^j = Σ c_j T_j(t), highest order first (for `gradeng.runtime.horner`),
  where Horner's rule on them is as well conditioned as
  Clenshaw's recurrence on the c_j (Σ|a_j| ≤ `HORNER_GROWTH`·Σ|c_j|: true of the fast-decaying
  series fitted here, whose a_j ≈ c_j), else None.

  Horner's rule takes one multiply-add per degree where Clenshaw's takes three operations; the
  float32 check of the kernel (`gradeng.symbolic._compile`) is made on the form evaluated.
  """
  chebyshev = np.asarray(piece.coefficients, np.float64)
  power = np.polynomial.chebyshev.cheb2poly(chebyshev)
  if np.sum(np.abs(power)) > HORNER_GROWTH * np.sum(np.abs(chebyshev)):
    return None
  return tuple(map(float, power[::-1]))


def _series(piece: Piece, v: jnp.ndarray) -> jnp.ndarray:
  """The piece's polynomial at v = x^{1/root}."""
  t = v * (2 / piece.upper) - 1
  power = power_coefficients(piece)
  return _clenshaw(piece.coefficients, t) if power is None else horner(power, t)


def _near_power(q: jnp.ndarray, log_q: jnp.ndarray, m: int, d: int) -> jnp.ndarray:
  """q^{m/d}: for d = 1 or 2 in float32, q multiplied out and times √q for an odd m/2 (about
  (m/d + 1)·1.3e-7 from an accurate q), else `power_from_log`, whose error grows with |log q|
  because a float32 log q near -z carries up to 2⁻²⁵|z| (1.3e-6 of q^{5/2} at z = 13.45)."""
  whole, rest = divmod(m, d)
  if d not in (1, 2) or not integer_power_applies(max(whole, 1), jnp.result_type(q)):
    return power_from_log(log_q, m / d)
  power = jax.lax.integer_pow(q, whole) if whole else jnp.ones_like(q)
  return power * jnp.sqrt(q) if rest else power


def approximant_function(approximant: Approximant) -> Callable[..., jnp.ndarray]:
  """The log-space loss ``L(log_p, log_q)`` of an approximant (float32 or float64 inputs).

  Both pieces are evaluated for every element (a select, not a branch), each at a harmless
  point of its own range elsewhere. The near piece takes q = 1 - p from log p
  (`gradeng.runtime.complement_probability`, about 1 ulp) and its powers from q (`_near_power`);
  q (and p = e^{log p} for the far piece in p itself) is taken before the select, so that XLA
  can share it with the kernel's weight.
  """
  m, d = approximant.near_power
  near, far = approximant.near, approximant.far
  log_split, log_other = math.log(approximant.split), math.log1p(-approximant.split)

  def value(log_p, log_q, **_):
    is_near = log_p >= log_split
    log_q_near = jnp.where(is_near, log_q, log_other)
    log_p_far = jnp.where(is_near, log_split, log_p)
    q_near = jnp.where(is_near, complement_probability(log_p), 1.0 - approximant.split)
    y = q_near if near.root == 1 else _near_power(q_near, log_q_near, 1, near.root)
    x = (jnp.where(is_near, approximant.split, jnp.exp(log_p)) if far.root == 1
         else jnp.exp(log_p_far / far.root))
    value_far = _series(far, x)
    for c, (em, ed), k in approximant.head:
      term = c * (log_p_far ** k if k else 1.0)
      value_far = value_far + (term * power_from_log(log_p_far, em / ed) if em else term)
    return jnp.where(is_near, _near_power(q_near, log_q_near, m, d) * _series(near, y), value_far)

  return value


# ---------------------------------------------------------------------------------------------
# Fitted once per g: remembered in this process and on disk


_FITTED: dict[sp.Expr, tuple[Approximant | None, str, tuple[float, ...]]] = {}


def approximant(g: sp.Expr) -> tuple[Approximant | None, str, tuple[float, ...]]:
  """`fit_approximant` of g in the SymPy worker, remembered in this process and on disk
  (`gradeng.symbolic._cache`, with the derivations; a refusal is remembered too).

  Returns:
    (the approximant or None, what was done or why it was refused, L at `CHECK_LOGITS`).
  """
  if g in _FITTED:
    return _FITTED[g]
  name = _cache.key("approximant", g)
  entry = _cache.load(name)
  try:
    found = (None if entry["approximant"] is None else Approximant.from_json(entry["approximant"]),
             str(entry["note"]), tuple(map(float, entry["reference"])))
  except (KeyError, TypeError, ValueError, IndexError):
    try:
      data, note, reference = run_in_worker(fit_approximant, (g,))
    except WorkerTimeout as error:
      data, note, reference = None, f"{error} (the safety limit of a fit)", []
    _cache.store(name, {"approximant": data, "note": note, "reference": list(reference)})
    found = (None if data is None else Approximant.from_json(data), note, tuple(reference))
  _FITTED[g] = found
  return found
