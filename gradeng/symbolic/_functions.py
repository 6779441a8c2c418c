"""The one table of SymPy function nodes: their JAX counterparts and which are elementary.

`gradeng.symbolic._jaxify` compiles a node through `jax_function` (or, for sin, cos, tan and their
reciprocals of an argument it has bounded, `bounded_argument_function`); `gradeng.symbolic._integrate` ranks
closed forms by `ELEMENTARY`; `gradeng.symbolic._parse` builds only nodes listed here (a test checks
that every function a formula may call compiles and matches mpmath). the three tables
this replaces disagreed (``erfc`` and ``Gamma`` parsed but did not compile, ``min(a, b, c)``
parsed and then failed).

JAX is imported only when a function is first compiled, so that the SymPy worker process
(`gradeng.symbolic._limits`) does not load it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import sympy as sp

# SymPy class -> (JAX function as "module.name" in jnp / jsp, elementary?)
TABLE: dict[type, tuple[str, bool]] = {
    sp.exp: ("jnp.exp", True),
    sp.log: ("jnp.log", True),
    sp.sin: ("jnp.sin", True),
    sp.cos: ("jnp.cos", True),
    sp.tan: ("jnp.tan", True),
    sp.cot: ("cot", True),
    sp.sec: ("sec", True),
    sp.csc: ("csc", True),
    sp.asin: ("arcsin", True),  # float32 through `polynomial_arctan`
    sp.acos: ("arccos", True),
    sp.atan: ("arctan", True),  # float32 as a vectorised polynomial (`polynomial_arctan`)
    sp.acot: ("acot", True),
    sp.sinh: ("jnp.sinh", True),
    sp.cosh: ("jnp.cosh", True),
    sp.tanh: ("jnp.tanh", True),
    sp.coth: ("coth", True),
    sp.asinh: ("jnp.arcsinh", True),
    sp.acosh: ("jnp.arccosh", True),
    sp.atanh: ("jnp.arctanh", True),
    sp.Abs: ("jnp.abs", True),
    sp.sign: ("jnp.sign", True),
    sp.Min: ("minimum", True),  # any number of arguments
    sp.Max: ("maximum", True),
    sp.erf: ("jsp.erf", False),
    sp.erfc: ("jsp.erfc", False),
    sp.gamma: ("jsp.gamma", False),
    sp.loggamma: ("jsp.gammaln", False),
    sp.digamma: ("jsp.digamma", False),
    sp.polygamma: ("polygamma", False),
    sp.Ei: ("expi", False),  # e.g. ∫ e^{-t}/t dt; SymPy's E1(x) is written as -Ei(-x)
}

#: SymPy classes counted as elementary when ranking closed forms (Piecewise: a choice of them).
ELEMENTARY: tuple[type, ...] = tuple(t for t, (_, elementary) in TABLE.items() if elementary) + (
    sp.Piecewise,)


#: Ei(x) at a fixed cost (no data-dependent loop), in three regimes:
#:   -1 ≤ x ≤ 40: Ei(x) = γ + log|x| + Σ_{k≥1} x^k/(k·k!) (terms of one sign for x > 0;
#:     at most e^{|x|}-fold cancellation, i.e. none that matters, for -1 ≤ x < 0);
#:   x < -1: Ei(x) = -E1(u), u = -x, by E1's continued fraction
#:     E1(u) = e^{-u} / (u + 1 - 1²/(u + 3 - 2²/(u + 5 - …))), evaluated from a fixed depth back;
#:   x > 40: the asymptotic series Ei(x) ~ e^x/x · Σ_k k!/x^k.
_EI_SERIES_TERMS = 90  # x^90/(90·90!) / Ei(x) < 1e-17 at x = 40
_EI_SMALL_TERMS = 20
_EI_FRACTION_DEPTH = 40  # truncation error < 1e-12 at u = 1, smaller beyond
_EI_ASYMPTOTIC_TERMS = 12


def _ei_series(x, terms):
  """γ + log|x| + Σ_{k=1}^{terms} x^k/(k·k!), each term from the last (x^k/k! stays in float32
  range where 1/(k·k!) would underflow); terms of one sign for x > 0."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  power = jnp.ones_like(x)  # x^k / k!
  total = jnp.zeros_like(x)
  for k in range(1, terms + 1):
    power = power * x / k
    total = total + power / k
  return np.euler_gamma + jnp.log(jnp.abs(x)) + total


