"""Ordinal experiment (issue 12 §3): count the digits on a canvas with hard, blurred and L2 targets."""

from gradeng.experiments.ordinal._config import OrdinalConfig as OrdinalConfig
from gradeng.experiments.ordinal._config import OrdinalLoss as OrdinalLoss
from gradeng.experiments.ordinal._config import get_config as get_config
from gradeng.experiments.ordinal._experiment import prepare_data as prepare_data
from gradeng.experiments.ordinal._experiment import run_experiment as run_experiment
from gradeng.experiments.ordinal._experiment import summarize as summarize
from gradeng.experiments.ordinal._experiment import train_loss as train_loss
from gradeng.experiments.ordinal._reproduce import reproduce as reproduce
from gradeng.experiments.ordinal._experiment import run_experiment as run
