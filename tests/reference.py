"""High-precision (mpmath, 50 digits: the suite's precision, set in ``tests/conftest.py``)
references for the catalog losses: L(p) and g(p); and symbolic equality of two forms (`same`).

Written from the textbook formulas, independently of gradeng's log-space kernels.
"""

from __future__ import annotations

import mpmath as mp
import sympy as sp


def _maki(p, q, gamma):
  a = mp.mpf(gamma) + 1
  return q**a / a * mp.hyp2f1(1, a, a + 1, q)


#: name -> (L(p, q, **params), g(p, q, **params)), q = 1 - p passed separately.
LOSS_AND_COEFFICIENT = {
    "ce": (lambda p, q: -mp.log(p), lambda p, q: -1 / p),
    "focal": (
        lambda p, q, gamma: -(q**gamma) * mp.log(p),
        lambda p, q, gamma: gamma * q ** (gamma - 1) * mp.log(p) - q**gamma / p,
    ),
    "maki": (_maki, lambda p, q, gamma: -(q**gamma) / p),
    "qce": (lambda p, q: mp.log(p) ** 2 / 2, lambda p, q: mp.log(p) / p),
    "poly1": (
        lambda p, q, epsilon: -mp.log(p) + epsilon * q,
        lambda p, q, epsilon: -1 / p - epsilon,
    ),
    "gce": (lambda p, q, q_: (1 - p**q_) / q_, lambda p, q, q_: -(p ** (q_ - 1))),
}


def _rename(params):
  return {("q_" if k == "q" else k): mp.mpf(v) for k, v in params.items()}


def sigmoid_reference(name, z, y, params):
  """(L, dL/dz) for a sigmoid head at float logit z and hard label y ∈ {0, 1}."""
  loss, coefficient = LOSS_AND_COEFFICIENT[name]
  z = mp.mpf(float(z))
  s = 1 if y == 1 else -1
  p_t = 1 / (1 + mp.exp(-s * z))
  q_t = 1 / (1 + mp.exp(s * z))
  kw = _rename(params)
  value = loss(p_t, q_t, **kw)
  grad = coefficient(p_t, q_t, **kw) * p_t * q_t * s
  return value, grad


def softmax_reference(name, z_row, y, params):
  """(L, dL/dz [C]) for a softmax head at one row of float logits and label y."""
  loss, coefficient = LOSS_AND_COEFFICIENT[name]
  z = [mp.mpf(float(v)) for v in z_row]
  top = max(z)
  e = [mp.exp(v - top) for v in z]
  total = mp.fsum(e)
  probs = [v / total for v in e]
  p_t = probs[y]
  q_t = mp.fsum(probs[j] for j in range(len(z)) if j != y)
  kw = _rename(params)
  value = loss(p_t, q_t, **kw)
  g = coefficient(p_t, q_t, **kw)
  grad = [g * p_t * ((q_t if j == y else -probs[j])) for j in range(len(z))]
  return value, grad


def relative_errors(got, want, *, tiny=1.1754944e-38):
  """|got - want| / |want| where want is a normal float32 (else None, to be skipped)."""
  out = []
  for g, w in zip(got, want):
    if abs(w) < tiny * 1e1 or abs(w) > 3.0e38:
      out.append(None)
    else:
      out.append(float(abs((mp.mpf(float(g)) - w) / w)))
  return out


def same(a, b) -> bool:
  """Symbolic equality on (0, 1) (p is positive)."""
  return sp.simplify(sp.expand_func(a - b)) == 0
