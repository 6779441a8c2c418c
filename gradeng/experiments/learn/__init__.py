"""Learning the scale coefficient: meta-gradients through jitted toy trainings.

θ parametrises a Maki mixture g = -Σ c_k (1-p)^k / p, c = softmax(θ) (`gradeng.maki_mixture`),
whose properties hold for every θ and whose loss has a closed form. ``run_experiment`` learns θ
by meta-gradients through unrolled trainings and, as a baseline, by evolution strategies; it
evaluates both on held-out ratios, data and models against CE, focal, Maki and GHM-C.
``gradeng experiment learn [--quick] [--out DIR]`` (alias ``gradeng learn-coefficient``) runs it.

The frame of every experiment (`gradeng.experiments`): ``get_config(quick)`` and
``run(config, out_dir)``; modules ``_config``, ``_train`` (the inner problem: one tiny training,
differentiable in the loss's parameters), ``_meta`` (the outer loop: meta-gradients and ES),
``_evaluate`` (held-out comparisons), ``_report`` (figures, table, derivation report),
``_experiment`` (`run`) and ``_reproduce`` (the `gradeng reproduce` step). No data or model
module: the inner training samples the toy experiment's data (`gradeng.experiments.toy.sample`)
and trains the engineering experiment's MLP (`gradeng.experiments.engineering.mlp`).
"""

from gradeng.experiments.learn._config import FULL as FULL
from gradeng.experiments.learn._config import get_config as get_config
from gradeng.experiments.learn._config import LearnConfig as LearnConfig
from gradeng.experiments.learn._config import QUICK as QUICK
from gradeng.experiments.learn._evaluate import evaluate as evaluate
from gradeng.experiments.learn._experiment import run_experiment as run
from gradeng.experiments.learn._experiment import run_experiment as run_experiment
from gradeng.experiments.learn._meta import learn as learn
from gradeng.experiments.learn._meta import make_outer_step as make_outer_step
from gradeng.experiments.learn._report import draw_figures as draw_figures
from gradeng.experiments.learn._reproduce import reproduce as reproduce
from gradeng.experiments.learn._train import make_train as make_train
from gradeng.experiments.learn._train import TaskConfig as TaskConfig
