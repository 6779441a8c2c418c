"""Unit tests of the detection experiment: data, VOC reader, boxes, matching, NMS, mAP, loss."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from gradeng.experiments import detection as det
from gradeng.experiments.common import first_difference
from gradeng.experiments.detection import _boxes, _config, _data, _metrics, _train

CONFIG_FILE = Path(__file__).resolve().parents[1] / "experiments" / "detection" / "config.py"


def _config_module():
  from gradeng.experiments.detection import configs

  return configs


def test_the_user_config_file_gives_the_packaged_configs():
  """experiments/detection/config.py (the file users copy) and the default of `load_config`
  (the packaged configs) give the same configurations."""
  spec = importlib.util.spec_from_file_location("detection_config_under_test", CONFIG_FILE)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  for quick in (True, False):
    for variant in module.VARIANTS:
      assert module.get_config(quick, variant=variant) == det.load_config(quick, variant=variant)
      assert det.load_config(quick, CONFIG_FILE, variant=variant) == det.load_config(quick, variant=variant)


# ----------------------------------------------------------------------------- data


SMALL = _config.DataConfig(num_train=40, num_test=12)


def test_canvases_are_deterministic_by_seed():
  a = det.make_digit_canvases(SMALL, "train")
  b = det.make_digit_canvases(SMALL, "train")
  c = det.make_digit_canvases(dataclasses.replace(SMALL, seed=1), "train")
  assert len(a) == 40
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x.image, y.image)
    np.testing.assert_array_equal(x.boxes, y.boxes)
    np.testing.assert_array_equal(x.labels, y.labels)
  assert any(x.image.shape != y.image.shape or not np.array_equal(x.image, y.image) for x, y in zip(a, c))


def test_canvases_hold_valid_objects():
  data = det.make_digit_canvases(SMALL, "test")
  counts = [len(s.labels) for s in data]
  assert min(counts) >= SMALL.min_objects and max(counts) <= SMALL.max_objects
  assert len(set(counts)) > 2
  for s in data:
    assert s.image.shape == (64, 64, 1) and s.image.dtype == np.float32
    assert 0 <= s.image.min() and s.image.max() <= 1
    assert np.all(s.boxes[:, :2] >= 0) and np.all(s.boxes[:, 2:] <= 64)
    assert np.all(s.boxes[:, 2:] > s.boxes[:, :2])
    assert np.all((0 <= s.labels) & (s.labels < 10))
  # the IoU of every two objects of one canvas, all canvases in one call (one shape to compile)
  owner = np.repeat(np.arange(len(data)), counts)
  iou = np.asarray(_boxes.iou_matrix(*[np.concatenate([s.boxes for s in data])] * 2))
  same_canvas = (owner[:, None] == owner[None, :]) & ~np.eye(len(owner), dtype=bool)
  assert np.all(iou[same_canvas] <= SMALL.max_overlap + 1e-6)


def test_split_is_by_source_digit():
  split = _data.source_split(SMALL)
  assert not set(split["train"]) & set(split["test"])
  assert len(split["train"]) + len(split["test"]) == 1797
  assert len(split["test"]) == round(0.3 * 1797)


def test_background_to_object_anchor_ratio_at_default_anchors():
  config = _config_module().get_config(quick=True)
  assert config.model == _config.ModelConfig()  # the quick config uses the default anchor set
  config = dataclasses.replace(config, data=dataclasses.replace(config.data, num_train=200, num_test=4))
  stats = _train.prepare_data(config).stats
  assert stats["background_per_positive_anchor"] >= 100
  assert stats["positive_anchors_per_object"] >= 1  # best-anchor forcing


@pytest.mark.parametrize("boxes, labels, message", [
    (np.zeros((0, 4)), np.zeros(0, int), "at least one box"),
    ([[5, 5, 5, 9]], [1], "degenerate"),
    ([[5, 9, 8, 2]], [1], "degenerate"),
    ([[1, 1, 4, 4]], [10], r"label 10 .* outside the class range \[0, 10\)"),
    ([[1, 1, 4, 4]], [-1], "outside the class range"),
    ([[1, 1, 4, 4]], [1.0], "integers"),
    ([[1, 1, 4, 40]], [1], "outside the 16x16 image"),
    ([[1, 1, 4, np.nan]], [1], "not finite"),
    ([[1, 1, 4, 4]], [1, 2], r"\[M\] = \[1\]"),
])
def test_bad_samples_are_refused(boxes, labels, message):
  with pytest.raises(ValueError, match=message):
    det.make_sample(np.zeros((16, 16)), boxes, np.asarray(labels), num_classes=10)


@pytest.mark.parametrize("image, message", [
    (np.zeros((16, 16, 3)), r"image has shape \(16, 16, 3\), expected \(16, 16, 1\)"),
    (np.zeros((16,)), r"\[H, W\] or \[H, W, C\]"),
    (np.full((16, 16), 2.0), r"in \[0, 1\]"),
])
def test_bad_images_are_refused(image, message):
  with pytest.raises(ValueError, match=message):
    det.make_sample(image, [[1, 1, 4, 4]], np.array([1]), num_classes=10, image_shape=(16, 16, 1))


def test_stack_names_the_bad_sample():
  good = det.make_sample(np.zeros((16, 16)), [[1, 1, 4, 4]], np.array([1]), num_classes=10)
  bad = dataclasses.replace(good, image=np.zeros((8, 8, 1), np.float32))
  data = det.InMemoryDataset(tuple("0123456789"), (good, bad))
  with pytest.raises(ValueError, match="sample 1: image has shape"):
    _data.stack(data, num_classes=10, image_shape=(16, 16, 1))


def test_bad_data_config_is_refused():
  with pytest.raises(ValueError, match="`min_objects`"):
    _config.DataConfig(min_objects=0)
  with pytest.raises(ValueError, match="`digit_sizes`"):
    _config.DataConfig(canvas_size=32, digit_sizes=(8, 40))


# ----------------------------------------------------------------------------- VOC reader


VOC_XML = """<annotation>
  <folder>VOC</folder><filename>{name}.png</filename>
  <size><width>20</width><height>10</height><depth>3</depth></size>
  <object><name>cat</name><difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>5</xmax><ymax>10</ymax></bndbox></object>
  <object><name>dog</name><difficult>1</difficult>
    <bndbox><xmin>11</xmin><ymin>1</ymin><xmax>{xmax}</xmax><ymax>6</ymax></bndbox></object>
