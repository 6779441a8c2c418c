"""Long-tailed digit canvases (LVIS-like): rare digits on a few training canvases only.

LVIS groups its categories by the number of training *images* they appear in (rare 1–10,
common 11–100, frequent > 100). Here the training canvases are chosen, in order, from a pool
of ordinary canvases (`gradeng.experiments.detection.make_digit_canvases`): a canvas is kept
when every digit on it is still under its cap (``rare_images`` for a rare digit,
``common_images`` for a common one, none for a frequent one), until ``num_train`` are kept.
The test canvases are ordinary ones (every digit about equally often), so every class's AP is
measured on enough objects.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gradeng.experiments.detection import InMemoryDataset, make_digit_canvases
from gradeng.experiments.longtail.detection._config import LongTailDetectionConfig
from gradeng.runtime import InputError


@dataclasses.dataclass(frozen=True)
class LongTailCanvases:
  """The experiment's data.

  Attributes:
    train: the long-tailed training canvases.
    test: the test canvases.
    image_counts: ``[10]`` training canvases each digit appears on.
    instance_counts: ``[10]`` training objects of each digit (EQL's and the losses' n_j).
  """

  train: InMemoryDataset
  test: InMemoryDataset
  image_counts: np.ndarray
  instance_counts: np.ndarray


def image_counts(dataset: InMemoryDataset, num_classes: int = 10) -> np.ndarray:
  """``[num_classes]``: on how many images of ``dataset`` each class appears (LVIS's count).

  Example:
    >>> import numpy as np
    >>> from gradeng.experiments.detection import InMemoryDataset, Sample
    >>> from gradeng.experiments.longtail.detection import image_counts
    >>> s = lambda labels: Sample(np.zeros((4, 4, 1)), np.zeros((len(labels), 4)),
    ...                           np.array(labels), np.zeros(len(labels), bool))
    >>> image_counts(InMemoryDataset(("0", "1", "2"), (s([0, 0, 1]), s([0]))), 3).tolist()
    [2, 1, 0]
  """
  counts = np.zeros(num_classes, np.int64)
  for sample in dataset:
    counts[np.unique(np.asarray(sample.labels))] += 1
  return counts


def instance_counts(dataset: InMemoryDataset, num_classes: int = 10) -> np.ndarray:
  """``[num_classes]``: the number of objects of each class in ``dataset``."""
  counts = np.zeros(num_classes, np.int64)
  for sample in dataset:
    np.add.at(counts, np.asarray(sample.labels), 1)
  return counts


def select_long_tail(pool: InMemoryDataset, caps, count: int) -> InMemoryDataset:
  """The first ``count`` images of ``pool``, in order, on which every class is under its cap.

  An image is kept when each class on it has appeared on fewer than ``caps[class]`` kept
  images so far; a class appears on at most ``caps[class]`` kept images.

  Args:
    pool: candidate images.
    caps: ``[C]`` caps (``inf`` for no cap).
    count: images to keep.

  Raises:
    InputError: if the pool has fewer than ``count`` admissible images.

  Example:
    >>> import numpy as np
    >>> from gradeng.experiments.detection import InMemoryDataset, Sample
    >>> from gradeng.experiments.longtail.detection import select_long_tail
    >>> s = lambda labels: Sample(np.zeros((4, 4, 1)), np.zeros((len(labels), 4)),
    ...                           np.array(labels), np.zeros(len(labels), bool))
    >>> pool = InMemoryDataset(("0", "1"), (s([1]), s([0, 1]), s([0]), s([0])))
    >>> [x.labels.tolist() for x in select_long_tail(pool, [np.inf, 1], 3)]
    [[1], [0], [0]]
  """
  caps = np.asarray(caps, np.float64)
  seen = np.zeros(len(caps), np.int64)
  kept = []
  for sample in pool:
    classes = np.unique(np.asarray(sample.labels))
    if np.all(seen[classes] < caps[classes]):
      seen[classes] += 1
      kept.append(sample)
      if len(kept) == count:
        return InMemoryDataset(pool.class_names, tuple(kept))
  raise InputError(f"the pool of {len(pool)} images has only {len(kept)} images within the caps; "
                   f"{count} are needed (raise `pool_factor`)")


def long_tail_canvases(config: LongTailDetectionConfig) -> LongTailCanvases:
  """The training canvases (rare and common digits capped, see the module docstring) and the
  ordinary test canvases.

  Raises:
    InputError: if the pool is too small to keep ``num_train`` canvases, or to put a rare or
      common digit on exactly its cap of canvases.
  """
  pool_config = dataclasses.replace(config.data,
                                    num_train=config.pool_factor * config.data.num_train)
  train = select_long_tail(make_digit_canvases(pool_config, "train"), config.caps(),
                           config.data.num_train)
  images = image_counts(train)
  short = [d for d in (*config.common, *config.rare) if images[d] != config.caps()[d]]
  if short:
    raise InputError(f"digits {short} appear on {images[short].tolist()} training canvases, "
                     f"fewer than their caps; raise `pool_factor` or `num_train`")
  test = make_digit_canvases(config.data, "test")
  return LongTailCanvases(train, test, images, instance_counts(train))
