"""``gradeng experiment NAME [options]``: run one of the experiments in `gradeng.experiments`.

Each experiment is a module in `gradeng.cli` with ``configure(parser)`` and ``run(args)``,
registered in `EXPERIMENTS`; those modules import nothing heavy at module level (their ``run``
imports the experiment), so configuring every sub-parser stays cheap.
"""

from __future__ import annotations

import argparse
import importlib

# name -> (module, one-line help)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "detection": ("gradeng.cli._detection", "SSD-lite on digit canvases (paper Figure 3)"),
    "embedding": ("gradeng.cli._embedding", "open-set retrieval on digits: embedding losses (issue 11)"),
    "ordinal": ("gradeng.cli._ordinal", "count digits on canvases: hard, Gaussian-blurred and L2 targets"),
    "crowded": ("gradeng.cli._crowded", "crowded digit canvases: SSD-lite + NMS vs a Hungarian set head"),
}


def configure(parser: argparse.ArgumentParser) -> None:
  sub = parser.add_subparsers(dest="experiment", required=True, metavar="NAME",
                              title="experiments")
  for name, (module_name, help_text) in EXPERIMENTS.items():
    importlib.import_module(module_name).configure(
        sub.add_parser(name, help=help_text, description=help_text))


def run(args: argparse.Namespace) -> int:
  return int(importlib.import_module(EXPERIMENTS[args.experiment][0]).run(args) or 0)
