"""The symbolic side: parse, derive, verify, stabilise and compile a scale coefficient to a JAX
kernel for the runtime (ahead of time, cached). May import the runtime, never the reverse."""

from gradeng.symbolic._derive import Derivation as Derivation
from gradeng.symbolic._derive import derive as derive
from gradeng.symbolic._integrate import DivergentIntegralError as DivergentIntegralError
from gradeng.symbolic._limits import time_limited as time_limited
from gradeng.symbolic._mpeval import numeric_function as numeric_function
from gradeng.symbolic._properties import PropertyCheck as PropertyCheck
from gradeng.symbolic._properties import check_properties as check_properties
from gradeng.symbolic._verify import verify_numeric as verify_numeric
