"""`gradeng derivations`: write the derivation reports (one per catalog loss) and an index.

Example::

  gradeng derivations                  # into derivations/
  gradeng derivations --out /tmp/d --only maki
  gradeng derivations --check          # exit 1 if derivations/ differs from a fresh run
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from gradeng.runtime import CATALOG
from gradeng.cli import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--out", default="derivations", help="output directory (default: derivations)")
  parser.add_argument("--only", action="append", metavar="LOSS",
                      help=f"only this catalog loss (repeatable): {', '.join(CATALOG)}")
  parser.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if the files in --out differ from a fresh run")


def run(args: argparse.Namespace) -> int:
  from gradeng.paper import write_reports

  for name in args.only or []:
    if name not in CATALOG:
      raise UsageError(f"unknown loss {name!r}; the catalog has {', '.join(CATALOG)}")
  if not args.check:
    for path in write_reports(args.out, args.only):
      print(path)
    return 0
  out = Path(args.out)
  stale = []
  with tempfile.TemporaryDirectory() as fresh:
    for path in write_reports(fresh, args.only):
      if args.only and path.name == "index.md":  # a partial index is not the committed one
        continue
      committed = out / path.name
      if not committed.exists() or committed.read_bytes() != path.read_bytes():
        stale.append(committed)
  for path in stale:
    print(f"out of date: {path}")
  if not stale:
    print(f"{out}: up to date")
  return 1 if stale else 0
