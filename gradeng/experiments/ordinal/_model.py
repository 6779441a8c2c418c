"""Model of the ordinal experiment: a small convolutional network, a pytree of arrays, with one head
(count classes or a scalar for L2)."""

from __future__ import annotations

import numpy as np

from gradeng.experiments.ordinal._config import OrdinalConfig, OrdinalLoss


def init_params(config: OrdinalConfig, spec: OrdinalLoss, seed: int) -> dict[str, np.ndarray]:
  """LeCun-normal kernels (NumPy, from ``seed``) and zero biases of the counting network."""
  rng = np.random.default_rng([seed, 7])
  outputs = config.num_classes if spec.kind == "classification" else 1
  shapes = {}
  channels = 1
  for i, width in enumerate(config.widths):
    shapes[f"conv{i}"] = (3, 3, channels, width)
    channels = width
  shapes["dense"] = (channels, config.hidden)
  shapes["out"] = (config.hidden, outputs)
  params = {}
  for name, shape in shapes.items():
    fan_in = int(np.prod(shape[:-1]))
    params[f"{name}_w"] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    params[f"{name}_b"] = np.zeros(shape[-1], np.float32)
  return params


def forward(params, images):
  """``[B, H, W, 1]`` → ``[B, outputs]``: four 3×3 convs (strides 2, 2, 2, 1, ReLU), a global
  sum-pool scaled by 1/cells (a count is a sum over the image), a ReLU dense layer, the head."""
  import jax
  import jax.numpy as jnp

  x = images
  for i, stride in enumerate((2, 2, 2, 1)):
    x = jax.lax.conv_general_dilated(x, params[f"conv{i}_w"], (stride, stride), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = jax.nn.relu(x + params[f"conv{i}_b"])
  x = jnp.sum(x, axis=(1, 2)) * (64.0 / (x.shape[1] * x.shape[2]))
  x = jax.nn.relu(x @ params["dense_w"] + params["dense_b"])
  return x @ params["out_w"] + params["out_b"]
