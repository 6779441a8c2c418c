"""gradeng: classification losses specified by their scale coefficient g(p) = dL/dp.

Kilbas & Paringer, "Gradient as a foundation for building a loss function" (2020): a loss is
fixed by g(p) = dL/dp and L(1) = 0. gradeng derives L symbolically, injects g as the exact
derivative of JAX losses, and ships a catalog (CE, focal, Maki, QCE, Poly-1, GCE).
"""

from gradeng.paper._budget import GradientBudget as GradientBudget
from gradeng.paper._budget import gradient_budget as gradient_budget
from gradeng.paper._budget import hard_share as hard_share
from gradeng.core._catalog import CATALOG as CATALOG
from gradeng.core._catalog import CROSS_ENTROPY as CROSS_ENTROPY
from gradeng.core._catalog import FOCAL as FOCAL
from gradeng.core._catalog import GCE as GCE
from gradeng.core._catalog import LOSSES as LOSSES
from gradeng.core._catalog import MAKI as MAKI
from gradeng.core._catalog import POLY1 as POLY1
from gradeng.core._catalog import QCE as QCE
from gradeng.core._catalog import cross_entropy_loss as cross_entropy_loss
from gradeng.core._catalog import focal_loss as focal_loss
from gradeng.core._catalog import gce_loss as gce_loss
from gradeng.core._catalog import get_coefficient as get_coefficient
from gradeng.core._catalog import maki_loss as maki_loss
from gradeng.core._catalog import poly1_loss as poly1_loss
from gradeng.core._catalog import qce_loss as qce_loss
from gradeng.core._coefficient import P as P
from gradeng.core._errors import InputError as InputError
from gradeng.core._coefficient import Domain as Domain
from gradeng.core._coefficient import ScaleCoefficient as ScaleCoefficient
from gradeng.core._losses import logit_weight as logit_weight
from gradeng.core._losses import loss_from_coefficient as loss_from_coefficient
from gradeng.core._losses import loss_from_gradient as loss_from_gradient
from gradeng.core._losses import loss_value as loss_value
from gradeng.core._losses import scale_coefficient as scale_coefficient
from gradeng.core._reductions import mean_over_elements as mean_over_elements
from gradeng.core._reductions import normalize_by_positives as normalize_by_positives
from gradeng.core._reductions import ohem_mask as ohem_mask
from gradeng.core._special import maki_tail as maki_tail
from gradeng.core._parse import FormulaError as FormulaError
from gradeng.core._parse import coefficient as coefficient
from gradeng.core._parse import parse_formula as parse_formula
from gradeng.core._symbolic import Derivation as Derivation
from gradeng.core._symbolic import DivergentIntegralError as DivergentIntegralError
from gradeng.core._symbolic import PropertyCheck as PropertyCheck
from gradeng.core._symbolic import check_properties as check_properties
from gradeng.core._symbolic import derive as derive
from gradeng.core._stateful import AdaptiveGammaState as AdaptiveGammaState
from gradeng.core._stateful import GHMState as GHMState
from gradeng.core._stateful import StatefulLoss as StatefulLoss
from gradeng.core._stateful import StepState as StepState
from gradeng.core._stateful import adaptive_gamma_coefficient as adaptive_gamma_coefficient
from gradeng.core._stateful import balanced_gamma as balanced_gamma
from gradeng.core._stateful import ghm_coefficient as ghm_coefficient
from gradeng.core._stateful import periodic_coefficient as periodic_coefficient
from gradeng.core._stateful import sgdr_factor as sgdr_factor
from gradeng.core._stateful import warmup_bound as warmup_bound
from gradeng.core._stateful import warmup_coefficient as warmup_coefficient
