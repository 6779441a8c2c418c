"""A derived loss L(p) rewritten onto cancellation-free primitives before it is compiled.

SymPy's antiderivative is exact algebra, not a good float program: for the README's
g = -(1-p)^2(1+p)/p it gives ``-p³/3 + p²/2 + p - log p - 7/6``, whose terms are O(1) while
L ~ 2(1-p)³/3 as p → 1, so float32 loses every digit there. As in Herbie (Panchekha et al.,
"Automatically improving accuracy for floating point expressions", PLDI 2015), `stabilize`
builds several mathematically equal programs for L, measures each one's float32 error against
a high-precision (mpmath) evaluation of the derived L on logits in [-40, 40], and keeps the best
one per regime (p < 1/2 and p ≥ 1/2, split on log(1 - p); one program when one serves both).
The candidate programs, all functions of (log p, log(1 - p)):

* **Maki basis** — when w = p·g is a polynomial in q = 1 - p (with real exponents),
  w = -Σ_b c_b q^b, and L = Σ_b c_b L_b(p) with L_b the Maki tail
  ∫_p^1 (1-t)^b/t dt (`gradeng.runtime._special`): integer b through `maki_combination` (one
  polynomial in q per regime), real b through `maki_tail`. Covers every g = -P(1-p)/p with P a
  polynomial: (1+p)(1-p)² = 2q² - q³ gives L = 2·L_2 - L_3.
* **Power basis** — when w is a sum of powers c_a p^a, L = Σ c_a (p^a - 1)/a written as
  ``c_a·expm1(a·log p)/a`` (``c_0·log p`` for a = 0): accurate as p → 0 where the Maki basis of
  a polynomial g cancels.
* **Taylor series in q** around p = 1 — for p ≥ 1/2 when g(1 - u) is analytic at u = 0: the
  coefficients of -g(1 - u) = Σ a_k u^k are taken by FFT on a circle of radius 0.7 (float64),
  and L = Σ a_k q^{k+1}/(k+1) is summed by Horner: no cancellation near p = 1 whatever the
  closed form looks like (logarithms of 1 ± small, rational functions).
* **The derived closed form** itself, through `gradeng.symbolic._jaxify` (log p, log(1 - p), p^a,
  (1-p)^a in log space): usually fine for p < 1/2, where L is not small.

The cheapest program (in the order above) whose error is within `SINGLE_ERROR` on the whole
grid is used alone; otherwise, per regime, the cheapest within `GOOD_ERROR`, else the most
accurate one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import sympy as sp

from gradeng.symbolic._variable import P
from gradeng.symbolic._jaxify import NotJaxifiable, log_space_function, power_of_probability
from gradeng.symbolic._mpeval import numeric_function
from gradeng.runtime import maki_combination, maki_tail

#: A program whose float32 error in a regime is at most this is good enough there; one that
#: stays within `SINGLE_ERROR` on both sides of p = 1/2 is used alone.
GOOD_ERROR = 2e-6
SINGLE_ERROR = 5e-6
#: The grid of logits on which programs are compared, and the digits of the reference.
CHECK_LOGITS = np.concatenate([np.linspace(-40.0, 40.0, 401), [-1e-3, 1e-3, 0.3, 2.5]])
REFERENCE_DIGITS = 120
#: Taylor series: FFT points, circle radius, and the most terms kept.
_FFT_POINTS = 256
_FFT_RADIUS = 0.7
_MAX_TAYLOR_TERMS = 72
_LOG_HALF = math.log(0.5)
_Q = sp.Symbol("q_", positive=True)


@dataclasses.dataclass(frozen=True)
class StableLoss:
  """A float program for L(p) chosen by measured error.

  Attributes:
    value: ``f(log_p, log_q, **params) -> L`` (parameters are already substituted; extra
      keyword arguments are ignored).
    near: the program used for p ≥ 1/2 (``"maki basis"``, ``"power basis"``, ``"taylor"`` or
      ``"derived"``).
    far: the program used for p < 1/2.
    error: its max float32 relative error against the 120-digit derived L on logits ±40.
  """

  value: Callable
  near: str
  far: str
  error: float

  @property
  def description(self) -> str:
    return self.near if self.near == self.far else f"{self.near} (p ≥ 1/2), {self.far} (p < 1/2)"


def _numbers_only(expr: sp.Expr) -> bool:
  return expr.free_symbols <= {P}


def _maki_basis(g: sp.Expr) -> Callable | None:
  """L = Σ_b c_b L_b(p) when p·g = -Σ_b c_b (1-p)^b, b ≥ 0 numbers."""
  w = sp.expand(sp.expand_power_base((P * g).subs(P, 1 - _Q), force=True))
  terms = _monomial_terms(w, _Q)
  if terms is None:
    return None
  integer: dict[int, float] = {}
  real: dict[float, float] = {}
  for coeff, exponent in terms:
    if exponent.is_Integer:
      integer[int(exponent)] = integer.get(int(exponent), 0.0) - float(coeff)
    else:
      real[float(exponent)] = real.get(float(exponent), 0.0) - float(coeff)

  def value(log_p, log_q, **_):
    total = jnp.zeros_like(log_p)
    if integer:
      combined = maki_combination(log_p, log_q, integer, complement=True)
      if combined is None:  # high degree: each tail in its own regimes
        combined = sum(c * maki_tail(log_p, log_q, k, complement=True) for k, c in integer.items())
      total = total + combined
    for b, c in real.items():
      total = total + c * maki_tail(log_p, log_q, b, complement=True)
    return total

  return value


def _power_basis(g: sp.Expr) -> Callable | None:
  """L = Σ_a c_a (p^a - 1)/a when p·g = Σ_a c_a p^a, a ≥ 0 numbers."""
  powers = _monomials(sp.expand(P * g), P)
  if powers is None:
    return None

  def value(log_p, log_q, **_):
    total = jnp.zeros_like(log_p)
    for a, c in powers.items():
      total = total + (c * log_p if a == 0 else c / a * jnp.expm1(a * log_p))
    return total

  return value


def _taylor(g: sp.Expr) -> Callable | None:
  """L = Σ_k a_k q^{k+1}/(k+1) from -g(1 - u) = Σ_k a_k u^k (for p ≥ 1/2 only)."""
  u = sp.Symbol("u")
  try:
    f = sp.lambdify(u, -g.subs(P, 1 - u), modules="numpy")
    nodes = _FFT_RADIUS * np.exp(2j * np.pi * np.arange(_FFT_POINTS) / _FFT_POINTS)
    with np.errstate(all="ignore"):
      samples = np.asarray(f(nodes), complex) * np.ones(_FFT_POINTS)
  except (TypeError, ValueError, NameError, ZeroDivisionError):
    return None
  if not np.all(np.isfinite(samples)):
    return None
  scaled = np.fft.fft(samples) / _FFT_POINTS  # a_k r^k
  if np.max(np.abs(scaled.imag)) > 1e-9 * np.max(np.abs(scaled)):
    return None  # not real on the real axis: g(1 - u) is not analytic in the disc
  scaled = scaled.real
  # Coefficients below float64 noise are zero (a_0 = g(1) = 0 for Maki-like g must stay 0).
  scaled[np.abs(scaled) < 1e-13 * np.max(np.abs(scaled))] = 0.0
  coefficients = scaled[:_MAX_TAYLOR_TERMS] / _FFT_RADIUS ** np.arange(_MAX_TAYLOR_TERMS)
  terms = [float(a / (k + 1)) for k, a in enumerate(coefficients)]
  # As few terms as reach float32 at q = 1/2 (the end of the regime): drop the tail whose
  # magnitude there is below 1e-9 of L(1/2).
  at_half = np.abs(np.array(terms)) * 0.5 ** np.arange(1, len(terms) + 1)
  remaining = np.cumsum(at_half[::-1])[::-1]  # Σ_{j≥k} |b_j| 2^{-j-1}
  keep = int(np.argmax(remaining <= 1e-9 * abs(sum(b * 0.5 ** (k + 1) for k, b in enumerate(terms)))))
  terms = tuple(terms[:keep]) if keep > 0 else tuple(terms)

  def value(log_p, log_q, **_):
    q = jnp.exp(log_q)
    acc = jnp.zeros_like(q)
    for b in reversed(terms):
      acc = (acc + b) * q
    return acc

  return value


def _derived(loss: sp.Expr) -> Callable | None:
  try:
    return log_space_function(loss)
  except NotJaxifiable:
    return None


def _reference(loss: sp.Expr) -> np.ndarray:
  """L(σ(z)) on the check grid at `REFERENCE_DIGITS` digits, as float64."""
  f = numeric_function(loss, (P,))  # Lerch Φ as ₂F₁ (mpmath's lerchphi: ~20x slower here)
  out = []
  with mpmath.workdps(REFERENCE_DIGITS):
    for z in CHECK_LOGITS.astype(np.float32).astype(np.float64):
      p = 1 / (1 + mpmath.exp(-mpmath.mpf(float(z))))
      try:
        value = f(p)
        out.append(float(mpmath.re(value)) if abs(mpmath.im(value)) <= 1e-30 * abs(value) else math.nan)
      except (ZeroDivisionError, ValueError, TypeError):
        out.append(math.nan)
  return np.asarray(out)


def _errors(value: Callable, reference: np.ndarray, params: Mapping[str, Any] | None = None) -> np.ndarray:
  """Per-point float32 relative error (inf where not finite; 0 where the reference is below
  float32's normal range)."""
  z = jnp.asarray(CHECK_LOGITS, jnp.float32)
  bound = dict(params or {})
  # One compiled program (as a jitted loss runs), not one per primitive as eager evaluation
  # compiles: most of a first build's time otherwise.
  program = jax.jit(lambda log_p, log_q: value(log_p, log_q, **bound))
  with np.errstate(all="ignore"):
    got = np.asarray(program(jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)), np.float64)
    error = np.abs(got - reference) / np.abs(reference)
  error[~np.isfinite(got)] = np.inf
  error[~(np.abs(reference) > 1e1 * np.finfo(np.float32).tiny)] = 0.0
  return error


