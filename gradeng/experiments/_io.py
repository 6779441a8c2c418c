"""Atomic file writes (temporary file beside the target, fsync, rename): results survive a kill."""

from __future__ import annotations

import os
import tempfile


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
  """Calls ``write(file)`` on a temporary file beside ``path``, then renames it over ``path``."""
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
  atomic_write_bytes(path, lambda f: f.write(text.encode()))
