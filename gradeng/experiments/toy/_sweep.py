"""Run a sweep: the whole grid ``vmap``ped, jitted, sharded over devices, saved in resumable chunks.

The grid (loss × hyper-parameter × imbalance ratio × seed, `grid_cells` order) is cut into
chunks of at most ``config.chunk_size`` trainings, each of one loss kind. Per loss kind the
training function is ``vmap``ped over (hyper-parameter, ratio, seed) and jitted **once**, with the
flattened sweep axis sharded over a 1-D `jax.sharding.Mesh` of all devices
(``NamedSharding(mesh, P("sweep"))`` inputs, ``shard_map`` over the axis); each chunk is padded
(with copies of its last cell) to that kind's fixed size, a multiple of devices × ``config.batch``.
The loss kind is a compile-time constant (one compilation per kind, not a ``lax.switch``, which
under ``vmap`` would evaluate every loss for every cell). The chunk layout depends only on the
config, so a sweep can be resumed on a different number of devices, and every number is the same.

Results directory::

  config.json          the config (a directory written by another config is refused)
  chunks/00000.npz     one file per finished chunk (atomic: temp file + os.replace)
  results.npz          every output per training + the cell table (loss, hyper, ratio, seed)
  summary.json         config + mean/std over seeds of each scalar summary per setting and ratio

Re-running skips chunks already saved, so a killed run resumes where it stopped.

Several processes (hosts, or one process per GPU): call
`gradeng.experiments.common.initialize_distributed` in every process before any JAX computation
and run the same sweep in each; ``jax.devices()`` is then every process's devices and the mesh
spans them all. Every process plans the same chunks; each builds the shards of its own devices
(`global_array`) and every chunk's outputs are gathered to every host (`gather_to_host`). Only
process 0 touches the results directory (claims it, lists the finished chunks, writes chunks and
results: `on_main_process`) and sends the others what it read, so the directory need only be on
process 0's filesystem. The numbers equal those of one process with as many devices (tested with
2 local CPU processes against 1 process of 2 devices, ``tests/test_distributed.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from gradeng.experiments.common import (atomic_write_bytes, atomic_write_json, claim_run_dir,
                                        gather_to_host, global_array, is_main_process,
                                        on_main_process)

from . import _classify, _free_logit
from ._config import Config, grid_cells

SIMULATIONS = {"free_logit": _free_logit, "classification": _classify}
AXIS = "sweep"


@dataclasses.dataclass(frozen=True)
class Chunk:
  """Trainings ``start:stop`` of the grid (one loss kind), saved as ``chunks/{index:05d}.npz``."""

  index: int
  loss: str
  start: int
  stop: int

  @property
  def filename(self) -> str:
    return f"{self.index:05d}.npz"


@dataclasses.dataclass(frozen=True)
class SweepResult:
  """A finished sweep.

  Attributes:
    directory: the results directory.
    arrays: ``results.npz`` contents: cell table (``loss``, ``hyper``, ``ratio``, ``seed``) and
      every output, leading axis = trainings in grid order.
    summary: ``summary.json`` contents.
    computed_chunks: chunks computed by this call (the others were loaded).
    seconds: wall time of this call.
  """

  directory: Path
  arrays: dict[str, np.ndarray]
  summary: dict[str, Any]
  computed_chunks: int = 0
  seconds: float = 0.0


def plan_chunks(config: Config) -> list[Chunk]:
  """The chunks of the grid, in order; each holds cells of one loss kind."""
  chunks, start = [], 0
  for loss, hypers in config.losses:
    stop = start + len(hypers) * len(config.imbalance) * len(config.seeds)
    for first in range(start, stop, config.chunk_size):
      chunks.append(Chunk(len(chunks), loss, first, min(first + config.chunk_size, stop)))
    start = stop
  return chunks


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
  """Writes ``arrays`` to ``path`` atomically (temp file in the same directory + os.replace)."""
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  atomic_write_bytes(path, lambda f: f.write(buffer.getvalue()))


def save_json(path: Path, data: Any) -> None:
  """Writes ``data`` as JSON to ``path`` atomically."""
  atomic_write_json(path, data, indent=1, allow_nan=True)


def load_npz(path: Path) -> dict[str, np.ndarray]:
  with np.load(path, allow_pickle=False) as data:
    return {k: data[k] for k in data.files}


def _prepare_directory(directory: Path, config: Config) -> None:
  claim_run_dir(directory, config.to_dict(), require_empty=True, indent=1, sort_keys=False)


def _cell_inputs(config: Config, start: int, stop: int) -> tuple[np.ndarray, ...]:
  cells = grid_cells(config)[start:stop]
  hyper = np.array([np.nan if h is None else h for _, h, _, _ in cells], np.float32)
  ratio = np.array([r for _, _, r, _ in cells], np.float32)
  seed = np.array([s for _, _, _, s in cells], np.uint32)
  return hyper, ratio, seed


@functools.lru_cache(maxsize=64)
def _sharded_training(config: Config, loss: str, devices: tuple[jax.Device, ...]):
  """The jitted training of one loss kind over a batch of cells sharded over ``devices``.

  ``shard_map`` gives each device its slice of the sweep axis; there the cells go through
  ``lax.map`` in groups of ``config.batch``, each group one ``vmap``ped training. Every device
  therefore runs the same program on ``[batch]``-shaped arrays whatever the device count, and the
  numbers are bit-identical on 1 or 8 devices. Cached so that repeated sweeps of one config
  (resume, re-run) reuse the compilation.
  """
  mesh = Mesh(np.asarray(devices), (AXIS,))
  sharding = NamedSharding(mesh, PartitionSpec(AXIS))
  train = jax.vmap(SIMULATIONS[config.kind].make_training(config, loss))

  def per_device(*cells):
    groups = tuple(c.reshape(-1, config.batch) for c in cells)
    outputs = jax.lax.map(lambda group: train(*group), groups)
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), outputs)

  sweep = jax.shard_map(per_device, mesh=mesh, in_specs=(PartitionSpec(AXIS),) * 3,
                        out_specs=PartitionSpec(AXIS), check_vma=False)  # no collectives
  return jax.jit(sweep, in_shardings=(sharding,) * 3, out_shardings=sharding), sharding


class _Executor:
  """Runs chunks: each padded to its loss kind's fixed size, a multiple of devices × batch."""

  def __init__(self, config: Config, devices: Sequence[jax.Device]):
    self.config = config
    self.devices = tuple(devices)

  def batch_size(self, loss: str) -> int:
    cells = sum(len(h) for name, h in self.config.losses if name == loss)
    cells *= len(self.config.imbalance) * len(self.config.seeds)
    unit = len(self.devices) * self.config.batch
    return math.ceil(min(self.config.chunk_size, cells) / unit) * unit

  def __call__(self, chunk: Chunk) -> dict[str, np.ndarray]:
    function, sharding = _sharded_training(self.config, chunk.loss, self.devices)
    size = self.batch_size(chunk.loss)
    n = chunk.stop - chunk.start
    inputs = []
    for host in _cell_inputs(self.config, chunk.start, chunk.stop):
      padded = np.concatenate([host, np.repeat(host[-1:], size - n)])
      inputs.append(global_array(padded, sharding))
    outputs = gather_to_host(function(*inputs))
    return {name: value[:n] for name, value in outputs.items()}


