"""Shared test configuration."""

import pytest


@pytest.fixture(autouse=True)
def _derivations_are_not_timed(monkeypatch):
  """Building a formula loss waits for SymPy without the interactive time limit: which forward
  method a test sees must not depend on how loaded the machine is (tests/test_build_timeout.py
  tests the limit itself with explicit values)."""
  from gradeng.runtime import _losses

  monkeypatch.setattr(_losses, "DERIVATION_TIMEOUT", None)
