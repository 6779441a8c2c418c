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

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradeng.runtime._errors import InputError
from gradeng.runtime._coefficient import NONNEGATIVE, Domain, ScaleCoefficient
from gradeng.runtime._losses import loss_from_coefficient
from gradeng.runtime._special import maki_tail, power_from_log


def _ce_weight(log_p, log_q):
  return -jnp.ones_like(log_p)


def _ce_loss(log_p, log_q):
  return -log_p


def _power_of_q(log_q, gamma):
  """(1 - p)^γ with 0^0 = 1 (γ·log q would be 0·(-inf) at p = 1), the rounding of γ·log q
  compensated for a static γ (`power_from_log`)."""
  return power_from_log(log_q, gamma)


def _focal_weight(log_p, log_q, gamma):
  # w = γ p (1-p)^(γ-1) log p - (1-p)^γ; the first term as exp(log p + (γ-1) log q + log(-log p))
  # stays finite for γ < 1 as p → 1, where (1-p)^(γ-1) alone overflows. At p = 1 and p = 0
  # exactly (logits ±inf) it is 0 (p log p → 0), and it is evaluated at a harmless point there:
  # -inf + inf would be NaN, in the weight and in its derivative through `where`.
  ends = (log_p == 0) | (log_p == -jnp.inf)
  safe_log_p = jnp.where(ends, -1.0, log_p)
  safe_log_q = jnp.where(ends, -1.0, log_q)
  exponent = safe_log_p + (gamma - 1.0) * safe_log_q + jnp.log(-safe_log_p)
  first = jnp.where(ends, 0.0, gamma * jnp.exp(exponent))
  return -first - _power_of_q(log_q, gamma)


def _focal_loss(log_p, log_q, gamma):
  return -_power_of_q(log_q, gamma) * log_p


def _maki_weight(log_p, log_q, gamma):
  return -_power_of_q(log_q, gamma)


def _maki_loss(log_p, log_q, gamma):
  # q from log p where p ≥ 1/2 (`complement_probability`): its powers do not multiply the
  # rounding of log q (2.4e-6 for γ = 4 at log q = -11 otherwise).
  return maki_tail(log_p, log_q, gamma, complement=True)


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
  return maki_tail(log_p, log_q, 1, complement=True) + (1.0 + epsilon) * jnp.exp(log_q)


def _gce_weight(log_p, log_q, q):
  return -jnp.exp(q * log_p)


def _gce_loss(log_p, log_q, q):
  return -jnp.expm1(q * log_p) / q