def run_sweep(config: Config, directory: str | os.PathLike, *,
              devices: Sequence[jax.Device] | None = None, progress: bool = True,
              after_chunk: Callable[[Chunk], None] | None = None) -> SweepResult:
  """Runs (or resumes) the sweep ``config`` into ``directory`` and returns its results.

  Args:
    config: a `FreeLogitConfig` or `ClassificationConfig`.
    directory: results directory; created if absent; refused if written by another config.
      In a multi-process run only process 0 reads and writes it.
    devices: devices of the 1-D mesh the sweep axis is sharded over (default: all,
      ``jax.devices()``, every process's in a multi-process run).
    progress: show a tqdm progress bar over chunks (in process 0).
    after_chunk: called after each chunk is saved (for tests that interrupt a run).

  Returns:
    The `SweepResult` (also saved as ``results.npz`` and ``summary.json``), the same in every
    process.
  """
  begin = time.perf_counter()
  directory = Path(directory)
  devices = list(jax.devices() if devices is None else devices)
  chunks = plan_chunks(config)
  chunk_dir = directory / "chunks"

  def claim_and_list() -> list[int]:
    _prepare_directory(directory, config)
    return [c.index for c in chunks if not (chunk_dir / c.filename).exists()]

  todo = [chunks[i] for i in on_main_process(claim_and_list)]  # one listing for every process
  execute = _Executor(config, devices)
  with tqdm(total=len(chunks), initial=len(chunks) - len(todo), desc=config.name, unit="chunk",
            disable=not progress or not is_main_process()) as bar:
    for chunk in todo:
      outputs = execute(chunk)
      saved = {**outputs, "cell_index": np.arange(chunk.start, chunk.stop)}
      on_main_process(lambda: save_npz(chunk_dir / chunk.filename, saved))
      bar.update(1)
      if after_chunk is not None:
        after_chunk(chunk)

  def assemble_and_save() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays, summary = _assemble(config, directory, chunks)
    save_npz(directory / "results.npz", arrays)
    save_json(directory / "summary.json", summary)
    return arrays, summary

  arrays, summary = on_main_process(assemble_and_save)
  return SweepResult(directory, arrays, summary, len(todo), time.perf_counter() - begin)


