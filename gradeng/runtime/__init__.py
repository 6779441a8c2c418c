"""The runtime: JAX only. Scale coefficients and their kernels, the injected derivative and the
heads, special functions, the catalog, stateful coefficients and reductions.

Never imports SymPy or mpmath: `gradeng.symbolic` builds kernels for it ahead of time."""

from gradeng.runtime._errors import InputError as InputError
from gradeng.runtime._coefficient import ScaleCoefficient as ScaleCoefficient
from gradeng.runtime._coefficient import Domain as Domain
from gradeng.runtime._coefficient import REAL as REAL
from gradeng.runtime._coefficient import NONNEGATIVE as NONNEGATIVE
from gradeng.runtime._coefficient import NONNEGATIVE_INTEGER as NONNEGATIVE_INTEGER
from gradeng.runtime._coefficient import as_domain as as_domain
from gradeng.runtime._coefficient import is_concrete_number as is_concrete_number
from gradeng.runtime._coefficient import KernelBuilder as KernelBuilder
from gradeng.runtime._errors import DerivationError as DerivationError
from gradeng.runtime._errors import DivergentIntegralError as DivergentIntegralError
from gradeng.runtime._variable import Variable as Variable
from gradeng.runtime._variable import PROBABILITY as PROBABILITY
from gradeng.runtime._variable import SIMILARITY as SIMILARITY
from gradeng.runtime._variable import DISTANCE as DISTANCE
from gradeng.runtime._variable import as_variable as as_variable
from gradeng.runtime._inject import HEADS as HEADS
from gradeng.runtime._inject import SOFT_LABEL_CONVENTIONS as SOFT_LABEL_CONVENTIONS
from gradeng.runtime._inject import Kernel as Kernel
from gradeng.runtime._inject import LossFunction as LossFunction
from gradeng.runtime._inject import apply_kernel as apply_kernel
from gradeng.runtime._inject import poison as poison
from gradeng.runtime._inject import host_arrays as host_arrays
from gradeng.runtime._quadrature import integrate_weight as integrate_weight
from gradeng.runtime._quadrature import quadrature_loss as quadrature_loss
from gradeng.runtime._special import maki_tail as maki_tail
from gradeng.runtime._special import maki_combination as maki_combination
from gradeng.runtime._special import power_from_log as power_from_log
from gradeng.runtime._special import complement_probability as complement_probability
from gradeng.runtime._special import integer_power as integer_power
from gradeng.runtime._special import integer_power_applies as integer_power_applies
from gradeng.runtime._special import MAX_INTEGER_POWER as MAX_INTEGER_POWER
from gradeng.runtime._special import horner as horner
from gradeng.runtime._trigonometry import polynomial_sin as polynomial_sin
from gradeng.runtime._trigonometry import polynomial_cos as polynomial_cos
from gradeng.runtime._trigonometry import polynomial_tan as polynomial_tan
from gradeng.runtime._trigonometry import polynomial_arctan as polynomial_arctan
from gradeng.runtime._trigonometry import polynomial_arcsin as polynomial_arcsin
from gradeng.runtime._trigonometry import polynomial_arccos as polynomial_arccos
from gradeng.runtime._trigonometry import POLYNOMIAL_TRIG_BOUND as POLYNOMIAL_TRIG_BOUND
from gradeng.runtime._losses import coefficient_kernel as coefficient_kernel
from gradeng.runtime._losses import freeze_params as freeze_params
from gradeng.runtime._losses import loss_from_coefficient as loss_from_coefficient
from gradeng.runtime._losses import loss_from_gradient as loss_from_gradient
from gradeng.runtime._evaluate import logit_weight as logit_weight
from gradeng.runtime._evaluate import scale_coefficient as scale_coefficient
from gradeng.runtime._evaluate import loss_value as loss_value
from gradeng.runtime._catalog import CATALOG as CATALOG
from gradeng.runtime._catalog import LOSSES as LOSSES
from gradeng.runtime._catalog import CROSS_ENTROPY as CROSS_ENTROPY
from gradeng.runtime._catalog import FOCAL as FOCAL
from gradeng.runtime._catalog import MAKI as MAKI
from gradeng.runtime._catalog import QCE as QCE
from gradeng.runtime._catalog import POLY1 as POLY1
from gradeng.runtime._catalog import GCE as GCE
from gradeng.runtime._catalog import get_coefficient as get_coefficient
from gradeng.runtime._catalog import cross_entropy_loss as cross_entropy_loss
from gradeng.runtime._catalog import focal_loss as focal_loss
from gradeng.runtime._catalog import maki_loss as maki_loss
from gradeng.runtime._catalog import qce_loss as qce_loss
from gradeng.runtime._catalog import poly1_loss as poly1_loss
from gradeng.runtime._catalog import gce_loss as gce_loss
from gradeng.runtime._reductions import mean_over_elements as mean_over_elements
from gradeng.runtime._reductions import normalize_by_positives as normalize_by_positives
from gradeng.runtime._reductions import ohem_mask as ohem_mask
from gradeng.runtime._stateful import StatefulLoss as StatefulLoss
from gradeng.runtime._stateful import StepState as StepState
from gradeng.runtime._stateful import AdaptiveGammaState as AdaptiveGammaState
from gradeng.runtime._stateful import GHMState as GHMState
from gradeng.runtime._stateful import warmup_bound as warmup_bound
from gradeng.runtime._stateful import sgdr_factor as sgdr_factor
from gradeng.runtime._stateful import warmup_coefficient as warmup_coefficient
from gradeng.runtime._stateful import periodic_coefficient as periodic_coefficient
from gradeng.runtime._stateful import adaptive_gamma_coefficient as adaptive_gamma_coefficient
from gradeng.runtime._stateful import ghm_coefficient as ghm_coefficient
from gradeng.runtime._learned import check_exponents as check_exponents
from gradeng.runtime._learned import learned_coefficient as learned_coefficient
from gradeng.runtime._learned import maki_mixture as maki_mixture
from gradeng.runtime._learned import maki_mixture_loss as maki_mixture_loss
from gradeng.runtime._learned import mixture_formula as mixture_formula
from gradeng.runtime._learned import weights_from_theta as weights_from_theta

