"""The error type of bad input to gradeng.

`InputError` is raised by the library's input checks (a hyper-parameter outside its domain, an
unknown loss name, a malformed formula, invalid labels): the message names the bad value and
the valid range. It subclasses `ValueError`, so ``except ValueError`` keeps working. The command
line prints an `InputError` as a one-line usage error (exit code 2); any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations


class InputError(ValueError):
  """Bad input: the message names the value received and what is valid.

  Example:
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> issubclass(ge.InputError, ValueError)
    True
    >>> ge.focal_loss(jnp.zeros(1), jnp.ones(1, int), gamma=-1.0)
    Traceback (most recent call last):
    ...
    gradeng.runtime._errors.InputError: `gamma` of `focal` must be a real number in [0, inf); got -1.0.
  """


class DerivationError(InputError):
  """An error that ends a derivation (not just one attempt), e.g. a divergent integral.

  Example:
    >>> import gradeng as ge
    >>> try:
    ...   ge.runtime.check_exponents([-1])
    ... except ge.runtime.DerivationError as error:
    ...   print(type(error).__name__)
    DivergentIntegralError
  """


class DivergentIntegralError(DerivationError):
  """∫_p^1 -g(t) dt diverges, so no loss with L(1) = 0 has this scale coefficient.

  Example:
    g = -(1-p)^{-1}/p is not integrable up to p = 1:

    >>> import gradeng as ge
    >>> ge.runtime.check_exponents([-1])
    Traceback (most recent call last):
    ...
    gradeng.runtime._errors.DivergentIntegralError: `exponents[0]` = -1: ... diverges at p = 1...
  """
