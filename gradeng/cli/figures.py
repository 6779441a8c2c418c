"""`gradeng figures`: regenerate the paper's Figures 1–2 and the extended figures.

Example::

  gradeng figures                      # all figures into figures/ (PNG + PDF + CSV)
  gradeng figures --only paper_figure1 --format png --out /tmp/figs
"""

from __future__ import annotations

import argparse

from gradeng.cli import UsageError
from gradeng.paper import FIGURES, write_figures

FORMATS = ("png", "pdf", "svg")


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--out", default="figures", help="output directory (default: figures)")
  parser.add_argument("--only", action="append", metavar="NAME",
                      help=f"only this figure (repeatable): {', '.join(FIGURES)}")
  parser.add_argument("--format", action="append", metavar="EXT",
                      help=f"image format (repeatable; default png and pdf): {', '.join(FORMATS)}")


def run(args: argparse.Namespace) -> int:
  names = args.only or list(FIGURES)
  for name in names:
    if name not in FIGURES:
      raise UsageError(f"unknown figure {name!r}; the figures are {', '.join(FIGURES)}")
  formats = args.format or ["png", "pdf"]
  for fmt in formats:
    if fmt not in FORMATS:
      raise UsageError(f"unknown --format {fmt!r}; expected one of {', '.join(FORMATS)}")
  for path in write_figures(args.out, names, formats=formats):
    print(path)
  return 0
