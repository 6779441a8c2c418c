"""Toy imbalance simulations: free-logit dynamics and imbalanced classification, swept with JAX."""

from gradeng.toy._config import ClassificationConfig as ClassificationConfig
from gradeng.toy._config import FreeLogitConfig as FreeLogitConfig
from gradeng.toy._config import PRESETS as PRESETS
from gradeng.toy._config import get_config as get_config
