"""The catalog: classification losses as data (scale coefficients) plus the one path to a loss.

Each entry gives g(p) symbolically and its log-space weight w = p·g and loss L written to be
finite and accurate over the whole range of logits (no 0·∞, no 1 - p formed from p, no
cancellation). The SymPy derivations of the same coefficients are checked against these forms
in the tests and in ``derivations/``.

References:
  Kilbas, I.A., Paringer, R.A. "Gradient as a foundation for building a loss function" (2020).
  Lin, T.-Y. et al. "Focal loss for dense object detection", ICCV 2017.
  Leng, Z. et al. "PolyLoss: a polynomial expansion perspective of classification loss
  functions", ICLR 2022.
  Zhang, Z., Sabuncu, M. "Generalized cross entropy loss for training deep neural networks with
  noisy labels", NeurIPS 2018.
"""

from __future__ import annotations

import jax.numpy as jnp

from gradeng.runtime._errors import InputError
from gradeng.runtime._coefficient import NONNEGATIVE, Domain, ScaleCoefficient
from gradeng.runtime._losses import loss_from_coefficient
from gradeng.runtime._special import maki_tail
from gradeng.runtime._variable import PROBABILITY


# g(p) symbolically, built on first use of a coefficient's `expr` (derivations, reports, LaTeX):
# the losses below run on the hand-written log-space forms and never import SymPy.


def _ce_g():
  return -1 / PROBABILITY.symbol


def _focal_g():
  import sympy as sp

  p, gamma = PROBABILITY.symbol, sp.Symbol("gamma", nonnegative=True)
  return gamma * (1 - p) ** (gamma - 1) * sp.log(p) - (1 - p) ** gamma / p


def _maki_g():
  import sympy as sp

  p, gamma = PROBABILITY.symbol, sp.Symbol("gamma", nonnegative=True)
  return -(1 - p) ** gamma / p


def _qce_g():
  import sympy as sp

  p = PROBABILITY.symbol
  return sp.log(p) / p


def _poly1_g():
  import sympy as sp

  p, epsilon = PROBABILITY.symbol, sp.Symbol("epsilon", real=True)
  return -1 / p - epsilon


def _gce_g():
  import sympy as sp

  p, q = PROBABILITY.symbol, sp.Symbol("q", positive=True)
  return -p ** (q - 1)


def _ce_weight(log_p, log_q):
  return -jnp.ones_like(log_p)


def _ce_loss(log_p, log_q):
  return -log_p


def _power_of_q(log_q, gamma):
  """(1 - p)^γ with 0^0 = 1 (γ·log q would be 0·(-inf) at p = 1)."""
  return jnp.exp(jnp.where(gamma == 0, 0.0, gamma * log_q))


def _focal_weight(log_p, log_q, gamma):
  # w = γ p (1-p)^(γ-1) log p - (1-p)^γ; the first term as exp(log p + (γ-1) log q + log(-log p))
  # stays finite for γ < 1 as p → 1, where (1-p)^(γ-1) alone overflows; at p = 1 exactly it is 0.
  exponent = log_p + (gamma - 1.0) * log_q + jnp.log(-log_p)
  first = gamma * jnp.exp(jnp.where(log_p == 0, -jnp.inf, exponent))
  return -first - _power_of_q(log_q, gamma)


def _focal_loss(log_p, log_q, gamma):
  return -_power_of_q(log_q, gamma) * log_p


def _maki_weight(log_p, log_q, gamma):
  return -_power_of_q(log_q, gamma)


def _maki_loss(log_p, log_q, gamma):
  return maki_tail(log_p, log_q, gamma)


def _qce_weight(log_p, log_q):
  return log_p


def _qce_loss(log_p, log_q):
  return 0.5 * jnp.square(log_p)


