"""Dataclass fields whose SymPy value is built on first read, so that ``import gradeng`` (the
catalog, `PROBABILITY`) does not import SymPy.

A `LazyField` is a descriptor used as a dataclass field's default. The dataclass ``__init__``
stores the value it is given as is; the first read passes it through the field's ``build``
function and caches the result on the instance. Frozen dataclasses work unchanged (their
``__init__`` sets fields with ``object.__setattr__``, which calls the descriptor).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any


def is_sympy(value: Any) -> bool:
  """Whether ``value`` is a SymPy object, answered without importing SymPy (a SymPy object can
  only exist once SymPy has been imported)."""
  sympy = sys.modules.get("sympy")
  return sympy is not None and isinstance(value, sympy.Basic)


class LazyField:
  """A dataclass field built from its given value on first read: ``build(instance, given)``.

  Args:
    build: turns the value given to ``__init__`` into the field's value.
    default: the field's default (as given, built on first read); none if omitted.
  """

  def __init__(self, build: Callable[[Any, Any], Any], default: Any = dataclasses.MISSING):
    self._build = build
    self._default = default
    self._name = ""

  def __set_name__(self, owner: type, name: str) -> None:
    self._name = name

  def __get__(self, instance: Any, owner: type | None = None) -> Any:
    if instance is None:  # dataclasses read the default here; AttributeError means "none"
      if self._default is dataclasses.MISSING:
        raise AttributeError(self._name)
      return self._default
    state = instance.__dict__
    if self._name not in state:
      state[self._name] = self._build(instance, state[self.given_key])
    return state[self._name]

  def __set__(self, instance: Any, value: Any) -> None:
    instance.__dict__[self.given_key] = value
    instance.__dict__.pop(self._name, None)

  @property
  def given_key(self) -> str:
    """The instance-dictionary key of the value as given (before `build`)."""
    return f"_{self._name}_given"

  def given(self, instance: Any) -> Any:
    """The value ``instance`` was given for this field, not built."""
    return instance.__dict__[self.given_key]

  def is_built(self, instance: Any) -> bool:
    """Whether the field's value has been built (read) on ``instance``."""
    return self._name in instance.__dict__
