"""LVIS-style long-tailed detection: SSD-lite on digit canvases where 3 digits are frequent, 4
common and 3 rare; AP_r / AP_c / AP_f and mAP@0.5 for the detection losses of
`gradeng.longtail` (sigmoid EQL, EQL v2, EFL; softmax Seesaw) next to sigmoid focal with its
prior initialisation and softmax CE + OHEM, over ≥ 3 seeds trained together (vmapped).

The frame of every experiment: ``get_config(quick)`` and ``run(config, out_dir)``; modules
``_config``, ``_data`` (long-tailed canvases), ``_model`` (the detection experiment's SSD-lite,
sigmoid or softmax head), ``_train`` (one loss over its seeds), ``_report`` (AP per frequency
group, table, figure) and ``_experiment`` (`run`).
"""

from gradeng.experiments.longtail.detection._config import KINDS as KINDS
from gradeng.experiments.longtail.detection._config import LOSSES as LOSSES
from gradeng.experiments.longtail.detection._config import DetectionLoss as DetectionLoss
from gradeng.experiments.longtail.detection._config import LongTailDetectionConfig as LongTailDetectionConfig
from gradeng.experiments.longtail.detection._config import get_config as get_config
from gradeng.experiments.longtail.detection._data import LongTailCanvases as LongTailCanvases
from gradeng.experiments.longtail.detection._data import image_counts as image_counts
from gradeng.experiments.longtail.detection._data import instance_counts as instance_counts
from gradeng.experiments.longtail.detection._data import long_tail_canvases as long_tail_canvases
from gradeng.experiments.longtail.detection._data import select_long_tail as select_long_tail
from gradeng.experiments.longtail.detection._experiment import run as run
from gradeng.experiments.longtail.detection._model import class_scores as class_scores
from gradeng.experiments.longtail.detection._model import init_detector as init_detector
from gradeng.experiments.longtail.detection._model import sigmoid_prior_bias as sigmoid_prior_bias
from gradeng.experiments.longtail.detection._report import group_ap as group_ap
from gradeng.experiments.longtail.detection._report import summarize_results as summarize_results
from gradeng.experiments.longtail.detection._report import table as table
from gradeng.experiments.longtail.detection._train import anchor_losses as anchor_losses
from gradeng.experiments.longtail.detection._train import prepare as prepare
from gradeng.experiments.longtail.detection._train import train_loss as train_loss

__all__ = ["KINDS", "LOSSES", "DetectionLoss", "LongTailDetectionConfig", "get_config",
           "LongTailCanvases", "image_counts", "instance_counts", "long_tail_canvases",
           "select_long_tail", "run", "class_scores", "init_detector", "sigmoid_prior_bias",
           "group_ap", "summarize_results", "table", "anchor_losses", "prepare", "train_loss"]
