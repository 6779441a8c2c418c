"""Atomic file writes (temporary file beside the target, fsync, rename): results survive a kill.

A reader sees either the old file or the new one, never a half-written one; a killed run leaves
at most a stray ``*.tmp`` file beside the target.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO


def atomic_write_bytes(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
  """Calls ``write(file)`` on a temporary file beside ``path``, then renames it over ``path``.

  Args:
    path: the target; its directory is created if absent.
    write: writes the content to the binary file object it is given.
  """
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  """Writes ``text`` (UTF-8) to ``path`` atomically."""
  atomic_write_bytes(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: str | os.PathLike, data: Any, *, indent: int | None = 2,
                      sort_keys: bool = False, newline: bool = True, **dumps_kwargs) -> None:
  """Writes ``data`` as JSON to ``path`` atomically.

  Args:
    path: the target file.
    data: JSON-able data.
    indent: `json.dumps`'s indent.
    sort_keys: sort the keys of every object.
    newline: end the file with a newline.
    **dumps_kwargs: further `json.dumps` options (``ensure_ascii``, ``allow_nan``).
  """
  text = json.dumps(data, indent=indent, sort_keys=sort_keys, **dumps_kwargs)
  atomic_write_text(path, text + ("\n" if newline else ""))


def atomic_write_csv(path: str | os.PathLike, rows: Iterable[Sequence[Any]],
                     header: Sequence[str] | None = None, *, lineterminator: str = "\n") -> None:
  """Writes ``header`` and ``rows`` as CSV (`csv.writer`) to ``path`` atomically."""
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator=lineterminator)
  if header is not None:
    writer.writerow(header)
  writer.writerows(rows)
  atomic_write_text(path, buffer.getvalue())
