"""Symbolic derivation of a loss from its scale coefficient (the names other modules import).

The machinery is split by concern: `gradeng.core._limits` (time limits for SymPy),
`gradeng.core._mpeval` (mpmath evaluation, random admissible points), `gradeng.core._integrate`
(integration strategies, cleaning SymPy's results), `gradeng.core._verify` (L(1) = 0 and
dL/dp = g), `gradeng.core._properties` (the paper's property report) and
`gradeng.core._derive` (`derive` and `Derivation`).
"""

from gradeng.core._derive import Derivation as Derivation
from gradeng.core._derive import derive as derive
from gradeng.core._integrate import DivergentIntegralError as DivergentIntegralError
from gradeng.core._limits import time_limited as time_limited
from gradeng.core._mpeval import numeric_function as numeric_function
from gradeng.core._properties import PropertyCheck as PropertyCheck
from gradeng.core._properties import check_properties as check_properties
from gradeng.core._verify import verify_numeric as verify_numeric
