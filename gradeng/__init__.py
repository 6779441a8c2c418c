"""gradeng: classification losses specified by their scale coefficient g(p) = dL/dp.

Kilbas & Paringer, "Gradient as a foundation for building a loss function" (2020): a loss is
fixed by g(p) = dL/dp and L(1) = 0. gradeng derives L symbolically, injects g as the exact
derivative of JAX losses, and ships a catalog (CE, focal, Maki, QCE, Poly-1, GCE).

``import gradeng`` loads only JAX and optax. The names that need SymPy or mpmath (deriving a
loss from a formula, the paper's gradient budget) are imported on first use.
"""

import importlib as _importlib

from gradeng.runtime._catalog import CATALOG as CATALOG
from gradeng.runtime._catalog import CROSS_ENTROPY as CROSS_ENTROPY
from gradeng.runtime._catalog import FOCAL as FOCAL
from gradeng.runtime._catalog import GCE as GCE
from gradeng.runtime._catalog import LOSSES as LOSSES
from gradeng.runtime._catalog import MAKI as MAKI
from gradeng.runtime._catalog import POLY1 as POLY1
from gradeng.runtime._catalog import QCE as QCE
from gradeng.runtime._catalog import cross_entropy_loss as cross_entropy_loss
from gradeng.runtime._catalog import focal_loss as focal_loss
from gradeng.runtime._catalog import gce_loss as gce_loss
from gradeng.runtime._catalog import get_coefficient as get_coefficient
from gradeng.runtime._catalog import maki_loss as maki_loss
from gradeng.runtime._catalog import poly1_loss as poly1_loss
from gradeng.runtime._catalog import qce_loss as qce_loss
from gradeng.runtime._coefficient import ScaleCoefficient as ScaleCoefficient
from gradeng.runtime._errors import InputError as InputError
from gradeng.runtime._losses import logit_weight as logit_weight
from gradeng.runtime._losses import loss_from_coefficient as loss_from_coefficient
from gradeng.runtime._losses import loss_from_gradient as loss_from_gradient
from gradeng.runtime._losses import loss_value as loss_value
from gradeng.runtime._losses import scale_coefficient as scale_coefficient
from gradeng.runtime._reductions import mean_over_elements as mean_over_elements
from gradeng.runtime._reductions import normalize_by_positives as normalize_by_positives
from gradeng.runtime._reductions import ohem_mask as ohem_mask
from gradeng.runtime._stateful import AdaptiveGammaState as AdaptiveGammaState
from gradeng.runtime._stateful import GHMState as GHMState
from gradeng.runtime._stateful import StatefulLoss as StatefulLoss
from gradeng.runtime._stateful import StepState as StepState
from gradeng.runtime._stateful import adaptive_gamma_coefficient as adaptive_gamma_coefficient
from gradeng.runtime._stateful import ghm_coefficient as ghm_coefficient
from gradeng.runtime._stateful import periodic_coefficient as periodic_coefficient
from gradeng.runtime._stateful import warmup_coefficient as warmup_coefficient

from gradeng.boxes._iou import box_iou as box_iou
from gradeng.boxes._iou import ciou_loss as ciou_loss
from gradeng.boxes._iou import decode_offsets as decode_offsets
from gradeng.boxes._iou import diou_loss as diou_loss
from gradeng.boxes._iou import giou_loss as giou_loss
from gradeng.boxes._iou import iou_loss as iou_loss
from gradeng.ordinal._ordinal import expected_class as expected_class
from gradeng.ordinal._ordinal import gaussian_label_distribution as gaussian_label_distribution
from gradeng.embedding._geometry import cosine_similarity_matrix as cosine_similarity_matrix
from gradeng.embedding._geometry import l2_normalize as l2_normalize
from gradeng.embedding._geometry import pairwise_distances as pairwise_distances
from gradeng.embedding._margins import arcface_logits as arcface_logits
from gradeng.embedding._margins import cosface_logits as cosface_logits
from gradeng.embedding._margins import cosine_logits as cosine_logits
from gradeng.embedding._margins import normface_logits as normface_logits
from gradeng.embedding._margins import sphereface_lambda as sphereface_lambda
from gradeng.embedding._margins import sphereface_logits as sphereface_logits
from gradeng.embedding._pairs import binomial_deviance_loss as binomial_deviance_loss
from gradeng.embedding._pairs import circle_loss as circle_loss
from gradeng.embedding._pairs import contrastive_loss as contrastive_loss
from gradeng.embedding._pairs import multi_similarity_loss as multi_similarity_loss
from gradeng.embedding._pairs import pair_loss as pair_loss
from gradeng.embedding._pairs import pair_masks as pair_masks
from gradeng.embedding._pairs import triplet_conditions as triplet_conditions
from gradeng.embedding._pairs import triplet_loss as triplet_loss
from gradeng.embedding._pairs import triplet_margin_loss as triplet_margin_loss
from gradeng.embedding._center import CenterState as CenterState
from gradeng.embedding._center import CenterLoss as CenterLoss
from gradeng.embedding._center import center_loss as center_loss
from gradeng.embedding._center import center_update as center_update
from gradeng.embedding._center import trained_center_loss as trained_center_loss

