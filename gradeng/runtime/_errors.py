"""The error type of bad input to gradeng.

`InputError` is raised by the library's input checks (a hyper-parameter outside its domain, an
unknown loss name, a malformed formula, invalid labels): the message names the bad value and
the valid range. It subclasses `ValueError`, so ``except ValueError`` keeps working. The command
line prints an `InputError` as a one-line usage error (exit code 2); any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations


class InputError(ValueError):
  """Bad input: the message names the value received and what is valid."""


class DerivationError(InputError):
  """An error that ends a derivation (not just one attempt), e.g. a divergent integral."""


class DivergentIntegralError(DerivationError):
  """∫_p^1 -g(t) dt diverges, so no loss with L(1) = 0 has this scale coefficient."""