CROSS_ENTROPY = ScaleCoefficient(
    name="ce", formula="-1/p", weight=_ce_weight, loss=_ce_loss,
    latex_name="CE", reference="cross-entropy",
)
FOCAL = ScaleCoefficient(
    name="focal",
    formula="gamma*(1-p)**(gamma-1)*log(p) - (1-p)**gamma/p",
    params={"gamma": NONNEGATIVE}, defaults={"gamma": 2.0},
    weight=_focal_weight, loss=_focal_loss, latex_name="Focal", reference="Lin et al. 2017",
)
MAKI = ScaleCoefficient(
    name="maki", formula="-(1-p)**gamma/p",
    params={"gamma": NONNEGATIVE}, defaults={"gamma": 1},
    weight=_maki_weight, loss=_maki_loss, latex_name="Maki", reference="Kilbas & Paringer 2020, §3.1",
)
QCE = ScaleCoefficient(
    name="qce", formula="log(p)/p", weight=_qce_weight, loss=_qce_loss,
    latex_name="QCE", reference="Kilbas & Paringer 2020, §3.2",
)
POLY1 = ScaleCoefficient(
    name="poly1", formula="-1/p - epsilon",
    params={"epsilon": Domain(lower=-1.0)}, defaults={"epsilon": 1.0},
    weight=_poly1_weight, loss=_poly1_loss, latex_name="Poly-1", reference="Leng et al. 2022",
)
GCE = ScaleCoefficient(
    name="gce", formula="-p**(q-1)",
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
    logits: float array. Sigmoid head: the shape of ``labels``; softmax head: ``[..., C]`` with
      the classes on ``axis``.
    labels: sigmoid head: ints/bools in {0, 1} or floats in [0, 1] (soft labels, see
      ``soft_labels``). Softmax head: integer class indices ``[...]`` in {0, …, C-1}, or float
      target distributions ``[..., C]`` (one-hot, label-smoothed, soft) whose rows are ≥ 0 and
      sum to 1.
    head: ``"sigmoid"`` (binary / multi-label) or ``"softmax"`` (multi-class).
    alpha: class weighting: sigmoid head, α ∈ [0, 1] for positives and 1 - α for negatives
      (scalar or broadcastable); softmax head, a scalar factor or a ``[C]`` vector of per-class
      weights.
    where: optional boolean mask; masked entries give 0 loss and 0 gradient. Softmax head: of the
      per-example shape ``[...]``, or of the logits' shape, where false excludes that class from
      the softmax (optax's convention).
    ignore_index: softmax head, integer labels: a label value whose rows are masked out.
    **options: ``axis`` (softmax class axis), ``broadcast`` (allow shapes that broadcast),
      ``soft_labels`` (sigmoid float labels: ``"mixture"``, y·L(p) + (1 - y)·L(1 - p) as
      kornia, or ``"modulated"``, the kernel's modulation times BCE as
      optax/torchvision/Keras' focal loss); see `gradeng.runtime.apply_kernel`.

  Returns:
    Per-element losses: the shape of ``logits`` (sigmoid) or ``logits`` without the class axis
    (softmax); the caller reduces (e.g. `gradeng.normalize_by_positives`).
"""


def _with_common_args(fn: Callable) -> Callable:
  # Under ``python -OO`` docstrings are None: nothing to append to.
  if fn.__doc__ is not None:
    summary, _, example = fn.__doc__.partition("\n  Example:")
    fn.__doc__ = summary.rstrip() + "\n" + _COMMON_ARGS + "\n  Example:" + example
  return fn


def _catalog_loss(coefficient, logits, labels, head, alpha, where, ignore_index, options, **params):
  return loss_from_coefficient(coefficient, head=head, **params)(
      logits, labels, alpha=alpha, where=where, ignore_index=ignore_index, **options)


@_with_common_args
def cross_entropy_loss(logits: ArrayLike, labels: ArrayLike, *, head: str = "sigmoid",
                       alpha: ArrayLike | None = None, where: ArrayLike | None = None,
                       ignore_index: int | None = None, **options: Any) -> jax.Array:
  """Cross-entropy: g(p) = -1/p, L = -log p, w = p·g = -1.

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> ge.cross_entropy_loss(jnp.array([0.0, 2.0]), jnp.array([1, 0]))  # log 2, log(1 + e^2)
    Array([0.6931472, 2.126928 ], dtype=float32)
  """
  return _catalog_loss(CROSS_ENTROPY, logits, labels, head, alpha, where, ignore_index, options)


@_with_common_args
def focal_loss(logits: ArrayLike, labels: ArrayLike, *, gamma: ArrayLike = 2.0,
               head: str = "sigmoid", alpha: ArrayLike | None = None,
               where: ArrayLike | None = None, ignore_index: int | None = None,
               **options: Any) -> jax.Array:
  """Focal loss (Lin et al. 2017), L = -(1-p)^γ log p, γ ≥ 0.

  .. math:: g(p) = γ(1-p)^{γ-1}\\log p - \\frac{(1-p)^γ}{p}

  ``head="softmax"`` gives the multi-class focal loss (p_t = softmax(z)_y).

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> ge.focal_loss(jnp.array([0.0]), jnp.array([1]), gamma=2.0)  # (1/2)^2 log 2
    Array([0.1732868], dtype=float32)
  """
  return _catalog_loss(FOCAL, logits, labels, head, alpha, where, ignore_index, options, gamma=gamma)


@_with_common_args
def maki_loss(logits: ArrayLike, labels: ArrayLike, *, gamma: ArrayLike = 1,
              head: str = "sigmoid", alpha: ArrayLike | None = None,
              where: ArrayLike | None = None, ignore_index: int | None = None,
              **options: Any) -> jax.Array:
  """Maki loss (Kilbas & Paringer 2020, §3.1), for any real γ ≥ 0.

  .. math::
    g(p) = -\\frac{(1-p)^γ}{p}, \\qquad
    L(p) = \\sum_{j>γ} \\frac{(1-p)^j}{j} \\;(γ \\in \\mathbb{N}_0)
         = \\frac{(1-p)^{γ+1}}{γ+1}\\,{}_2F_1(1, γ+1; γ+2; 1-p).

  γ = 0 is cross-entropy, γ = 1 the paper's MCE (= PolyLoss-1 with ε = -1). Evaluated by
  `gradeng.runtime.maki_tail`, never by the paper's alternating binomial sum.

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> ge.maki_loss(jnp.array([0.0]), jnp.array([1]), gamma=1)  # log 2 - 1/2
    Array([0.19314718], dtype=float32)
  """
  return _catalog_loss(MAKI, logits, labels, head, alpha, where, ignore_index, options, gamma=gamma)


@_with_common_args
def qce_loss(logits: ArrayLike, labels: ArrayLike, *, head: str = "sigmoid",
             alpha: ArrayLike | None = None, where: ArrayLike | None = None,
             ignore_index: int | None = None, **options: Any) -> jax.Array:
  """Quadratic cross-entropy (Kilbas & Paringer 2020, §3.2): g = log(p)/p, L = log²(p)/2.

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> ge.qce_loss(jnp.array([0.0]), jnp.array([1]))  # log(2)^2 / 2
    Array([0.2402265], dtype=float32)
  """
  return _catalog_loss(QCE, logits, labels, head, alpha, where, ignore_index, options)


@_with_common_args
def poly1_loss(logits: ArrayLike, labels: ArrayLike, *, epsilon: ArrayLike = 1.0,
               head: str = "sigmoid", alpha: ArrayLike | None = None,
               where: ArrayLike | None = None, ignore_index: int | None = None,
               **options: Any) -> jax.Array:
  """Poly-1 loss (Leng et al. 2022): L = -log p + ε(1 - p), g = -1/p - ε, ε ≥ -1.

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> ge.poly1_loss(jnp.array([0.0]), jnp.array([1]), epsilon=1.0)  # log 2 + 1/2
    Array([1.1931472], dtype=float32)
  """
  return _catalog_loss(POLY1, logits, labels, head, alpha, where, ignore_index, options,
                       epsilon=epsilon)


@_with_common_args
def gce_loss(logits: ArrayLike, labels: ArrayLike, *, q: ArrayLike = 0.7, head: str = "sigmoid",
             alpha: ArrayLike | None = None, where: ArrayLike | None = None,
             ignore_index: int | None = None, **options: Any) -> jax.Array:
  """Generalized cross-entropy (Zhang & Sabuncu 2018): L = (1 - p^q)/q, g = -p^{q-1}, q ∈ (0, 1].

  Example:
    >>> import gradeng as ge, jax.numpy as jnp
    >>> ge.gce_loss(jnp.array([0.0]), jnp.array([1]), q=1.0)  # 1 - 1/2
    Array([0.5], dtype=float32)
  """
  return _catalog_loss(GCE, logits, labels, head, alpha, where, ignore_index, options, q=q)


#: name -> catalog loss function.
LOSSES = {
    "ce": cross_entropy_loss, "focal": focal_loss, "maki": maki_loss,
    "qce": qce_loss, "poly1": poly1_loss, "gce": gce_loss,
}