# name -> module: public names whose modules import SymPy/mpmath, loaded on first access.
_LAZY = {
    "FormulaError": "gradeng.symbolic._parse",
    "coefficient": "gradeng.symbolic._parse",
    "parse_formula": "gradeng.symbolic._parse",
    "NotJaxifiable": "gradeng.symbolic._jaxify",
    "Derivation": "gradeng.symbolic",
    "DivergentIntegralError": "gradeng.symbolic",
    "PropertyCheck": "gradeng.symbolic",
    "check_properties": "gradeng.symbolic",
    "derive": "gradeng.symbolic",
    "GradientBudget": "gradeng.paper._budget",
    "gradient_budget": "gradeng.paper._budget",
    "hard_share": "gradeng.paper._budget",
}


def __getattr__(name: str):
  if name in _LAZY:
    value = getattr(_importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
  raise AttributeError(f"module 'gradeng' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(_LAZY))


__all__ = [
    # catalog: coefficients and their losses
    "CATALOG", "LOSSES", "CROSS_ENTROPY", "FOCAL", "MAKI", "QCE", "POLY1", "GCE", "get_coefficient",
    "cross_entropy_loss", "focal_loss", "maki_loss", "qce_loss", "poly1_loss", "gce_loss",
    # the one path from a coefficient to a loss
    "ScaleCoefficient", "loss_from_coefficient", "loss_from_gradient",
    "logit_weight", "scale_coefficient", "loss_value",
    # formulas and derivation (SymPy, loaded on first use)
    "coefficient", "parse_formula", "derive", "Derivation", "check_properties", "PropertyCheck",
    # errors
    "InputError", "FormulaError", "DivergentIntegralError", "NotJaxifiable",
    # reductions (paper §3.3)
    "mean_over_elements", "normalize_by_positives", "ohem_mask",
    # coefficients with state (paper §7)
    "StatefulLoss", "StepState", "AdaptiveGammaState", "GHMState",
    "warmup_coefficient", "periodic_coefficient", "adaptive_gamma_coefficient", "ghm_coefficient",
    # the paper's gradient budget (§2.1)
    "GradientBudget", "gradient_budget", "hard_share",
    # other sub-packages' re-exports (their sections of the public API)
    "box_iou", "ciou_loss", "decode_offsets", "diou_loss", "giou_loss", "iou_loss",
    "expected_class", "gaussian_label_distribution",
    # embedding losses (issue 11): geometry, margin heads, pair weights, center loss
    "cosine_similarity_matrix", "l2_normalize", "pairwise_distances",
    "arcface_logits", "cosface_logits", "cosine_logits", "normface_logits",
    "sphereface_lambda", "sphereface_logits",
    "binomial_deviance_loss", "circle_loss", "contrastive_loss", "multi_similarity_loss",
    "pair_loss", "pair_masks", "triplet_conditions", "triplet_loss", "triplet_margin_loss",
    "CenterLoss", "CenterState", "center_loss", "center_update", "trained_center_loss",
]

# The learnable family (issue 13): `gradeng.symbolic._learned` imports SymPy, so loaded on first use.
_LEARNED = ("maki_mixture", "maki_mixture_loss", "weights_from_theta", "mixture_formula",
            "learned_coefficient")
_LAZY.update({name: "gradeng.symbolic._learned" for name in _LEARNED})
__all__ += list(_LEARNED)
