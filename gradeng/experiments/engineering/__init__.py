"""Gradient engineering beyond the paper (§7): evaluation of the stateful coefficients.

``run_engineering(out_dir, quick=True)`` answers four questions on toy imbalanced trainings
(warm-up coefficient vs learning-rate warm-up, periodic coefficient vs SGDR under SGD and Adam,
batch-adaptive γ vs fixed γ, GHM-C vs focal); see ``docs/experiments/engineering.md``.
"""

from gradeng.experiments.engineering._experiment import FULL as FULL
from gradeng.experiments.engineering._experiment import QUICK as QUICK
from gradeng.experiments.engineering._experiment import EngineeringConfig as EngineeringConfig
from gradeng.experiments.engineering._experiment import draw_figures as draw_figures
from gradeng.experiments.engineering._experiment import run_engineering as run_engineering
from gradeng.experiments.engineering._reproduce import reproduce as reproduce
from gradeng.experiments.engineering._experiment import run as run
from gradeng.experiments.engineering._experiment import get_config as get_config
