"""Input checks and class-count helpers shared by the long-tail losses.

Conventions (one meaning per name across `gradeng.longtail`):

* ``class_counts`` — per-class numbers of training samples n_j, shape ``[C]``, ≥ 0. Where a
  formula needs log n_j or a ratio of counts, a class with no sample counts as one
  (n_j ← max(n_j, 1), as the reference implementations' ``clamp(min=1)``); only the equalization
  loss reads the raw frequency (a class never seen is the rarest of all).
* ``base`` — the catalog loss (name or `ScaleCoefficient`) whose injected derivative carries the
  long-tail modification, as in `gradeng.runtime.warmup_coefficient`.
* ``alpha`` — the catalog's class weight (see `gradeng.runtime.apply_kernel`), ``gamma`` — the
  catalog's focusing exponent; never anything else.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from gradeng.runtime import InputError, get_coefficient, host_arrays, loss_from_coefficient, poison


def check_number(name: str, value, *, lower=None, upper=None, lower_open=False, upper_open=False):
  """Raise `InputError` unless ``value`` is a finite real in the given interval.

  Traced values are not read back (no device sync): out-of-range traced values are the caller's
  to poison.
  """
  if isinstance(value, jax.core.Tracer):
    return
  try:
    v = None if isinstance(value, bool) or np.ndim(value) != 0 else float(np.asarray(value))
  except (TypeError, ValueError):
    v = None
  ok = v is not None and math.isfinite(v)
  ok = ok and (lower is None or (v > lower if lower_open else v >= lower))
  ok = ok and (upper is None or (v < upper if upper_open else v <= upper))
  if not ok:
    if lower is not None and upper is not None:
      valid = f"a finite number in {'(' if lower_open else '['}{lower}, {upper}{')' if upper_open else ']'}"
    elif lower is not None:
      valid = f"a finite number {'>' if lower_open else '≥'} {lower}"
    elif upper is not None:
      valid = f"a finite number {'<' if upper_open else '≤'} {upper}"
    else:
      valid = "a finite number"
    raise InputError(f"`{name}` must be {valid}; got {value!r}.")


def check_int(name: str, value, *, lower: int = 0):
  if isinstance(value, jax.core.Tracer):
    return
  ok = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool) and value >= lower
  if not ok:
    raise InputError(f"`{name}` must be an integer ≥ {lower}; got {value!r}.")


def class_counts_array(class_counts, num_classes: int | None = None) -> jax.Array:
  """``class_counts`` as a float array ``[C]`` (float32 at least), checked when it is a host value.

  Host values (NumPy, lists) must be 1-D, finite and ≥ 0, and have ``num_classes`` entries when
  that is given; a `jax.Array` is not read back — use `poison_counts` on what it produces.
  """
  host = host_arrays(class_counts)
  if host is not None:
    n = np.asarray(host[0], np.float64)
    if n.ndim != 1 or n.size == 0:
      raise InputError(f"`class_counts` must be a 1-D array of per-class sample counts; got shape {n.shape}.")
    if not np.all(np.isfinite(n) & (n >= 0)):
      raise InputError(f"`class_counts` must be finite and ≥ 0; got {n.tolist()[:10]}.")
  counts = jnp.asarray(class_counts)
  counts = counts.astype(jnp.promote_types(counts.dtype, jnp.float32))
  if counts.ndim != 1:
    raise InputError(f"`class_counts` must be a 1-D array of per-class sample counts; got shape {counts.shape}.")
  if num_classes is not None and counts.shape[0] != num_classes:
    raise InputError(f"`class_counts` must have one entry per class ({num_classes}); got {counts.shape[0]}.")
  return counts


def poison_counts(value, counts):
  """``value`` NaN (value and derivatives) unless every count is finite and ≥ 0."""
  return poison(value, jnp.all(jnp.isfinite(counts) & (counts >= 0)))


def log_floored_counts(counts) -> jax.Array:
  """log max(n_j, 1): a class with no sample counts as one."""
  return jnp.log(jnp.maximum(counts, 1.0))


def log_priors(counts) -> jax.Array:
  """log π_j, π_j = max(n_j, 1) / Σ_k max(n_k, 1), computed as a log-softmax of log n."""
  return jax.nn.log_softmax(log_floored_counts(counts))


def base_loss(base, head: str, params):
  """The catalog loss ``base`` on ``head`` with its hyper-parameters (checked now when static)."""
  return loss_from_coefficient(get_coefficient(base), head=head, **params)


def float_logits(logits) -> jax.Array:
  logits = jnp.asarray(logits)
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise TypeError(f"`logits` must be a floating-point array; got dtype {logits.dtype}.")
  if logits.ndim < 1:
    raise InputError("`logits` need a class axis: shape [..., C].")
  return logits


def integer_labels(labels, logits) -> jax.Array:
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(f"`labels` must be integer class ids; got dtype {labels.dtype}.")
  if labels.shape != logits.shape[:-1]:
    raise InputError(f"`labels` must have the shape of `logits` without the class axis, "
                     f"{tuple(logits.shape[:-1])}; got {tuple(labels.shape)}.")
  host = host_arrays(labels)
  if host is not None:
    y, c = host[0], logits.shape[-1]
    if not np.all((y >= 0) & (y < c)):
      bad = y[(y < 0) | (y >= c)]
      # Negative values may be an ignore_index; the catalog path checks those against it.
      if np.any(bad >= c):
        raise InputError(f"`labels` must be in {{0, …, {c - 1}}}; got e.g. {bad[:5].tolist()}.")
  return labels


def safe_labels(labels, num_classes: int) -> jax.Array:
  """Labels clipped into range, for indexing only (the catalog path masks or poisons the rest)."""
  return jnp.clip(labels, 0, num_classes - 1)


def row_mask(labels, num_classes, where, ignore_index) -> jax.Array:
  """Examples that take part: inside ``where``, not ``ignore_index``, label in range."""
  mask = (labels >= 0) & (labels < num_classes)
  if where is not None:
    mask = mask & jnp.broadcast_to(jnp.asarray(where, bool), labels.shape)
  if ignore_index is not None:
    mask = mask & (labels != ignore_index)
  return mask


def compute_dtype(logits):
  return jnp.promote_types(jnp.asarray(logits).dtype, jnp.float32)