def _e1_fraction(u):
  """E1(u) for u ≥ 1 by its continued fraction, evaluated backward from a fixed depth."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  tail = jnp.zeros_like(u)
  for k in range(_EI_FRACTION_DEPTH, 0, -1):
    tail = k * k / (u + 2 * k + 1 - tail)
  return jnp.exp(-u) / (u + 1 - tail)


def _ei_asymptotic(x):
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  total = jnp.ones_like(x)
  term = jnp.ones_like(x)
  for k in range(1, _EI_ASYMPTOTIC_TERMS + 1):
    term = term * k / x
    total = total + term
  return jnp.exp(x) / x * total


def _ei_all_regimes(x):
  """Ei(x) elementwise at a fixed cost (`jax.scipy.special.expi` runs a continued fraction in a
  loop over every element, and does not end for x ≈ -1e-18, e.g. Ei(-p) at logit -40)."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  x = jnp.asarray(x)
  small = (x >= -1) & (x <= 40)
  far_left = x < -1
  negative = x < 0  # -1 ≤ x < 0: few terms suffice
  series = jnp.where(negative, _ei_series(jnp.where(small & negative, x, -0.5), _EI_SMALL_TERMS),
                     _ei_series(jnp.where(small & (x > 0), x, 1.0), _EI_SERIES_TERMS))
  left = -_e1_fraction(jnp.where(far_left, -x, 1.0))
  right = _ei_asymptotic(jnp.where(x > 40, x, 41.0))
  value = jnp.where(small, series, jnp.where(far_left, left, right))
  return jnp.where(x == 0, -jnp.inf, value)


@functools.lru_cache(maxsize=None)
def _with_exact_derivative(evaluate: Callable) -> Callable:
  """``evaluate`` (an approximation of Ei) as a JAX function whose derivative is e^x/x exactly."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  ei = jax.custom_jvp(evaluate)

  @ei.defjvp
  def _(primals, tangents):
    (x,), (dx,) = primals, tangents
    return ei(x), jnp.exp(x) / x * dx

  return ei


def _ei_near_zero(x):
  return _ei_series(x, _EI_SMALL_TERMS)


def _expi(x):
  return _with_exact_derivative(_ei_all_regimes)(x)


def expi_near_zero(x):
  """Ei(x) for -1 ≤ x ≤ 1 only (x ≠ 0): the 20-term series of the first regime of Ei, for an
  argument known to stay there (e.g. Ei(-p), p ∈ (0, 1)); float32 ≤ 3e-6 relative."""
  return _with_exact_derivative(_ei_near_zero)(x)


@functools.lru_cache(maxsize=1)
def _resolved() -> dict[type, Callable]:
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import jax.scipy.special as jsp  # pylint: disable=import-outside-toplevel

  # pylint: disable-next=import-outside-toplevel
  from gradeng.runtime import polynomial_arccos, polynomial_arcsin, polynomial_arctan

  extra: dict[str, Callable] = {
      "cot": lambda x: 1 / jnp.tan(x),
      "sec": lambda x: 1 / jnp.cos(x),
      "csc": lambda x: 1 / jnp.sin(x),
      "arctan": polynomial_arctan,
      "arcsin": polynomial_arcsin,
      "arccos": polynomial_arccos,
      "acot": lambda x: polynomial_arctan(1 / x),
      "coth": lambda x: 1 / jnp.tanh(x),
      "minimum": lambda *xs: functools.reduce(jnp.minimum, xs),
      "maximum": lambda *xs: functools.reduce(jnp.maximum, xs),
      # JAX takes the order n only as an integer array (a compiled constant is a float).
      "expi": _expi,
      "polygamma": lambda n, x: jsp.polygamma(jnp.asarray(n).astype(jnp.int32), x),
  }
  modules = {"jnp": jnp, "jsp": jsp}
  table = {}
  for node, (path, _) in TABLE.items():
    module, _, name = path.rpartition(".")
    table[node] = getattr(modules[module], name) if module else extra[name]
  return table


def jax_function(node_type: type) -> Callable | None:
  """The JAX function for a SymPy function class, or None when there is none (e.g. lerchphi)."""
  return _resolved().get(node_type)


@functools.lru_cache(maxsize=1)
def _resolved_bounded() -> dict[type, Callable]:
  # pylint: disable-next=import-outside-toplevel
  from gradeng.runtime import polynomial_cos, polynomial_sin, polynomial_tan

  return {sp.sin: polynomial_sin, sp.cos: polynomial_cos, sp.tan: polynomial_tan,
          sp.cot: lambda x: 1 / polynomial_tan(x), sp.sec: lambda x: 1 / polynomial_cos(x),
          sp.csc: lambda x: 1 / polynomial_sin(x)}


def bounded_argument_function(node_type: type) -> Callable | None:
  """The faster JAX function for a trigonometric class whose argument stays within
  `gradeng.runtime.POLYNOMIAL_TRIG_BOUND` (the runtime's vectorised polynomials: sin, cos, tan
  and their reciprocals; NaN beyond the bound), or None for any other class. The caller bounds
  the argument (`gradeng.symbolic._jaxify`)."""
  return _resolved_bounded().get(node_type)