def _poly1_weight(log_p, log_q, epsilon):
  # w = -1 - εp; for ε < 0 written as -(1 + ε) + ε(1 - p) so both terms share a sign
  # (at ε = -1, w = -(1 - p) must not be formed as -1 + p).
  return jnp.where(epsilon >= 0, -1.0 - epsilon * jnp.exp(log_p),
                   -(1.0 + epsilon) + epsilon * jnp.exp(log_q))


def _poly1_loss(log_p, log_q, epsilon):
  # -log p + ε(1 - p) = [-log p - (1 - p)] + (1 + ε)(1 - p); the bracket is Maki γ=1 (stable).
  return maki_tail(log_p, log_q, 1) + (1.0 + epsilon) * jnp.exp(log_q)


def _gce_weight(log_p, log_q, q):
  return -jnp.exp(q * log_p)


def _gce_loss(log_p, log_q, q):
  return -jnp.expm1(q * log_p) / q


CROSS_ENTROPY = ScaleCoefficient(
    name="ce", expr=_ce_g, weight=_ce_weight, loss=_ce_loss,
    latex_name="CE", reference="cross-entropy",
)
FOCAL = ScaleCoefficient(
    name="focal",
    expr=_focal_g,
    params={"gamma": NONNEGATIVE}, defaults={"gamma": 2.0},
    weight=_focal_weight, loss=_focal_loss, latex_name="Focal", reference="Lin et al. 2017",
)
MAKI = ScaleCoefficient(
    name="maki", expr=_maki_g,
    params={"gamma": NONNEGATIVE}, defaults={"gamma": 1},
    weight=_maki_weight, loss=_maki_loss, latex_name="Maki", reference="Kilbas & Paringer 2020, §3.1",
)
QCE = ScaleCoefficient(
    name="qce", expr=_qce_g, weight=_qce_weight, loss=_qce_loss,
    latex_name="QCE", reference="Kilbas & Paringer 2020, §3.2",
)
POLY1 = ScaleCoefficient(
    name="poly1", expr=_poly1_g,
    params={"epsilon": Domain(lower=-1.0)}, defaults={"epsilon": 1.0},
    weight=_poly1_weight, loss=_poly1_loss, latex_name="Poly-1", reference="Leng et al. 2022",
)
GCE = ScaleCoefficient(
    name="gce", expr=_gce_g,
    params={"q": Domain(lower=0.0, upper=1.0, lower_open=True)}, defaults={"q": 0.7},
    weight=_gce_weight, loss=_gce_loss, latex_name="GCE", reference="Zhang & Sabuncu 2018",
)

#: name -> coefficient, for every catalog loss.
CATALOG: dict[str, ScaleCoefficient] = {
    c.name: c for c in (CROSS_ENTROPY, FOCAL, MAKI, QCE, POLY1, GCE)
}


def get_coefficient(name_or_coefficient: str | ScaleCoefficient) -> ScaleCoefficient:
  """A catalog coefficient by name (``"ce"``, ``"focal"``, …), or the coefficient itself."""
  if isinstance(name_or_coefficient, ScaleCoefficient):
    return name_or_coefficient
  try:
    return CATALOG[name_or_coefficient]
  except KeyError:
    raise InputError(
        f"Unknown loss {name_or_coefficient!r}; the catalog has {sorted(CATALOG)}."
    ) from None


_COMMON_ARGS = """
  Args:
    logits: float array; sigmoid head: same shape as (or broadcastable with) ``labels``;
      softmax head: ``[..., C]``.
    labels: sigmoid head: ints in {0, 1} or floats in [0, 1]; softmax head: ints in {0..C-1}.
    head: ``"sigmoid"`` or ``"softmax"``.
    alpha: focal-style class weighting: a scalar α for positives (1 - α for negatives) with the
      sigmoid head, a ``[C]`` vector with the softmax head.
    where: optional boolean mask of the per-element losses.
    ignore_index: softmax head only: label value to mask out.
    **options: ``axis``, ``broadcast``, ``soft_labels`` (see `gradeng.runtime._inject.apply_kernel`:
      soft sigmoid labels default to y·L(p) + (1 - y)·L(1 - p) as kornia; ``"modulated"`` gives
      optax/torchvision/Keras' (1 - p_t)^γ·BCE(y) for focal loss), and softmax-head soft targets.

  Returns:
    Per-element losses (the caller reduces, e.g. with `normalize_by_positives`)."""


