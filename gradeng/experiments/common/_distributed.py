"""One program over many processes: `jax.distributed` set-up and the few collectives the runs need.

A multi-process run starts the same command in every process (one per host, or one per GPU);
`initialize_distributed` connects them, after which ``jax.devices()`` lists every process's
devices and a `jax.sharding.Mesh` of them spans all processes. The runs follow three rules:

* every process computes the same plan (chunks, steps, padding) from the same config, and
  builds its part of each global input itself (`global_array`: each process fills the shards of
  its own devices from the full host value);
* results come back to every process's host (`gather_to_host`);
* only the main process (index 0) reads or writes the run directory (`on_main_process`); what it
  read or decided (which chunks are done, the saved state to resume from, an error) is sent to
  the others (`broadcast_from_main`), so the run directory need not be on a filesystem that the
  other processes see, and an error raised by the main process is raised by every process instead
  of leaving them waiting in a collective.

With one process every function here is the trivial one (no communication), so single-process
runs are unchanged.
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax
import numpy as np

from gradeng.runtime import InputError

T = TypeVar("T")

_ADDRESS = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\s]+):(?P<port>[0-9]+)$")


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None, process_id: int | None = None,
                           local_device_ids: int | Sequence[int] | None = None, *,
                           initialization_timeout: int = 300) -> None:
  """Connects this process to the others of a multi-process run (`jax.distributed.initialize`).

  Call it in every process before any JAX computation (no array created, nothing compiled,
  not even ``jax.devices()``). Afterwards ``jax.devices()`` is the global device list and
  ``jax.process_index()`` this process's index. Two ways to call it:

  * explicitly: ``coordinator_address`` (``HOST:PORT`` of process 0, reachable from every
    process, the port free there), ``num_processes`` and ``process_id`` (0 … N − 1);
  * without arguments, on a cluster JAX recognises: a Cloud TPU pod (every host runs the same
    command), SLURM (``srun``: one process per task) or Open MPI (``mpirun``); JAX reads the
    coordinator, process count and index from the environment there.

  ``local_device_ids`` restricts the process to some of its host's accelerators (e.g. one GPU
  per process: ``local_device_ids=[local_rank]``); under SLURM and Open MPI on GPUs JAX already
  gives each process one GPU.

  On CPU the processes exchange data over TCP with gloo, JAX's default CPU collectives since
  0.5 (``jax_cpu_collectives_implementation``); if that setting is empty it is set to
  ``"gloo"`` here, since cross-process computations on CPU need it. Calling this again once
  initialised does nothing.

  Args:
    coordinator_address: ``HOST:PORT`` of process 0's coordinator service.
    num_processes: the number of processes N ≥ 1.
    process_id: this process's index in [0, N).
    local_device_ids: this process's devices (default: all of its host's).
    initialization_timeout: seconds to wait for every process to connect before failing.

  Raises:
    InputError: if an argument is malformed or out of range, or (without arguments) JAX
      detects no cluster.
    RuntimeError: (from JAX) if JAX already started its backend in this process.

  Example (two processes on one machine, one CPU device each; shell)::

    XLA_FLAGS=--xla_force_host_platform_device_count=1 gradeng simulate free_logit --quick \\
        --coordinator localhost:12355 --num-processes 2 --process-id 0 &
    XLA_FLAGS=--xla_force_host_platform_device_count=1 gradeng simulate free_logit --quick \\
        --coordinator localhost:12355 --num-processes 2 --process-id 1
  """
  if coordinator_address is not None and not _ADDRESS.match(coordinator_address):
    raise InputError(f"`coordinator_address` must read HOST:PORT (e.g. 10.0.0.1:12355); got "
                     f"{coordinator_address!r}")
  if coordinator_address is not None:
    port = int(_ADDRESS.match(coordinator_address)["port"])
    if not 1 <= port <= 65535:
      raise InputError(f"the port of `coordinator_address` must be in [1, 65535]; got {port}")
  if num_processes is not None and (not isinstance(num_processes, int) or num_processes < 1):
    raise InputError(f"`num_processes` must be an integer ≥ 1; got {num_processes!r}")
  if process_id is not None:
    if not isinstance(process_id, int) or process_id < 0:
      raise InputError(f"`process_id` must be an integer ≥ 0; got {process_id!r}")
    if num_processes is not None and process_id >= num_processes:
      raise InputError(f"`process_id` must be in [0, num_processes={num_processes}); got "
                       f"{process_id}")
  if initialization_timeout <= 0:
    raise InputError(f"`initialization_timeout` must be > 0 seconds; got {initialization_timeout}")
  if jax.distributed.is_initialized():
    return
  if jax.config.jax_cpu_collectives_implementation is None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id, local_device_ids,
                               initialization_timeout=initialization_timeout)
  except ValueError as error:  # JAX's checks of what it was given or detected
    hint = ("; no cluster was detected (Cloud TPU pod, SLURM, Open MPI): give the coordinator "
            "address, the number of processes and this process's id"
            if coordinator_address is None else "")
    raise InputError(f"jax.distributed.initialize: {str(error).rstrip('.')}{hint}") from error


def is_main_process() -> bool:
  """Whether this is process 0, the one that reads and writes the run directory.

  Starts JAX's backend: call `initialize_distributed` first in a multi-process run.

  Example::

    >>> from gradeng.experiments.common import is_main_process
    >>> is_main_process()  # a single-process run
    True
  """
  return jax.process_index() == 0


def _bucket(size: int) -> int:
  """``size`` rounded up to a power of two (≥ 256): few distinct shapes, few compilations."""
  return 1 << max(8, math.ceil(math.log2(max(size, 1))))


class _NotSent(RuntimeError):
  """Sent instead of a value that cannot be pickled; raised in every process."""


def broadcast_from_main(value: T) -> T:
  """The main process's ``value`` (any picklable object), returned in every process.

  The other processes' ``value`` is ignored. The object travels pickled, as bytes, through one
  cross-process sum of a ``uint8`` array (`jax.experimental.multihost_utils.broadcast_one_to_all`),
  preceded by its length. Every process must call it, in the same order.

  Raises:
    RuntimeError: in every process, if process 0's ``value`` cannot be pickled.

  Example::

    >>> from gradeng.experiments.common import broadcast_from_main
    >>> broadcast_from_main({"done": [0, 2]})  # a single-process run: the value itself
    {'done': [0, 2]}
  """
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils

  main, payload = is_main_process(), b""
  if main:
    try:
      payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # noqa: BLE001 -- every process must still join the collectives
      payload = pickle.dumps(_NotSent(f"process 0 could not send its value to the other "
                                      f"processes: {error}"))
  length = int(multihost_utils.broadcast_one_to_all(np.int32(len(payload))))
  buffer = np.zeros(_bucket(length), np.uint8)
  if main:
    buffer[:length] = np.frombuffer(payload, np.uint8)
  received = np.asarray(multihost_utils.broadcast_one_to_all(buffer))[:length]
  received = pickle.loads(received.tobytes())
  if isinstance(received, _NotSent):
    raise received
  return value if main else received


def on_main_process(function: Callable[[], T]) -> T:
  """Calls ``function()`` in the main process only; every process returns its result.

  For reads and writes of the run directory: the main process runs ``function``; its return
  value, or the exception it raised, is sent to the other processes (`broadcast_from_main`), and
  every process returns that value or raises that exception. So all processes take the same
  branch afterwards, and an error (a directory of another config, a full disk) stops all of them.

  Example::

    >>> from gradeng.experiments.common import on_main_process
    >>> on_main_process(lambda: 6 * 7)
    42
  """
  if jax.process_count() == 1:
    return function()
  outcome: tuple[bool, Any] = (True, None)
  if is_main_process():
    try:
      outcome = (True, function())
    except Exception as error:  # noqa: BLE001 -- raised again below, in every process
      outcome = (False, error)
  ok, value = broadcast_from_main(outcome)
  if not ok:
    raise value
  return value


def global_array(value: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
  """The global `jax.Array` of ``value`` laid out by ``sharding`` (over all processes' devices).

  Every process passes the same full ``value`` (it computed the same plan) and fills the shards
  of its own devices from it (`jax.make_array_from_callback`); nothing crosses processes.

  Example::

    >>> import jax, numpy as np
    >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec
    >>> from gradeng.experiments.common import global_array
    >>> mesh = Mesh(np.array(jax.devices()[:1]), ("sweep",))
    >>> x = global_array(np.arange(4.0), NamedSharding(mesh, PartitionSpec("sweep")))
    >>> x.shape, x.sharding.spec == PartitionSpec("sweep")
    ((4,), True)
  """
  value = np.asarray(value)
  return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def gather_to_host(tree: Any) -> Any:
  """Every array of ``tree`` as a full NumPy array in every process's host memory.

  A replicated array is read from this process's own copy; a sharded one is gathered across
  processes (`jax.experimental.multihost_utils.process_allgather`, ``tiled=True``), which every
  process must call together.

  Example::

    >>> import jax.numpy as jnp
    >>> from gradeng.experiments.common import gather_to_host
    >>> gather_to_host({"theta": jnp.arange(3.0)})
    {'theta': array([0., 1., 2.], dtype=float32)}
  """
  if jax.process_count() == 1:
    return jax.tree.map(np.asarray, tree)
  from jax.experimental import multihost_utils

  def to_host(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable and x.is_fully_replicated:
      return np.asarray(x.addressable_data(0))
    return multihost_utils.process_allgather(x, tiled=True)

  return jax.tree.map(to_host, tree)
