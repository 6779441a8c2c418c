"""Evaluate your own loss against baselines: `evaluate` (``gradeng.evaluate``, the CLI's
``gradeng evaluate``).

A loss is given by its scale coefficient g(p) = dL/dp as a formula. `evaluate` builds it (and
refuses, before any training, a formula that does not build or whose loss is negative somewhere
on (0, 1)), trains it and the baselines through the chosen experiments with the same seeds, data
and budgets, and reports per metric each loss's mean with a 95 % t interval over seeds and the
paired difference from each baseline, with whether it exceeds the seed noise. On the command
line::

  gradeng evaluate "-(1-p)**3/p" --quick --on toy --out runs/evaluate
  gradeng evaluate "-(1-p)**gamma/p" --param gamma=3 --against ce focal:gamma=1 maki --seeds 5

writes ``evaluation.json``, ``evaluation.md`` (tables), ``evaluation.png`` (the differences),
the loss card ``card.html`` (when `gradeng.symbolic.card` is installed) and the runs of each
experiment in ``OUT/<experiment>/``; rerun after a kill, it resumes (finished runs are not trained again).

Supported experiments: ``toy`` (every quick or full toy sweep: free-logit dynamics and the
imbalanced classifications; the user's loss enters as a `gradeng.experiments.toy.FormulaLoss`)
and ``detection`` (SSD-lite on digit canvases, final mAP@0.5: the baselines as their paper
Table 1 rows, CE with OHEM 1:1; yours as Maki's row, through
`gradeng.experiments.detection.LossSpec.from_formula`; the quick budget is one run of about a
minute per loss and seed on a 2-core CPU) and ``longtail`` (long-tailed digits, top-1 accuracy
overall and on many/medium/few-shot classes per imbalance factor; the baselines by the
experiment's loss names, yours through `gradeng.experiments.longtail.LongTailConfig.formulas`).
Over several processes (`jax.distributed`, the CLI's ``--coordinator``) only the experiments of
`MULTI_PROCESS` (the toy sweeps) run, their mesh spanning every process's devices; process 0
alone reads and writes ``out_dir``; the others are refused.
The statistics (`t_interval`, `paired_difference`, `noise_statement`) are public too.
It builds on the symbolic side (`gradeng.symbolic`) and the experiments; `import gradeng` loads it
on first use of `gradeng.evaluate`.
"""

from gradeng.experiments.evaluation._evaluate import DEFAULT_BASELINES as DEFAULT_BASELINES
from gradeng.experiments.evaluation._evaluate import EvaluationResult as EvaluationResult
from gradeng.experiments.evaluation._evaluate import MetricRow as MetricRow
from gradeng.experiments.evaluation._evaluate import check_formula as check_formula
from gradeng.experiments.evaluation._evaluate import evaluate as evaluate
from gradeng.experiments.evaluation._experiments import ADAPTERS as ADAPTERS
from gradeng.experiments.evaluation._experiments import MULTI_PROCESS as MULTI_PROCESS
from gradeng.experiments.evaluation._stats import Interval as Interval
from gradeng.experiments.evaluation._stats import noise_statement as noise_statement
from gradeng.experiments.evaluation._stats import paired_difference as paired_difference
from gradeng.experiments.evaluation._stats import t_interval as t_interval

__all__ = ["evaluate", "EvaluationResult", "MetricRow", "check_formula", "DEFAULT_BASELINES",
           "ADAPTERS", "MULTI_PROCESS", "Interval", "t_interval", "paired_difference",
           "noise_statement"]
