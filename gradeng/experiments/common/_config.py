"""JSON configs and run directories: one config check for every experiment.

A run directory holds the ``config.json`` it was made under. `claim_run_dir` writes it into a
new directory, accepts the same config again (the run resumes) and refuses a directory written
by another config, naming the first key that differs, so runs of two configs never mix.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gradeng.runtime import InputError

from gradeng.experiments.common._io import atomic_write_json

#: the file a run directory's config is stored in
CONFIG_FILE = "config.json"


def to_jsonable(value: Any) -> Any:
  """Config → plain JSON data (dataclasses → dicts, tuples → lists, functions → their names).

  A dataclass field whose metadata has ``omit_if_default`` is left out while it holds its
  default, so adding such a field keeps older run directories valid.
  """
  if dataclasses.is_dataclass(value) and not isinstance(value, type):
    return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
            if not (f.metadata.get("omit_if_default") and getattr(value, f.name) == f.default)}
  if isinstance(value, Mapping):
    return {str(k): to_jsonable(v) for k, v in sorted(value.items())}
  if isinstance(value, (tuple, list)):
    return [to_jsonable(v) for v in value]
  if callable(value):
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
  return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
  """Nested JSON data → ``{"train.steps": 3000, "model.widths": [16, 32, 48], ...}``."""
  if isinstance(value, dict):
    out: dict[str, Any] = {}
    for key, item in value.items():
      out.update(flatten(item, f"{prefix}.{key}" if prefix else key))
    return out
  return {prefix: value}


def first_difference(expected: Mapping[str, Any], got: Mapping[str, Any]) -> str | None:
  """The first dotted key where two JSON configs differ, described in words; ``None`` if equal."""
  a, b = flatten(dict(expected)), flatten(dict(got))
  for key in sorted(set(a) | set(b)):
    if key not in a:
      return f"`{key}` is absent there and {b[key]!r} here"
    if key not in b:
      return f"`{key}` is {a[key]!r} there and absent here"
    if a[key] != b[key]:
      return f"`{key}` is {a[key]!r} there and {b[key]!r} here"
  return None


def check_config(path: str | os.PathLike, stored: Mapping[str, Any],
                 config: Mapping[str, Any]) -> None:
  """Refuses ``stored`` (read from ``path``) unless it equals ``config``.

  Raises:
    InputError: (a `ValueError`) naming the first key where the two differ.
  """
  difference = first_difference(stored, config)
  if difference is not None:
    raise InputError(
        f"{os.fspath(path)} was written for a different config: {difference}; use another "
        f"output directory or delete that one")


def claim_run_dir(directory: str | os.PathLike, config: Any, *, filename: str = CONFIG_FILE,
                  require_empty: bool = False, write: bool = True, indent: int | None = 2,
                  sort_keys: bool = True, newline: bool = True) -> Path:
  """Claims ``directory`` for ``config``: a new run, or the resumption of the same config's run.

  Args:
    directory: the run directory; created if absent (when ``write``).
    config: the config: JSON-able data (a mapping, kept in its order) or a dataclass
      (`to_jsonable` converts it); tuples are compared as the JSON lists they are stored as.
    filename: the config file inside ``directory``.
    require_empty: refuse a directory that has files but no config file.
    write: write the config file if absent (``False``: only check).
    indent: `json.dumps` indent of the written file.
    sort_keys: sort the keys of the written file.
    newline: end the written file with a newline.

  Returns:
    ``directory`` as a `Path`.

  Raises:
    InputError: if ``directory`` holds a config file of another config, or (``require_empty``)
      files but no config file.
  """
  directory = Path(directory)
  data = json.loads(json.dumps(config if isinstance(config, Mapping) else to_jsonable(config)))
  path = directory / filename
  if path.exists():
    check_config(path, json.loads(path.read_text()), data)
    return directory
  if require_empty and directory.exists() and any(directory.iterdir()):
    raise InputError(f"{directory} is not empty and has no {filename}; refusing to write a run "
                     f"into it (use an empty or new directory)")
  if write:
    atomic_write_json(path, data, indent=indent, sort_keys=sort_keys, newline=newline)
  return directory
