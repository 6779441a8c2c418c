"""Deterministic figure files: one resolution, atomic writes, fixed metadata.

PNGs carry no software version or date, so the same figure gives the same bytes on every run
and a committed figure only changes when its content does.
"""

from __future__ import annotations

import io
import os
from typing import Any

from gradeng.experiments.common._io import atomic_write_bytes

#: the resolution of every experiment figure (dots per inch)
DPI = 150

#: per-format metadata that would otherwise vary between runs or matplotlib versions
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None},
             "svg": {"Date": None, "Creator": None}}


def save_figure(figure: Any, path: str | os.PathLike, *, dpi: int = DPI, **savefig_kwargs) -> None:
  """Saves a matplotlib ``figure`` to ``path`` atomically, in the format its suffix names.

  Args:
    figure: a `matplotlib.figure.Figure`.
    path: the target; ``.png`` (default), ``.pdf`` or ``.svg``.
    dpi: resolution; every experiment uses `DPI`.
    **savefig_kwargs: further `Figure.savefig` options (``bbox_inches``).
  """
  suffix = os.fspath(path).rpartition(".")[2].lower()
  fmt = suffix if suffix in _METADATA else "png"
  buffer = io.BytesIO()
  figure.savefig(buffer, format=fmt, dpi=dpi, metadata=_METADATA[fmt], **savefig_kwargs)
  atomic_write_bytes(path, lambda f: f.write(buffer.getvalue()))