def stabilize(g: sp.Expr, loss: sp.Expr) -> StableLoss | None:
  """The most accurate cheap float program for the derived ``loss`` of coefficient ``g``.

  Args:
    g: the scale coefficient with its parameters substituted (SymPy, in `P` only).
    loss: the derived L(p) = ∫_p^1 -g(t) dt (SymPy, in `P` only), the reference.

  Returns:
    A `StableLoss`, or None when ``loss``/``g`` still have free parameters or no program
    reaches `GOOD_ERROR`-class accuracy (callers then fall back to quadrature, after their
    own check).
  """
  if not (_numbers_only(g) and _numbers_only(loss)):
    return None
  with jax.ensure_compile_time_eval():
    reference = _reference(loss)
    if not np.all(np.isfinite(reference)):
      return None
    near_region = CHECK_LOGITS >= 0.0  # p = σ(z) ≥ 1/2
    candidates = []
    for name, regions in _PROGRAMS.items():
      try:
        value = _program(name, g, loss)
        errors = None if value is None else _errors(value, reference)
      except (TypeError, ValueError, ArithmeticError, NotJaxifiable):  # a program that cannot run
        value = None
      if value is not None:
        candidates.append((name, value, regions, float(np.max(errors[near_region], initial=0.0)),
                           float(np.max(errors[~near_region], initial=0.0))))
  if not candidates:
    return None

  def pick(index, allowed):
    usable = [c for c in candidates if allowed(c[2])]
    if not usable:
      return None
    good = [c for c in usable if c[index] <= GOOD_ERROR]
    return good[0] if good else min(usable, key=lambda c: c[index])

  # One program for all p when one is within `SINGLE_ERROR` everywhere: evaluating two
  # programs and selecting costs more than the accuracy it buys.
  single = [c for c in candidates if c[2] == "both" and max(c[3], c[4]) <= SINGLE_ERROR]
  if single:
    name, value, _, near_error, far_error = single[0]
    return StableLoss(value, name, name, max(near_error, far_error))
  near = pick(3, lambda r: True)
  far = pick(4, lambda r: r == "both")
  if far is None:
    return None
  return StableLoss(_split(near[1], far[1]), near[0], far[0], max(near[3], far[4]))