def _catalog_loss(coefficient, logits, labels, head, alpha, where, ignore_index, options=None, **params):
  return loss_from_coefficient(coefficient, head=head, **params)(
      logits, labels, alpha=alpha, where=where, ignore_index=ignore_index, **(options or {}))


def cross_entropy_loss(logits, labels, *, head="sigmoid", alpha=None, where=None, ignore_index=None, **options):
  """Cross-entropy, g(p) = -1/p, L = -log p."""
  return _catalog_loss(CROSS_ENTROPY, logits, labels, head, alpha, where, ignore_index, options)


def focal_loss(logits, labels, *, gamma=2.0, head="sigmoid", alpha=None, where=None, ignore_index=None, **options):
  """Focal loss (Lin et al. 2017), L = -(1-p)^γ log p.

  .. math:: g(p) = γ(1-p)^{γ-1}\\log p - \\frac{(1-p)^γ}{p}

  ``head="softmax"`` gives the multi-class focal loss (p_t = softmax(z)_y).
  """
  return _catalog_loss(FOCAL, logits, labels, head, alpha, where, ignore_index, options, gamma=gamma)


def maki_loss(logits, labels, *, gamma=1, head="sigmoid", alpha=None, where=None, ignore_index=None, **options):
  """Maki loss (Kilbas & Paringer 2020, §3.1), for any real γ ≥ 0.

  .. math::
    g(p) = -\\frac{(1-p)^γ}{p}, \\qquad
    L(p) = \\sum_{j>γ} \\frac{(1-p)^j}{j} \\;(γ \\in \\mathbb{N}_0)
         = \\frac{(1-p)^{γ+1}}{γ+1}\\,{}_2F_1(1, γ+1; γ+2; 1-p).

  γ = 0 is cross-entropy, γ = 1 the paper's MCE (= PolyLoss-1 with ε = -1). Evaluated by
  `gradeng.runtime._special.maki_tail`, never by the paper's alternating binomial sum.
  """
  return _catalog_loss(MAKI, logits, labels, head, alpha, where, ignore_index, options, gamma=gamma)


def qce_loss(logits, labels, *, head="sigmoid", alpha=None, where=None, ignore_index=None, **options):
  """Quadratic cross-entropy (Kilbas & Paringer 2020, §3.2): g = log(p)/p, L = log²(p)/2."""
  return _catalog_loss(QCE, logits, labels, head, alpha, where, ignore_index, options)


def poly1_loss(logits, labels, *, epsilon=1.0, head="sigmoid", alpha=None, where=None, ignore_index=None, **options):
  """Poly-1 loss (Leng et al. 2022): L = -log p + ε(1 - p), g = -1/p - ε, ε ≥ -1."""
  return _catalog_loss(POLY1, logits, labels, head, alpha, where, ignore_index, options, epsilon=epsilon)


def gce_loss(logits, labels, *, q=0.7, head="sigmoid", alpha=None, where=None, ignore_index=None, **options):
  """Generalized cross-entropy (Zhang & Sabuncu 2018): L = (1 - p^q)/q, g = -p^{q-1}, q ∈ (0, 1]."""
  return _catalog_loss(GCE, logits, labels, head, alpha, where, ignore_index, options, q=q)


for _fn in (cross_entropy_loss, focal_loss, maki_loss, qce_loss, poly1_loss, gce_loss):
  _fn.__doc__ += _COMMON_ARGS

#: name -> catalog loss function.
LOSSES = {
    "ce": cross_entropy_loss, "focal": focal_loss, "maki": maki_loss,
    "qce": qce_loss, "poly1": poly1_loss, "gce": gce_loss,
}
