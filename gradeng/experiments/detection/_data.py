"""Detection data: the sample type, its checks, and canvases of real handwritten digits.

scikit-learn ships 1,797 real 8×8 handwritten digits (``load_digits``). `make_digit_canvases`
resizes them to several scales and places 1–6 of them on a canvas with noise and clutter
(fragments of digits that are not objects), giving boxes and labels. The 1,797 source images
are split once, by seed, into a train pool and a test pool, so no digit image appears on both
train and test canvases. Everything is a pure function of the `DataConfig` and the split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from gradeng.runtime import InputError
from gradeng.experiments.detection._config import NUM_DIGIT_CLASSES, DataConfig

SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class Sample:
  """One image with its objects.

  Attributes:
    image: float32 ``[H, W, C]`` with values in [0, 1].
    boxes: float32 ``[M, 4]`` as ``(x0, y0, x1, y1)`` in pixels, ``x0 < x1``, ``y0 < y1``.
    labels: int32 ``[M]`` class indices in ``[0, num_classes)`` (no background class).
    difficult: bool ``[M]``; difficult objects are neither counted nor penalised by mAP.
  """

  image: np.ndarray
  boxes: np.ndarray
  labels: np.ndarray
  difficult: np.ndarray


@runtime_checkable
class DetectionDataset(Protocol):
  """What the experiment needs from a data set; a real one (e.g. `VOCDataset`) plugs in here."""

  class_names: tuple[str, ...]

  def __len__(self) -> int: ...

  def __getitem__(self, index: int) -> Sample: ...


@dataclasses.dataclass(frozen=True)
class InMemoryDataset:
  """A `DetectionDataset` held as arrays (what `make_digit_canvases` returns)."""

  class_names: tuple[str, ...]
  samples: tuple[Sample, ...]

  def __len__(self) -> int:
    return len(self.samples)

  def __getitem__(self, index: int) -> Sample:
    return self.samples[index]

  def __iter__(self) -> Iterator[Sample]:
    return iter(self.samples)


def make_sample(image, boxes, labels, difficult=None, *, num_classes: int,
                image_shape: Sequence[int] | None = None) -> Sample:
  """Checks one image and its objects and returns them as a `Sample`.

  Args:
    image: ``[H, W]`` or ``[H, W, C]`` array of finite values in [0, 1].
    boxes: ``[M, 4]`` boxes ``(x0, y0, x1, y1)`` in pixels with ``M >= 1``; each must have
      positive width and height and lie inside the image.
    labels: ``[M]`` integers in ``[0, num_classes)``.
    difficult: optional ``[M]`` booleans (default all False).
    num_classes: number of object classes (background excluded).
    image_shape: if given, the required ``(H, W, C)``.

  Returns:
    The `Sample` (float32 image with a channel axis, float32 boxes, int32 labels).

  Raises:
    ValueError: naming the offending box, label or shape.
  """
  image = np.asarray(image, dtype=np.float32)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3:
    raise InputError(f"an image must be [H, W] or [H, W, C], got shape {image.shape}")
  if image_shape is not None and tuple(image.shape) != tuple(image_shape):
    raise InputError(f"image has shape {image.shape}, expected {tuple(image_shape)}")
  if not np.all(np.isfinite(image)) or image.min(initial=0) < 0 or image.max(initial=0) > 1:
    raise InputError(
        f"image values must be finite and in [0, 1], got range [{image.min()}, {image.max()}]")
  boxes = np.asarray(boxes, dtype=np.float32)
  labels_in = np.asarray(labels)
  if boxes.ndim != 2 or boxes.shape[-1] != 4:
    raise InputError(f"`boxes` must be [M, 4], got shape {boxes.shape}")
  if boxes.shape[0] == 0:
    raise InputError("an image must have at least one box, got none")
  if labels_in.shape != (boxes.shape[0],):
    raise InputError(f"`labels` must be [M] = [{boxes.shape[0]}], got shape {labels_in.shape}")
  if not np.issubdtype(labels_in.dtype, np.integer):
    raise InputError(f"`labels` must be integers, got dtype {labels_in.dtype}")
  bad = np.flatnonzero((labels_in < 0) | (labels_in >= num_classes))
  if bad.size:
    raise InputError(
        f"label {int(labels_in[bad[0]])} of box {int(bad[0])} is outside the class range "
        f"[0, {num_classes})")
  if not np.all(np.isfinite(boxes)):
    raise InputError(f"box {int(np.flatnonzero(~np.isfinite(boxes).all(-1))[0])} is not finite")
  degenerate = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
  if degenerate.size:
    raise InputError(
        f"box {int(degenerate[0])} = {boxes[degenerate[0]].tolist()} is empty or degenerate "
        f"(need x0 < x1 and y0 < y1)")
  height, width = image.shape[:2]
  outside = np.flatnonzero((boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > width)
                           | (boxes[:, 3] > height))
  if outside.size:
    raise InputError(
        f"box {int(outside[0])} = {boxes[outside[0]].tolist()} lies outside the "
        f"{width}x{height} image")
  difficult = (np.zeros(boxes.shape[0], bool) if difficult is None
               else np.asarray(difficult, dtype=bool).reshape(boxes.shape[0]))
  return Sample(image, boxes, labels_in.astype(np.int32), difficult)


def stack(dataset: DetectionDataset, *, num_classes: int, image_shape: Sequence[int],
          max_objects: int | None = None) -> dict[str, np.ndarray]:
  """Checks every sample and stacks them into padded arrays.

  Returns:
    ``images [N, H, W, C]``, ``boxes [N, M, 4]``, ``labels [N, M]``, ``difficult [N, M]`` and
    ``valid [N, M]`` (False on padding), with ``M`` the most objects in one image.
  """
  samples = []
  for index in range(len(dataset)):
    s = dataset[index]
    try:
      samples.append(make_sample(s.image, s.boxes, s.labels, s.difficult,
                                 num_classes=num_classes, image_shape=image_shape))
    except ValueError as error:
      raise InputError(f"sample {index}: {error}") from None
  if not samples:
    raise InputError("the data set is empty")
  most = max(len(s.labels) for s in samples)
  m = most if max_objects is None else max_objects
  if most > m:
    raise InputError(f"a sample has {most} objects, more than max_objects={m}")
  n = len(samples)
  out = {
      "images": np.stack([s.image for s in samples]),
      "boxes": np.zeros((n, m, 4), np.float32),
      "labels": np.zeros((n, m), np.int32),
      "difficult": np.zeros((n, m), bool),
      "valid": np.zeros((n, m), bool),
  }
  for i, s in enumerate(samples):
    k = len(s.labels)
    out["boxes"][i, :k] = s.boxes
    out["labels"][i, :k] = s.labels
    out["difficult"][i, :k] = s.difficult
    out["valid"][i, :k] = True
  return out


def source_split(config: DataConfig) -> dict[str, np.ndarray]:
  """Indices of the scikit-learn digits in each split (disjoint, deterministic by seed)."""
  from sklearn.datasets import load_digits  # heavy import, only when data is built

  count = len(load_digits().target)
  order = np.random.default_rng([config.seed, 0]).permutation(count)
  num_test = int(round(config.test_fraction * count))
  return {"test": np.sort(order[:num_test]), "train": np.sort(order[num_test:])}


def _resized_digits(images: np.ndarray, size: int) -> np.ndarray:
  """``[N, 8, 8]`` digits in [0, 1] → ``[N, size, size]`` (bilinear, antialiased)."""
  import jax

  out = jax.image.resize(images, (images.shape[0], size, size), method="linear", antialias=True)
  return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def _tight_box(patch: np.ndarray, threshold: float = 0.2) -> tuple[int, int, int, int]:
  """Pixel box ``(x0, y0, x1, y1)`` (exclusive ends) of the ink in a patch."""
  ink = patch > threshold * patch.max()
  rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
  return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
  if boxes.size == 0:
    return np.zeros(0)
  return pairwise_iou(box[None], boxes)[0]


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """``[P, 4]`` and ``[Q, 4]`` boxes → ``[P, Q]`` IoU (NumPy, for placing digits)."""
  lt = np.maximum(a[:, None, :2], b[None, :, :2])
  rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
  inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
  area = np.prod(a[:, 2:] - a[:, :2], axis=-1)[:, None]
  areas = np.prod(b[:, 2:] - b[:, :2], axis=-1)[None, :]
  return inter / (area + areas - inter)


def _crowded_position(rng: np.random.Generator, ink_box: np.ndarray, placed: np.ndarray,
                      positions: int, neighbour_iou: float,
                      tolerance: float) -> tuple[int, int] | None:
  """A uniformly drawn top-left corner ``(x, y)`` in ``[0, positions)²`` at which the digit's
  ink box has its highest IoU with the ``placed`` boxes within ``neighbour_iou ± tolerance``
  (any corner for the first digit); ``None`` if there is no such corner."""
  xs, ys = np.meshgrid(np.arange(positions), np.arange(positions), indexing="xy")
  corners = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float32)
  candidates = np.concatenate([corners + ink_box[:2], corners + ink_box[2:]], -1)
  if len(placed):
    nearest = pairwise_iou(candidates, placed).max(-1)
    allowed = np.flatnonzero(np.abs(nearest - neighbour_iou) <= tolerance)
  else:
    allowed = np.arange(len(corners))
  if allowed.size == 0:
    return None
  x, y = corners[int(rng.choice(allowed))]
  return int(x), int(y)


def make_digit_canvases(config: DataConfig, split: str, *, neighbour_iou: float | None = None,
                        iou_tolerance: float = 0.05, stream: int = 0) -> InMemoryDataset:
  """Canvases of real handwritten digits with their boxes and labels.

  Each canvas holds ``min_objects..max_objects`` digits drawn from the split's source pool,
  each resized to one of ``digit_sizes``, placed at a uniform position so that no two digit
  boxes overlap by more than ``max_overlap`` IoU, composited by pixel-wise maximum, plus
  ``clutter`` fragments (crops of at most half a digit, not labelled) and Gaussian noise.
  A box is the tight box around the digit's ink.

  Crowded canvases (``neighbour_iou`` = t given): every digit after the first is placed
  uniformly among the positions where its highest IoU with the digits already placed is
  within ``t ± iou_tolerance`` (instead of at most ``max_overlap``), so each digit overlaps
  its nearest earlier neighbour by a controlled IoU:

  .. math::
     \\left| \\max_{j < i} \\mathrm{IoU}(b_i, b_j) - t \\right| \\le \\mathrm{tol}, \\quad i \\ge 2.

  A digit with no such position is redrawn (another size and source), up to ``20 × count``
  draws per canvas as for sparse canvases.

  Args:
    config: the data configuration.
    split: ``"train"`` or ``"test"``; the two use disjoint source digits.
    neighbour_iou: the target IoU t in [0, 1) of crowded canvases; ``None`` (default): the
      sparse canvases, unchanged.
    iou_tolerance: the half-width of the accepted IoU band, > 0.
    stream: another independent set of canvases from the same source digits (0, the default,
      gives the canvases of earlier versions); several crowding levels of one split use
      different streams so that they do not share their random draws.

  Returns:
    An `InMemoryDataset` of ``config.num_train`` or ``config.num_test`` samples.
  """
  if split not in SPLITS:
    raise InputError(f"`split` must be one of {SPLITS}, got {split!r}")
  if neighbour_iou is not None and not 0.0 <= neighbour_iou < 1.0:
    raise InputError(f"`neighbour_iou` must be in [0, 1) or None, got {neighbour_iou!r}")
  if not iou_tolerance > 0.0:
    raise InputError(f"`iou_tolerance` must be > 0, got {iou_tolerance!r}")
  from sklearn.datasets import load_digits

  digits = load_digits()
  pool = source_split(config)[split]
  sources = digits.images[pool].astype(np.float32) / 16.0
  targets = digits.target[pool].astype(np.int32)
  scaled = {size: _resized_digits(sources, size) for size in config.digit_sizes}
  ink = {size: [_tight_box(p) for p in scaled[size]] for size in config.digit_sizes}
  if isinstance(stream, bool) or int(stream) != stream or stream < 0:
    raise InputError(f"`stream` must be an integer >= 0, got {stream!r}")
  key = [config.seed, 1 + SPLITS.index(split)] + ([int(stream)] if stream else [])
  rng = np.random.default_rng(key)
  side = config.canvas_size
  count = config.num_train if split == "train" else config.num_test
  samples = []
  for _ in range(count):
    canvas = np.zeros((side, side), np.float32)
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    wanted = int(rng.integers(config.min_objects, config.max_objects + 1))
    for _attempt in range(20 * wanted):
      if len(boxes) == wanted:
        break
      size = int(rng.choice(config.digit_sizes))
      source = int(rng.integers(len(pool)))
      if neighbour_iou is None:
        x, y = (int(v) for v in rng.integers(0, side - size + 1, size=2))
      else:
        position = _crowded_position(rng, np.array(ink[size][source], np.float32),
                                     np.array(boxes).reshape(-1, 4), side - size + 1,
                                     neighbour_iou, iou_tolerance)
        if position is None:
          continue
        x, y = position
      x0, y0, x1, y1 = ink[size][source]
      box = np.array([x + x0, y + y0, x + x1, y + y1], np.float32)
      if neighbour_iou is None and np.any(
          _iou_one_to_many(box, np.array(boxes).reshape(-1, 4)) > config.max_overlap):
        continue
      np.maximum(canvas[y:y + size, x:x + size], scaled[size][source],
                 out=canvas[y:y + size, x:x + size])
      boxes.append(box)
      labels.append(int(targets[source]))
    for _ in range(config.clutter):
      size = int(rng.choice(config.digit_sizes))
      patch = scaled[size][int(rng.integers(len(pool)))]
      h, w = (int(v) for v in rng.integers(2, max(3, size // 2 + 1), size=2))
      py, px = (int(v) for v in rng.integers(0, size - max(h, w) + 1, size=2))
      y, x = (int(v) for v in rng.integers(0, side - max(h, w) + 1, size=2))
      np.maximum(canvas[y:y + h, x:x + w], patch[py:py + h, px:px + w], out=canvas[y:y + h, x:x + w])
    if config.noise_std:
      canvas = np.clip(canvas + rng.normal(0.0, config.noise_std, canvas.shape), 0.0, 1.0)
    samples.append(make_sample(canvas.astype(np.float32), np.stack(boxes), np.array(labels),
                               num_classes=NUM_DIGIT_CLASSES))
  return InMemoryDataset(tuple(str(d) for d in range(NUM_DIGIT_CLASSES)), tuple(samples))