#: The candidate programs for L in the order of preference, and where each may be used.
_PROGRAMS = {"maki basis": "both", "power basis": "both", "taylor": "near", "derived": "both"}


def _program(name: str, g: sp.Expr, loss: sp.Expr) -> Callable | None:
  if name == "maki basis":
    return _maki_basis(g)
  if name == "power basis":
    return _power_basis(g)
  if name == "taylor":
    return _taylor(g)
  return _derived(loss)


def _split(near_fn: Callable, far_fn: Callable) -> Callable:
  """``near_fn`` for p ≥ 1/2, ``far_fn`` below."""

  def value(log_p, log_q, **_):
    is_near = log_p >= _LOG_HALF
    # Each program sees a harmless point of its own regime elsewhere (no inf/nan to select).
    near_value = near_fn(jnp.where(is_near, log_p, _LOG_HALF), jnp.where(is_near, log_q, _LOG_HALF))
    far_value = far_fn(jnp.where(is_near, _LOG_HALF, log_p), jnp.where(is_near, _LOG_HALF, log_q))
    return jnp.where(is_near, near_value, far_value)

  return value


def stable_program(g: sp.Expr, loss: sp.Expr, near: str, far: str) -> Callable | None:
  """The program `stabilize` chose (its ``near`` and ``far`` names), built again without
  measuring anything: for a kernel whose choice is cached (`gradeng.symbolic._compile`)."""
  near_fn = _program(near, g, loss)
  far_fn = near_fn if far == near else _program(far, g, loss)
  if near_fn is None or far_fn is None:
    return None
  return near_fn if far == near else _split(near_fn, far_fn)


