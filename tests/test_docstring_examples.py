"""Every public function and class has a runnable docstring example, and every example runs.

The public names are what the packages export in ``__all__`` (modules and constants skipped;
a name exported twice, e.g. ``gradeng.focal_loss`` and ``gradeng.runtime.focal_loss``, is
counted once, under the first package that exports it). For a class, the examples of its own
public methods and properties count too.

Each example runs in an empty namespace, so it must import what it uses
(``>>> import gradeng as ge``), with ``ELLIPSIS | NORMALIZE_WHITESPACE``.

``WITHOUT_EXAMPLE`` is the allow-list of public names that have no example yet. It may only
shrink: a new public name without an example fails `test_public_names_without_example`, and so
does a name on the list that has gained one (remove it from the list).
"""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

PACKAGES = ("gradeng", "gradeng.runtime", "gradeng.symbolic", "gradeng.embedding",
            "gradeng.boxes", "gradeng.ordinal", "gradeng.longtail", "gradeng.paper")

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

#: Public names with no example yet (shrink this list; never grow it). All are defined in files
#: that were being changed by others when this list was written.
WITHOUT_EXAMPLE = frozenset({
    # gradeng/runtime/_catalog.py
    "gradeng.get_coefficient",
    # gradeng/runtime/_inject.py
    "gradeng.runtime.Kernel",
    "gradeng.runtime.apply_kernel",
    "gradeng.runtime.host_arrays",
    "gradeng.runtime.poison",
    # gradeng/runtime/_special.py
    "gradeng.runtime.maki_combination",
    "gradeng.runtime.maki_tail",
    # gradeng/symbolic/_compile.py
    "gradeng.symbolic.FormulaBuilder",
    "gradeng.symbolic.formula_coefficient",
    # gradeng/symbolic/_derive.py
    "gradeng.Derivation",
    "gradeng.symbolic.check_coefficient",
    "gradeng.symbolic.parameter_domains",
    # gradeng/symbolic/_jaxify.py
    "gradeng.NotJaxifiable",
    "gradeng.symbolic.log_space_function",
    # gradeng/symbolic/_limits.py
    "gradeng.symbolic.time_limited",
    # gradeng/symbolic/_stabilize.py
    "gradeng.symbolic.stable_closed_form",
    "gradeng.symbolic.stable_weight",
})

#: Examples that fail today, in files being changed by others (fix the example, then remove it
#: from here; the test is a strict xfail, so a fixed example fails until it is removed).
KNOWN_FAILURES: dict[str, str] = {
}


def _is_public_callable(obj) -> bool:
  """Functions and classes, including wrapped functions (lru_cache, jax.custom_jvp)."""
  if inspect.ismodule(obj):
    return False
  return inspect.isclass(obj) or inspect.isfunction(inspect.unwrap(obj))


def public_names() -> dict[str, object]:
  """``{"package.name": object}`` for every public function and class, each object once."""
  names, seen = {}, set()
  for package in PACKAGES:
    module = importlib.import_module(package)
    for attr in module.__all__:
      obj = getattr(module, attr)
      if id(obj) in seen or not _is_public_callable(obj):
        continue
      seen.add(id(obj))
      names[f"{package}.{attr}"] = obj
  return names


def _own_public_members(cls) -> list[tuple[str, object]]:
  """The public methods and properties a class defines itself (not inherited ones)."""
  members = []
  for attr, value in vars(cls).items():
    if attr.startswith("_"):
      continue
    if isinstance(value, (staticmethod, classmethod)):
      value = value.__func__
    if isinstance(value, property) or inspect.isfunction(value):
      members.append((attr, value))
  return members


def doctests_of(name: str, obj) -> list[doctest.DocTest]:
  """The non-empty doctests of ``obj`` (and, for a class, of its own public members)."""
  finder = doctest.DocTestFinder(recurse=False)
  targets = [(name, obj)]
  if inspect.isclass(obj):
    targets += [(f"{name}.{attr}", member) for attr, member in _own_public_members(obj)]
  tests = []
  for target_name, target in targets:
    module = inspect.getmodule(inspect.unwrap(target.fget if isinstance(target, property)
                                              else target))
    found = finder.find(target, target_name, module=module, globs={})
    tests += [t for t in found if t.examples]
  return tests


_PUBLIC = public_names()
_DOCTESTS = {name: doctests_of(name, obj) for name, obj in _PUBLIC.items()}


def _cases():
  for name, tests in _DOCTESTS.items():
    for test in tests:
      marks = ()
      if name in KNOWN_FAILURES:
        marks = pytest.mark.xfail(reason=KNOWN_FAILURES[name], strict=True)
      yield pytest.param(test, id=test.name, marks=marks)


@pytest.mark.parametrize("test", list(_cases()))
def test_docstring_example(test: doctest.DocTest):
  """The example runs and prints what its docstring says."""
  output = []
  runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
  result = runner.run(test, out=output.append, clear_globs=True)
  assert result.failed == 0, "".join(output)


def test_public_names_without_example():
  """Exactly the allow-listed public names lack an example (the list only shrinks)."""
  missing = {name for name, tests in _DOCTESTS.items() if not tests}
  new = sorted(missing - WITHOUT_EXAMPLE)
  gained = sorted(WITHOUT_EXAMPLE - missing)
  assert not new, f"public names without an `Example:` in their docstring: {new}"
  assert not gained, (f"these names now have an example (or are no longer public); remove them "
                      f"from WITHOUT_EXAMPLE: {gained}")


def test_known_failures_are_public():
  """The known failures name public objects that have examples (no stale entries)."""
  assert set(KNOWN_FAILURES) <= {name for name, tests in _DOCTESTS.items() if tests}