def _assemble(config: Config, directory: Path,
              chunks: Sequence[Chunk]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  parts = []
  for chunk in chunks:
    part = load_npz(directory / "chunks" / chunk.filename)
    if not np.array_equal(part.pop("cell_index"), np.arange(chunk.start, chunk.stop)):
      raise ValueError(f"{directory / 'chunks' / chunk.filename} does not hold cells "
                       f"{chunk.start}:{chunk.stop}; the directory is corrupt.")
    parts.append(part)
  outputs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  cells = grid_cells(config)
  hyper, ratio, seed = _cell_inputs(config, 0, len(cells))
  table = {"loss": np.array([c[0] for c in cells]), "hyper": hyper, "ratio": ratio, "seed": seed}
  scalars = SIMULATIONS[config.kind].summarise(outputs)
  return {**table, **outputs}, _summary(config, table, scalars)


def _summary(config: Config, table: dict[str, np.ndarray],
             scalars: dict[str, np.ndarray]) -> dict[str, Any]:
  rows = []
  for loss, hypers in config.losses:
    for hyper in hypers:
      for ratio in config.imbalance:
        mask = (table["loss"] == loss) & (table["ratio"] == np.float32(ratio))
        mask &= np.isnan(table["hyper"]) if hyper is None else table["hyper"] == np.float32(hyper)
        row = {"loss": loss, "hyper": hyper, "ratio": ratio, "n_seeds": int(mask.sum())}
        for name, values in scalars.items():
          v = values[mask].astype(np.float64)
          row[name] = {"mean": _number(np.nanmean(v)) if np.isfinite(v).any() else None,
                       "std": _number(np.nanstd(v)) if np.isfinite(v).any() else None}
        rows.append(row)
  simulation = SIMULATIONS[config.kind]
  return {"config": config.to_dict(), "n_trainings": len(table["loss"]),
          "outputs": simulation.OUTPUTS, "metrics": rows}


def _number(x) -> float:
  return float(np.round(float(x), 7))


def load_sweep(directory: str | os.PathLike) -> SweepResult:
  """A finished sweep read back from its ``results.npz`` and ``summary.json``."""
  directory = Path(directory)
  for name in ("results.npz", "summary.json"):
    if not (directory / name).exists():
      raise ValueError(f"{directory} has no {name}: run the sweep (it resumes) first.")
  return SweepResult(directory, load_npz(directory / "results.npz"),
                     json.loads((directory / "summary.json").read_text()))
