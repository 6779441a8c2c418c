"""Crowded scenes: crowded digit canvases, a set-prediction head trained with
Hungarian matching, and its comparison with SSD-lite + NMS (`gradeng experiment crowded`).

The frame of every experiment (`gradeng.experiments`): ``get_config(quick)`` and
``run(config, out_dir)``; modules ``_config``, ``_data`` (crowded canvases per level), ``_model``
(the set head on the detection experiment's backbone; SSD-lite is the detection experiment's),
``_matching`` (Hungarian matching and the set loss), ``_train`` (both methods' runs and their
evaluation), ``_report`` (figure, CSV, table, results JSON), ``_experiment`` (`run`) and
``_reproduce`` (the `gradeng reproduce` step).
"""

from gradeng.experiments.crowded._config import CONFIGS as CONFIGS
from gradeng.experiments.crowded._config import SET_LOSSES as SET_LOSSES
from gradeng.experiments.crowded._config import CrowdedConfig as CrowdedConfig
from gradeng.experiments.crowded._config import CrowdedData as CrowdedData
from gradeng.experiments.crowded._config import CrowdingLevel as CrowdingLevel
from gradeng.experiments.crowded._config import SetHeadConfig as SetHeadConfig
from gradeng.experiments.crowded._config import SetLoss as SetLoss
from gradeng.experiments.crowded._config import get_config as get_config
from gradeng.experiments.crowded._data import build_data as build_data
from gradeng.experiments.crowded._train import nms_ceiling as nms_ceiling
from gradeng.experiments.crowded._experiment import run_experiment as run_experiment
from gradeng.experiments.crowded._report import summarize as summarize
from gradeng.experiments.crowded._matching import hungarian_match as hungarian_match
from gradeng.experiments.crowded._matching import matching_cost as matching_cost
from gradeng.experiments.crowded._matching import set_loss as set_loss
from gradeng.experiments.crowded._model import SetHead as SetHead
from gradeng.experiments.crowded._model import init_set_head as init_set_head
from gradeng.experiments.crowded._train import batch_set_loss as batch_set_loss
from gradeng.experiments.crowded._train import set_detections as set_detections
from gradeng.experiments.crowded._train import train_set_head as train_set_head
from gradeng.experiments.crowded._reproduce import reproduce as reproduce
from gradeng.experiments.crowded._experiment import run_experiment as run
