"""Long-tail experiment: long-tailed scikit-learn digits (IF 10 and 100), balanced test set,
top-1 accuracy overall and on many/medium/few-shot classes, ≥ 3 seeds vmapped.

The frame of every experiment (`gradeng.experiments`): ``get_config(quick)``,
``run(config, out_dir)`` and ``reproduce(out_dir, quick=...)``; modules ``_config``, ``_data``
(the long-tailed sets, padded so both imbalance factors share one compiled program per loss),
``_model`` (an MLP pytree, shift augmentation), ``_train`` (one loss over its seeds), ``_report``
(accuracies, tables, differences beyond the seed spread, figure), ``_experiment`` (`run`) and
``_reproduce`` (the `gradeng reproduce` step). The detection part, when present, is the
sub-package ``gradeng.experiments.longtail.detection``.
"""

from gradeng.experiments.longtail._config import LABELS as LABELS
from gradeng.experiments.longtail._config import LOSSES as LOSSES
from gradeng.experiments.longtail._config import LongTailConfig as LongTailConfig
from gradeng.experiments.longtail._config import get_config as get_config
from gradeng.experiments.longtail._config import with_seeds as with_seeds
from gradeng.experiments.longtail._data import LongTailData as LongTailData
from gradeng.experiments.longtail._data import prepare_data as prepare_data
from gradeng.experiments.longtail._experiment import run_experiment as run
from gradeng.experiments.longtail._experiment import run_experiment as run_experiment
from gradeng.experiments.longtail._report import GROUPS as GROUPS
from gradeng.experiments.longtail._report import METRICS as METRICS
from gradeng.experiments.longtail._report import accuracies as accuracies
from gradeng.experiments.longtail._report import differences as differences
from gradeng.experiments.longtail._report import summarize as summarize
from gradeng.experiments.longtail._reproduce import reproduce as reproduce
from gradeng.experiments.longtail._train import objective as objective
from gradeng.experiments.longtail._train import train_loss as train_loss

__all__ = ["GROUPS", "LABELS", "LOSSES", "METRICS", "LongTailConfig", "LongTailData", "accuracies",
           "differences", "get_config", "objective", "prepare_data", "reproduce", "run",
           "run_experiment", "summarize", "train_loss", "with_seeds"]
