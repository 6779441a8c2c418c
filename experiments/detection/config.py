"""The detection experiment's configurations: the file to copy and edit for your own runs.

`gradeng experiment detection` runs, by default, the configurations that ship with the package,
`gradeng.experiments.detection.configs` (its docstring lists the variants -- paper, engineering,
converged -- with their commands and measured costs; `DETECTION_LOSSES` there is the table of
classification losses with the paper's Table 1 hyper-parameters). This file re-exports them, so
that a copy of it is a working config file to start from::

    cp experiments/detection/config.py my_config.py      # then edit get_config in the copy
    gradeng experiment detection --config my_config.py --quick

A config file defines ``get_config(quick, variant="paper") -> ExperimentConfig``; change a field
with ``dataclasses.replace`` or `override` (train settings), or build an `ExperimentConfig` from
`gradeng.experiments.detection` (DataConfig, ModelConfig, FeatureMap, TrainConfig, LossSpec).
"""

from gradeng.experiments.detection.configs import DETECTION_LOSSES as DETECTION_LOSSES
from gradeng.experiments.detection.configs import VARIANTS as VARIANTS
from gradeng.experiments.detection.configs import get_config as get_config
from gradeng.experiments.detection.configs import override as override
