"""Every function a formula may call compiles to JAX and matches mpmath (issue 15: the parser's,
the compiler's and the ranking's tables disagreed; `erfc`, `Gamma` and `min(a, b, c)` parsed but
did not compile)."""

import math

import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from gradeng.core._coefficient import P
from gradeng.core._functions import ELEMENTARY, TABLE, jax_function
from gradeng.core._jaxify import log_space_function
from gradeng.core._mpeval import numeric_function
from gradeng.core._parse import FUNCTIONS, parse_formula

# Arguments inside every function's domain for p in (0, 1) (asin/acos need |x| ≤ 1).
ARGUMENTS = {1: "(p/2 + 1/4)", 2: "(p/2 + 1/4), (1 - p)", 3: "(p/2 + 1/4), (1 - p), p**2"}


def _formulas():
  for name, (_, least, most) in sorted(FUNCTIONS.items()):
    for count in sorted({least, min(most or 3, 3)}):
      if name == "log" and count == 2:
        yield f"log(p/2 + 1/4, 3)"
      else:
        yield f"{name}({ARGUMENTS[count]})"


@pytest.mark.parametrize("formula", list(_formulas()))
def test_every_parsable_function_compiles_and_matches_mpmath(formula):
  expr = parse_formula(formula)
  compiled = log_space_function(expr)
  reference = numeric_function(expr, (P,))
  for p in (0.1, 0.37, 0.8):
    got = float(compiled(jnp.log(jnp.float32(p)), jnp.log1p(-jnp.float32(p))))
    with mpmath.workdps(30):
      want = float(reference(mpmath.mpf(p)))
    assert math.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=formula)


def test_every_table_entry_resolves():
  for node in TABLE:
    assert callable(jax_function(node)), node
  assert jax_function(type(parse_formula("erfc(p)"))) is not None
  assert issubclass(type(parse_formula("sinh(p)")), ELEMENTARY)
  assert not issubclass(type(parse_formula("erf(p)")), ELEMENTARY)
