"""The gradient budget: how much of the summed scale coefficient each group of examples gets.

Kilbas & Paringer (2020), §2.1: with 1000 easy examples at p = 0.9 and 10 hard ones at p = 0.3,
the summed scale coefficients are

  ==========  ============  ===========
  loss        easy (1000)   hard (10)
  ==========  ============  ===========
  CE          −1111         −33
  focal γ=2   −32           −33
  ==========  ============  ===========

so with cross-entropy the easy examples outweigh the hard ones 33 : 1, while focal loss makes
them about equal. `gradient_budget` computes this table for any groups and any coefficients,
together with the logit-space weights w = p·g (what actually reaches the logits:
∂L/∂z = w·∂log p/∂z) and each group's share of the total.

All values are evaluated from the coefficient's symbolic g in 30-digit `mpmath` arithmetic
(``lambdify(..., modules="mpmath")``) and rounded once to float64, so the budget is exact to
double precision for every coefficient, catalog or user-defined. p given as a float is taken as
the decimal it prints as (``0.9`` is 9/10, not the nearest binary double).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from gradeng.runtime import InputError
from gradeng.runtime import get_coefficient
from gradeng.runtime import ScaleCoefficient
from gradeng.symbolic import P, substitute

#: Decimal digits used for the evaluation (then rounded once to float64).
WORKING_DIGITS = 30

#: The paper's example (§2.1): (name, count, p).
PAPER_GROUPS = (("easy", 1000, 0.9), ("hard", 10, 0.3))
#: The losses of the paper's Figures 1–2: (name, params).
PAPER_LOSSES = (("ce", {}), ("focal", {"gamma": 2}), ("maki", {"gamma": 1}), ("qce", {}))
#: The summed scale coefficients the paper quotes for its groups (§2.1), rounded as it rounds
#: them: loss label → (easy, hard).
PAPER_SUMS = {"ce": (-1111, -33), "focal:gamma=2": (-32, -33)}

BudgetLoss = str | ScaleCoefficient | tuple[str | ScaleCoefficient, Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class Group:
  """A group of examples sharing one probability of the true class.

  Attributes:
    name: label of the group (``"easy"``).
    count: number of examples, > 0.
    p: probability of the true class, in (0, 1).

  Example:
    >>> import gradeng as ge
    >>> b = ge.paper.gradient_budget([ge.paper.Group("easy", 1000, 0.9),
    ...                               ge.paper.Group("hard", 10, 0.3)], ["ce"])
    >>> b.hard, b.easy
    ('hard', 'easy')
  """

  name: str
  count: float
  p: float


@dataclasses.dataclass(frozen=True)
class BudgetEntry:
  """One group × one loss.

  Attributes:
    group: group name.
    loss: loss label (``"focal:gamma=2"``, the `gradeng budget --loss` syntax).
    count: number of examples in the group.
    p: their probability of the true class.
    g: the scale coefficient g(p) of one example.
    sum: count · g(p), the group's summed scale coefficient (paper §2.1).
    w: the logit-space weight w(p) = p·g(p) of one example.
    w_sum: count · w(p).
    share: this group's fraction of the loss's total summed g over all groups.
    w_share: the same for w.

  Example:
    >>> import gradeng as ge
    >>> b = ge.paper.gradient_budget([("easy", 1000, 0.9), ("hard", 10, 0.3)], ["ce"])
    >>> e = b.entry("hard", "ce")
    >>> round(e.g, 4), round(e.sum, 2), e.w, round(e.share, 4)
    (-3.3333, -33.33, -1.0, 0.0291)
  """

  group: str
  loss: str
  count: float
  p: float
  g: float
  sum: float
  w: float
  w_sum: float
  share: float
  w_share: float


@dataclasses.dataclass(frozen=True)
class GradientBudget:
  """Summed scale coefficients per group and loss (see `gradient_budget`).

  Attributes:
    groups: the groups, in the order given.
    losses: the loss labels, in the order given.
    entries: one `BudgetEntry` per loss × group (loss-major).
    hard: name of the group with the smallest p (``None`` with fewer than two distinct p).
    easy: name of the group with the largest p.

  Example:
    >>> import gradeng as ge
    >>> b = ge.paper.gradient_budget([("easy", 1000, 0.9), ("hard", 10, 0.3)],
    ...                              ["ce", ("focal", {"gamma": 2})])
    >>> b.losses
    ('ce', 'focal:gamma=2')
    >>> round(b.ratio("ce"), 3), round(b.ratio("focal"), 3)  # hard / easy summed g
    (0.03, 1.031)
  """

  groups: tuple[Group, ...]
  losses: tuple[str, ...]
  entries: tuple[BudgetEntry, ...]
  hard: str | None
  easy: str | None

  def entry(self, group: str, loss: str) -> BudgetEntry:
    """The entry of one group and loss (loss by label or by catalog name if unambiguous)."""
    loss = self._label(loss)
    for e in self.entries:
      if e.group == group and e.loss == loss:
        return e
    raise KeyError(f"No group {group!r}; the groups are {[g.name for g in self.groups]}.")

  def sum(self, group: str, loss: str) -> float:
    """count · g(p) for one group and loss."""
    return self.entry(group, loss).sum

  def ratio(self, loss: str, *, weights: bool = False) -> float | None:
    """Hard-to-easy ratio of the summed g (``weights=True``: of the summed w = p·g).

    CE in the paper's example: −33.3 / −1111.1 = 0.03; focal γ=2: −33.2 / −32.2 = 1.03.
    """
    if self.hard is None:
      return None
    field = "w_sum" if weights else "sum"
    easy = getattr(self.entry(self.easy, loss), field)
    hard = getattr(self.entry(self.hard, loss), field)
    return hard / easy if easy != 0 else math.inf

  def records(self) -> list[dict[str, Any]]:
    """One JSON-ready dict per group × loss: the `BudgetEntry` fields plus ``hard_to_easy``
    (the loss's `ratio`) and ``w_hard_to_easy``."""
    out = []
    for e in self.entries:
      record = dataclasses.asdict(e)
      record["hard_to_easy"] = self.ratio(e.loss)
      record["w_hard_to_easy"] = self.ratio(e.loss, weights=True)
      out.append(record)
    return out

  def to_table(self) -> str:
    """The budget as one Markdown table: what `gradeng budget` prints and the README shows.

    One row per loss: each group's summed scale coefficient n·g(p) (2 decimals), the paper's
    rounded numbers when the groups are the paper's (`PAPER_GROUPS`; "—" for a loss it does
    not quote), and the hard-to-easy ratios of Σ g and of Σ w = Σ n·p·g (3 decimals; absent
    with fewer than two distinct p).

    .. math::
      \\Sigma g = n\\,g(p), \\qquad \\Sigma w = n\\,p\\,g(p), \\qquad
      \\text{ratio} = \\Sigma_\\text{hard} / \\Sigma_\\text{easy}

    Example:
      >>> import gradeng.paper as paper
      >>> print(paper.gradient_budget(paper.PAPER_GROUPS, ["ce"]).to_table(), end="")
      | loss | Σ g easy (1000 @ 0.9) | Σ g hard (10 @ 0.3) | paper | Σ g hard / easy | Σ w hard / easy |
      |---|---:|---:|---:|---:|---:|
      | ce | -1111.11 | -33.33 | -1111 vs -33 | 0.030 | 0.010 |
    """
    paper = tuple((g.name, g.count, g.p) for g in self.groups) == PAPER_GROUPS
    header = ["loss"] + [f"Σ g {g.name} ({_format_value(g.count)} @ {_format_value(g.p)})"
                         for g in self.groups]
    header += ["paper"] if paper else []
    if self.hard is not None:
      header += [f"Σ g {self.hard} / {self.easy}", f"Σ w {self.hard} / {self.easy}"]
    rows = []
    for loss in self.losses:
      cells = [loss] + [f"{self.sum(g.name, loss):.2f}" for g in self.groups]
      if paper:
        quoted = PAPER_SUMS.get(loss)
        cells.append(" vs ".join(map(str, quoted)) if quoted else "—")
      if self.hard is not None:
        cells += [f"{self.ratio(loss):.3f}", f"{self.ratio(loss, weights=True):.3f}"]
      rows.append(cells)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"

  def to_markdown(self, *, digits: int = 2) -> str:
    """The budget as Markdown tables: per group × loss, then the hard/easy ratios."""
    f = lambda x: f"{x:.{digits}f}"
    lines = [
        "| loss | group | count | p | g(p) | Σ g | w(p) = p·g | Σ w | share of Σ g | share of Σ w |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in self.entries:
      lines.append(
          f"| {e.loss} | {e.group} | {e.count:g} | {e.p:g} | {e.g:.4f} | {f(e.sum)} | {e.w:.4f} "
          f"| {f(e.w_sum)} | {e.share:.1%} | {e.w_share:.1%} |")
    if self.hard is not None:
      lines += ["", f"| loss | Σ g {self.hard} / {self.easy} | Σ w {self.hard} / {self.easy} |",
                "|---|---:|---:|"]
      for loss in self.losses:
        lines.append(f"| {loss} | {self.ratio(loss):.3f} | {self.ratio(loss, weights=True):.3f} |")
    return "\n".join(lines) + "\n"

  def _label(self, loss: str) -> str:
    if loss in self.losses:
      return loss
    matches = [label for label in self.losses if label.split(":")[0] == loss]
    if len(matches) == 1:
      return matches[0]
    raise KeyError(f"No loss {loss!r} (or it is ambiguous); the losses are {list(self.losses)}.")


def _format_value(value: Any) -> str:
  if isinstance(value, numbers.Real) and float(value).is_integer():
    return str(int(value))
  return f"{float(value):g}" if isinstance(value, numbers.Real) else str(value)


def loss_label(coefficient: ScaleCoefficient, params: Mapping[str, Any]) -> str:
  """``name:k=v,...`` with all parameters (defaults filled in), e.g. ``"focal:gamma=2"``."""
  if not params:
    return coefficient.name
  return coefficient.name + ":" + ",".join(f"{k}={_format_value(v)}" for k, v in sorted(params.items()))


def resolve_loss(spec: BudgetLoss) -> tuple[ScaleCoefficient, dict[str, Any]]:
  """A coefficient and its resolved parameters from a name, a coefficient or ``(either, params)``.

  Raises:
    ValueError: unknown loss name, unknown parameter name, or a value outside its domain.
  """
  if isinstance(spec, tuple):
    if len(spec) != 2 or not isinstance(spec[1], Mapping):
      raise InputError(f"A loss must be a name, a coefficient or (name, params dict); got {spec!r}.")
    name, params = spec
  else:
    name, params = spec, {}
  coefficient = get_coefficient(name)
  try:
    return coefficient, coefficient.resolve_params(dict(params))
  except TypeError as error:  # unknown / missing parameter names
    raise InputError(str(error)) from None


@functools.lru_cache(maxsize=128)
def _mp_coefficient(coefficient: ScaleCoefficient, frozen_params: tuple) -> Callable:
  expr = substitute(coefficient, **dict(frozen_params))
  leftover = expr.free_symbols - {P}
  if leftover:
    raise InputError(f"`{coefficient.name}` still has free symbols {sorted(map(str, leftover))}.")
  return sp.lambdify((P,), expr, modules="mpmath")


def _mp(value: float | str) -> mpmath.mpf:
  # The decimal the user wrote (repr of a float is its shortest round-tripping decimal).
  return mpmath.mpf(value if isinstance(value, str) else repr(float(value)))


def coefficient_values(
    coefficient: ScaleCoefficient, params: Mapping[str, Any], ps: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
  """g(p) and w(p) = p·g(p) in float64 (30-digit evaluation of the symbolic g, rounded once).

  This is the one numerical path of the budget, its sweep and the reports built on them.
  """
  g_mp = _mp_coefficient(coefficient, tuple(sorted(params.items())))
  g_out, w_out = np.empty(len(ps)), np.empty(len(ps))
  with mpmath.workdps(WORKING_DIGITS):
    for i, p in enumerate(ps):
      p_mp = _mp(p)
      g = mpmath.mpf(g_mp(p_mp))
      g_out[i], w_out[i] = float(g), float(p_mp * g)
  return g_out, w_out


def _check_groups(groups: Sequence) -> tuple[Group, ...]:
  checked, seen = [], set()
  if not groups:
    raise InputError("`groups` must hold at least one (name, count, p); got none.")
  for group in groups:
    if not isinstance(group, Group):
      try:
        name, count, p = group
      except (TypeError, ValueError):
        raise InputError(f"A group must be (name, count, p); got {group!r}.") from None
      group = Group(str(name), count, p)
    if group.name in seen:
      raise InputError(f"Group names must be unique; {group.name!r} appears twice.")
    seen.add(group.name)
    if not (isinstance(group.count, numbers.Real) and math.isfinite(group.count) and group.count > 0):
      raise InputError(f"`count` of group {group.name!r} must be a number > 0; got {group.count!r}.")
    if not (isinstance(group.p, numbers.Real) and 0 < group.p < 1):
      raise InputError(f"`p` of group {group.name!r} must be in (0, 1); got {group.p!r}.")
    checked.append(group)
  return tuple(checked)


def gradient_budget(groups: Sequence, losses: Sequence[BudgetLoss]) -> GradientBudget:
  """Summed scale coefficients of groups of examples, per loss (paper §2.1, generalised).

  .. math::
    S_{\\text{group}} = n\\,g(p), \\qquad S^w_{\\text{group}} = n\\,p\\,g(p),
    \\qquad \\text{ratio} = S_{\\text{hard}} / S_{\\text{easy}},

  where the hard group is the one with the smallest p and the easy group the one with the largest.

  Args:
    groups: ``(name, count, p)`` triples (or `Group`), count > 0, p in (0, 1).
    losses: catalog names (``"ce"``), coefficients, or ``(name_or_coefficient, params)`` pairs,
      e.g. ``("focal", {"gamma": 2})``.

  Returns:
    A `GradientBudget` (``.sum(group, loss)``, ``.ratio(loss)``, ``.records()``, ``.to_markdown()``).

  Raises:
    ValueError: bad groups (count ≤ 0, p outside (0, 1), duplicate names), unknown losses or
      parameters, or two losses with the same label.

  Example:
    >>> import gradeng as ge
    >>> b = ge.paper.gradient_budget([("easy", 1000, 0.9), ("hard", 10, 0.3)],
    ...                        ["ce", ("focal", {"gamma": 2})])
    >>> round(b.sum("easy", "ce")), round(b.sum("hard", "ce")), round(b.sum("easy", "focal"))
    (-1111, -33, -32)

  References:
    Kilbas & Paringer, "Gradient as a foundation for building a loss function" (2020), §2.1.
  """
  groups = _check_groups(groups)
  if not losses:
    raise InputError("`losses` must name at least one loss; got none.")
  resolved = [resolve_loss(spec) for spec in losses]
  labels = [loss_label(c, params) for c, params in resolved]
  if len(set(labels)) != len(labels):
    raise InputError(f"Each loss may appear once; got {labels}.")
  entries = []
  for (coefficient, params), label in zip(resolved, labels):
    g, w = coefficient_values(coefficient, params, [group.p for group in groups])
    counts = np.array([float(group.count) for group in groups])
    sums, w_sums = counts * g, counts * w
    total, w_total = math.fsum(sums), math.fsum(w_sums)
    for i, group in enumerate(groups):
      entries.append(BudgetEntry(
          group=group.name, loss=label, count=group.count, p=float(group.p),
          g=float(g[i]), sum=float(sums[i]), w=float(w[i]), w_sum=float(w_sums[i]),
          share=float(sums[i] / total) if total else math.nan,
          w_share=float(w_sums[i] / w_total) if w_total else math.nan))
  ps = [group.p for group in groups]
  distinct = min(ps) != max(ps)
  hard = groups[int(np.argmin(ps))].name if distinct else None
  easy = groups[int(np.argmax(ps))].name if distinct else None
  return GradientBudget(groups, tuple(labels), tuple(entries), hard, easy)


def hard_share(
    losses: Sequence[BudgetLoss],
    ratios: Sequence[float],
    p_easy: Sequence[float],
    *,
    p_hard: float = 0.3,
    weights: bool = False,
) -> np.ndarray:
  """Share of the total summed g (or w = p·g) that comes from the hard group.

  For ``r`` easy examples per hard one,

  .. math:: s = \\frac{g(p_h)}{g(p_h) + r\\,g(p_e)}

  (the same with w), the quantity behind the budget sweep figure.

  Args:
    losses: as in `gradient_budget`.
    ratios: easy:hard count ratios r ≥ 0 (e.g. ``np.logspace(0, 4, 49)``).
    p_easy: probabilities of the easy examples, in (0, 1).
    p_hard: probability of the hard examples, in (0, 1).
    weights: use the logit-space weights w = p·g instead of g.

  Returns:
    float64 array ``[len(losses), len(p_easy), len(ratios)]`` of shares in [0, 1].

  Example:
    One and a hundred easy examples (p = 0.9) per hard one (p = 0.3):

    >>> import gradeng as ge
    >>> s = ge.paper.hard_share(["ce", ("focal", {"gamma": 2})], [1, 100], [0.9])
    >>> s.shape
    (2, 1, 2)
    >>> print(s[:, 0].round(4))
    [[0.75   0.0291]
     [0.9904 0.5077]]
  """
  if not 0 < p_hard < 1:
    raise InputError(f"`p_hard` must be in (0, 1); got {p_hard!r}.")
  if any(not 0 < p < 1 for p in p_easy):
    raise InputError(f"`p_easy` values must be in (0, 1); got {list(p_easy)!r}.")
  ratios = np.asarray(ratios, np.float64)
  if np.any(ratios < 0):
    raise InputError("`ratios` must be ≥ 0.")
  out = np.empty((len(losses), len(p_easy), len(ratios)))
  for i, spec in enumerate(losses):
    coefficient, params = resolve_loss(spec)
    g, w = coefficient_values(coefficient, params, [p_hard, *p_easy])
    values = w if weights else g
    hard, easy = values[0], values[1:, None]
    out[i] = hard / (hard + ratios[None, :] * easy)
  return out
