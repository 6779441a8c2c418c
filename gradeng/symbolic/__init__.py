"""The symbolic side: parse, derive, verify, stabilise and compile a scale coefficient to a JAX
kernel for the runtime (ahead of time, cached). May import the runtime, never the reverse.

Example:
  >>> import gradeng.symbolic as gs
  >>> gs.derive(gs.coefficient("log(p)/p")).loss
  log(p)**2/2
"""

from gradeng.runtime import DerivationError as DerivationError
from gradeng.runtime import DivergentIntegralError as DivergentIntegralError
from gradeng.symbolic._compile import CLOSED_FORM_TOLERANCE as CLOSED_FORM_TOLERANCE
from gradeng.symbolic._compile import DERIVATION_TIMEOUT as DERIVATION_TIMEOUT
from gradeng.symbolic._compile import FormulaBuilder as FormulaBuilder
from gradeng.symbolic._compile import NegativeLossWarning as NegativeLossWarning
from gradeng.symbolic._compile import coefficient as coefficient
from gradeng.symbolic._compile import derive as derive
from gradeng.symbolic._compile import formula_coefficient as formula_coefficient
from gradeng.symbolic._derive import Derivation as Derivation
from gradeng.symbolic._derive import check_coefficient as check_coefficient
from gradeng.symbolic._expression import SymbolicForm as SymbolicForm
from gradeng.symbolic._expression import expression as expression
from gradeng.symbolic._expression import parameter_symbols as parameter_symbols
from gradeng.symbolic._expression import substitute as substitute
from gradeng.symbolic._expression import symbolic_variable as symbolic_variable
from gradeng.symbolic._expression import weight_expression as weight_expression
from gradeng.symbolic._derive import parameter_domains as parameter_domains
from gradeng.symbolic._jaxify import NotJaxifiable as NotJaxifiable
from gradeng.symbolic._jaxify import log_space_function as log_space_function
from gradeng.symbolic._limits import time_limited as time_limited
from gradeng.symbolic._mpeval import numeric_function as numeric_function
from gradeng.symbolic._parse import FormulaError as FormulaError
from gradeng.symbolic._parse import parse_formula as parse_formula
from gradeng.symbolic._parse import parse_loss_spec as parse_loss_spec
from gradeng.symbolic._parse import parse_value as parse_value
from gradeng.symbolic._parse import read_variable as read_variable
from gradeng.symbolic._properties import PropertyCheck as PropertyCheck
from gradeng.symbolic._properties import check_properties as check_properties
from gradeng.symbolic._stabilize import stable_closed_form as stable_closed_form
from gradeng.symbolic._stabilize import stable_weight as stable_weight
from gradeng.symbolic._variable import DISTANCE as DISTANCE
from gradeng.symbolic._variable import P as P
from gradeng.symbolic._variable import PROBABILITY as PROBABILITY
from gradeng.symbolic._variable import SIMILARITY as SIMILARITY
from gradeng.symbolic._variable import SymbolicVariable as SymbolicVariable
from gradeng.symbolic._variable import as_variable as as_variable
from gradeng.symbolic._verify import verify_numeric as verify_numeric

__all__ = [
    "coefficient", "formula_coefficient", "parse_formula", "parse_loss_spec", "parse_value",
    "FormulaError", "derive", "Derivation", "DerivationError", "DivergentIntegralError",
    "check_coefficient", "parameter_domains", "check_properties", "PropertyCheck",
    "expression", "parameter_symbols", "substitute", "symbolic_variable", "weight_expression",
    "FormulaBuilder", "NegativeLossWarning", "DERIVATION_TIMEOUT", "CLOSED_FORM_TOLERANCE", "log_space_function",
    "NotJaxifiable", "stable_closed_form", "stable_weight", "numeric_function", "verify_numeric",
    "time_limited", "P", "PROBABILITY", "SIMILARITY", "DISTANCE", "SymbolicVariable", "as_variable", "read_variable", "SymbolicForm",
]
