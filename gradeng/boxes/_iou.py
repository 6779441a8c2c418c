"""IoU-family box-regression losses: IoU (UnitBox), GIoU, DIoU and CIoU.

Every loss takes predicted and target boxes ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and
``y1 <= y2`` (continuous coordinates: area ``(x2 - x1)(y2 - y1)``), broadcast over the leading
axes, and returns one loss per box pair, optax style (the caller reduces). With ``anchors`` the
inputs are SSD's encoded offsets instead and are decoded first (`decode_offsets`), so the loss
and its gradient are taken with respect to the network's outputs.

With I the intersection, U the union, C the smallest enclosing box, ρ the distance between
the two centres, c the diagonal of C and w, h the widths and heights:

.. math::
   \\mathrm{IoU} = I / U, \\qquad
   L_\\mathrm{IoU} = 1 - \\mathrm{IoU}, \\qquad
   L_\\mathrm{GIoU} = 1 - \\mathrm{IoU} + \\frac{|C| - U}{|C|},

   L_\\mathrm{DIoU} = 1 - \\mathrm{IoU} + \\frac{\\rho^2}{c^2}, \\qquad
   L_\\mathrm{CIoU} = L_\\mathrm{DIoU} + \\alpha v, \\quad
   v = \\frac{4}{\\pi^2}\\left(\\arctan\\frac{w^{gt}}{h^{gt}} - \\arctan\\frac{w}{h}\\right)^2,
   \\quad \\alpha = \\frac{v}{(1 - \\mathrm{IoU}) + v}.

Degenerate inputs, by construction rather than by clipping (each case is tested against a
hand-derived value and gradient):

* **No overlap.** IoU = 0 and its gradient is exactly 0: the IoU loss cannot move two disjoint
  boxes towards each other (why GIoU exists). GIoU's ``(|C| - U)/|C|`` and DIoU's ``ρ²/c²`` have
  non-zero gradients there.
* **Touching and zero-area boxes.** An intersection side of exactly 0 is differentiated from the
  side where it grows (``where(d >= 0, d, 0)``): a zero-width box inside its target gets the
  gradient that widens it (the only feasible direction, since ``x2 >= x1``), not 0.
* **Identical boxes.** Loss exactly 0; ``min``/``max`` ties split the gradient evenly (JAX's
  convention), which makes the gradient exactly 0 at this kink (the mean of its one-sided
  derivatives). Every length is a difference of two coordinates taken before any scaling, and
  ``U - I`` and ``|C| - U`` are sums of non-negative products of such lengths (see
  `_iou_family`), so both are exactly 0 here for any boxes, thin, tiny or huge.
* **Nearly identical boxes.** For the same reason no loss is a difference of nearly equal
  rounded areas: boxes 1 % (or 0.01 %) apart get their loss to a few float32 ulps (relative
  error ≤ 3.1e-7 against float64 over thin, tiny, large and random boxes), where the textbook
  ``1 - I/U`` loses about ``eps / (1 - IoU)``.
* **Zero union or zero enclosing box** (two zero-area boxes, two identical points): each ratio
  whose denominator is 0 (below 1e-19 of the enclosing box's scale) is defined as 0 (IoU = 0,
  so the loss is 1), with a zero gradient; nothing is ``0/0``. Two boxes that fit together in
  1e-19 px count as one point.
* CIoU's ``α`` is a constant weight (no gradient through it, as in the authors' code); it is 0
  when ``v = 0``, including identical boxes, where the formula is ``0/0``.

Boxes with ``x2 < x1`` or ``y2 < y1`` or non-finite coordinates raise ``ValueError`` naming the
box when the inputs are concrete, and give NaN under ``jit``.

References:
  Yu et al., "UnitBox: An Advanced Object Detection Network", ACM MM 2016 (UnitBox trains
  ``-ln IoU``, infinite without overlap; the bounded ``1 - IoU`` is the form the later papers
  compare with).
  Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019.
  Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box Regression",
  AAAI 2020 (DIoU, CIoU).
  Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016 (offset encoding, variances).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


KINDS = ("iou", "giou", "diou", "ciou")


def decode_offsets(offsets, anchors, *, variances: Sequence[float] = (0.1, 0.2)) -> jax.Array:
  """SSD's box decoding: encoded offsets relative to anchors → boxes ``(x1, y1, x2, y2)``.

  .. math::
     c = c_a + t_{xy} v_0 s_a, \\qquad s = s_a \\exp(t_{wh} v_1)

  with ``c``, ``s`` the centre and size of a box and ``c_a``, ``s_a`` those of its anchor.

  Args:
    offsets: ``[..., 4]`` encoded ``(t_x, t_y, t_w, t_h)``.
    anchors: ``[..., 4]`` anchor boxes (broadcast against ``offsets``).
    variances: SSD's encoding variances ``(v_0, v_1)`` (centre, size).

  Returns:
    ``[..., 4]`` boxes; their sides are positive whenever the anchors' are.

  Example:
    >>> import math
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> anchor = jnp.array([0.0, 0.0, 2.0, 2.0])
    >>> print(ge.boxes.decode_offsets(jnp.zeros(4), anchor))  # zero offsets: the anchor
    [0. 0. 2. 2.]
    >>> wider = jnp.array([0.0, 0.0, 5 * math.log(2), 0.0])  # width · exp(t_w · 0.2) = 2 · 2
    >>> print(np.asarray(ge.boxes.decode_offsets(wider, anchor), float).round(4))
    [-1.  0.  3.  2.]
  """
  offsets, anchors = jnp.asarray(offsets), jnp.asarray(anchors)
  centre_a = (anchors[..., :2] + anchors[..., 2:]) / 2
  size_a = anchors[..., 2:] - anchors[..., :2]
  centre = centre_a + offsets[..., :2] * variances[0] * size_a
  size = size_a * jnp.exp(offsets[..., 2:] * variances[1])
  return jnp.concatenate([centre - size / 2, centre + size / 2], -1)


def _host(x):
  """A NumPy copy of ``x`` for the eager checks, or None under a JAX transformation (traced)."""
  return None if isinstance(x, jax.core.Tracer) else np.asarray(x)


def _check_boxes(name: str, boxes: jax.Array, concrete) -> jax.Array:
  """Valid mask ``[...]`` (ordered, finite); raises ValueError on concrete bad boxes."""
  if boxes.ndim < 1 or boxes.shape[-1] != 4:
    raise ValueError(f"`{name}` must have shape [..., 4] as (x1, y1, x2, y2); got {boxes.shape}.")
  if not jnp.issubdtype(boxes.dtype, jnp.floating):
    raise TypeError(f"`{name}` must be floating-point boxes; got dtype {boxes.dtype}.")
  finite = jnp.all(jnp.isfinite(boxes), axis=-1)
  ordered = (boxes[..., 2] >= boxes[..., 0]) & (boxes[..., 3] >= boxes[..., 1])
  if concrete is not None:
    b = np.asarray(concrete, np.float64).reshape(-1, 4)
    bad_finite = ~np.all(np.isfinite(b), axis=-1)
    bad_order = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if bad_finite.any():
      i = int(np.flatnonzero(bad_finite)[0])
      raise ValueError(f"`{name}` must be finite; box {i} (flat index) is {b[i].tolist()}.")
    if bad_order.any():
      i = int(np.flatnonzero(bad_order)[0])
      raise ValueError(
          f"`{name}` must satisfy x1 <= x2 and y1 <= y2 (boxes as (x1, y1, x2, y2)); box {i} "
          f"(flat index) is {b[i].tolist()}.")
  return finite & ordered


#: Denominators (areas, squared lengths, in units of the enclosing box) at or below this count
#: as 0: √(float32 tiny) ≈ 1e-19, so a quotient's derivative -num/den² never underflows to 0/0
#: (fused multiply-adds can leave a degenerate union at ±1e-30 instead of exactly 0).
_TINY = float(np.sqrt(np.finfo(np.float32).tiny))


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
  """``num / den`` where ``den > _TINY``, else 0 with a zero gradient (no 0/0 in either pass).

  Both operands are masked before the division (not the quotient after it): with the quotient
  masked, XLA's fusion of the GIoU and CIoU gradients in one jitted function gave NaN for a point
  box 1e-16 px from another (found by hypothesis in tests/test_iou.py)."""
  positive = den > _TINY
  return jnp.where(positive, num, 0.0) / jnp.where(positive, den, 1.0)


def _nonnegative(d: jax.Array) -> jax.Array:
  """``max(d, 0)`` differentiated from the growing side at ``d = 0`` (slope 1 there)."""
  return jnp.where(d >= 0, d, 0.0)


def _aspect_angle(w: jax.Array, h: jax.Array) -> jax.Array:
  """``arctan(w / h)`` as ``atan2(w, h)``: π/2 for ``h = 0``; 0, with zero gradient, for a point.

  Both sides are divided by the larger first, so the derivative ``h / (w² + h²)`` is formed
  as ``(1/m) · (h/m) / ((w/m)² + (h/m)²)`` and stays finite for tiny boxes.
  """
  m = jnp.maximum(w, h)
  some = m > _TINY  # a point (within rounding: fused code can leave ±1e-20 for a zero side)
  m = jnp.where(some, m, 1.0)
  return jnp.where(some, jnp.arctan2(jnp.where(some, w, 1.0) / m, jnp.where(some, h, 1.0) / m), 0.0)


def _box_loss(kind: str, boxes, target_boxes, anchors, variances) -> jax.Array:
  if kind not in KINDS + ("overlap",):
    raise ValueError(f"`kind` must be one of {KINDS}; got {kind!r}.")
  boxes, target_boxes = jnp.asarray(boxes), jnp.asarray(target_boxes)
  for name, value in (("boxes", boxes), ("target_boxes", target_boxes)):
    if not jnp.issubdtype(value.dtype, jnp.floating):
      raise TypeError(f"`{name}` must be floating-point; got dtype {value.dtype}.")
  out_dtype = jnp.result_type(boxes, target_boxes)
  compute = jnp.promote_types(out_dtype, jnp.float32)  # bf16/f16 evaluated in f32
  boxes, target_boxes = boxes.astype(compute), target_boxes.astype(compute)
  names = ("boxes", "target_boxes")
  if anchors is not None:
    anchors = jnp.asarray(anchors, compute)
    _check_boxes("anchors", anchors, _host(anchors))
    boxes = decode_offsets(boxes, anchors, variances=variances)
    target_boxes = decode_offsets(target_boxes, anchors, variances=variances)
    names = ("decoded boxes", "decoded target_boxes")
  try:
    shape = jnp.broadcast_shapes(boxes.shape, target_boxes.shape)
  except ValueError:
    raise ValueError(f"Shapes do not broadcast: `boxes` {boxes.shape}, `target_boxes` "
                     f"{target_boxes.shape}.") from None
  valid = (_check_boxes(names[0], boxes, _host(boxes))
           & _check_boxes(names[1], target_boxes, _host(target_boxes)))
  boxes, target_boxes = jnp.broadcast_to(boxes, shape), jnp.broadcast_to(target_boxes, shape)
  loss = _iou_family(kind, boxes, target_boxes)
  # NaN, not a number, for a bad box under jit (eagerly it has raised above)
  return jnp.where(jnp.broadcast_to(valid, shape[:-1]), loss, jnp.nan).astype(out_dtype)


def _axis(a_lo, a_hi, b_lo, b_hi):
  """One axis of a box pair, every length a difference of two coordinates (unscaled).

  Returns ``(inter, out_a, out_b, gap, extent)``: the overlap ``max(d, 0)`` with
  ``d = min(a_hi, b_hi) - max(a_lo, b_lo)`` (differentiated from the growing side at 0), the
  parts of a and of b outside the other (``w_a - inter``, ``w_b - inter``), the gap between
  disjoint sides (``max(-d, 0)``) and the enclosing extent. Where the sides meet,
  ``out_a = (a_hi - min(a_hi, b_hi)) + (max(a_lo, b_lo) - a_lo)``: two coordinate differences,
  each 0 or rounded once, never the difference of two rounded lengths, so it is exact enough
  for boxes that nearly coincide and exactly 0 for equal sides.
  """
  lo, hi = jnp.maximum(a_lo, b_lo), jnp.minimum(a_hi, b_hi)
  d = hi - lo
  meet = d >= 0
  inter = jnp.where(meet, d, 0.0)
  out_a = jnp.where(meet, (a_hi - hi) + (lo - a_lo), a_hi - a_lo)
  out_b = jnp.where(meet, (b_hi - hi) + (lo - b_lo), b_hi - b_lo)
  gap = jnp.where(meet, 0.0, -d)
  extent = jnp.maximum(a_hi, b_hi) - jnp.minimum(a_lo, b_lo)
  return inter, out_a, out_b, gap, extent


def _iou_family(kind: str, a: jax.Array, b: jax.Array) -> jax.Array:
  """The loss of ``kind`` for checked boxes ``a`` (predicted) and ``b`` (target), ``[..., 4]``.

  Every length is first formed as a difference of two coordinates, then divided by the larger
  side ``s`` of the enclosing box, so areas and squared distances are at most 1 (nothing
  overflows or underflows for tiny or huge boxes) and all areas are products of the same
  scaled lengths. ``s`` carries no gradient: every term is a ratio of quantities of equal
  degree in the lengths (scale-invariant), so its derivative through ``s`` is exactly 0.

  The small quantities are built from non-negative parts, without cancellation. Per axis,
  with i the overlap, p and q the parts of a and b outside it and g the gap (`_axis`), the
  enclosing side is i + p + q + g and

  .. math::
     U - I = p_x h_a + i_x p_y + q_x h_b + i_x q_y, \\qquad
     |C| - U = p_x q_y + q_x p_y + g_y (i_x + p_x + q_x) + g_x |C_y|,

  so identical boxes give exactly 0 (and gradient 0), and nearly identical ones a loss with
  float32's relative accuracy rather than that of ``1 - I/U`` (about eps / (1 - IoU)).
  """
  ix, px, qx, gx, cw = _axis(a[..., 0], a[..., 2], b[..., 0], b[..., 2])
  iy, py, qy, gy, ch = _axis(a[..., 1], a[..., 3], b[..., 1], b[..., 3])
  disjoint = (gx > 0) | (gy > 0)
  # At or below _TINY (≈1e-19 px) both boxes are one point: every ratio below is 0/0, defined
  # as 0 (the unscaled areas are below _TINY, so each _safe_div gives 0).
  scale = jax.lax.stop_gradient(jnp.maximum(cw, ch))
  scale = jnp.where(scale > _TINY, scale, 1.0)
  ix, px, qx, gx, cw = (t / scale for t in (ix, px, qx, gx, cw))
  iy, py, qy, gy, ch = (t / scale for t in (iy, py, qy, gy, ch))
  wa, ha = (a[..., 2] - a[..., 0]) / scale, (a[..., 3] - a[..., 1]) / scale
  wb, hb = (b[..., 2] - b[..., 0]) / scale, (b[..., 3] - b[..., 1]) / scale
  inter = ix * iy
  apart = (px * ha + ix * py) + (qx * hb + ix * qy)  # U - I
  union = inter + apart
  iou = _safe_div(inter, union)
  if kind == "overlap":
    return iou
  # Disjoint boxes: IoU is 0 with gradient exactly 0, and 1 - IoU keeps it exactly so; a zero
  # union (IoU defined as 0) gives 1 as well.
  by_parts = ~disjoint & (union > _TINY)
  loss = one_minus_iou = jnp.where(by_parts, _safe_div(apart, union), 1.0 - iou)
  if kind == "iou":
    return loss
  if kind == "giou":
    outside = px * qy + qx * py + gy * (ix + px + qx) + gx * ch  # |C| - U
    return loss + _safe_div(outside, cw * ch)
  # ρ² between centres: ((a1 - b1) + (a2 - b2))² / 4 per axis.
  dx = ((a[..., 0] - b[..., 0]) + (a[..., 2] - b[..., 2])) / scale
  dy = ((a[..., 1] - b[..., 1]) + (a[..., 3] - b[..., 3])) / scale
  loss = loss + _safe_div((jnp.square(dx) + jnp.square(dy)) / 4.0, jnp.square(cw) + jnp.square(ch))
  if kind == "diou":
    return loss
  v = (4.0 / math.pi**2) * jnp.square(_aspect_angle(wb, hb) - _aspect_angle(wa, ha))
  alpha = jax.lax.stop_gradient(_safe_div(v, one_minus_iou + v))
  return loss + alpha * v


def box_iou(boxes, target_boxes) -> jax.Array:
  """IoU of paired boxes ``[..., 4]`` (broadcast) → ``[...]``, with the checks of the losses.

  ``box_iou(a[:, None], b[None])`` is the ``[N, M]`` IoU matrix. A pair whose union is 0 (two
  points) has IoU 0.

  .. math::
     \\mathrm{IoU}(A, B) = \\frac{|A \\cap B|}{|A \\cup B|}

  Args:
    boxes: ``[..., 4]`` boxes ``(x1, y1, x2, y2)``.
    target_boxes: ``[..., 4]`` boxes (broadcast against ``boxes``).

  Returns:
    ``[...]`` IoU values in [0, 1], in the inputs' dtype.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import gradeng as ge
    >>> boxes = jnp.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]])
    >>> print(np.asarray(ge.boxes.box_iou(boxes[:, None], boxes[None]), float).round(4))
    [[1.     0.1429]
     [0.1429 1.    ]]
  """
  return _box_loss("overlap", boxes, target_boxes, None, ())


def iou_loss(boxes, target_boxes, *, anchors=None,
             variances: Sequence[float] = (0.1, 0.2)) -> jax.Array:
  """IoU loss ``1 - IoU`` per box pair (UnitBox's overlap objective in its bounded form).

  .. math::
     L_\\mathrm{IoU} = 1 - \\frac{|A \\cap B|}{|A \\cup B|}

  Its gradient is exactly zero for boxes that do not overlap (see the module docstring).

  Args:
    boxes: ``[..., 4]`` predicted ``(x1, y1, x2, y2)``, or encoded offsets with ``anchors``.
    target_boxes: ``[..., 4]`` targets in the same form (broadcast against ``boxes``).
    anchors: optional ``[..., 4]`` anchors: the inputs are SSD offsets (`decode_offsets`).
    variances: SSD encoding variances, used with ``anchors``.

  Returns:
    ``[...]`` losses in [0, 1], in the inputs' dtype.

  Example:
    >>> import gradeng as ge
    >>> float(ge.boxes.iou_loss([0., 0., 2., 2.], [1., 0., 3., 2.]))  # IoU = 2 / 6
    0.6666666...

  References:
    Yu et al., "UnitBox: An Advanced Object Detection Network", ACM MM 2016.
  """
  return _box_loss("iou", boxes, target_boxes, anchors, variances)


def giou_loss(boxes, target_boxes, *, anchors=None,
              variances: Sequence[float] = (0.1, 0.2)) -> jax.Array:
  """Generalised IoU loss per box pair.

  .. math::
     L_\\mathrm{GIoU} = 1 - \\mathrm{IoU} + \\frac{|C| - |A \\cup B|}{|C|}

  with C the smallest box enclosing both; in [0, 2], and its gradient does not vanish when the
  boxes are disjoint. Arguments and return as `iou_loss`.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import gradeng as ge
    >>> box, far = jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([3.0, 0.0, 5.0, 2.0])
    >>> round(float(ge.boxes.giou_loss(box, far)), 4)  # 1 - 0 + (10 - 8) / 10
    1.2
    >>> print(jax.grad(ge.boxes.giou_loss)(box, far))  # pulls x1, x2 right (IoU's is 0)
    [ 0.04  0.   -0.2   0.  ]

  References:
    Rezatofighi et al., "Generalized Intersection over Union: A Metric and a Loss for Bounding
    Box Regression", CVPR 2019.
  """
  return _box_loss("giou", boxes, target_boxes, anchors, variances)


def diou_loss(boxes, target_boxes, *, anchors=None,
              variances: Sequence[float] = (0.1, 0.2)) -> jax.Array:
  """Distance-IoU loss per box pair.

  .. math::
     L_\\mathrm{DIoU} = 1 - \\mathrm{IoU} + \\frac{\\rho^2(b, b^{gt})}{c^2}

  with ρ the distance between the box centres and c the diagonal of the enclosing box; in
  [0, 2). Arguments and return as `iou_loss`.

  Example:
    >>> import gradeng as ge
    >>> round(float(ge.boxes.diou_loss([0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0])), 4)
    0.7436
    >>> round(float(ge.boxes.diou_loss([0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 2.0])), 4)
    0.55

  References:
    Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box Regression",
    AAAI 2020.
  """
  return _box_loss("diou", boxes, target_boxes, anchors, variances)


def ciou_loss(boxes, target_boxes, *, anchors=None,
              variances: Sequence[float] = (0.1, 0.2)) -> jax.Array:
  """Complete-IoU loss per box pair: DIoU plus an aspect-ratio term.

  .. math::
     L_\\mathrm{CIoU} = L_\\mathrm{DIoU} + \\alpha v, \\quad
     v = \\frac{4}{\\pi^2}\\left(\\arctan\\frac{w^{gt}}{h^{gt}} - \\arctan\\frac{w}{h}\\right)^2,
     \\quad \\alpha = \\frac{v}{1 - \\mathrm{IoU} + v}

  ``α`` is held constant in the gradient (as in the authors' implementation) and is 0 when
  ``v = 0``. ``arctan(w/h)`` is ``atan2(w, h)``, so zero-height boxes give π/2, not NaN.
  Arguments and return as `iou_loss`.

  Example:
    IoU 1/2 and DIoU 0.5 + 1/20 = 0.55; the aspect ratios 1 and 2 add αv:

    >>> import gradeng as ge
    >>> round(float(ge.boxes.ciou_loss([0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 2.0])), 4)
    0.5532

  References:
    Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box Regression",
    AAAI 2020.
  """
  return _box_loss("ciou", boxes, target_boxes, anchors, variances)


#: name → loss, for configs that pick a box loss by name.
BOX_LOSSES = {"iou": iou_loss, "giou": giou_loss, "diou": diou_loss, "ciou": ciou_loss}
