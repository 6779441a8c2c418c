"""gradeng: classification losses specified by their scale coefficient g(p) = dL/dp.

Kilbas & Paringer, "Gradient as a foundation for building a loss function" (2020): a loss is
fixed by g(p) = dL/dp and L(1) = 0. gradeng derives L symbolically, injects g as the exact
derivative of JAX losses, and ships a catalog (CE, focal, Maki, QCE, Poly-1, GCE).

The top level holds the catalog, the one path from a coefficient to a loss, reductions and
stateful coefficients (the runtime: JAX only), and the entry points of the symbolic side
(`coefficient`, `derive`), which import SymPy on first use. The rest is grouped:
`gradeng.embedding` (pair and triplet weights, margin heads, center loss), `gradeng.boxes`
(IoU family), `gradeng.ordinal`, `gradeng.longtail` (class-level re-weighting for long-tailed
data), `gradeng.symbolic` (parse, derive, verify, compile),
`gradeng.runtime` (kernels, injection, special functions), `gradeng.paper` (the paper's budget,
figures and reports).

Two sides: the runtime (`gradeng.runtime`, `embedding`, `boxes`, `ordinal`, `longtail`) imports
JAX only; the symbolic side (`gradeng.symbolic`, with the loss card in `gradeng.symbolic.card`)
and what builds on it (`paper`, `experiments`, with `evaluate` in
`gradeng.experiments.evaluation`, and `cli`) may import SymPy, mpmath and the runtime, never the
reverse.
"""

import importlib as _importlib

from gradeng import boxes as boxes
from gradeng import embedding as embedding
from gradeng import longtail as longtail
from gradeng import ordinal as ordinal
from gradeng import runtime as runtime
from gradeng.runtime import CATALOG as CATALOG
from gradeng.runtime import CROSS_ENTROPY as CROSS_ENTROPY
from gradeng.runtime import FOCAL as FOCAL
from gradeng.runtime import GCE as GCE
from gradeng.runtime import LOSSES as LOSSES
from gradeng.runtime import MAKI as MAKI
from gradeng.runtime import POLY1 as POLY1
from gradeng.runtime import QCE as QCE
from gradeng.runtime import cross_entropy_loss as cross_entropy_loss
from gradeng.runtime import focal_loss as focal_loss
from gradeng.runtime import gce_loss as gce_loss
from gradeng.runtime import get_coefficient as get_coefficient
from gradeng.runtime import maki_loss as maki_loss
from gradeng.runtime import poly1_loss as poly1_loss
from gradeng.runtime import qce_loss as qce_loss
from gradeng.runtime import Domain as Domain
from gradeng.runtime import ScaleCoefficient as ScaleCoefficient
from gradeng.runtime import DivergentIntegralError as DivergentIntegralError
from gradeng.runtime import InputError as InputError
from gradeng.runtime import learned_coefficient as learned_coefficient
from gradeng.runtime import maki_mixture as maki_mixture
from gradeng.runtime import maki_mixture_loss as maki_mixture_loss
from gradeng.runtime import mixture_formula as mixture_formula
from gradeng.runtime import weights_from_theta as weights_from_theta
from gradeng.runtime import logit_weight as logit_weight
from gradeng.runtime import loss_from_coefficient as loss_from_coefficient
from gradeng.runtime import loss_from_gradient as loss_from_gradient
from gradeng.runtime import loss_value as loss_value
from gradeng.runtime import scale_coefficient as scale_coefficient
from gradeng.runtime import mean_over_elements as mean_over_elements
from gradeng.runtime import normalize_by_positives as normalize_by_positives
from gradeng.runtime import ohem_mask as ohem_mask
from gradeng.runtime import AdaptiveGammaState as AdaptiveGammaState
from gradeng.runtime import GHMState as GHMState
from gradeng.runtime import StatefulLoss as StatefulLoss
from gradeng.runtime import StepState as StepState
from gradeng.runtime import adaptive_gamma_coefficient as adaptive_gamma_coefficient
from gradeng.runtime import ghm_coefficient as ghm_coefficient
from gradeng.runtime import periodic_coefficient as periodic_coefficient
from gradeng.runtime import warmup_coefficient as warmup_coefficient

#: The symbolic side's entry points: `gradeng.symbolic` imports SymPy, so they load on first use
#: (``import gradeng`` stays JAX-only).
_SYMBOLIC = ("coefficient", "parse_formula", "derive", "Derivation", "check_properties",
             "PropertyCheck", "FormulaError", "NotJaxifiable")
#: `gradeng.experiments.evaluation.evaluate` (it trains through the experiments): loaded on
#: first use.
_EVALUATION = ("evaluate",)
#: Sub-packages loaded on first use (SymPy, matplotlib).
_SUBPACKAGES = ("symbolic", "paper")


def __getattr__(name: str):
  if name in _SYMBOLIC:
    value = getattr(_importlib.import_module("gradeng.symbolic"), name)
  elif name in _EVALUATION:
    value = getattr(_importlib.import_module("gradeng.experiments.evaluation"), name)
  elif name in _SUBPACKAGES:
    value = _importlib.import_module(f"gradeng.{name}")
  else:
    raise AttributeError(f"module 'gradeng' has no attribute {name!r}")
  globals()[name] = value  # later lookups skip this function
  return value


def __dir__():
  return sorted(set(globals()) | set(_SYMBOLIC) | set(_EVALUATION) | set(_SUBPACKAGES))


__all__ = [
    # catalog: coefficients and their losses
    "CATALOG", "LOSSES", "CROSS_ENTROPY", "FOCAL", "MAKI", "QCE", "POLY1", "GCE", "get_coefficient",
    "cross_entropy_loss", "focal_loss", "maki_loss", "qce_loss", "poly1_loss", "gce_loss",
    # the one path from a coefficient to a loss
    "ScaleCoefficient", "Domain", "loss_from_coefficient", "loss_from_gradient",
    "logit_weight", "scale_coefficient", "loss_value",
    # formulas and derivation (gradeng.symbolic, loaded on first use)
    "coefficient", "parse_formula", "derive", "Derivation", "check_properties", "PropertyCheck",
    # errors
    "InputError", "FormulaError", "DivergentIntegralError", "NotJaxifiable",
    # reductions (paper §3.3)
    "mean_over_elements", "normalize_by_positives", "ohem_mask",
    # coefficients with state (paper §7)
    "StatefulLoss", "StepState", "AdaptiveGammaState", "GHMState",
    "warmup_coefficient", "periodic_coefficient", "adaptive_gamma_coefficient", "ghm_coefficient",
    # the learnable family: non-negative mixtures of the Maki basis
    "maki_mixture", "maki_mixture_loss", "weights_from_theta", "mixture_formula",
    "learned_coefficient",
    # evaluate a loss against baselines through the experiments (loaded on first use)
    "evaluate",
    # grouped sub-packages
    "runtime", "symbolic", "embedding", "boxes", "ordinal", "longtail", "paper",
]
