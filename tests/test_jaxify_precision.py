"""Float32 precision of `gradeng.symbolic.log_space_function` against mpmath.

Two rules of the compiler are checked where float32 breaks them without care:

* a numeric power x^a of p or q = 1 - p is evaluated from log x with the product a·log x
  compensated (`power_from_log`): exp(fl(a·log x)) is off by up to 2⁻²⁴|a·log x| relative (5e-6
  as |a·log x| approaches 87);
* a trigonometric function of a linear argument is evaluated in q near p = 1 (sin(πp) as sin(πq)):
  in float32 p rounds to 1 once q < 6e-8 and sin(π·1.0f) is -8.7e-8 whatever q.

The unit tests compare each compiled expression with its value at the float32 inputs themselves
(the larger of p and q from its own logarithm, the smaller as 1 minus it), so that only the
compiler's rounding counts;
the head tests run the compiled weight w = p·g (and L where it is elementary) through the sigmoid
head as `ge.loss_from_coefficient` does, without SymPy's derivation (seconds per formula), and
compare the value and the injected gradient with the exact ones at logits where log_sigmoid's own
rounding is below 1e-7.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import sympy as sp

import gradeng as ge
from gradeng.runtime import Kernel, apply_kernel
from gradeng.symbolic import P, expression, log_space_function, weight_expression

#: The benchmark's target (benchmarks/formulas.py): relative error of value and gradient.
TOLERANCE = 2e-6
_TINY, _HUGE = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
#: Digits of the references: 1 + cos πp at q = 4e-18 is 1e-35 (and 1 - p^6, (1 - p)^5 likewise).
_DIGITS = 80


def _logs(logits):
  z = jnp.asarray(logits, jnp.float32)
  return jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)


def _relative_errors(got, want):
  """Relative errors where the reference is a normal float32 (as in benchmarks/formulas.py)."""
  return [abs((mpmath.mpf(float(a)) - b) / b) if np.isfinite(a) else mpmath.inf
          for a, b in zip(np.asarray(got, np.float64), want) if _TINY <= abs(b) <= _HUGE]


def _at_inputs(f, log_p, log_q):
  """f at the probability the float32 inputs stand for: the larger of p and q from its own
  logarithm (small in magnitude, so exact to float32's rounding), the smaller one as 1 minus it
  (its own logarithm carries a rounding of up to 2⁻²⁵|log x|, which the compiler's integer powers
  avoid by the same complement, `gradeng.runtime.integer_power`)."""
  out = []
  with mpmath.workdps(_DIGITS):
    for lp, lq in zip(np.asarray(log_p, np.float64), np.asarray(log_q, np.float64)):
      if lp < np.log(0.5):
        q = mpmath.exp(mpmath.mpf(lq))
        p = 1 - q
      else:
        p = mpmath.exp(mpmath.mpf(lp))
        q = 1 - p
      out.append(f(p, q))
  return out


# Where exp(fl(a·log x)) fails: |a·log x| up to ~80 with a·log x inexact in float32.
_UNIT_LOGITS = np.array([-26.3, -19.7, -14.3, -9.1, -4.7, -1.3, 0.0, 1.3, 4.7, 9.1, 14.3, 19.7, 26.3],
                        np.float32)

POWERS = [  # (expression, the same with p and q as mpmath numbers)
    ((1 - P)**3, lambda p, q: q**3),
    ((1 - P)**3 * (1 + 3 * P), lambda p, q: q**3 * (1 + 3 * p)),
    (P**6, lambda p, q: p**6),
    ((1 - P)**sp.Rational(7, 3), lambda p, q: q**(mpmath.mpf(7) / 3)),
    (sp.sqrt(1 - P) / P, lambda p, q: mpmath.sqrt(q) / p),
    (P**sp.Rational(-5, 2), lambda p, q: p**(-mpmath.mpf(5) / 2)),
    ((1 - P)**sp.Float(2.7), lambda p, q: q**mpmath.mpf(2.7)),
    # half powers of a sum: from one square root, not pow
    (sp.sqrt(1 + P**2) / P, lambda p, q: mpmath.sqrt(1 + p**2) / p),
    ((1 + P**2)**sp.Rational(-1, 2), lambda p, q: (1 + p**2)**(-mpmath.mpf(1) / 2)),
    ((3 - P)**sp.Rational(3, 2), lambda p, q: (2 + q)**(mpmath.mpf(3) / 2)),
    ((1 + P**2)**sp.Rational(-3, 2) * P, lambda p, q: (1 + p**2)**(-mpmath.mpf(3) / 2) * p),
]

TRIG = [
    (-sp.sin(sp.pi * P), lambda p, q: -mpmath.sin(mpmath.pi * q)),
    (sp.cos(sp.pi * P / 2), lambda p, q: mpmath.sin(mpmath.pi * q / 2)),
    (sp.cot(sp.pi * P / 2), lambda p, q: mpmath.tan(mpmath.pi * q / 2)),
    (sp.sin(sp.pi * (1 - P) / 3) / P, lambda p, q: mpmath.sin(mpmath.pi * q / 3) / p),
    # (1 + cos πp)/π = ∫_p^1 sin πt dt: a sum that cancels at p = 1 (`anchored_sum`)
    ((1 + sp.cos(sp.pi * P)) / sp.pi, lambda p, q: 2 * mpmath.sin(mpmath.pi * q / 2)**2 / mpmath.pi),
    (sp.sin(2 * P + 1), lambda p, q: mpmath.sin(3 - 2 * q)),
]

LOGS = [  # log of a rational argument through log1p: one form where it holds at both ends
    (sp.log(2 - P), lambda p, q: mpmath.log1p(q)),
    (sp.log(1 + P), lambda p, q: mpmath.log1p(p)),
    (sp.log((3 - P) / (1 + P)), lambda p, q: mpmath.log((2 + q) / (1 + p))),
    # vanishes at both ends: split at p = 1/2
    (sp.log(1 + P * (1 - P)), lambda p, q: mpmath.log1p(p * q)),
]


@pytest.mark.parametrize("expr, exact", POWERS + TRIG + LOGS,
                         ids=[str(e) for e, _ in POWERS + TRIG + LOGS])
def test_compiled_expression_at_its_float32_inputs(expr, exact):
  log_p, log_q = _logs(_UNIT_LOGITS)
  got = log_space_function(expr)(log_p, log_q)  # eager: a few ops each, no compilation
  errors = _relative_errors(got, _at_inputs(exact, log_p, log_q))
  assert errors and max(errors) <= TOLERANCE, (str(expr), [f"{float(e):.1e}" for e in errors])


def test_half_powers_of_a_sum_take_one_square_root():
  """XLA:CPU's float32 pow is a library call (10× a square root): b^(n/2) for n = ±1, ±3 is
  √b, 1/√b, b√b or 1/(b√b); other exponents keep pow."""
  x = jnp.zeros(4, jnp.float32)
  for exponent, uses_pow in ((sp.Rational(1, 2), False), (sp.Rational(-3, 2), False),
                             (sp.Rational(5, 2), True), (sp.Rational(1, 3), True)):
    fn = log_space_function((1 + P**2)**exponent)
    used = {e.primitive.name for e in jax.make_jaxpr(fn)(x, x).jaxpr.eqns}
    assert ("pow" in used) == uses_pow, (exponent, used)


def test_a_log_takes_one_log1p_where_one_form_holds_at_both_ends():
  """log(2 - p) = log1p(q) and log(1 + p) = log1p(p) at every p; log(1 + p(1 - p)) vanishes at
  both ends and needs a form per end (a split evaluates both)."""
  x = jnp.full(4, -0.5, jnp.float32)
  for expr, count in ((sp.log(2 - P), 1), (sp.log(1 + P), 1), (sp.log(1 + P * (1 - P)), 2)):
    eqns = jax.make_jaxpr(log_space_function(expr))(x, x).jaxpr.eqns
    assert sum(e.primitive.name == "log1p" for e in eqns) == count, str(expr)


def test_python_number_parameter_exponent_is_compensated():
  """(1 - p)^γ with γ = 2.5 given as a Python number (static): compensated like a literal; a traced γ
  keeps exp(γ·log q), differentiable in γ."""
  log_p, log_q = _logs(_UNIT_LOGITS)
  fn = log_space_function((1 - P)**sp.Symbol("gamma") / P, ["gamma"])
  want = _at_inputs(lambda p, q: q**mpmath.mpf(2.5) / p, log_p, log_q)
  errors = _relative_errors(fn(log_p, log_q, gamma=2.5), want)
  assert max(errors) <= TOLERANCE, [f"{float(e):.1e}" for e in errors]
  d_gamma = jax.grad(lambda g: fn(log_p[:1], log_q[:1], gamma=g)[0])(2.5)
  np.testing.assert_allclose(d_gamma, float(want[0]) * float(log_q[0]), rtol=1e-5)  # q^γ/p · log q


def test_nonlinear_trig_argument_compiles_as_before():
  """sin(p²) and sin(e^p) are not rewritten in q (the rule needs a linear argument) and still compile."""
  log_p, log_q = _logs(_UNIT_LOGITS)
  for expr, exact in ((sp.sin(P**2), lambda p, q: mpmath.sin(p**2)),
                      (sp.cos(sp.exp(P)) * P, lambda p, q: mpmath.cos(mpmath.exp(p)) * p)):
    got = log_space_function(expr)(log_p, log_q)
    errors = _relative_errors(got, _at_inputs(exact, log_p, log_q))
    assert max(errors) <= TOLERANCE, str(expr)


def test_negative_power_at_p_zero_is_infinite():
  log_p = jnp.array([-jnp.inf, -300.0, -1.0], jnp.float32)
  got = log_space_function(P**sp.Rational(-1, 2))(log_p, jnp.zeros_like(log_p))
  np.testing.assert_allclose(np.asarray(got), [np.inf, np.inf, np.exp(0.5)], rtol=1e-7)


# --- through the sigmoid head: the runtime's injected gradient with the compiler's kernels ------

#: Logits over ±40, with 5 ≤ |z| ≤ 14 among them, where log σ(-|z|) is off by up to 4.8e-7 (log σ(-11)
#: by 4.6e-7) and exp(6·log p) carried it to 2.4e-6 for p⁶: whole powers of p and q are now
#: multiplied out from the other logarithm (`gradeng.runtime.integer_power`), which is exact there.
_LOGITS = np.array([-40, -30, -20, -17, -16, -14, -11, -9, -5, -3, -1, 0, 1, 3, 5, 9, 11, 14, 16, 17,
                    20, 30, 40], np.float32)

HEAD = {  # g(p): (a closed form of L(p) = ∫_p^1 -g in SymPy, the same and g in mpmath)
    "-sin(pi*p)/p": (None, None, lambda p: -mpmath.sin(mpmath.pi * p) / p),
    "-(1-p)**4/p": (None, None, lambda p: -(1 - p)**4 / p),
    "-p**5": ((1 - P**6) / 6, lambda p: (1 - p**6) / 6, lambda p: -p**5),
    "-sin(pi*p)": ((1 + sp.cos(sp.pi * P)) / sp.pi, lambda p: (1 + mpmath.cos(mpmath.pi * p)) / mpmath.pi,
                   lambda p: -mpmath.sin(mpmath.pi * p)),
    "-(1-p)**4": ((1 - P)**5 / 5, lambda p: (1 - p)**5 / 5, lambda p: -(1 - p)**4),
}


@pytest.mark.parametrize("g", list(HEAD))
def test_value_and_injected_gradient_at_extreme_logits(g):
  """L and dL/dz on the sigmoid head (`gradeng.runtime.apply_kernel`, as `ge.loss_from_coefficient`
  builds it) from w = p·g compiled here, and from L where it is elementary (Si(πp) and the Maki
  tail are not this compiler's: `test_stabilize`, `test_user_losses`)."""
  value_expr, value_ref, g_ref = HEAD[g]
  weight = log_space_function(weight_expression(expression(ge.coefficient(g))))
  value = log_space_function(value_expr if value_expr is not None else sp.Integer(0))
  kernel = Kernel(value, weight, g)

  def loss(z, y):
    return apply_kernel(kernel, z, y, head="sigmoid", params={})

  z = jnp.asarray(np.concatenate([_LOGITS, _LOGITS]))
  y = jnp.asarray(np.repeat([1, 0], _LOGITS.size), jnp.int32)
  values, grads = jax.jit(lambda z, y: (loss(z, y), jax.grad(lambda z: loss(z, y).sum())(z)))(z, y)
  # label 0 sees p_t = σ(-z), and dL/dz = -g(p_t)·p_t·(1 - p_t)
  signs = [1] * _LOGITS.size + [-1] * _LOGITS.size
  with mpmath.workdps(_DIGITS):
    p_t = [1 / (1 + mpmath.exp(-s * mpmath.mpf(float(x)))) for s, x in zip(signs, z)]
    want_grads = [s * g_ref(p) * p * (1 - p) for s, p in zip(signs, p_t)]
    want_values = [value_ref(p) for p in p_t] if value_ref is not None else None
  grad_errors = _relative_errors(grads, want_grads)
  assert max(grad_errors) <= TOLERANCE, (g, [f"{float(e):.1e}" for e in grad_errors])
  if want_values is not None:
    value_errors = _relative_errors(values, want_values)
    assert max(value_errors) <= TOLERANCE, (g, [f"{float(e):.1e}" for e in value_errors])
