"""SSD-lite in Flax NNX: a small conv backbone and per-feature-map class and box heads."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from gradeng.runtime import InputError
from gradeng.experiments.detection._config import ModelConfig


def make_backbone(widths: tuple[int, ...], in_channels: int = 1, *,
                  rngs: nnx.Rngs) -> tuple[nnx.Conv, nnx.List]:
  """SSD-lite's backbone: a 3×3 stem and one stage per width (a stride-2 3×3 conv and a 3×3
  conv), so stage ``i`` has stride ``2**(i+1)``. Other heads (the crowded experiment's set
  head) build on the same stages.

  Returns:
    ``(stem, stages)``; run them with `backbone_features`.
  """
  stem = nnx.Conv(in_channels, widths[0], (3, 3), rngs=rngs)
  stages = []
  width = widths[0]
  for out in widths:
    stages.append(nnx.List([nnx.Conv(width, out, (3, 3), strides=2, rngs=rngs),
                            nnx.Conv(out, out, (3, 3), rngs=rngs)]))
    width = out
  return stem, nnx.List(stages)


def backbone_features(stem: nnx.Conv, stages: nnx.List, images: jax.Array) -> list[jax.Array]:
  """``images [B, H, W, C]`` → each stage's output (ReLU after every conv), stride 2, 4, …"""
  x = jax.nn.relu(stem(images))
  features = []
  for stage in stages:
    for conv in stage:
      x = jax.nn.relu(conv(x))
    features.append(x)
  return features


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
    self.stem, self.stages = make_backbone(config.widths, in_channels, rngs=rngs)
    self.map_stages = tuple(fm.stride.bit_length() - 2 for fm in config.feature_maps)
    self.class_heads = nnx.List([
        nnx.Conv(config.widths[s], fm.anchors_per_cell * self.num_outputs, (3, 3), rngs=rngs)
        for s, fm in zip(self.map_stages, config.feature_maps)])
    self.box_heads = nnx.List([
        nnx.Conv(config.widths[s], fm.anchors_per_cell * 4, (3, 3), rngs=rngs)
        for s, fm in zip(self.map_stages, config.feature_maps)])

  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``images [B, H, W, C]`` → ``(class_logits [B, A, num_classes + 1], offsets [B, A, 4])``."""
    features = backbone_features(self.stem, self.stages, images)
    logits, offsets = [], []
    for s, class_head, box_head in zip(self.map_stages, self.class_heads, self.box_heads):
      f = features[s]
      logits.append(class_head(f).reshape(f.shape[0], -1, self.num_outputs))
      offsets.append(box_head(f).reshape(f.shape[0], -1, 4))
    return jnp.concatenate(logits, axis=1), jnp.concatenate(offsets, axis=1)


def background_bias(num_classes: int, prior: float) -> float:
  """The background logit bias b giving every object class probability ``prior`` at start.

  RetinaNet's prior initialisation (Lin et al. 2017, §4.1) for a softmax head: with b on the
  background logit and 0 on the K object logits, p_k = 1/(e^b + K) = π, so
  b = log((1 − Kπ)/π). It stops the K·A object logits of the ~10⁴ background anchors from
  dominating the first steps' gradient.
  """
  if not 0.0 < prior < 1.0 / num_classes:
    raise InputError(f"`prior` must be in (0, 1/num_classes = {1.0 / num_classes:g}), got {prior!r}")
  return float(np.log((1.0 - num_classes * prior) / prior))


def init_model(config: ModelConfig, num_classes: int, in_channels: int = 1, *,
               seed: int, prior: float | None = None) -> tuple[nnx.GraphDef, nnx.State]:
  """``(graphdef, params)`` of a freshly initialised `SSDLite`.

  Kernels are drawn from flax's default Conv distribution (LeCun normal: truncated at ±2σ,
  variance 1/fan_in) and biases are zero, but with NumPy from ``seed``: building the model
  eagerly compiles JAX's PRNG once per parameter shape, which costs tens of seconds on a
  busy 2-core CPU. With ``prior`` = π, the class heads' background biases are
  `background_bias` (every object class starts at probability π) instead of zero.
  """
  num_outputs = num_classes + 1
  background = 0.0 if prior is None else background_bias(num_classes, prior)

  def bias(name, b):
    if "class_heads" in name:  # outputs are (anchor, class) pairs, class 0 = background
      b[::num_outputs] = background
    return b

  return init_module(lambda rngs: SSDLite(config, num_classes, in_channels, rngs=rngs),
                     seed=seed, bias=bias)


def init_module(make: Callable[[nnx.Rngs], nnx.Module], *, seed: int,
                bias: Callable[[str, np.ndarray], np.ndarray] | None = None
                ) -> tuple[nnx.GraphDef, nnx.State]:
  """``(graphdef, params)`` of the module ``make(rngs)`` initialised with NumPy from ``seed``.

  Every kernel ``[..., fan_in, out]`` is LeCun normal truncated at ±2σ (flax's default Conv
  and Linear distribution, variance 1/fan_in), every bias zero; ``bias(name, zeros)``, if
  given, returns the initial value of the bias at parameter path ``name`` instead. NumPy
  rather than JAX's PRNG, whose per-shape compilation costs tens of seconds on a busy CPU.
  """
  abstract = nnx.eval_shape(lambda: make(nnx.Rngs(0)))
  graphdef, state = nnx.split(abstract)
  rng = np.random.default_rng([seed, 3])

  def draw(path, leaf):
    name = jax.tree_util.keystr(path)
    if name.endswith("['bias']"):
      zeros = np.zeros(leaf.shape, leaf.dtype)
      return zeros if bias is None else bias(name, zeros)
    fan_in = int(np.prod(leaf.shape[:-1]))
    values = rng.standard_normal(leaf.shape)
    while np.any(outside := np.abs(values) > 2.0):
      values[outside] = rng.standard_normal(int(outside.sum()))
    # 0.8796... is the standard deviation of a standard normal truncated to [-2, 2]
    return (values * np.sqrt(1.0 / fan_in) / 0.87962566103423978).astype(leaf.dtype)

  pure = jax.tree_util.tree_map_with_path(draw, nnx.to_pure_dict(state))
  nnx.replace_by_pure_dict(state, jax.device_put(pure))
  return graphdef, state
