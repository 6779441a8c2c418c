"""Checkpoints as a single ``.npz`` written atomically (temporary file + rename).

A checkpoint holds the leaves of a pytree (model parameters and optimiser state), the step,
the run's config as JSON and any JSON-able extra state (the metric history). Loading
checks the stored config against the current one and names the first key that differs,
so a run never resumes from, or overwrites, a checkpoint of a different experiment.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

from gradeng.experiments.common._config import check_config
from gradeng.experiments.common._io import atomic_write_bytes


def save_checkpoint(path: str | os.PathLike, tree: Any, *, step: int, config: dict,
                    extra: Any = None) -> None:
  """Writes ``tree``'s leaves, ``step``, ``config`` and ``extra`` (JSON) to ``path``."""
  leaves = jax.tree_util.tree_leaves(tree)
  arrays = {f"leaf_{i:05d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
  arrays["step"] = np.asarray(step, np.int64)
  arrays["config_json"] = np.asarray(json.dumps(config, sort_keys=True))
  arrays["extra_json"] = np.asarray(json.dumps(extra))
  atomic_write_bytes(path, lambda f: np.savez(f, **arrays))


def read_checkpoint_config(path: str | os.PathLike) -> dict:
  """The config stored in the checkpoint at ``path``."""
  with np.load(path) as stored:
    return json.loads(str(stored["config_json"]))


def load_checkpoint(path: str | os.PathLike, template: Any, *, config: dict) -> tuple[Any, int, Any]:
  """Restores ``(tree, step, extra)`` from ``path`` into the structure of ``template``.

  Raises:
    InputError: if the checkpoint was written for a different config (naming the key).
    ValueError: if its arrays do not fit ``template``.
  """
  with np.load(path) as stored:
    check_config(path, json.loads(str(stored["config_json"])), config)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    names = sorted(k for k in stored.files if k.startswith("leaf_"))
    if len(names) != len(leaves):
      raise ValueError(f"{os.fspath(path)} holds {len(names)} arrays, the model needs {len(leaves)}")
    restored = []
    for name, leaf in zip(names, leaves):
      value = stored[name]
      if value.shape != np.shape(leaf) or value.dtype != np.asarray(leaf).dtype:
        raise ValueError(
            f"{os.fspath(path)}: array {name} is {value.dtype}{list(value.shape)}, the model needs "
            f"{np.asarray(leaf).dtype}{list(np.shape(leaf))}")
      restored.append(value)
    step = int(stored["step"])
    extra = json.loads(str(stored["extra_json"]))
  return jax.tree_util.tree_unflatten(treedef, restored), step, extra
