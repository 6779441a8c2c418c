"""An on-disk cache of derivations, keyed by the coefficient, its parameters and the code.

`gradeng.symbolic._derive.derive` asks SymPy for a closed form once per (g, parameter domains,
variable) and machine, `gradeng.symbolic._approximant.approximant` fits L once per g, and
`gradeng.symbolic._compile` measures which programs a kernel is made of once per (g, Python-number
parameters; its key adds the compiling modules' source and the JAX version); every outcome ("no
closed form found" and a refused fit included) is stored as JSON under
``$GRADENG_CACHE_DIR`` (default ``~/.cache/gradeng``) in ``derivations/<sha256>.json``, written atomically (a temporary file
renamed into place), so that a killed process leaves either the old entry or the new one. The
key includes the SymPy version and a hash of the symbolic modules' source, so that a new version
of either derives afresh. Expressions are stored with `sympy.srepr` and read back by a small
reader that builds only SymPy objects (no ``eval``/``sympify`` of the file's text).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import sympy as sp

#: The modules whose source is part of every key (a change to them derives afresh).
_SOURCES = tuple(f"gradeng.symbolic.{name}" for name in (
    "_derive", "_integrate", "_verify", "_recognise", "_mpeval", "_limits", "_cache",
    "_approximant")) + (
    "gradeng.runtime._variable", "gradeng.symbolic._variable")


def cache_dir() -> pathlib.Path:
  """``$GRADENG_CACHE_DIR`` or ``~/.cache/gradeng``."""
  configured = os.environ.get("GRADENG_CACHE_DIR")
  return pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "gradeng"


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
  return source_version(_SOURCES)


@functools.lru_cache(maxsize=8)
def source_version(modules: tuple[str, ...]) -> str:
  """A hash of the SymPy version and of these modules' source, for a key that must change with
  them."""
  digest = hashlib.sha256(sp.__version__.encode())
  for name in modules:
    digest.update(pathlib.Path(importlib.util.find_spec(name).origin).read_bytes())
  return digest.hexdigest()[:16]


def key(*parts: Any) -> str:
  """A file-name-safe key from SymPy objects and plain values (by `sympy.srepr`)."""
  text = repr([_code_version(), *[sp.srepr(p) if isinstance(p, sp.Basic) else repr(p)
                                  for p in parts]])
  return hashlib.sha256(text.encode()).hexdigest()


def _path(name: str) -> pathlib.Path:
  return cache_dir() / "derivations" / f"{name}.json"


def load(name: str) -> dict[str, Any] | None:
  """The stored entry, or None (missing, unreadable or corrupt entries are ignored)."""
  try:
    return json.loads(_path(name).read_text(encoding="utf-8"))
  except (OSError, ValueError):
    return None


def store(name: str, entry: dict[str, Any]) -> None:
  """Write ``entry`` atomically; a cache that cannot be written is skipped silently (it is only
  a cache)."""
  path = _path(name)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False,
                                     suffix=".tmp") as handle:
      json.dump(entry, handle)
      temporary = handle.name
    os.replace(temporary, path)
  except OSError:
    pass


def dump_expr(expr: sp.Basic | None) -> str | None:
  return None if expr is None else sp.srepr(expr)


# ---------------------------------------------------------------------------------------------
# Reading srepr text back: SymPy constructors only


def _constructor(name: str) -> Callable[..., Any]:
  value = getattr(sp, name, None)
  if isinstance(value, type) and issubclass(value, sp.Basic) or isinstance(
      value, sp.FunctionClass):
    return value
  value = _inner_class(name)
  if value is None:
    raise ValueError(f"not a SymPy constructor: {name!r}")
  return value


@functools.lru_cache(maxsize=64)
def _inner_class(name: str) -> type | None:
  """A SymPy expression class not exported at sympy's top level (a Piecewise branch's
  `ExprCondPair`, the `TupleArg` of a hypergeometric function in a Piecewise condition), or
  None."""
  for module_name, module in sorted(sys.modules.items()):
    if module_name.startswith("sympy.") and module is not None:
      value = getattr(module, name, None)
      if isinstance(value, type) and issubclass(value, sp.Basic) and (
          value.__module__.startswith("sympy.")):
        return value
  return None


def _build(node: ast.AST) -> Any:
  if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
    return node.value
  if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
    return -_build(node.operand)
  if isinstance(node, ast.Name):  # SymPy's singletons: oo, zoo, nan, pi, E, I, true, ...
    value = getattr(sp, node.id, None)
    if isinstance(value, sp.Basic):
      return value
    raise ValueError(f"not a SymPy constant: {node.id!r}")
  if isinstance(node, (ast.Tuple, ast.List)):
    return tuple(_build(e) for e in node.elts)
  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
    fn = _constructor(node.func.id)
    args = [_build(a) for a in node.args]
    kwargs = {k.arg: _build(k.value) for k in node.keywords}
    if node.func.id == "Dummy":  # keep the stored identity of dummies
      kwargs.pop("dummy_index", None)
    return fn(*args, **kwargs)
  raise ValueError(f"unexpected {type(node).__name__} in a cached expression")


def load_expr(text: str | None) -> sp.Basic | None:
  """The expression ``sympy.srepr`` wrote, rebuilt from SymPy constructors only."""
  if text is None:
    return None
  return _build(ast.parse(text, mode="eval").body)