</annotation>
"""


def _write_voc(root: Path, name: str, xmax: str = "20") -> None:
  import matplotlib.image

  (root / "Annotations").mkdir(parents=True, exist_ok=True)
  (root / "JPEGImages").mkdir(exist_ok=True)
  (root / "Annotations" / f"{name}.xml").write_text(VOC_XML.format(name=name, xmax=xmax))
  matplotlib.image.imsave(root / "JPEGImages" / f"{name}.png", np.zeros((10, 20, 3), np.uint8))


def test_voc_annotation_is_read(tmp_path):
  _write_voc(tmp_path, "a")
  ann = det.read_voc_annotation(tmp_path / "Annotations" / "a.xml")
  assert (ann.filename, ann.width, ann.height, ann.depth) == ("a.png", 20, 10, 3)
  assert ann.names == ("cat", "dog")
  np.testing.assert_array_equal(ann.boxes, [[0, 1, 5, 10], [10, 0, 20, 6]])
  np.testing.assert_array_equal(ann.difficult, [False, True])


def test_voc_dataset_plugs_into_the_loader_interface(tmp_path):
  for name in ("a", "b"):
    _write_voc(tmp_path, name)
  (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
  (tmp_path / "ImageSets" / "Main" / "val.txt").write_text("b\n")
  data = det.VOCDataset(tmp_path, ("dog", "cat"), split="val")
  assert isinstance(data, det.DetectionDataset)
  assert len(data) == 1 and data.ids == ("b",)
  sample = data[0]
  assert sample.image.shape == (10, 20, 4) or sample.image.shape == (10, 20, 3)
  np.testing.assert_array_equal(sample.labels, [1, 0])
  np.testing.assert_array_equal(sample.difficult, [False, True])
  assert len(det.VOCDataset(tmp_path, ("cat", "dog"))) == 2


def test_voc_bad_files_are_refused(tmp_path):
  _write_voc(tmp_path, "a", xmax="9")  # xmax 9 < xmin 11
  with pytest.raises(ValueError, match=r"a\.xml: object 1 \('dog'\): box .* degenerate"):
    det.read_voc_annotation(tmp_path / "Annotations" / "a.xml")
  _write_voc(tmp_path, "a", xmax="25")
  with pytest.raises(ValueError, match="outside the 20x10 image"):
    det.read_voc_annotation(tmp_path / "Annotations" / "a.xml")
  _write_voc(tmp_path, "a")
  with pytest.raises(ValueError, match="class 'dog' is not in class_names"):
    det.VOCDataset(tmp_path, ("cat",))
  (tmp_path / "Annotations" / "a.xml").write_text("<annotation><size>")
  with pytest.raises(ValueError, match="not valid XML"):
    det.read_voc_annotation(tmp_path / "Annotations" / "a.xml")
  with pytest.raises(ValueError, match="split 'train'"):
    det.VOCDataset(tmp_path, ("cat", "dog"), split="train")


# ----------------------------------------------------------------------------- boxes


def test_iou_by_hand():
  a = jnp.array([[0.0, 0, 2, 2]])
  b = jnp.array([[1.0, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]])
  np.testing.assert_allclose(det.iou_matrix(a, b), [[1 / 7, 1.0, 0.0]], rtol=1e-6)


def test_anchor_layout():
  fms = (_config.FeatureMap(4, (8.0,), (1.0, 0.25)), _config.FeatureMap(8, (16.0,)))
  anchors = det.make_anchors(16, fms)
  assert anchors.shape == (4 * 4 * 2 + 2 * 2, 4)
  np.testing.assert_allclose(anchors[0], [-2, -2, 6, 6])
  np.testing.assert_allclose(anchors[1], [2 - 2, 2 - 8, 2 + 2, 2 + 8])  # w = 8·√.25, h = 8/√.25
  np.testing.assert_allclose(anchors[2], [2, -2, 10, 6])  # next column
  np.testing.assert_allclose(anchors[-1], [4, 4, 20, 20])
  with pytest.raises(ValueError, match="not a multiple of stride 8"):
    det.make_anchors(20, fms)


def test_encode_decode_round_trip():
  rng = np.random.default_rng(0)  # NumPy draws: no random-number program to compile
  anchors = np.abs(rng.normal(size=(50, 4))).astype(np.float32) * 10
  anchors[:, 2:] += anchors[:, :2] + 1
  boxes = anchors + rng.normal(size=(50, 4)).astype(np.float32)
  boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)
  anchors, boxes = jnp.asarray(anchors), jnp.asarray(boxes)
  offsets = det.encode(boxes, anchors, (0.1, 0.2))
  np.testing.assert_allclose(det.decode(offsets, anchors, (0.1, 0.2)), boxes, atol=1e-4)
  np.testing.assert_allclose(det.encode(anchors, anchors, (0.1, 0.2)), 0.0, atol=1e-6)
  # centre moved by one anchor width, size doubled: (1/v0, 0, log 2/v1, 0)
  shifted = jnp.array([[10.0, 0, 30, 10]])
  np.testing.assert_allclose(det.encode(shifted, jnp.array([[0.0, 0, 10, 10]]), (0.1, 0.2)),
                             [[15 / 10 / 0.1, 0, np.log(2) / 0.2, 0]], rtol=1e-6)


def test_matching_threshold_forcing_and_padding():
  anchors = jnp.array([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [40, 40, 42, 42]])
  boxes = jnp.array([[0.0, 0, 10, 10], [20, 20, 26, 26], [0, 0, 1, 1]])
  labels = jnp.array([3, 7, 9])
  valid = jnp.array([True, True, False])
  match = jax.jit(functools.partial(det.match, iou_threshold=0.5, variances=(0.1, 0.2)))
  target, offsets = match(anchors, boxes, labels, valid)
  # anchor 0: IoU 1 with box 0; anchor 1: IoU 0.82 with box 0; anchor 2: IoU 0.36 with box 1,
  # below 0.5 but its best anchor, so forced; anchor 3: background; the padding row is ignored.
  np.testing.assert_array_equal(target, [4, 4, 8, 0])
  np.testing.assert_allclose(offsets[3], 0.0)
  np.testing.assert_allclose(det.decode(offsets[2], anchors[2], (0.1, 0.2)), boxes[1], atol=1e-5)


def test_nms_by_hand():
  boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 9.0]])
  scores = np.array([0.9, 0.8, 0.7, 0.95])
  np.testing.assert_array_equal(det.nms(boxes, scores, 0.45), [3, 2])
  np.testing.assert_array_equal(det.nms(boxes, scores, 0.95), [3, 0, 1, 2])
  # different classes never suppress each other
  np.testing.assert_array_equal(det.batched_nms(boxes, scores, np.array([0, 1, 0, 0]), 0.45), [3, 1, 2])
  assert det.batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).size == 0


# ----------------------------------------------------------------------------- mAP


def test_all_point_ap_by_hand():
  # 4 objects; detections in score order: TP, FP, TP, TP, FP → precision envelope
  # 1 on (0, .25], 3/4 on (.25, .75] → AP = .25 + .5·.75 = .625
  recall = np.array([0.25, 0.25, 0.5, 0.75, 0.75])
  precision = np.array([1, 0.5, 2 / 3, 0.75, 0.6])
  assert det.all_point_ap(recall, precision) == pytest.approx(0.625)


def test_map_by_hand_with_duplicates_and_difficult():
  gt_boxes = [np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50.0]]), np.array([[0, 0, 10, 10.0]])]
  gt_labels = [np.array([0, 0, 1]), np.array([0])]
  difficult = [np.array([False, False, False]), np.array([True])]
  dets = [
      det.Detections(np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 31], [60, 60, 70, 70.0]]),
                     np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 0, 0, 1])),
      det.Detections(np.array([[0, 0, 10, 10.0]]), np.array([0.95]), np.array([0])),
  ]
  result = det.evaluate_map(dets, gt_boxes, gt_labels, num_classes=3, gt_difficult=difficult)
  # class 0: difficult hit ignored; TP(.9), duplicate FP(.8), TP(.7) → AP = .5·1 + .5·2/3
  assert result.ap[0] == pytest.approx(0.5 + 1 / 3)
  assert result.ap[1] == 0.0  # one object, only a wrong-place detection
  assert np.isnan(result.ap[2])  # no objects: left out of the mean
  assert result.mean_ap == pytest.approx((0.5 + 1 / 3) / 2)


def test_perfect_detections_give_map_one():
  gt_boxes = [np.array([[0, 0, 10, 10], [12, 12, 30, 30.0]])]
  gt_labels = [np.array([2, 5])]
  result = det.evaluate_map([det.Detections(gt_boxes[0], np.array([0.5, 0.4]), gt_labels[0])],
                            gt_boxes, gt_labels, num_classes=6)
  assert result.mean_ap == 1.0


def _random_fixture(rng, num_images=30, num_classes=4):
  gt_boxes, gt_labels, dets = [], [], []
  for _ in range(num_images):
    k = rng.integers(1, 5)
    # objects on a grid of disjoint 20-pixel cells, so no detection can match two of them
    cells = rng.choice(16, size=k, replace=False)
    xy = np.stack([cells % 4, cells // 4], 1) * 25.0 + rng.uniform(0, 4, (k, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(8, 20, (k, 2))], 1)
    labels = rng.integers(0, num_classes, k)
    d_boxes = [boxes + rng.normal(0, 2.5, boxes.shape)]
    d_labels = [np.where(rng.uniform(size=k) < 0.85, labels, rng.integers(0, num_classes, k))]
    j = rng.integers(0, 4)  # spurious detections
    xy = rng.uniform(0, 90, (j, 2))
    d_boxes.append(np.concatenate([xy, xy + rng.uniform(5, 20, (j, 2))], 1))
    d_labels.append(rng.integers(0, num_classes, j))
    d_boxes = np.concatenate(d_boxes)
    d_boxes[:, 2:] = np.maximum(d_boxes[:, 2:], d_boxes[:, :2] + 1)
    gt_boxes.append(boxes)
    gt_labels.append(labels)
    dets.append(det.Detections(d_boxes, rng.uniform(size=len(d_boxes)), np.concatenate(d_labels)))
  return gt_boxes, gt_labels, dets


def coco_precision(gt_boxes, gt_labels, dets, *, num_classes, thresholds):
  """pycocotools' interpolated precision ``[T, 101, classes]`` at IoU ``thresholds`` (all areas,
  1000 detections per image), the reference our matching and curves are checked against."""
  import contextlib
  import io

  from pycocotools.coco import COCO
  from pycocotools.cocoeval import COCOeval

  images = [{"id": i + 1, "width": 120, "height": 120} for i in range(len(gt_boxes))]
  annotations, results = [], []
  for i, (boxes, labels, d) in enumerate(zip(gt_boxes, gt_labels, dets)):
    for b, l in zip(boxes, labels):
      annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(l) + 1,
                          "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                          "area": (b[2] - b[0]) * (b[3] - b[1]), "iscrowd": 0})
    for b, s, l in zip(d.boxes, d.scores, d.labels):
      results.append({"image_id": i + 1, "category_id": int(l) + 1, "score": float(s),
                      "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
  with contextlib.redirect_stdout(io.StringIO()):
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations,
                    "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}
    coco.createIndex()
    evaluator = COCOeval(coco, coco.loadRes(results), "bbox")
    evaluator.params.iouThrs = np.array(thresholds)
    evaluator.params.maxDets = [1000]
    evaluator.params.areaRng = [[0, 1e10]]
    evaluator.params.areaRngLbl = ["all"]
    evaluator.evaluate()
    evaluator.accumulate()
  return evaluator.eval["precision"][:, :, :, 0, 0]


def test_map_agrees_with_pycocotools():
  """Our matching and precision/recall curves, interpolated COCO's way, reproduce pycocotools."""
  pytest.importorskip("pycocotools")
  num_classes = 4
  gt_boxes, gt_labels, dets = _random_fixture(np.random.default_rng(0), num_classes=num_classes)
  precision = coco_precision(gt_boxes, gt_labels, dets, num_classes=num_classes, thresholds=[0.5])
  coco_ap = precision[0].mean(axis=0)  # [classes]

  ours = det.evaluate_map(dets, gt_boxes, gt_labels, num_classes=num_classes)
  ours_101 = [_coco_101_point_ap(c.recall, c.precision) for c in ours.curves]
  np.testing.assert_allclose(ours_101, coco_ap, atol=1e-12)
  # and VOC all-point vs COCO 101-point AP of the same curves differ only by interpolation
  np.testing.assert_allclose(ours.ap, coco_ap, atol=0.02)
  assert 0.3 < ours.mean_ap < 0.95


