"""Gradient engineering beyond the paper (§7): evaluation of the stateful coefficients.

``run(get_config(quick), out_dir)`` answers four questions on toy imbalanced trainings
(warm-up coefficient vs learning-rate warm-up, periodic coefficient vs SGDR under SGD and Adam,
batch-adaptive γ vs fixed γ, GHM-C vs focal); see ``docs/experiments/engineering.md``.

The frame of every experiment (`gradeng.experiments`): modules ``_config`` (`QUICK`, `FULL`),
``_model`` (a ReLU MLP as a dict of arrays), ``_train`` (one training with a stateful
coefficient, vmappable; `run_grid`), ``_report`` (CSV tables and figures), ``_experiment`` (the
five studies and `run`) and ``_reproduce`` (the `gradeng reproduce` step). No data module: every
training samples the toy experiment's 2-D data (`gradeng.experiments.toy.sample`) inside its jit.
The MLP and the training loop are public: the learn experiment trains through them.
"""

from gradeng.experiments.engineering._config import FULL as FULL
from gradeng.experiments.engineering._config import QUICK as QUICK
from gradeng.experiments.engineering._config import EngineeringConfig as EngineeringConfig
from gradeng.experiments.engineering._config import get_config as get_config
from gradeng.experiments.engineering._experiment import run as run
from gradeng.experiments.engineering._experiment import run_engineering as run_engineering
from gradeng.experiments.engineering._model import init_mlp as init_mlp
from gradeng.experiments.engineering._model import mlp as mlp
from gradeng.experiments.engineering._report import draw_figures as draw_figures
from gradeng.experiments.engineering._report import tables_markdown as tables_markdown
from gradeng.experiments.engineering._reproduce import reproduce as reproduce
from gradeng.experiments.engineering._train import TrainConfig as TrainConfig
from gradeng.experiments.engineering._train import make_train as make_train
from gradeng.experiments.engineering._train import run_grid as run_grid
from gradeng.experiments.engineering._train import stateless as stateless
