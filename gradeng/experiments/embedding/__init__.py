"""Open-set embedding experiment: train on digits 0–5, retrieve the unseen 6–9.

The frame of every experiment (`gradeng.experiments`): ``get_config(quick)`` and
``run(config, out_dir)``; modules ``_config``, ``_data`` (the digit splits), ``_model`` (the
embedding MLP), ``_train`` (the losses and one loss's training over its seeds), ``_metrics``
(retrieval metrics), ``_report`` (results table and figures), ``_derivations`` (the pair-loss
derivation reports), ``_experiment`` (`run`) and ``_reproduce`` (the `gradeng reproduce` step).
"""

from gradeng.experiments.embedding._config import DataConfig as DataConfig
from gradeng.experiments.embedding._config import ExperimentConfig as ExperimentConfig
from gradeng.experiments.embedding._config import TrainConfig as TrainConfig
from gradeng.experiments.embedding._config import get_config as get_config
from gradeng.experiments.embedding._metrics import retrieval_metrics as retrieval_metrics
from gradeng.experiments.embedding._reproduce import reproduce as reproduce
from gradeng.experiments.embedding._experiment import run_experiment as run
from gradeng.experiments.embedding._experiment import run_experiment as run_experiment
from gradeng.experiments.embedding._report import summarize as summarize