def _coco_101_point_ap(recall, precision):
  """COCO's 101-point interpolated AP of a precision/recall curve (for the pycocotools check)."""
  p = np.maximum.accumulate(np.asarray(precision, np.float64)[::-1])[::-1]
  index = np.searchsorted(np.asarray(recall, np.float64), np.linspace(0.0, 1.0, 101), side="left")
  reached = index < len(p)
  q = np.zeros(101)
  q[reached] = p[index[reached]]
  return float(np.mean(q))


# ----------------------------------------------------------------------------- model and loss


def test_model_outputs_follow_the_anchors():
  model_config = _config.ModelConfig()
  graphdef, state = det.init_model(model_config, 10, seed=0)
  logits, offsets = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state,
                                   jnp.zeros((2, 64, 64, 1)))
  kernel = np.asarray(state["stages"][1][1]["kernel"])  # fan-in 3·3·32
  assert np.abs(kernel).max() <= 2 / np.sqrt(288) / 0.8796 + 1e-6
  assert np.std(kernel) == pytest.approx(1 / np.sqrt(288), rel=0.05)
  np.testing.assert_array_equal(state["stem"]["bias"], 0.0)
  anchors = det.make_anchors(64, model_config.feature_maps)
  assert logits.shape == (2, len(anchors), 11) and offsets.shape == (2, len(anchors), 4)


