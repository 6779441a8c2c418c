"""Ordinal experiment: count the digits on a canvas with hard, blurred and L2 targets.

The frame of every experiment (`gradeng.experiments`): ``get_config(quick)`` and
``run(config, out_dir)``; modules ``_config`` (frozen dataclasses), ``_data`` (canvases and
counts), ``_model`` (a small CNN as a pytree), ``_train`` (one objective over its seeds,
checkpointed), ``_report`` (figure, CSV, table, results JSON), ``_experiment`` (`run`) and
``_reproduce`` (the `gradeng reproduce` step).
"""

from gradeng.experiments.ordinal._config import OrdinalConfig as OrdinalConfig
from gradeng.experiments.ordinal._config import OrdinalLoss as OrdinalLoss
from gradeng.experiments.ordinal._config import get_config as get_config
from gradeng.experiments.ordinal._data import prepare_data as prepare_data
from gradeng.experiments.ordinal._experiment import run_experiment as run
from gradeng.experiments.ordinal._experiment import run_experiment as run_experiment
from gradeng.experiments.ordinal._report import summarize as summarize
from gradeng.experiments.ordinal._reproduce import reproduce as reproduce
from gradeng.experiments.ordinal._train import train_loss as train_loss
