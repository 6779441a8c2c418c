"""SymPy expressions in p → JAX functions of (log p, log(1 - p)).

One lookup table (`gradeng.core._functions`) maps SymPy nodes to JAX functions. The probability never appears as a bare
float when a log-space form exists: ``log(p)`` becomes ``log_p``, ``log(1 - p)`` becomes
``log_q``, ``p**a`` becomes ``exp(a·log_p)`` and ``(1 - p)**a`` becomes ``exp(a·log_q)``.
That removes the overflow/underflow of p and 1 - p at extreme logits; it cannot remove
cancellation *between* terms, which is why generated closed forms are checked against
quadrature before use (see `gradeng.core._inject`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import sympy as sp

from gradeng.core._errors import InputError
from gradeng.core._coefficient import P
from gradeng.core._functions import jax_function


class NotJaxifiable(InputError):
  """The expression uses a function with no JAX counterpart (e.g. lerchphi)."""


_ONE_MINUS_P = 1 - P


def log_space_function(expr: sp.Expr, params: Sequence[str] = ()) -> Callable[..., jax.Array]:
  """Compile ``expr`` (in p and ``params``) into ``f(log_p, log_q, **params)``.

  Raises:
    NotJaxifiable: for a node outside the table (special functions such as lerchphi or hyper).
  """
  param_names = set(params)

  def build(node: sp.Expr) -> Callable:
    if node == P:
      return lambda lp, lq, kw: jnp.exp(lp)
    if node == _ONE_MINUS_P:
      return lambda lp, lq, kw: jnp.exp(lq)
    if node.is_Symbol:
      if node.name not in param_names:
        raise NotJaxifiable(f"free symbol `{node.name}` is not a parameter ({sorted(param_names)}).")
      name = node.name
      return lambda lp, lq, kw: kw[name]
    if node.is_Number or node in (sp.pi, sp.E, sp.EulerGamma):
      if not node.is_real:
        raise NotJaxifiable(f"complex constant `{node}`.")
      value = float(node)
      return lambda lp, lq, kw: value
    if isinstance(node, sp.log) and len(node.args) == 1:
      (arg,) = node.args
      if arg == P:
        return lambda lp, lq, kw: lp
      if arg == _ONE_MINUS_P:
        return lambda lp, lq, kw: lq
    if node.is_Pow:
      base, exponent = node.args
      exp_fn = build(exponent)
      if base in (P, _ONE_MINUS_P):
        pick = 0 if base == P else 1
        return lambda lp, lq, kw: jnp.exp(exp_fn(lp, lq, kw) * (lp, lq)[pick])
      base_fn = build(base)
      if exponent.is_Integer:
        k = int(exponent)
        return lambda lp, lq, kw: base_fn(lp, lq, kw) ** k
      return lambda lp, lq, kw: jnp.power(base_fn(lp, lq, kw), exp_fn(lp, lq, kw))
    if node.is_Add:
      # a + b·p with a = -b is -b·(1 - p): evaluate it as -b·exp(log_q), never as a difference.
      constant, rest = node.as_independent(P, as_Add=True)
      slope = sp.simplify(rest / P) if rest.has(P) else None
      if slope is not None and not slope.has(P) and sp.simplify(constant + slope) == 0:
        slope_fn = build(slope)
        return lambda lp, lq, kw: -slope_fn(lp, lq, kw) * jnp.exp(lq)
    if node.is_Add or node.is_Mul:
      parts = [build(a) for a in node.args]
      if node.is_Add:
        return lambda lp, lq, kw: sum(f(lp, lq, kw) for f in parts)
      def product(lp, lq, kw):
        out = parts[0](lp, lq, kw)
        for f in parts[1:]:
          out = out * f(lp, lq, kw)
        return out
      return product
    fn = jax_function(type(node))
    if fn is None:
      raise NotJaxifiable(f"no JAX translation for `{type(node).__name__}` in `{node}`.")
    arg_fns = [build(a) for a in node.args]
    return lambda lp, lq, kw: fn(*(f(lp, lq, kw) for f in arg_fns))

  compiled = build(expr)

  def fn(log_p, log_q, **kw):
    return compiled(log_p, log_q, kw) + jnp.zeros_like(log_p)

  return fn
