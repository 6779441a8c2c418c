"""The set-prediction head: K hypotheses (class logits, box) on SSD-lite's backbone (Flax NNX).

The backbone is SSD-lite's (`make_backbone`: a stem and one stride-2 stage per width) and the
head is shaped like one of SSD-lite's: a 3×3 conv on the map of stride S (g × g cells) giving
``per_cell`` hypotheses per cell, K = g² · per_cell in all. What differs from SSD is the
training (one-to-one Hungarian matching instead of IoU matching of anchors) and the decoding
(no NMS). A hypothesis of the cell centred at (c_x, c_y) with raw outputs (d, u) is

.. math::
   \\text{logits} = d \\in \\mathbb{R}^{C+1},\\quad
   (x, y) = (c_x, c_y) + S\\,(o_k + (u_1, u_2)),\\quad (w, h) = s_0\\,(e^{u_3}, e^{u_4}),

box ``(x − w/2, y − h/2, x + w/2, y + h/2)``, logit 0 = "no object", with o_k the slot's
starting offset in the cell (`slot_offsets`). Nothing ties a hypothesis
to an object in advance: the Hungarian matching of `set_loss` decides, per image and step.

References:
  Stewart, Andriluka, Ng, "End-to-end people detection in crowded scenes", CVPR 2016.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gradeng.experiments.crowded._config import SetHeadConfig
from gradeng.experiments.detection import (background_bias, backbone_features, init_module,
                                           make_backbone)


class SetHead(nnx.Module):
  """SSD-lite's backbone with a 3×3 conv head of K = cells × ``per_cell`` hypotheses."""

  def __init__(self, config: SetHeadConfig, num_classes: int, in_channels: int = 1, *,
               rngs: nnx.Rngs):
    self.num_outputs = num_classes + 1
    self.per_cell = config.per_cell
    self.stride = float(config.stride)
    self.box_size = float(config.box_size)
    self.stem, self.stages = make_backbone(config.widths, in_channels, rngs=rngs)
    self.stage = config.stride.bit_length() - 2
    self.head = nnx.Conv(config.widths[self.stage], config.per_cell * (self.num_outputs + 4),
                         (3, 3), rngs=rngs)

  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``images [B, H, W, C]`` → ``(class_logits [B, K, num_classes + 1], boxes [B, K, 4])``,
    boxes ``(x1, y1, x2, y2)`` in pixels, hypotheses ordered by row, column, then slot."""
    f = backbone_features(self.stem, self.stages, images)[self.stage]
    batch, rows, cols, _ = f.shape
    raw = self.head(f).reshape(batch, rows, cols, self.per_cell, self.num_outputs + 4)
    logits, u = raw[..., :self.num_outputs], raw[..., self.num_outputs:]
    cy, cx = jnp.meshgrid((jnp.arange(rows) + 0.5) * self.stride,
                          (jnp.arange(cols) + 0.5) * self.stride, indexing="ij")
    centre = (jnp.stack([cx, cy], -1)[:, :, None, :] + self.stride * slot_offsets(self.per_cell)
              + self.stride * u[..., :2])
    size = self.box_size * jnp.exp(u[..., 2:])
    boxes = jnp.concatenate([centre - size / 2, centre + size / 2], axis=-1)
    k = rows * cols * self.per_cell
    return logits.reshape(batch, k, self.num_outputs), boxes.reshape(batch, k, 4)


def slot_offsets(per_cell: int) -> np.ndarray:
  """``[per_cell, 2]`` starting centres of a cell's hypotheses, in cell units from its centre:
  the centres of a sub-grid of ⌈√n⌉ columns and ⌈n / ⌈√n⌉⌉ rows, row by row. Distinct
  starting boxes break the tie between a cell's hypotheses, which would otherwise share every
  early match at random."""
  columns = int(np.ceil(np.sqrt(per_cell)))
  rows = -(-per_cell // columns)
  gy, gx = np.meshgrid((np.arange(rows) + 0.5) / rows - 0.5,
                       (np.arange(columns) + 0.5) / columns - 0.5, indexing="ij")
  return np.stack([gx.ravel(), gy.ravel()], -1)[:per_cell].astype(np.float32)


def num_hypotheses(config: SetHeadConfig, canvas_size: int) -> int:
  """K, the number of hypotheses of a `SetHead` on ``canvas_size × canvas_size`` canvases."""
  return (canvas_size // config.stride) ** 2 * config.per_cell


def init_set_head(config: SetHeadConfig, num_classes: int, in_channels: int = 1, *,
                  seed: int) -> tuple[nnx.GraphDef, nnx.State]:
  """``(graphdef, params)`` of a fresh `SetHead`: SSD-lite's NumPy initialisation
  (`init_module`), with the "no object" logit's bias at `background_bias` so that each object
  class starts at probability ``config.prior`` (most hypotheses match nothing)."""
  per_hypothesis = num_classes + 1 + 4
  background = background_bias(num_classes, config.prior)

  def bias(name: str, zeros: np.ndarray) -> np.ndarray:
    if name.startswith("['head']"):
      zeros[::per_hypothesis] = background
    return zeros

  return init_module(lambda rngs: SetHead(config, num_classes, in_channels, rngs=rngs),
                     seed=seed, bias=bias)