def test_prior_initialisation_starts_every_object_class_at_probability_pi():
  model_config = _config.ModelConfig()
  images = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 64, 64, 1)), jnp.float32)
  zero_graph, zero = det.init_model(model_config, 10, seed=0)
  graphdef, state = det.init_model(model_config, 10, seed=0, prior=0.01)
  b = det.background_bias(10, 0.01)
  assert b == pytest.approx(np.log(0.9 / 0.01))  # (1 - Kπ)/π
  for head in range(len(model_config.feature_maps)):
    bias = np.asarray(state["class_heads"][head]["bias"])
    np.testing.assert_array_equal(bias[::11], np.float32(b))  # background of every anchor
    np.testing.assert_array_equal(np.delete(bias, np.s_[::11]), 0.0)
    np.testing.assert_array_equal(state["class_heads"][head]["kernel"], zero["class_heads"][head]["kernel"])
  # with the weights' contribution removed (zero kernels), p_k is exactly π for every class
  state["class_heads"][0]["kernel"][...] = jnp.zeros(state["class_heads"][0]["kernel"].shape)
  logits, _ = nnx.merge(graphdef, state)(images)
  first_map = (64 // model_config.feature_maps[0].stride) ** 2 * model_config.feature_maps[0].anchors_per_cell
  first = np.asarray(jax.nn.softmax(logits[:, :first_map], axis=-1))  # the anchors of head 0
  np.testing.assert_allclose(first[..., 1:], 0.01, rtol=1e-5)
  with pytest.raises(ValueError, match=r"`prior` must be in \(0, 1/num_classes = 0.1\)"):
    det.background_bias(10, 0.1)
  with pytest.raises(ValueError, match=r"`prior` must be in \(0, 1\)"):
    dataclasses.replace(_config_module().DETECTION_LOSSES["focal_prior"], prior=1.5)


def test_loss_table_is_paper_table_1():
  import gradeng as ge

  losses = _config_module().DETECTION_LOSSES
  expected = {  # name: (catalog fn, params, normalisation, lr, λ, negatives per positive)
      "ce_ohem": (ge.cross_entropy_loss, {}, "ohem", 1e-3, 1.0, 1.0),
      "ce_ohem_1to3": (ge.cross_entropy_loss, {}, "ohem", 1e-3, 1.0, 3.0),
      "focal": (ge.focal_loss, {"gamma": 2.0}, "positives", 4e-4, 1.0, None),
      "focal_prior": (ge.focal_loss, {"gamma": 2.0}, "positives", 4e-4, 1.0, None),
      "maki": (ge.maki_loss, {"gamma": 1}, "positives", 1e-3, 0.2, None),
      "qce": (ge.qce_loss, {}, "elements", 1e-3, 0.1, None),
      "ce": (ge.cross_entropy_loss, {}, "positives", 1e-3, 1.0, None),
  }
  got = {name: (s.loss_fn, dict(s.params), s.normalization, s.learning_rate, s.loc_weight,
                s.neg_pos_ratio) for name, s in losses.items() if name in expected}
  assert got == expected
  assert set(losses) - set(expected) == (set(_config_module().ENGINEERING_LOSSES)
                                         | set(_config_module().IOU_LOSSES)
                                         | set(_config_module().LEARNED_LOSSES)) - set(expected)
  assert {name: s.prior for name, s in losses.items() if s.prior is not None} == {"focal_prior": 0.01}
  quick = _config_module().get_config(quick=True)
  assert [s.name for s in quick.losses] == ["ce_ohem", "focal", "focal_prior", "maki", "qce", "ce"]
  full = _config_module().get_config(quick=False)
  assert len(full.losses) == 7 and len(full.seeds) >= 3


def _targets(seed, batch=3, anchors=40, classes=11):
  """Random logits, offsets, labels (about 10 % objects, anchor 0 always one) and target offsets
  (half the offsets), drawn by NumPy: no random-number program to compile."""
  rng = np.random.default_rng(seed)
  labels = np.where(rng.uniform(size=(batch, anchors)) < 0.1,
                    rng.integers(1, classes, (batch, anchors)), 0)
  labels[:, 0] = 1
  offsets = rng.normal(size=(batch, anchors, 4)).astype(np.float32)
  return (jnp.asarray(rng.normal(size=(batch, anchors, classes)), jnp.float32), jnp.asarray(offsets),
          jnp.asarray(labels, jnp.int32), jnp.asarray(0.5 * offsets))


def test_ohem_loss_matches_an_independent_reference():
  logits, offsets, labels, target_offsets = _targets(1)
  spec = _config_module().DETECTION_LOSSES["ce_ohem_1to3"]
  total, parts, state = jax.jit(functools.partial(det.detection_loss, spec))(
      logits, offsets, labels, target_offsets)
  ce = np.asarray(optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels))
  positive = np.asarray(labels) > 0
  expected = 0.0
  for row, pos in zip(ce, positive):
    negatives = np.sort(row[~pos])[::-1][:3 * pos.sum()]
    expected += row[pos].sum() + negatives.sum()
  expected /= positive.sum()
  smooth = np.asarray(optax.losses.huber_loss(offsets, target_offsets)).sum(-1)
  loc = smooth[positive].sum() / positive.sum()
  np.testing.assert_allclose(parts["cls"], expected, rtol=1e-5)
  np.testing.assert_allclose(parts["loc"], loc, rtol=1e-5)
  np.testing.assert_allclose(total, expected + loc, rtol=1e-5)
  assert state == ()  # a stateless loss passes its (empty) state through


