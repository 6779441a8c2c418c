"""Toy imbalance simulations: free-logit dynamics and imbalanced classification, swept with JAX.

``gradeng simulate <name> [--quick]`` runs one; `reproduce` runs the quick set for
``gradeng reproduce``. See ``docs/experiments/toy.md``. The data sampler and the
metrics (jit/vmap-able pure functions) are public for other experiments (`gradeng.experiments.engineering`).
"""

from gradeng.experiments.toy._api import reproduce as run_presets
from gradeng.experiments.toy._api import run as run
from gradeng.experiments.toy._classify import minority_count as minority_count
from gradeng.experiments.toy._classify import sample as sample
from gradeng.experiments.toy._api import simulate as simulate
from gradeng.experiments.toy._config import PRESETS as PRESETS
from gradeng.experiments.toy._config import ClassificationConfig as ClassificationConfig
from gradeng.experiments.toy._config import FreeLogitConfig as FreeLogitConfig
from gradeng.experiments.toy._config import ToyConfig as ToyConfig
from gradeng.experiments.toy._config import get_config as get_config
from gradeng.experiments.toy._config import get_preset as get_preset
from gradeng.experiments.toy._config import grid_cells as grid_cells
from gradeng.experiments.toy._config import parse_override as parse_override
from gradeng.experiments.toy._figures import make_figures as make_figures
from gradeng.experiments.toy._metrics import average_precision as average_precision
from gradeng.experiments.toy._metrics import smooth_average_precision as smooth_average_precision
from gradeng.experiments.toy._metrics import expected_calibration_error as expected_calibration_error
from gradeng.experiments.toy._metrics import gradient_share as gradient_share
from gradeng.experiments.toy._metrics import minority_recall as minority_recall
from gradeng.experiments.toy._sweep import SweepResult as SweepResult
from gradeng.experiments.toy._sweep import load_sweep as load_sweep
from gradeng.experiments.toy._sweep import plan_chunks as plan_chunks
from gradeng.experiments.toy._sweep import run_sweep as run_sweep
from gradeng.experiments.toy._reproduce import reproduce as reproduce