def stable_closed_form(g: sp.Expr, loss: sp.Expr, params: Sequence[str] = ()) -> tuple[Callable, str] | None:
  """``(f(log_p, log_q, **params), method)`` for a derived loss, or None (see `stabilize`).

  ``method`` is ``"closed form (derived)"`` when SymPy's form is used unchanged, else
  ``"closed form (stabilised: …)"`` naming the programs.
  """
  del params  # substituted: the kernel is specialised on Python-number parameters
  stable = stabilize(g, loss)
  if stable is None:
    return None
  return stable.value, stable_method(stable.near, stable.far)


def stable_method(near: str, far: str) -> str:
  """The ``forward_method`` of a loss on the programs ``near`` (p ≥ 1/2) and ``far``."""
  if near == far == "derived":
    return "closed form (derived)"
  shown = near if near == far else f"{near} (p ≥ 1/2), {far} (p < 1/2)"
  return f"closed form (stabilised: {shown})"


# ---------------------------------------------------------------------------------------------
# The logit weight w = p·g: the same idea, for the backward pass (and the quadrature fallback)


def _weight_in_powers(w: sp.Expr, x: sp.Symbol, in_q: bool) -> Callable | None:
  """w = Σ_b d_b x^b (numbers b ≥ 0; x is q = 1 - p where ``in_q``, else p) evaluated from
  log x, the other logarithm giving the complement where a power needs it."""
  terms = _monomials(w, x)
  if terms is None:
    return None

  def weight(log_p, log_q, **_):
    log_x, log_other = (log_q, log_p) if in_q else (log_p, log_q)
    return sum(c * (1.0 if b == 0 else power_of_probability(log_x, b, log_other))
               for b, c in terms.items()) + jnp.zeros_like(log_x)

  return weight


def _weight_in_q(g: sp.Expr) -> Callable | None:
  """w = p·g as powers of q evaluated from log q: accurate where w → 0 as p → 1."""
  w = sp.expand(sp.expand_power_base((P * g).subs(P, 1 - _Q), force=True))
  return _weight_in_powers(w, _Q, in_q=True)


def _weight_in_p(g: sp.Expr) -> Callable | None:
  """w = p·g as powers of p evaluated from log p."""
  return _weight_in_powers(sp.expand(P * g), P, in_q=False)


