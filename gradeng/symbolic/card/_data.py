"""The numbers a loss card shows: the slider positions, the curves on a p grid (one set per
slider position), their check against 30-digit values and the §2.1 gradient budget."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import mpmath
import numpy as np

from gradeng.runtime import Domain, InputError, ScaleCoefficient, logit_weight, loss_value
from gradeng.symbolic import P, numeric_function

#: Logit grid of the curves: p = σ(z), z uniform in [-ln 999, ln 999], so p runs from 0.001 to
#: 0.999 log-spaced towards both ends (in p near 0, in 1 - p near 1).
GRID_POINTS = 161
P_GRID = 1.0 / (1.0 + np.exp(-np.linspace(-math.log(999.0), math.log(999.0), GRID_POINTS)))
#: The comparison curves: CE, focal γ=2 and Maki γ=1 (the paper's Figure 1).
REFERENCES = (("CE", "ce", {}), ("focal γ=2", "focal", {"gamma": 2.0}),
              ("Maki γ=1", "maki", {"gamma": 1.0}))
#: At most this many precomputed curve sets (the product of the sliders' positions).
MAX_CURVE_SETS = 64
#: Slider positions tried for a real parameter (kept where its domain admits them).
_REAL_CANDIDATES = (-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0)
#: Offsets from a lower bound, when too few candidates fall in the domain.
_OFFSETS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0)
_SIGNIFICANT = 7  # digits kept for the curves on the page


def slider_values(domain: Domain, *, count: int = 9, value: float | None = None
                  ) -> tuple[float, ...]:
  """Slider positions for a parameter with admissible set ``domain``.

  A bounded domain [a, b] gets ``count`` evenly spaced points (open ends moved inwards by one
  step); an integer domain its first ``count`` integers; a half-line or the real line the
  values among -2, -1, -0.5, 0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 5 it admits (or its lower bound plus
  0 … 5), thinned evenly to ``count``. ``value`` (the user's) is always one of the positions.

  Args:
    domain: the parameter's admissible values.
    count: the number of positions wanted, ≥ 2.
    value: a value that must be among the positions (inside ``domain``).

  Returns:
    The positions, increasing.

  Raises:
    InputError: ``count`` < 2 or ``value`` outside ``domain``.

  Example:
    >>> import gradeng as ge
    >>> from gradeng.symbolic.card import slider_values
    >>> slider_values(ge.Domain(lower=-1.0, lower_open=True), count=5)
    (-0.5, 0.25, 1.0, 3.0, 5.0)
    >>> slider_values(ge.Domain(lower=0.0, upper=1.0), count=5, value=0.3)
    (0.0, 0.25, 0.3, 0.5, 0.75, 1.0)
  """
  if count < 2:
    raise InputError(f"`count` must be at least 2; got {count}.")
  if value is not None and not domain.contains(float(value)):
    raise InputError(f"value {value!r} is outside the parameter's domain, "
                     f"{domain.describe()}.")
  lo, hi = domain.lower, domain.upper
  if domain.integer:
    start = math.ceil(lo) if lo is not None else (math.floor(hi) - count + 1 if hi is not None
                                                   else -(count // 2))
    values = [float(v) for v in range(start, start + count) if domain.contains(float(v))]
  elif lo is not None and hi is not None:
    inner = np.linspace(lo, hi, count + int(domain.lower_open) + int(domain.upper_open))
    values = [float(v) for v in inner if domain.contains(float(v))]
  else:
    values = [v for v in _REAL_CANDIDATES if domain.contains(v)]
    if len(values) < 4:
      base, sign = (lo, 1.0) if lo is not None else (hi, -1.0)
      values = sorted(v for v in (base + sign * o for o in _OFFSETS) if domain.contains(v))
    if len(values) > count:
      values = [values[int(i)] for i in np.round(np.linspace(0, len(values) - 1, count))]
  values = [round(v, 12) + 0.0 for v in values]
  if value is not None:
    values.append(float(value))
  return tuple(sorted(set(values)))


@dataclasses.dataclass(frozen=True)
class Slider:
  """One parameter's slider: its name, positions and starting position (an index)."""

  name: str
  values: tuple[float, ...]
  start: int


def rounded(values: np.ndarray) -> list[float | None]:
  """Floats with `_SIGNIFICANT` significant digits; non-finite values become None (JSON null)."""
  return [float(f"{v:.{_SIGNIFICANT}g}") if math.isfinite(v) else None
          for v in np.asarray(values, np.float64).tolist()]


Curves = dict[str, np.ndarray]  # "g", "L", "w" -> values on the p grid


def reference_curves(p: np.ndarray = P_GRID) -> dict[str, Curves]:
  """g, L and w = p·g of CE, focal γ=2 and Maki γ=1 on ``p`` (float64, the runtime's kernels),
  by label."""
  out = {}
  p = np.asarray(p, np.float64)
  with jax.enable_x64(True):
    for label, name, params in REFERENCES:
      w = np.asarray(logit_weight(name, p, **params), np.float64)
      big_l = np.asarray(loss_value(name, p, **params), np.float64)
      out[label] = {"g": w / p, "L": big_l, "w": w}
  return out


@functools.lru_cache(maxsize=16)
def _vmapped_curves(coefficient: ScaleCoefficient):
  """(p, {name: values}) -> (w, L) for every set of values, jitted once per coefficient."""

  def curves(p, values):
    return logit_weight(coefficient, p, **values), loss_value(coefficient, p, **values)

  return jax.jit(jax.vmap(curves, in_axes=(None, 0)))


def coefficient_curves(coefficient: ScaleCoefficient, sliders: Sequence[Slider],
                       p: np.ndarray = P_GRID) -> dict[str, Curves]:
  """g, L and w of ``coefficient`` (float64) at every combination of the sliders' positions.

  Keys are the positions' indices joined by ``,`` (``"2,0"``; ``""`` without parameters). The
  parameters are passed as JAX values, so one compiled kernel (w in log space, L by float64
  quadrature of w) serves every combination (vmapped) and every later grid.
  """
  p = np.asarray(p, np.float64)
  combos = list(itertools.product(*(range(len(s.values)) for s in sliders)))
  keys = [",".join(map(str, c)) for c in combos]
  with jax.enable_x64(True):
    if not sliders:
      w = np.asarray(logit_weight(coefficient, p), np.float64)[None]
      big_l = np.asarray(loss_value(coefficient, p), np.float64)[None]
    else:
      # padded to a multiple of MAX_CURVE_SETS (repeating the last set): one compilation per
      # coefficient serves any slider grid
      padded = combos + combos[-1:] * (-len(combos) % MAX_CURVE_SETS)
      table = {s.name: jnp.asarray([s.values[c[i]] for c in padded], jnp.float64)
               for i, s in enumerate(sliders)}
      w, big_l = (np.asarray(a, np.float64)
                  for a in _vmapped_curves(coefficient)(jnp.asarray(p), table))
  return {key: {"g": w[i] / p, "L": big_l[i], "w": w[i]} for i, key in enumerate(keys)}


def closed_form_error(derivation: Any, curves: Curves, p: np.ndarray = P_GRID
                      ) -> tuple[float, float | None]:
  """Max relative differences of the plotted g and L (JAX, float64) from the derivation's g
  and closed form L evaluated with mpmath at 30 digits on ``p`` (the derivation's parameters
  substituted; L's entry is None without a closed form).

  .. math:: \\max_i |L_\\text{JAX}(p_i) - L(p_i)| / |L(p_i)|
  """
  def worst(expr: Any, values: np.ndarray) -> float:
    f = numeric_function(expr, (P,))
    errors = []
    with mpmath.workdps(30):
      for p_i, have in zip(np.asarray(p, np.float64).tolist(), values.tolist()):
        want = mpmath.mpf(f(mpmath.mpf(p_i)))
        errors.append(float(abs(mpmath.mpf(have) - want) / max(abs(want), mpmath.mpf(1e-300))))
    return max(errors)

  g_error = worst(derivation.g, curves["g"])
  l_error = None if derivation.loss is None else worst(derivation.loss, curves["L"])
  return g_error, l_error


def budget_rows(coefficient: ScaleCoefficient, params: Mapping[str, float]
                ) -> tuple[Any, list[str]]:
  """The §2.1 budget (1000 easy at p = 0.9, 10 hard at p = 0.3) of CE, focal γ=2, Maki γ=1 and
  the coefficient at ``params``: the `GradientBudget` and its loss labels in that order."""
  from gradeng.paper import PAPER_GROUPS, gradient_budget

  losses = [(name, dict(values)) for _, name, values in REFERENCES] + [(coefficient, dict(params))]
  budget = gradient_budget(PAPER_GROUPS, losses)
  return budget, list(budget.losses)
