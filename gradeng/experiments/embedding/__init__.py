"""Open-set embedding experiment (issue 11): train on digits 0–5, retrieve the unseen 6–9."""

from gradeng.experiments.embedding._config import DataConfig as DataConfig
from gradeng.experiments.embedding._config import ExperimentConfig as ExperimentConfig
from gradeng.experiments.embedding._config import TrainConfig as TrainConfig
from gradeng.experiments.embedding._config import get_config as get_config
from gradeng.experiments.embedding._metrics import retrieval_metrics as retrieval_metrics
from gradeng.experiments.embedding._reproduce import reproduce as reproduce
from gradeng.experiments.embedding._experiment import run_experiment as run
