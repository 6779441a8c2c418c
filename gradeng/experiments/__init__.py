"""The experiments, on one frame, and their registry.

Each experiment is a sub-package (``gradeng.experiments.<name>``) exporting

* ``get_config(quick: bool)``: its configuration, full or the small ``quick`` one;
* ``run(config, out_dir, **options)``: runs (or resumes) it, writing everything under
  ``out_dir`` (runs, figures, tables), and returns a summary dict;
* ``reproduce(out_dir, *, quick)``: the step of `gradeng reproduce`, which writes the committed
  figures' layout (``out_dir/figures/...``, ``out_dir/runs/...``).

`EXPERIMENTS` lists them; ``gradeng experiment NAME`` and ``gradeng reproduce`` both read it.
What they share (run directories, configs, checkpoints, atomic writes, figures) is in
`gradeng.experiments.common`. This module imports no experiment: `load` imports one on demand.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Experiment:
  """One registered experiment.

  Attributes:
    name: the registry name (``gradeng experiment NAME``, ``gradeng reproduce --only NAME``).
    help: one line for ``--help`` and the reproduce summary.
    readme: its README, relative to the repository root.
  """

  name: str
  help: str
  readme: str

  @property
  def package(self) -> str:
    """The sub-package that implements it."""
    return f"gradeng.experiments.{self.name}"


#: name -> experiment, in the order `gradeng reproduce` runs them.
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("toy", "toy imbalance simulations: every preset sweep and its figures",
               "docs/experiments/toy.md"),
    Experiment("detection", "SSD-lite on digit canvases (paper Figure 3)",
               "docs/experiments/detection.md"),
    Experiment("engineering", "stateful coefficients: warm-up, periodic, adaptive γ, GHM-C",
               "docs/experiments/engineering.md"),
    Experiment("ordinal", "count digits on canvases: hard, Gaussian-blurred and L2 targets",
               "docs/experiments/ordinal.md"),
    Experiment("learn", "learned scale coefficient (meta-gradient, ES)",
               "docs/experiments/learn.md"),
    Experiment("embedding", "open-set retrieval on digits: embedding losses",
               "docs/experiments/embedding.md"),
    Experiment("crowded", "crowded digit canvases: SSD-lite + NMS vs a Hungarian set head",
               "docs/experiments/crowded.md"),
    Experiment("longtail", "long-tailed digits (IF 10, 100): nine re-balancing losses, top-1 by group",
               "docs/experiments/longtail.md"),
)}

#: the one default output root: ``gradeng experiment NAME`` writes to ``runs/NAME[_quick]``
DEFAULT_ROOT = Path("runs")


def load(name: str) -> types.ModuleType:
  """Imports the experiment ``name`` (one of `EXPERIMENTS`).

  Raises:
    KeyError: naming the valid experiments, if ``name`` is not one.
  """
  if name not in EXPERIMENTS:
    raise KeyError(f"unknown experiment {name!r}; the experiments are {', '.join(EXPERIMENTS)}")
  return importlib.import_module(EXPERIMENTS[name].package)


def default_out(name: str, quick: bool) -> Path:
  """``runs/<name>_quick`` or ``runs/<name>``: where a run goes without ``--out``."""
  return DEFAULT_ROOT / (f"{name}_quick" if quick else name)


def with_seeds(config, seeds):
  """``config`` with its training seeds replaced by ``seeds`` (a field ``seeds``, or
  ``train.seeds``).

  Raises:
    ValueError: if ``config`` has no seeds to replace.
  """
  seeds = tuple(int(s) for s in seeds)
  if dataclasses.is_dataclass(config):
    fields = {f.name for f in dataclasses.fields(config)}
    if "seeds" in fields:
      return dataclasses.replace(config, seeds=seeds)
    if "train" in fields and dataclasses.is_dataclass(config.train) and "seeds" in {
        f.name for f in dataclasses.fields(config.train)}:
      return dataclasses.replace(config, train=dataclasses.replace(config.train, seeds=seeds))
  raise ValueError(f"{type(config).__name__} has no `seeds` (nor `train.seeds`) to replace")


__all__ = ["DEFAULT_ROOT", "EXPERIMENTS", "Experiment", "default_out", "load", "with_seeds"]
