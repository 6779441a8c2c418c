"""The on-disk derivation cache (`gradeng.symbolic._cache`): atomic JSON, SymPy constructors only."""

import json

import pytest
import sympy as sp

from gradeng.symbolic import _cache, _derive
from gradeng.symbolic import derive


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
  monkeypatch.setenv("GRADENG_CACHE_DIR", str(tmp_path))
  monkeypatch.setattr(_derive, "_SOLUTIONS", {})  # forget this process's memo
  return tmp_path


def test_a_derivation_is_stored_and_read_back(cache_dir):
  first = derive("-(1-p)**2*(1+p)/p")
  [entry] = (cache_dir / "derivations").glob("*.json")
  stored = json.loads(entry.read_text())
  assert stored["verified"] is True and stored["combination"]["terms"][0][0] == "maki"
  _derive._SOLUTIONS.clear()
  again = derive("-(1-p)**2*(1+p)/p")  # from disk: same expressions, same notes
  assert again.loss == first.loss and again.stable_form == first.stable_form
  assert again.notes == first.notes and again.combination == first.combination
  assert not list((cache_dir / "derivations").glob("*.tmp"))  # written atomically


def test_a_corrupt_entry_is_ignored(cache_dir):
  derive("log(p)/p")
  [entry] = (cache_dir / "derivations").glob("*.json")
  entry.write_text("{ not json")
  _derive._SOLUTIONS.clear()
  assert derive("log(p)/p").loss == sp.log(sp.Symbol("p", positive=True))**2 / 2


@pytest.mark.parametrize("expr", [
    sp.Piecewise((sp.Symbol("q", real=True), sp.Symbol("q", real=True) > 0), (0, True)),
    sp.Sum(1 / sp.Symbol("j", integer=True, positive=True)**2,
           (sp.Symbol("j", integer=True, positive=True), 3, sp.oo)),
    sp.lerchphi(1 - sp.Symbol("p", positive=True), 1, sp.Rational(7, 2)) + sp.pi * sp.I,
])
def test_expressions_round_trip(expr):
  assert _cache.load_expr(_cache.dump_expr(expr)) == expr


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "open('x')",
                                  "Symbol('p').__class__", "eval('1')"])
def test_only_sympy_constructors_are_run(text):
  with pytest.raises((ValueError, SyntaxError)):
    _cache.load_expr(text)
