"""SSD-lite in Flax NNX: a small conv backbone and per-feature-map class and box heads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from gradeng.detection._config import ModelConfig


class SSDLite(nnx.Module):
  """Single-shot detector with a plain conv backbone.

  The backbone is a 3×3 stem followed by one stage per ``config.widths`` entry (a stride-2
  3×3 conv and a 3×3 conv, ReLU after each), so stage ``i`` has stride ``2**(i+1)``. Each
  feature map in ``config.feature_maps`` is the output of the stage of its stride; a 3×3
  class head (``num_classes + 1`` logits, index 0 = background) and a 3×3 box head (4
  offsets) per anchor read it. Outputs follow the anchor order of `make_anchors`.
  """

  def __init__(self, config: ModelConfig, num_classes: int, in_channels: int = 1, *,
               rngs: nnx.Rngs):
    self.num_outputs = num_classes + 1
    self.stem = nnx.Conv(in_channels, config.widths[0], (3, 3), rngs=rngs)
    stages = []
    width = config.widths[0]
    for out in config.widths:
      stages.append(nnx.List([nnx.Conv(width, out, (3, 3), strides=2, rngs=rngs),
                              nnx.Conv(out, out, (3, 3), rngs=rngs)]))
      width = out
    self.stages = nnx.List(stages)
    self.map_stages = tuple(fm.stride.bit_length() - 2 for fm in config.feature_maps)
    self.class_heads = nnx.List([
        nnx.Conv(config.widths[s], fm.anchors_per_cell * self.num_outputs, (3, 3), rngs=rngs)
        for s, fm in zip(self.map_stages, config.feature_maps)])
    self.box_heads = nnx.List([
        nnx.Conv(config.widths[s], fm.anchors_per_cell * 4, (3, 3), rngs=rngs)
        for s, fm in zip(self.map_stages, config.feature_maps)])

  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``images [B, H, W, C]`` → ``(class_logits [B, A, num_classes + 1], offsets [B, A, 4])``."""
    x = jax.nn.relu(self.stem(images))
    features = []
    for stage in self.stages:
      for conv in stage:
        x = jax.nn.relu(conv(x))
      features.append(x)
    logits, offsets = [], []
    for s, class_head, box_head in zip(self.map_stages, self.class_heads, self.box_heads):
      f = features[s]
      logits.append(class_head(f).reshape(f.shape[0], -1, self.num_outputs))
      offsets.append(box_head(f).reshape(f.shape[0], -1, 4))
    return jnp.concatenate(logits, axis=1), jnp.concatenate(offsets, axis=1)
