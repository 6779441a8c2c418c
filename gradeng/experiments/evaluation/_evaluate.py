"""`evaluate`: train a user's loss and the baselines on the same seeds, data and budgets, and
compare them."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gradeng.runtime import InputError, ScaleCoefficient
from gradeng.symbolic import NegativeLossWarning, parse_loss_spec

from ._experiments import ADAPTERS, MULTI_PROCESS, YOURS, Contender, Samples, extra_baselines
from ._stats import Interval, noise_statement, paired_difference, t_interval

#: the baselines of `evaluate` (paper Figure 1: CE, focal γ=2, Maki γ=1 at the catalog defaults)
DEFAULT_BASELINES = ("ce", "focal", "maki")


@dataclasses.dataclass(frozen=True)
class MetricRow:
  """One metric in one setting: every loss's mean and its paired differences from yours.

  Attributes:
    experiment: the experiment (``"toy"``).
    setting: what was trained on (``"gaussian_logreg-quick, 1:100"``).
    metric: the metric's name.
    higher_is_better: the metric's direction.
    seeds: the seeds, in the order of ``values``.
    values: loss label -> the metric per seed.
    means: loss label -> `Interval` of its mean over seeds.
    differences: baseline label -> `Interval` of (yours - baseline), paired over seeds.
    verdicts: baseline label -> a plain sentence on that difference and the seed noise.
  """

  experiment: str
  setting: str
  metric: str
  higher_is_better: bool
  seeds: tuple[int, ...]
  values: Mapping[str, tuple[float, ...]]
  means: Mapping[str, Interval]
  differences: Mapping[str, Interval]
  verdicts: Mapping[str, str]

  def to_json(self) -> dict[str, Any]:
    """The row as plain JSON data (NaN written as None)."""
    return {
        "experiment": self.experiment, "setting": self.setting, "metric": self.metric,
        "higher_is_better": self.higher_is_better, "seeds": list(self.seeds),
        "values": {k: [None if math.isnan(v) else v for v in vs] for k, vs in self.values.items()},
        "means": {k: v.to_json() for k, v in self.means.items()},
        "differences": {k: v.to_json() for k, v in self.differences.items()},
        "verdicts": dict(self.verdicts),
    }


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
  """What `evaluate` found (also written as ``evaluation.json``).

  Attributes:
    formula: g(p) of the evaluated loss.
    params: its parameters.
    against: the baselines' labels.
    on: the experiments.
    seeds: the seeds every loss trained with.
    quick: whether the experiments' quick budgets were used.
    rows: one `MetricRow` per experiment, setting and metric.
    out_dir: where everything was written.
    files: name -> path of what was written (``json``, ``markdown``, ``figure``, ``card``).
  """

  formula: str
  params: Mapping[str, float]
  against: tuple[str, ...]
  on: tuple[str, ...]
  seeds: tuple[int, ...]
  quick: bool
  rows: tuple[MetricRow, ...]
  out_dir: Path
  files: Mapping[str, Path] = dataclasses.field(default_factory=dict)

  def tally(self) -> dict[str, dict[str, int]]:
    """baseline label -> how many rows yours is ``better``/``worse`` beyond the seed noise, and
    ``within`` it."""
    counts = {b: {"better": 0, "worse": 0, "within": 0} for b in self.against}
    for row in self.rows:
      for baseline, difference in row.differences.items():
        if not difference.excludes_zero:
          counts[baseline]["within"] += 1
        elif (difference.mean > 0) == row.higher_is_better:
          counts[baseline]["better"] += 1
        else:
          counts[baseline]["worse"] += 1
    return counts

  def to_markdown(self) -> str:
    """The result as markdown (``evaluation.md``): setup, tally, means and differences."""
    from ._report import markdown

    return markdown(self)

  def to_json(self) -> dict[str, Any]:
    """The result as plain JSON data: the form `gradeng.symbolic.card` and ``evaluation.json``
    take."""
    return {
        "formula": self.formula, "params": dict(self.params), "yours": YOURS,
        "against": list(self.against), "on": list(self.on), "seeds": list(self.seeds),
        "quick": self.quick, "confidence": 0.95, "tally": self.tally(),
        "rows": [row.to_json() for row in self.rows],
        "files": {k: str(v) for k, v in self.files.items()},
    }


def _check_names(values: Any, what: str) -> tuple[str, ...]:
  if isinstance(values, str):
    values = (values,)
  names = tuple(values)
  if not names or not all(isinstance(v, str) and v.strip() for v in names):
    raise InputError(f"`{what}` must be a non-empty list of names; got {values!r}.")
  names = tuple(v.strip() for v in names)
  if len(set(names)) != len(names):
    raise InputError(f"`{what}` lists a name twice: {list(names)}.")
  return names


def _check_params(params: Any) -> dict[str, float]:
  if params is None:
    return {}
  if not isinstance(params, Mapping):
    raise InputError(f"`params` must be a mapping name -> number; got {type(params).__name__}.")
  checked = {}
  for key, value in params.items():
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
      raise InputError(f"Parameter `{key}` must be a finite number; got {value!r}.")
    checked[str(key)] = float(value)
  return checked


def parse_baseline(text: str, extra: frozenset[str] = frozenset()) -> Contender:
  """A baseline from its command-line spec: ``"focal"`` (catalog defaults) or ``"focal:gamma=1"``.

  ``extra``: names that are not catalog losses but losses of a chosen experiment (taken
  as given, without parameters; the experiment's own check judges them).

  Raises:
    InputError: not a catalog loss, a parameter it does not take, or a swept (``|``) value.
  """
  import gradeng as ge

  name, spec = parse_loss_spec(text)
  if name not in ge.CATALOG and name in extra:
    if spec:
      raise InputError(f"Baseline `{text}`: `{name}` is trained at its experiment's fixed "
                       f"hyper-parameters; give it without parameters.")
    return Contender(text.strip(), name)
  if name not in ge.CATALOG:
    raise InputError(f"Baseline `{text}` is not a catalog loss; expected one of "
                     f"{sorted(ge.CATALOG)} (with parameters as `focal:gamma=1`).")
  params = {}
  for key, values in spec.items():
    if len(values) != 1:
      raise InputError(f"Baseline `{text}`: one value of `{key}` per baseline; got {len(values)}.")
    params[key] = float(values[0])
  try:
    ge.CATALOG[name].resolve_params(params)
  except TypeError as error:  # an unknown parameter
    raise InputError(f"Baseline `{text}`: {error}") from None
  return Contender(text.strip(), name, tuple(sorted(params.items())))


def check_formula(formula: str, params: Mapping[str, float] | None = None) -> ScaleCoefficient:
  """The user's coefficient, built and checked before any training.

  Builds g(p) with `gradeng.coefficient` and its loss with `gradeng.loss_from_coefficient`
  (the derivation is cached, so the experiments' build of it is quick), and refuses a loss that
  is negative somewhere on (0, 1) (`gradeng.symbolic.NegativeLossWarning`): minimising it trains
  the wrong way.

  Raises:
    InputError: the formula does not parse or build, a parameter is missing or unknown, L
      diverges, or L < 0 somewhere on (0, 1).
  """
  import gradeng as ge

  if not isinstance(formula, str) or not formula.strip():
    raise InputError(f"`formula` must be g(p) as a non-empty string, e.g. \"-(1-p)**3/p\"; got "
                     f"{formula!r}.")
  params = _check_params(params)
  try:
    coefficient = ge.coefficient(formula)
    coefficient.resolve_params(params)
    with warnings.catch_warnings():
      warnings.simplefilter("error", NegativeLossWarning)
      ge.loss_from_coefficient(coefficient, **params)
  except NegativeLossWarning as warning:
    raise InputError(f"`{formula}` is refused before training: {warning}") from None
  except InputError as error:
    raise InputError(f"`{formula}` is refused before training: {error}") from None
  except (TypeError, ValueError, ArithmeticError) as error:
    raise InputError(f"`{formula}` does not build a loss: {error}") from None
  return coefficient


def _verdict(row_higher: bool, baseline: str, difference: Interval) -> str:
  statement = noise_statement(difference)
  if difference.low is None:
    return (f"{YOURS} − {baseline} = {difference.mean:+.3g} over {difference.n} seed(s), "
            f"no interval: {statement}")
  text = (f"{YOURS} − {baseline} = {difference.mean:+.3g}, 95 % CI "
          f"[{difference.low:+.3g}, {difference.high:+.3g}]: {statement}")
  if difference.excludes_zero:
    text += " (yours is better)" if (difference.mean > 0) == row_higher else " (yours is worse)"
  return text


def compare(samples: Samples, baselines: Sequence[str]) -> MetricRow:
  """The `MetricRow` of one metric's per-seed values: means, paired differences, verdicts."""
  means = {label: t_interval(values) for label, values in samples.values.items()}
  differences = {b: paired_difference(samples.values[YOURS], samples.values[b]) for b in baselines}
  verdicts = {b: _verdict(samples.higher_is_better, b, d) for b, d in differences.items()}
  values = {k: tuple(float(x) for x in v) for k, v in samples.values.items()}
  return MetricRow(samples.experiment, samples.setting, samples.metric, samples.higher_is_better,
                   samples.seeds, values, means, differences, verdicts)


def evaluate(formula: str, *, params: Mapping[str, float] | None = None,
             against: Sequence[str] = DEFAULT_BASELINES, on: Sequence[str] = ("toy",),
             seeds: int = 3, quick: bool = True, out_dir: str | os.PathLike,
             configs: Mapping[str, Any] | None = None, card: bool = True,
             progress: bool = False) -> EvaluationResult:
  """Trains the loss of g(p) = ``formula`` and the baselines through experiments; compares them.

  Every loss trains with the same seeds 0..``seeds``-1, data and budgets. Per experiment,
  setting and metric, the result holds each loss's mean with its 95 % Student-t interval over
  seeds, and the paired difference (yours − baseline, seed by seed) with its paired-t 95 %
  interval: it "exceeds the seed noise" only when that interval excludes 0.

  Everything goes under ``out_dir``: ``evaluation.json``, ``evaluation.md`` (tables),
  ``evaluation.png`` (the differences), the loss card (``card.html``, when
  `gradeng.symbolic.card` is installed) and each experiment's runs in ``out_dir/<experiment>/``. A killed evaluation
  resumes: finished runs are loaded, not trained again. The formula is built and checked
  before any training.

  Args:
    formula: g(p) = dL/dp as text, e.g. ``"-(1-p)**3/p"`` (see `gradeng.coefficient`).
    params: values of the formula's parameters, e.g. ``{"gamma": 3}``.
    against: baselines: catalog names at their defaults (``"focal"``: γ = 2) or with
      parameters (``"focal:gamma=1"``).
    on: experiments (`gradeng.experiments.EXPERIMENTS`) that `evaluate` supports: ``"toy"``,
      ``"detection"``, ``"longtail"``. Over several processes (`jax.distributed` initialised,
      e.g. by the CLI's ``--coordinator``) only ``"toy"``, whose sweeps span every process's
      devices; process 0 alone reads and writes ``out_dir``.
    seeds: number of seeds (at least 2 for an interval).
    quick: use each experiment's quick budget (``get_config(quick=True)``).
    out_dir: the output directory (a directory of another evaluation is refused).
    configs: experiment -> its config, replacing ``get_config(quick)`` (e.g. a smaller one).
    card: also write the loss card ``card.html`` with the evaluation on it
      (`gradeng.symbolic.card`).
    progress: tqdm progress bars.

  Returns:
    The `EvaluationResult`.

  Raises:
    InputError: an unknown experiment or baseline, a formula that does not build or whose loss
      is negative somewhere on (0, 1), bad seeds, an experiment other than ``"toy"`` over
      several processes: all before any training.

  Example:
    >>> import gradeng as ge
    >>> try:
    ...   ge.evaluate("-(1-p)**3/p", on=("mnist",), out_dir="unused")
    ... except ge.InputError as error:
    ...   print(error)
    `gradeng evaluate` trains on ['detection', 'longtail', 'toy']; got unknown experiment `mnist`.

    On the command line (quick toy sweeps, three seeds, CE, focal and Maki as baselines)::

      gradeng evaluate "-(1-p)**3/p" --quick --on toy --out runs/evaluate
  """
  on = _check_names(on, "on")
  for name in on:
    if name not in ADAPTERS:
      raise InputError(f"`gradeng evaluate` trains on {sorted(ADAPTERS)}; got unknown "
                       f"experiment `{name}`.")
  baselines = [parse_baseline(text, extra_baselines(on))
               for text in _check_names(against, "against")]
  if isinstance(seeds, bool) or not isinstance(seeds, numbers.Integral) or not 1 <= seeds <= 1000:
    raise InputError(f"`seeds` must be a number of seeds in [1, 1000]; got {seeds!r}.")
  configs = dict(configs or {})
  unknown = sorted(set(configs) - set(on))
  if unknown:
    raise InputError(f"`configs` has experiments not in `on` {list(on)}: {unknown}.")
  for name in on:
    ADAPTERS[name][0](baselines)
  params = _check_params(params)
  if not isinstance(formula, str):
    raise InputError(f"`formula` must be g(p) as a string, e.g. \"-(1-p)**3/p\"; got {formula!r}.")

  import jax

  from gradeng.experiments.common import claim_run_dir, on_main_process

  single = sorted(set(on) - MULTI_PROCESS)
  if jax.process_count() > 1 and single:
    raise InputError(f"{jax.process_count()} processes are running, but {single} run(s) in one "
                     f"process only (over several processes: {sorted(MULTI_PROCESS)}); run "
                     f"`--on {','.join(single)}` without --coordinator/--distributed.")

  from ._report import write_outputs

  out_dir = Path(out_dir)
  seed_list = tuple(range(int(seeds)))
  claimed = {"formula": formula.strip(), "params": params, "against": [b.label for b in baselines],
             "on": list(on), "seeds": list(seed_list), "quick": bool(quick)}
  claim = dict(filename="evaluation_config.json", require_empty=True)
  # only process 0 reads and writes out_dir (the experiments' runs do the same): its outcome, or
  # its error, reaches every process. Another evaluation's directory is refused before the
  # formula is built.
  on_main_process(lambda: claim_run_dir(out_dir, claimed, write=False, **claim))

  def check() -> None:  # the coefficient itself stays in process 0 (it holds functions)
    check_formula(formula, params)

  on_main_process(check)  # a refusal is raised in every process
  on_main_process(lambda: claim_run_dir(out_dir, claimed, **claim))
  yours = Contender(YOURS, None, tuple(sorted(params.items())), formula.strip())
  rows = []
  for name in on:
    runner = ADAPTERS[name][1]
    for samples in runner(yours, baselines, seeds=seed_list, quick=bool(quick),
                          config=configs.get(name), out_dir=out_dir / name, progress=progress):
      rows.append(compare(samples, [b.label for b in baselines]))
  result = EvaluationResult(formula.strip(), params, tuple(b.label for b in baselines), on,
                            seed_list, bool(quick), tuple(rows), out_dir)
  files = on_main_process(lambda: write_outputs(result, card=card))
  return dataclasses.replace(result, files=files)