def _monomial_terms(expr: sp.Expr, x: sp.Symbol) -> list[tuple[sp.Expr, sp.Expr]] | None:
  """(coefficient, exponent) of each term of a sum of number·x^number terms (exponents real,
  ≥ 0, as SymPy numbers), else None."""
  out = []
  for term in sp.Add.make_args(expr):
    coeff, rest = term.as_coeff_Mul()
    if rest == 1:
      exponent = sp.Integer(0)
    elif rest == x:
      exponent = sp.Integer(1)
    elif rest.is_Pow and rest.base == x and rest.exp.is_number:
      exponent = rest.exp
    else:
      return None
    if not (coeff.is_number and exponent.is_real and exponent >= 0):
      return None
    out.append((coeff, exponent))
  return out


def _monomials(expr: sp.Expr, x: sp.Symbol) -> dict[float, float] | None:
  """{exponent: coefficient} of a sum of number·x^number terms, else None."""
  terms = _monomial_terms(expr, x)
  if terms is None:
    return None
  out: dict[float, float] = {}
  for coeff, exponent in terms:
    out[float(exponent)] = out.get(float(exponent), 0.0) + float(coeff)
  return out


def stable_weight(g: sp.Expr, default: Callable, params: Mapping[str, Any] | None = None) -> Callable:
  """``default`` (w = p·g through `gradeng.symbolic._jaxify`) unless it loses accuracy on logits
  ±40 and a polynomial form in q = 1 - p or in p, chosen per regime, does better.

  Example: g = -(1 - p²)/p has w = p² - 1, which cancels as p → 1; w = -(2q - q²) does not.

  Args:
    g: the coefficient with its parameters substituted (SymPy, in `P` only).
    default: the generic weight ``w(log_p, log_q, **params)``.
    params: the Python-number parameters ``default`` takes (already substituted in ``g``).
  """
  return weight_program(g, default, *choose_weight(g, default, params))


def choose_weight(g: sp.Expr, default: Callable,
                  params: Mapping[str, Any] | None = None) -> tuple[str, str]:
  """The names of the weight programs `stable_weight` uses for p ≥ 1/2 and for p < 1/2:
  ``"default"``, ``"q"`` (a polynomial in q = 1 - p) or ``"p"`` (one in p); measured against
  60-digit mpmath values of p·g (arguments as for `stable_weight`)."""
  if not _numbers_only(g):
    return "default", "default"
  with jax.ensure_compile_time_eval():
    f = sp.lambdify(P, P * g, modules="mpmath")
    with mpmath.workdps(60):
      reference = []
      for z in CHECK_LOGITS.astype(np.float32).astype(np.float64):
        try:
          reference.append(float(f(1 / (1 + mpmath.exp(-mpmath.mpf(float(z)))))))
        except (TypeError, ValueError, ArithmeticError):
          return "default", "default"
    reference = np.asarray(reference)
    candidates = []
    for name in ("default", "q", "p"):
      try:
        fn = _weight(name, g, default)
        errors = None if fn is None else _errors(fn, reference, params)
      except (TypeError, ValueError, ArithmeticError, NotJaxifiable):
        fn = None
      if fn is not None:
        near = CHECK_LOGITS >= 0.0
        candidates.append((name, float(np.max(errors[near], initial=0.0)),
                           float(np.max(errors[~near], initial=0.0))))
  default_error = max(candidates[0][1], candidates[0][2])
  if default_error <= GOOD_ERROR:
    return "default", "default"
  single = min(candidates, key=lambda c: max(c[1], c[2]))
  near_name = min(candidates, key=lambda c: c[1])[0]
  far_name = min(candidates, key=lambda c: c[2])[0]
  if max(single[1], single[2]) <= SINGLE_ERROR or near_name == far_name:
    return single[0], single[0]
  return near_name, far_name


def _weight(name: str, g: sp.Expr, default: Callable) -> Callable | None:
  return {"default": lambda: default, "q": lambda: _weight_in_q(g),
          "p": lambda: _weight_in_p(g)}[name]()


def weight_program(g: sp.Expr, default: Callable, near: str, far: str) -> Callable:
  """The weight `choose_weight` named, built without measuring anything (``default`` where a
  named program cannot be built)."""
  near_fn = _weight(near, g, default) or default
  if far == near:
    return near_fn
  far_fn = _weight(far, g, default) or default

  def weight(log_p, log_q, **params):
    is_near = log_p >= _LOG_HALF
    return jnp.where(is_near, near_fn(log_p, log_q, **params), far_fn(log_p, log_q, **params))

  return weight
