"""Detection experiment (paper Figure 3): SSD-lite on canvases of real handwritten digits.

Also the detection parts other experiments build on (the crowded and ordinal experiments): digit
canvases (`make_digit_canvases`, `stack`, `pairwise_iou`), anchors and box utilities
(`make_anchors`, `encode`, `decode`, `match`, `nms`, `batched_nms`), the SSD-lite model and its
backbone (`init_model`, `make_backbone`, `backbone_features`, `init_module`), mAP
(`evaluate_map`) and the training-step helpers (`optimizer`, `init_loss_state`, `batch_indices`,
`accumulate`, `predict`, `run_config`, `train_run`).

The frame of every experiment (`gradeng.experiments`): ``get_config(quick)`` and
``run(config, out_dir)``; modules ``_config`` (dataclasses; the configs themselves in
``configs``), ``_data`` (canvases; ``_voc`` for Pascal VOC), ``_model`` (SSD-lite), ``_boxes``
(anchors, matching, NMS), ``_train`` (one (loss, seed) run), ``_metrics`` (mAP), ``_report``
(figure, CSV, table), ``_experiment`` (`run`) and ``_reproduce``.
"""

from gradeng.experiments.detection._boxes import batched_nms as batched_nms
from gradeng.experiments.detection._boxes import decode as decode
from gradeng.experiments.detection._boxes import encode as encode
from gradeng.experiments.detection._boxes import iou_matrix as iou_matrix
from gradeng.experiments.detection._boxes import make_anchors as make_anchors
from gradeng.experiments.detection._boxes import match as match
from gradeng.experiments.detection._boxes import nms as nms
from gradeng.experiments.detection._config import DataConfig as DataConfig
from gradeng.experiments.detection._config import ExperimentConfig as ExperimentConfig
from gradeng.experiments.detection._config import FeatureMap as FeatureMap
from gradeng.experiments.detection._config import LossSpec as LossSpec
from gradeng.experiments.detection._config import ModelConfig as ModelConfig
from gradeng.experiments.detection._config import TrainConfig as TrainConfig
from gradeng.experiments.detection._data import DetectionDataset as DetectionDataset
from gradeng.experiments.detection._data import InMemoryDataset as InMemoryDataset
from gradeng.experiments.detection._data import Sample as Sample
from gradeng.experiments.detection._data import make_digit_canvases as make_digit_canvases
from gradeng.experiments.detection._data import make_sample as make_sample
from gradeng.experiments.detection._data import pairwise_iou as pairwise_iou
from gradeng.experiments.detection._data import stack as stack
from gradeng.experiments.detection._experiment import load_config as load_config
from gradeng.experiments.detection._experiment import run_experiment as run_experiment
from gradeng.experiments.detection._report import summarize as summarize
from gradeng.experiments.detection._metrics import Detections as Detections
from gradeng.experiments.detection._metrics import all_point_ap as all_point_ap
from gradeng.experiments.detection._metrics import evaluate_map as evaluate_map
from gradeng.experiments.detection._model import SSDLite as SSDLite
from gradeng.experiments.detection._model import backbone_features as backbone_features
from gradeng.experiments.detection._model import background_bias as background_bias
from gradeng.experiments.detection._model import init_model as init_model
from gradeng.experiments.detection._model import init_module as init_module
from gradeng.experiments.detection._model import make_backbone as make_backbone
from gradeng.experiments.detection._train import CHECKPOINT as CHECKPOINT
from gradeng.experiments.detection._train import accumulate as accumulate
from gradeng.experiments.detection._train import batch_indices as batch_indices
from gradeng.experiments.detection._train import detection_loss as detection_loss
from gradeng.experiments.detection._train import evaluate as evaluate
from gradeng.experiments.detection._train import train_step as train_step
from gradeng.experiments.detection._train import init_loss_state as init_loss_state
from gradeng.experiments.detection._train import optimizer as optimizer
from gradeng.experiments.detection._train import predict as predict
from gradeng.experiments.detection._train import prepare_data as prepare_data
from gradeng.experiments.detection._train import run_config as run_config
from gradeng.experiments.detection._train import train_run as train_run
from gradeng.experiments.detection._voc import VOCDataset as VOCDataset
from gradeng.experiments.detection._voc import read_voc_annotation as read_voc_annotation
from gradeng.experiments.detection.configs import DETECTION_LOSSES as DETECTION_LOSSES
from gradeng.experiments.detection._reproduce import reproduce as reproduce
from gradeng.experiments.detection._experiment import run_experiment as run
from gradeng.experiments.detection.configs import get_config as get_config

__all__ = [
    "evaluate", "train_step",
    "reproduce", "run", "get_config",
    "accumulate", "all_point_ap", "backbone_features", "background_bias", "batch_indices",
    "batched_nms", "CHECKPOINT", "DataConfig", "decode", "detection_loss", "DETECTION_LOSSES",
    "DetectionDataset", "Detections", "encode", "evaluate_map", "ExperimentConfig", "FeatureMap",
    "init_loss_state", "init_model", "init_module", "InMemoryDataset", "iou_matrix", "load_config",
    "LossSpec", "make_anchors", "make_backbone", "make_digit_canvases", "make_sample", "match",
    "ModelConfig", "nms", "optimizer", "pairwise_iou", "predict", "prepare_data",
    "read_voc_annotation", "run_config", "run_experiment", "Sample", "SSDLite", "stack",
    "summarize", "train_run", "TrainConfig", "VOCDataset",
]
