"""Toy imbalance simulations: free-logit dynamics and imbalanced classification, swept with JAX.

``gradeng experiment toy [--quick] [--out DIR]`` runs every preset (`get_config`, `run`);
``gradeng simulate <name> [--quick]`` runs one (`simulate`); `reproduce` is the `gradeng
reproduce` step. See ``docs/experiments/toy.md``. The data sampler and the metrics (jit/vmap-able
pure functions) are public for other experiments (`gradeng.experiments.engineering`).

The frame of every experiment (`gradeng.experiments`): modules ``_config`` (presets, `ToyConfig`),
``_data`` (the 2-D data), ``_model`` (logistic regression, MLP), ``_losses`` and ``_metrics``,
one training each in ``_free_logit`` and ``_classify``, ``_sweep`` (the sharded, chunked,
resumable runner: the experiment's training), ``_report`` (figures), ``_experiment`` (`run`,
`simulate`) and ``_reproduce``.
"""

from gradeng.experiments.toy._experiment import reproduce as run_presets
from gradeng.experiments.toy._experiment import run as run
from gradeng.experiments.toy._data import minority_count as minority_count
from gradeng.experiments.toy._data import sample as sample
from gradeng.experiments.toy._experiment import simulate as simulate
from gradeng.experiments.toy._config import PRESETS as PRESETS
from gradeng.experiments.toy._config import ClassificationConfig as ClassificationConfig
from gradeng.experiments.toy._config import FreeLogitConfig as FreeLogitConfig
from gradeng.experiments.toy._config import ToyConfig as ToyConfig
from gradeng.experiments.toy._config import get_config as get_config
from gradeng.experiments.toy._losses import TOY_LOSSES as TOY_LOSSES
from gradeng.experiments.toy._losses import FormulaLoss as FormulaLoss
from gradeng.experiments.toy._config import get_preset as get_preset
from gradeng.experiments.toy._config import grid_cells as grid_cells
from gradeng.experiments.toy._config import parse_override as parse_override
from gradeng.experiments.toy._report import make_figures as make_figures
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
