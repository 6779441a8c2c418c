"""What every experiment shares: run directories, configs as JSON, checkpoints, atomic writes
and figure files.

One implementation of each: a run directory is claimed with `claim_run_dir` (a directory written
by another config is refused, the same config resumes), checkpoints are single ``.npz`` files
written atomically (`save_checkpoint`, `load_checkpoint`), results are written with the
``atomic_write_*`` functions and figures with `save_figure` (one `DPI`, byte-stable PNGs).
The experiment commands run under `DETERMINISTIC_XLA_FLAGS` (`use_deterministic_xla`), so their
numbers do not depend on whether the CPU has AVX-512.
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
    "atomic_write_text", "check_config", "claim_run_dir", "first_difference", "flatten",
    "load_checkpoint", "merge_xla_flags", "read_checkpoint_config", "save_checkpoint", "save_figure",
    "to_jsonable", "use_deterministic_xla",
]