@pytest.mark.parametrize("name", ["ce_ohem", "focal", "maki", "qce", "ce"])
def test_every_loss_has_finite_gradients_under_jit(name):
  spec = _config_module().DETECTION_LOSSES[name]
  logits, offsets, labels, target_offsets = _targets(2)
  logits = logits.at[0, 1].set(jnp.array([1e4] + [-1e4] * 10))  # saturated anchor
  fn = jax.jit(lambda z, o: det.detection_loss(spec, z, o, labels, target_offsets)[0])
  value, grads = jax.value_and_grad(fn, argnums=(0, 1))(logits, offsets)
  assert np.isfinite(value)
  assert all(np.all(np.isfinite(g)) for g in grads)


def test_normalisations():
  logits, offsets, labels, target_offsets = _targets(3)
  table = _config_module().DETECTION_LOSSES
  ce = np.asarray(optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels))
  positives = int(np.sum(np.asarray(labels) > 0))
  _, by_pos, _ = jax.jit(functools.partial(det.detection_loss, table["ce"]))(
      logits, offsets, labels, target_offsets)
  np.testing.assert_allclose(by_pos["cls"], ce.sum() / positives, rtol=1e-5)
  spec = dataclasses.replace(table["ce"], normalization="elements")
  _, by_elements, _ = jax.jit(functools.partial(det.detection_loss, spec))(
      logits, offsets, labels, target_offsets)
  np.testing.assert_allclose(by_elements["cls"], ce.mean(), rtol=1e-5)


def test_bad_loss_spec_is_refused():
  import gradeng as ge

  with pytest.raises(ValueError, match="`normalization` must be one of"):
    _config.LossSpec("x", "x", ge.focal_loss, {}, "sum", learning_rate=1e-3, loc_weight=1.0)
  with pytest.raises(ValueError, match="`neg_pos_ratio` is required"):
    _config.LossSpec("x", "x", ge.focal_loss, {}, "ohem", learning_rate=1e-3, loc_weight=1.0)
  with pytest.raises(ValueError, match="`learning_rate` must be > 0"):
    _config.LossSpec("x", "x", ge.focal_loss, {}, "positives", learning_rate=0.0, loc_weight=1.0)


def test_first_difference_names_the_key():
  a = {"train": {"steps": 3, "variances": [0.1, 0.2]}, "seed": 0}
  assert first_difference(a, a) is None
  b = {"train": {"steps": 4, "variances": [0.1, 0.2]}, "seed": 0}
  assert first_difference(a, b) == "`train.steps` is 3 there and 4 here"
  assert "`seed` is 0 there and absent here" == first_difference(a, {"train": a["train"]})