__all__ = [
    "InputError",
    "ScaleCoefficient",
    "Domain",
    "REAL",
    "NONNEGATIVE",
    "NONNEGATIVE_INTEGER",
    "as_domain",
    "is_concrete_number",
    "KernelBuilder",
    "DerivationError",
    "DivergentIntegralError",
    "Variable",
    "PROBABILITY",
    "SIMILARITY",
    "DISTANCE",
    "as_variable",
    "HEADS",
    "SOFT_LABEL_CONVENTIONS",
    "Kernel",
    "LossFunction",
    "apply_kernel",
    "poison",
    "host_arrays",
    "integrate_weight",
    "quadrature_loss",
    "maki_tail",
    "maki_combination",
    "power_from_log",
    "polynomial_sin",
    "polynomial_cos",
    "polynomial_tan",
    "polynomial_arctan",
    "polynomial_arcsin",
    "polynomial_arccos",
    "POLYNOMIAL_TRIG_BOUND",
    "complement_probability",
    "integer_power",
    "integer_power_applies",
    "MAX_INTEGER_POWER",
    "horner",
    "coefficient_kernel",
    "freeze_params",
    "loss_from_coefficient",
    "loss_from_gradient",
    "logit_weight",
    "scale_coefficient",
    "loss_value",
    "CATALOG",
    "LOSSES",
    "CROSS_ENTROPY",
    "FOCAL",
    "MAKI",
    "QCE",
    "POLY1",
    "GCE",
    "get_coefficient",
    "cross_entropy_loss",
    "focal_loss",
    "maki_loss",
    "qce_loss",
    "poly1_loss",
    "gce_loss",
    "mean_over_elements",
    "normalize_by_positives",
    "ohem_mask",
    "StatefulLoss",
    "StepState",
    "AdaptiveGammaState",
    "GHMState",
    "warmup_bound",
    "sgdr_factor",
    "warmup_coefficient",
    "periodic_coefficient",
    "adaptive_gamma_coefficient",
    "ghm_coefficient",
    "check_exponents",
    "learned_coefficient",
    "maki_mixture",
    "maki_mixture_loss",
    "mixture_formula",
    "weights_from_theta",
]
