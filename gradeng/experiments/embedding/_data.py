"""Open-set data: scikit-learn's real 8×8 digits, jittered, rescaled and cluttered.

Training images come from the digits 0–5 only, test images from 6–9. Plain 8×8 digits are too
easy to separate losses (a raw-pixel nearest neighbour already retrieves the right class most
of the time), so each digit is resized to one of ``digit_sizes`` pixels, placed at a uniform
random position on a ``canvas``-pixel square, overlaid (pixel-wise maximum) with ``clutter``
crops of other digits of the same split, and given Gaussian noise. A pure function of the
config.
"""

from __future__ import annotations

import numpy as np

from gradeng.experiments.embedding._config import TEST_CLASSES, TRAIN_CLASSES, DataConfig


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  import jax

  out = jax.image.resize(images, (images.shape[0], size, size), method="linear", antialias=True)
  return np.clip(np.asarray(out, np.float32), 0.0, 1.0)


def _augment(sources: np.ndarray, copies: int, config: DataConfig, rng) -> np.ndarray:
  scaled = {s: _resize(sources, s) for s in config.digit_sizes}
  side = config.canvas
  out = np.zeros((len(sources) * copies, side, side), np.float32)
  for k in range(len(out)):
    i = k % len(sources)
    size = int(rng.choice(config.digit_sizes))
    y, x = (int(v) for v in rng.integers(0, side - size + 1, size=2))
    canvas = out[k]
    for _ in range(config.clutter):  # a crop of at most half of another digit
      other = scaled[size][int(rng.integers(len(sources)))]
      h, w = (int(v) for v in rng.integers(2, size // 2 + 1, size=2))
      py, px = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
      cy, cx = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
      np.maximum(canvas[cy:cy + h, cx:cx + w], other[py:py + h, px:px + w],
                 out=canvas[cy:cy + h, cx:cx + w])
    np.maximum(canvas[y:y + size, x:x + size], scaled[size][i], out=canvas[y:y + size, x:x + size])
    if config.noise_std:
      canvas += rng.normal(0.0, config.noise_std, canvas.shape).astype(np.float32)
  return np.clip(out, 0.0, 1.0)


def make_split(config: DataConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
  """``(images [N, canvas²] float32, labels [N] int32)``; train labels are 0–5, test 6–9 (one
  augmented image per test digit)."""
  from sklearn.datasets import load_digits

  if split not in ("train", "test"):
    raise ValueError(f"`split` must be 'train' or 'test'; got {split!r}.")
  digits = load_digits()
  classes = TRAIN_CLASSES if split == "train" else TEST_CLASSES
  keep = np.isin(digits.target, classes)
  sources = digits.images[keep].astype(np.float32) / 16.0
  labels = digits.target[keep].astype(np.int32)
  copies = config.train_copies if split == "train" else 1
  rng = np.random.default_rng([config.seed, 0 if split == "train" else 1])
  images = _augment(sources, copies, config, rng)
  return images.reshape(len(images), -1), np.tile(labels, copies)
