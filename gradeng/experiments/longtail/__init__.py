"""Long-tail experiment: long-tailed scikit-learn digits (IF 10 and 100), balanced test set,
top-1 accuracy overall and on many/medium/few-shot classes, ≥ 3 seeds vmapped.

The frame of every experiment: ``get_config(quick)`` and ``run(config, out_dir) -> dict``;
modules ``_config``, ``_data``, ``_model`` (an MLP pytree), ``_train`` (one loss over its seeds),
``_report`` (accuracies, table) and ``_experiment`` (`run`). Not registered with the CLI.
"""

from gradeng.experiments.longtail._config import LOSSES as LOSSES
from gradeng.experiments.longtail._config import LongTailConfig as LongTailConfig
from gradeng.experiments.longtail._config import get_config as get_config
from gradeng.experiments.longtail._data import prepare_data as prepare_data
from gradeng.experiments.longtail._experiment import run_experiment as run
from gradeng.experiments.longtail._experiment import run_experiment as run_experiment
from gradeng.experiments.longtail._train import objective as objective
from gradeng.experiments.longtail._train import train_loss as train_loss

__all__ = ["LOSSES", "LongTailConfig", "get_config", "prepare_data", "run", "run_experiment",
           "objective", "train_loss"]
