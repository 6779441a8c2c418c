"""What every experiment shares: run directories, configs as JSON, checkpoints, atomic writes
and figure files.

One implementation of each: a run directory is claimed with `claim_run_dir` (a directory written
by another config is refused, the same config resumes), checkpoints are single ``.npz`` files
written atomically (`save_checkpoint`, `load_checkpoint`), results are written with the
``atomic_write_*`` functions and figures with `save_figure` (one `DPI`, byte-stable PNGs).
The experiment commands run under `DETERMINISTIC_XLA_FLAGS` (`use_deterministic_xla`), so their
numbers do not depend on whether the CPU has AVX-512.
A run over several processes (`initialize_distributed`) reads and writes its directory from the
main process only (`on_main_process`, `broadcast_from_main`), builds its inputs per process
(`global_array`) and gathers its outputs to every host (`gather_to_host`).
"""

from gradeng.experiments.common._checkpoint import load_checkpoint as load_checkpoint
from gradeng.experiments.common._checkpoint import read_checkpoint_config as read_checkpoint_config
from gradeng.experiments.common._checkpoint import save_checkpoint as save_checkpoint
from gradeng.experiments.common._config import CONFIG_FILE as CONFIG_FILE
from gradeng.experiments.common._config import check_config as check_config
from gradeng.experiments.common._config import claim_run_dir as claim_run_dir
from gradeng.experiments.common._config import first_difference as first_difference
from gradeng.experiments.common._config import flatten as flatten
from gradeng.experiments.common._config import to_jsonable as to_jsonable
from gradeng.experiments.common._distributed import broadcast_from_main as broadcast_from_main
from gradeng.experiments.common._distributed import gather_to_host as gather_to_host
from gradeng.experiments.common._distributed import global_array as global_array
from gradeng.experiments.common._distributed import initialize_distributed as initialize_distributed
from gradeng.experiments.common._distributed import is_main_process as is_main_process
from gradeng.experiments.common._distributed import on_main_process as on_main_process
from gradeng.experiments.common._figures import DPI as DPI
from gradeng.experiments.common._figures import save_figure as save_figure
from gradeng.experiments.common._io import atomic_write_bytes as atomic_write_bytes
from gradeng.experiments.common._io import atomic_write_csv as atomic_write_csv
from gradeng.experiments.common._io import atomic_write_json as atomic_write_json
from gradeng.experiments.common._io import atomic_write_text as atomic_write_text
from gradeng.experiments.common._xla import DETERMINISTIC_XLA_FLAGS as DETERMINISTIC_XLA_FLAGS
from gradeng.experiments.common._xla import merge_xla_flags as merge_xla_flags
from gradeng.experiments.common._xla import use_deterministic_xla as use_deterministic_xla

__all__ = [
    "CONFIG_FILE", "DETERMINISTIC_XLA_FLAGS", "DPI", "atomic_write_bytes", "atomic_write_csv", "atomic_write_json",
    "atomic_write_text", "broadcast_from_main", "check_config", "claim_run_dir", "first_difference",
    "flatten", "gather_to_host", "global_array", "initialize_distributed", "is_main_process",
    "load_checkpoint", "merge_xla_flags", "on_main_process", "read_checkpoint_config",
    "save_checkpoint", "save_figure", "to_jsonable", "use_deterministic_xla",
]
