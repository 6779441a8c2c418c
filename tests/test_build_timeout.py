"""Building a loss never blocks past its derivation time limit."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import gradeng as ge

FORMULA = "-log(1 + p**7 + sin(p)**3)/p**1.5"  # SymPy searches ~1 min and finds no closed form


def _reference(z):
  """(L, ∂L/∂z) at logit z, label 1, to 30 digits (p = σ(z) taken exactly, not rounded)."""
  with mp.workdps(30):
    p = 1 / (1 + mp.exp(-mp.mpf(z)))
    g = lambda t: -mp.log(1 + t**7 + mp.sin(t)**3) / t**1.5
    return float(mp.quad(lambda t: -g(t), [p, 1])), float(g(p) * p * (1 - p))


def test_a_slow_derivation_is_stopped_and_the_loss_built_on_quadrature(tmp_path, monkeypatch):
  monkeypatch.setenv("GRADENG_CACHE_DIR", str(tmp_path))  # nothing derived before
  loss = ge.loss_from_coefficient(ge.coefficient(FORMULA), derive_timeout=1.0)
  assert loss.forward_method.startswith("quadrature (SymPy stopped after 1 s")
  z = jnp.array([-40.0, -3.0, 0.0, 2.5, 40.0])
  y = jnp.ones_like(z)
  value, _ = np.array([_reference(float(v)) for v in z]).T
  np.testing.assert_allclose(loss(z, y), value, rtol=1e-5, atol=0)
  # Called with another limit, the loss is built again (the limit is part of the cache key).
  assert ge.loss_from_coefficient(ge.coefficient(FORMULA), derive_timeout=2.0).forward_method \
      .startswith("quadrature (SymPy stopped after 2 s")


def test_the_injected_gradient_of_a_log_of_one_plus_small_is_accurate():
  loss = ge.loss_from_coefficient(ge.coefficient(FORMULA), derive_timeout=1.0)
  z = jnp.array([-40.0, -3.0, 0.0, 2.5, 40.0])
  _, gradient = np.array([_reference(float(v)) for v in z]).T
  # The injected gradient is g(p)·p(1 - p), whatever the forward method.
  np.testing.assert_allclose(jax.grad(lambda v: loss(v, jnp.ones_like(v)).sum())(z), gradient,
                             rtol=1e-5, atol=0)
