"""The one table of SymPy function nodes: their JAX counterparts and which are elementary.

`gradeng.core._jaxify` compiles a node through `jax_function`; `gradeng.core._integrate` ranks
closed forms by `ELEMENTARY`; `gradeng.core._parse` builds only nodes listed here (a test checks
that every function a formula may call compiles and matches mpmath). Issue 15: the three tables
this replaces disagreed (``erfc`` and ``Gamma`` parsed but did not compile, ``min(a, b, c)``
parsed and then failed).

JAX is imported only when a function is first compiled, so that the SymPy worker process
(`gradeng.core._limits`) does not load it.
"""

from __future__ import annotations

import functools
import math
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
    sp.asin: ("jnp.arcsin", True),
    sp.acos: ("jnp.arccos", True),
    sp.atan: ("jnp.arctan", True),
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


#: Terms of the series Ei(x) = γ + log|x| + Σ_k x^k/(k·k!) used for -1 < x < 0 (float64-exact).
_EI_TERMS = 20


def _expi(x):
  """Ei(x) elementwise: `jax.scipy.special.expi`, except on -1 < x < 0, where its batched
  continued fraction (run on every element under vmap) needs ~1/|x| iterations and never ends
  for x ≈ -1e-18 (e.g. Ei(-p) at logit -40); there the series above is summed instead."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import jax.scipy.special as jsp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  x = jnp.asarray(x)
  small = (x < 0) & (x > -1)
  xs = jnp.where(small, x, -0.5)
  series = jnp.zeros_like(xs)
  for k in range(_EI_TERMS, 0, -1):  # Σ_k x^k/(k·k!) by Horner
    series = (series + 1.0 / (k * math.factorial(k))) * xs
  near_zero = np.euler_gamma + jnp.log(-xs) + series
  return jnp.where(small, near_zero, jsp.expi(jnp.where(small, -1.0, x)))


@functools.lru_cache(maxsize=1)
def _resolved() -> dict[type, Callable]:
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import jax.scipy.special as jsp  # pylint: disable=import-outside-toplevel

  extra: dict[str, Callable] = {
      "cot": lambda x: 1 / jnp.tan(x),
      "sec": lambda x: 1 / jnp.cos(x),
      "csc": lambda x: 1 / jnp.sin(x),
      "acot": lambda x: jnp.arctan(1 / x),
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
