"""The injection rule as JAX sees it: static hyper-parameters, building under jit, no host copies."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradeng as ge
from gradeng.runtime._inject import _reads_log_q
from gradeng.runtime import coefficient_kernel

Z = jnp.linspace(-8.0, 8.0, 8)
Y = jnp.array([0, 1, 1, 0, 1, 0, 1, 1])


def _count(jaxpr) -> int:
  """Equations of a jaxpr including those of nested jaxprs (custom_jvp bodies, pjit)."""
  n = len(jaxpr.eqns)
  for eqn in jaxpr.eqns:
    for param in eqn.params.values():
      for sub in param if isinstance(param, (list, tuple)) else [param]:
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          n += _count(inner)
  return n


def test_concrete_gamma_is_static_in_the_forward_jaxpr():
  # a Python γ = 1 used to enter the rule as a traced input and take the real-γ path
  # (578 equations with digamma and 32 expm1); static, Maki γ = 1 is its own short special case,
  # with one expm1: q = -expm1(log p) (`gradeng.runtime.complement_probability`).
  jaxpr = jax.make_jaxpr(lambda z, y: ge.maki_loss(z, y, gamma=1).sum())(Z, Y)
  text = str(jaxpr)
  assert "digamma" not in text and text.count("expm1") == 1
  assert _count(jaxpr.jaxpr) < 200
  # A traced γ is an input of the rule and takes the general path.
  traced = jax.make_jaxpr(lambda z, y, g: ge.maki_loss(z, y, gamma=g).sum())(Z, Y, 1.0)
  assert "digamma" in str(traced)


def test_user_formula_loss_built_inside_jit():
  # the SymPy derivation and its float64 check ran np.asarray on staged values.
  coefficient = ge.coefficient("-(1-p)**gamma/p")

  @jax.jit
  def f(z, y):
    return ge.loss_from_coefficient(coefficient, gamma=2)(z, y)

  np.testing.assert_allclose(f(Z, Y), ge.maki_loss(Z, Y, gamma=2), rtol=2e-6)
  loss = ge.loss_from_coefficient(coefficient, gamma=2)
  assert loss.forward_method.startswith("closed form")


def test_eager_calls_do_not_copy_device_arrays_to_the_host():
  where = jnp.array([True] * 7 + [False])
  alpha = jnp.float32(0.25)
  with jax.transfer_guard_device_to_host("disallow"):
    ge.focal_loss(Z, Y, alpha=alpha, where=where)
    ge.maki_loss(jnp.zeros((8, 3)), jnp.array([0, 1, 2, 0, 1, 2, 0, 1]), head="softmax",
                 alpha=jnp.ones(3), where=where)
    ge.cross_entropy_loss(jnp.zeros((8, 3)), jnp.full((8, 3), 1 / 3), head="softmax")


def test_a_kernel_says_whether_it_reads_log_q():
  ce, _ = coefficient_kernel(ge.CROSS_ENTROPY, {})
  maki, _ = coefficient_kernel(ge.MAKI, {"gamma": 2})
  assert not _reads_log_q(ce, (), ())
  assert _reads_log_q(maki, (("gamma", 2),), ())


# One compilation of the traced-γ program for every γ below.
_traced_gamma_value_and_grad = jax.jit(jax.value_and_grad(lambda z, y, g: ge.maki_loss(z, y, gamma=g).sum()))


@pytest.mark.parametrize("gamma", [0, 1, 2.5])
def test_static_and_traced_gamma_give_the_same_values_and_gradients(gamma):
  z = jnp.linspace(-30.0, 30.0, 13)
  y = (jnp.arange(13) % 2).astype(jnp.int32)
  static = jax.jit(jax.value_and_grad(lambda z: ge.maki_loss(z, y, gamma=gamma).sum()))(z)
  traced = _traced_gamma_value_and_grad(z, y, float(gamma))
  np.testing.assert_allclose(static[0], traced[0], rtol=1e-5)
  np.testing.assert_allclose(static[1], traced[1], rtol=1e-5, atol=1e-30)


def test_softmax_head_stores_no_class_sized_array_but_the_gradient():
  """Forward+backward of the softmax head writes one [N, C] array, the gradient: Σ_{j≠y} e_j and
  z_y come from one fused variadic reduction and the backward pass recomputes e_j. A stored copy
  of the exponentials (and, before, of their masked sum's input) cost one or two more writes and
  reads of [N, C], 1.1-1.8× optax's time; optax itself stores three. CE and Maki γ = 1 (which
  also reads log(1 - p_t)) in one program, one compilation."""
  def objective(z, y):
    return jnp.mean(ge.cross_entropy_loss(z, y, head="softmax") + ge.maki_loss(z, y, head="softmax"))

  compiled = jax.jit(jax.value_and_grad(objective)).lower(jnp.zeros((64, 5)), jnp.zeros(64, jnp.int32))
  entry = compiled.compile().as_text().partition("ENTRY")[2]
  stored = [line for line in entry.splitlines()
            if re.match(r"\s*%\S+ = f32\[64,5\]", line) and "parameter(" not in line]
  assert len(stored) == 1, stored
