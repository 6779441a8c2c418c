"""A small Pascal VOC reader: annotation XML → boxes and labels, and a `DetectionDataset`.

Only what detection needs is read: file name, size, and per object its name, ``difficult``
flag and ``bndbox``. VOC boxes are 1-based inclusive pixel indices; they are returned as
continuous ``(x0, y0, x1, y1) = (xmin - 1, ymin - 1, xmax, ymax)``.
"""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

import numpy as np

from gradeng.runtime import InputError
from gradeng.experiments.detection._data import Sample, make_sample


@dataclasses.dataclass(frozen=True)
class VOCAnnotation:
  """One parsed annotation file."""

  filename: str
  width: int
  height: int
  depth: int
  names: tuple[str, ...]
  boxes: np.ndarray  # float32 [M, 4]
  difficult: np.ndarray  # bool [M]


def _text(node: ET.Element, path: str, source: str) -> str:
  found = node.find(path)
  if found is None or found.text is None or not found.text.strip():
    raise InputError(f"{source}: missing <{path}>")
  return found.text.strip()


def _number(node: ET.Element, path: str, source: str) -> float:
  text = _text(node, path, source)
  try:
    return float(text)
  except ValueError:
    raise InputError(f"{source}: <{path}> must be a number, got {text!r}") from None


def read_voc_annotation(path: str | os.PathLike) -> VOCAnnotation:
  """Parses one VOC annotation XML file.

  Raises:
    ValueError: on malformed XML, missing fields, or a degenerate / out-of-image box
      (naming the file and the object).
  """
  source = os.fspath(path)
  try:
    root = ET.parse(source).getroot()
  except ET.ParseError as error:
    raise InputError(f"{source}: not valid XML ({error})") from None
  width = int(_number(root, "size/width", source))
  height = int(_number(root, "size/height", source))
  depth_node = root.find("size/depth")
  depth = int(depth_node.text) if depth_node is not None and depth_node.text else 3
  names, boxes, difficult = [], [], []
  for k, obj in enumerate(root.findall("object")):
    where = f"{source}: object {k}"
    names.append(_text(obj, "name", where))
    xmin, ymin, xmax, ymax = (_number(obj, f"bndbox/{t}", where)
                              for t in ("xmin", "ymin", "xmax", "ymax"))
    box = [xmin - 1, ymin - 1, xmax, ymax]
    if not (box[0] < box[2] and box[1] < box[3]):
      raise InputError(f"{where} ({names[-1]!r}): box {box} is empty or degenerate")
    if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
      raise InputError(f"{where} ({names[-1]!r}): box {box} lies outside the {width}x{height} image")
    flag = obj.find("difficult")
    difficult.append(flag is not None and (flag.text or "0").strip() == "1")
    boxes.append(box)
  return VOCAnnotation(_text(root, "filename", source), width, height, depth, tuple(names),
                       np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(difficult, bool))


def _read_image(path: str) -> np.ndarray:
  import matplotlib.image

  image = np.asarray(matplotlib.image.imread(path))
  if image.dtype == np.uint8:
    image = image.astype(np.float32) / 255.0
  return image


class VOCDataset:
  """A Pascal-VOC-layout directory as a `DetectionDataset`.

  Expects ``root/Annotations/<id>.xml``, ``root/JPEGImages/<filename>`` and, if ``split`` is
  given, ``root/ImageSets/Main/<split>.txt`` listing the ids (else every annotation file).
  Object names map to indices by their position in ``class_names``; an unknown name is an
  error. Images are read on access with ``read_image(path) -> [H, W(, C)] in [0, 1]``.
  """

  def __init__(self, root: str | os.PathLike, class_names: Sequence[str], *,
               split: str | None = None, image_dir: str = "JPEGImages",
               read_image: Callable[[str], np.ndarray] = _read_image):
    self.root = os.fspath(root)
    self.class_names = tuple(class_names)
    self._index = {name: i for i, name in enumerate(self.class_names)}
    self._image_dir = image_dir
    self._read_image = read_image
    annotations = os.path.join(self.root, "Annotations")
    if split is None:
      if not os.path.isdir(annotations):
        raise InputError(f"no Annotations directory under {self.root!r}")
      ids = sorted(f[:-4] for f in os.listdir(annotations) if f.endswith(".xml"))
    else:
      listing = os.path.join(self.root, "ImageSets", "Main", f"{split}.txt")
      if not os.path.isfile(listing):
        raise InputError(f"split {split!r}: no file {listing!r}")
      with open(listing) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    self.ids = tuple(ids)
    self.annotations = tuple(read_voc_annotation(os.path.join(annotations, f"{i}.xml")) for i in ids)
    for i, ann in zip(self.ids, self.annotations):
      unknown = sorted(set(ann.names) - set(self._index))
      if unknown:
        raise InputError(f"annotation {i!r}: class {unknown[0]!r} is not in class_names {self.class_names}")

  def __len__(self) -> int:
    return len(self.ids)

  def __getitem__(self, index: int) -> Sample:
    ann = self.annotations[index]
    image = self._read_image(os.path.join(self.root, self._image_dir, ann.filename))
    if image.shape[:2] != (ann.height, ann.width):
      raise InputError(
          f"image {ann.filename!r} is {image.shape[1]}x{image.shape[0]}, its annotation says "
          f"{ann.width}x{ann.height}")
    labels = np.array([self._index[n] for n in ann.names], np.int32)
    return make_sample(image, ann.boxes, labels, ann.difficult, num_classes=len(self.class_names))
