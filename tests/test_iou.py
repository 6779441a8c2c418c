"""IoU-family box losses: hand-derived values and gradients at degenerate inputs, an mpmath
reference in general position, SSD offsets, dtypes, and bad boxes."""

import json
import math

import jax
import jax.numpy as jnp
from jax import test_util as jax_test_util
import mpmath as mp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gradeng as ge
from gradeng.boxes import BOX_LOSSES, decode_offsets

KINDS = tuple(BOX_LOSSES)


def _grad(kind, box, target):
  # One compiled program for every kind's gradient at a box pair (`_all_losses`, shared with the
  # property test): one compilation instead of one per kind.
  return np.asarray(_all_losses(jnp.asarray(box, jnp.float32), jnp.asarray(target, jnp.float32))[1][kind])


# --- mpmath reference (textbook formulas, the suite's 50 digits) -------------------------------

def _mp(values):
  return [v if isinstance(v, mp.mpf) else mp.mpf(float(v)) for v in values]


def _reference(kind, a, b):
  a, b = _mp(a), _mp(b)
  iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0)
  ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
  inter = iw * ih
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  iou = inter / union
  if kind == "iou":
    return 1 - iou
  cw = max(a[2], b[2]) - min(a[0], b[0])
  ch = max(a[3], b[3]) - min(a[1], b[1])
  if kind == "giou":
    return 1 - iou + (cw * ch - union) / (cw * ch)
  rho2 = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
  diou = 1 - iou + rho2 / (cw**2 + ch**2)
  if kind == "diou":
    return diou
  v = 4 / mp.pi**2 * (mp.atan((b[2] - b[0]) / (b[3] - b[1])) - mp.atan((a[2] - a[0]) / (a[3] - a[1]))) ** 2
  return diou + v / (1 - iou + v) * v


def _reference_grad(kind, a, b):
  """Central differences at 50 digits (the boxes are in general position: no kinks nearby).
  For CIoU, α is frozen at its value at ``a`` (the loss's documented gradient)."""
  h = mp.mpf("1e-15")
  if kind == "ciou":
    frozen = _reference("ciou", a, b) - _reference("diou", a, b)  # α v at a
    v_at_a = _ciou_v(a, b)
    alpha = frozen / v_at_a if v_at_a else 0

    def f(x):
      return _reference("diou", x, b) + alpha * _ciou_v(x, b)
  else:

    def f(x):
      return _reference(kind, x, b)

  out = []
  for i in range(4):
    up, down = _mp(a), _mp(a)
    up[i] += h
    down[i] -= h
    out.append((f(up) - f(down)) / (2 * h))
  return out


def _ciou_v(a, b):
  a, b = _mp(a), _mp(b)
  return 4 / mp.pi**2 * (mp.atan((b[2] - b[0]) / (b[3] - b[1])) - mp.atan((a[2] - a[0]) / (a[3] - a[1]))) ** 2


def _random_pairs(seed, count, scale):
  rng = np.random.default_rng(seed)
  xy = rng.uniform(-scale, scale, size=(count, 2, 2))
  wh = rng.uniform(0.05 * scale, scale, size=(count, 2, 2))
  boxes = np.concatenate([xy, xy + wh], -1).astype(np.float32)  # [count, 2, 4]
  return boxes[:, 0], boxes[:, 1]


@pytest.mark.parametrize("kind", KINDS)
def test_values_and_gradients_match_mpmath(kind):
  a, b = (np.concatenate(p) for p in zip(_random_pairs(0, 6, 1.0), _random_pairs(1, 6, 300.0)))
  values, grads = _batched(kind, a, b)
  for i in range(len(a)):
    want = float(_reference(kind, a[i], b[i]))
    assert abs(float(values[i]) - want) <= 2e-6 * max(1.0, abs(want)), (i, float(values[i]), want)
    want_grad = np.array([float(g) for g in _reference_grad(kind, a[i], b[i])])
    np.testing.assert_allclose(np.asarray(grads[i]), want_grad, rtol=2e-4,
                               atol=2e-6 * np.abs(want_grad).max() + 1e-12)
  assert np.any(np.asarray(values) < (1.0 if kind == "iou" else 2.0))  # some pairs overlap


# --- degenerate inputs, hand-derived -----------------------------------------------------------

def test_example_value():
  # Two 2x2 squares shifted by 1: intersection 2, union 6.
  assert float(ge.boxes.iou_loss(jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([1.0, 0.0, 3.0, 2.0]))) == pytest.approx(2 / 3)
  np.testing.assert_allclose(ge.boxes.box_iou(jnp.array([0.0, 0.0, 2.0, 2.0]), jnp.array([1.0, 0.0, 3.0, 2.0])), 1 / 3, rtol=1e-6)


def test_no_overlap_iou_gradient_is_zero_giou_is_not():
  a, b = [0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0]  # U = 2, |C| = 3, centres 2 apart, c² = 10
  assert float(ge.boxes.iou_loss(jnp.array(a), jnp.array(b))) == 1.0
  np.testing.assert_array_equal(_grad("iou", a, b), 0.0)
  # GIoU = 2 - U/|C| = 4/3; dU/dx2 = 1, d|C|/dx2 = 0; dU/dx1 = -1, d|C|/dx1 = -1 -> d(U/C)/dx1 = -1/9;
  # along y the enclosing box's ties give d|C|/dy2 = 1.5 = (U/|C|)·dU/dy2 -> 0.
  assert float(ge.boxes.giou_loss(jnp.array(a), jnp.array(b))) == pytest.approx(4 / 3)
  np.testing.assert_allclose(_grad("giou", a, b), [1 / 9, 0.0, -1 / 3, 0.0], atol=1e-7)
  # DIoU = 1 + ρ²/c² = 1 + 4/10; ρ² = ((x1+x2-5)² + (y1+y2-1)²)/4, c² = (3 - x1)² + 1 (y ties:
  # dc²/dy = 0 after splitting); d/dx1 = [2·(-4)/4·10 - 4·(-2·3)]/100 = (-20 + 24)/100 = 0.04.
  assert float(ge.boxes.diou_loss(jnp.array(a), jnp.array(b))) == pytest.approx(1.4)
  np.testing.assert_allclose(_grad("diou", a, b), [0.04, 0.04, -0.2, -0.04], atol=1e-7)
  # Same aspect ratio: CIoU = DIoU.
  np.testing.assert_allclose(_grad("ciou", a, b), _grad("diou", a, b))


@pytest.mark.parametrize("kind", KINDS)
def test_identical_boxes_zero_loss_zero_gradient(kind):
  box = [3.0, -2.0, 7.5, 4.0]
  assert float(BOX_LOSSES[kind](jnp.array(box), jnp.array(box))) == 0.0
  np.testing.assert_allclose(_grad(kind, box, box), 0.0, atol=1e-7)  # rounding of the scaling


def test_zero_width_box_inside_target_is_widened():
  a, b = [1.0, 1.0, 1.0, 3.0], [0.0, 0.0, 2.0, 2.0]  # intersection height 1, union 4
  # dI/dx2 = 1 (growing side), dU/dx2 = h_a - 1 = 1 -> dIoU/dx2 = (1·4 - 0·1)/16 = 1/4.
  np.testing.assert_allclose(_grad("iou", a, b), [0.25, 0.0, -0.25, 0.0])
  # GIoU adds (|C| - U)/|C| with |C| = 2·3 = 6: value 1 + 2/6.
  assert float(ge.boxes.giou_loss(jnp.array(a), jnp.array(b))) == pytest.approx(4 / 3)
  # CIoU: v = (4/π²)(π/4 - 0)² = 1/4, α = v / (1 + v) = 1/5: CIoU - DIoU = 1/20.
  diff = ge.boxes.ciou_loss(jnp.array(a), jnp.array(b)) - ge.boxes.diou_loss(jnp.array(a), jnp.array(b))
  assert float(diff) == pytest.approx(0.05, rel=1e-6)
  for kind in KINDS:
    assert np.all(np.isfinite(_grad(kind, a, b)))


def test_zero_height_box_aspect_term_is_finite():
  a, b = [0.0, 1.0, 2.0, 1.0], [0.0, 0.0, 2.0, 2.0]  # arctan(w/h) = π/2 for the flat box
  # v = (4/π²)(π/4 - π/2)² = 1/4; IoU = 0, α = 1/5.
  diff = ge.boxes.ciou_loss(jnp.array(a), jnp.array(b)) - ge.boxes.diou_loss(jnp.array(a), jnp.array(b))
  assert float(diff) == pytest.approx(0.05, rel=1e-6)
  assert np.all(np.isfinite(_grad("ciou", a, b)))


@pytest.mark.parametrize("kind", KINDS)
def test_two_identical_points_are_defined(kind):
  p = [1.0, 1.0, 1.0, 1.0]  # union 0, enclosing box 0: IoU defined as 0, ratios as 0
  assert float(BOX_LOSSES[kind](jnp.array(p), jnp.array(p))) == 1.0
  np.testing.assert_array_equal(_grad(kind, p, p), 0.0)


def test_touching_boxes_gradient_from_the_growing_side():
  a, b = [0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 2.0, 1.0]  # touch along x = 1: I = 0, U = 2
  # Moving a's right edge right by t: I = t, U = 2 -> dIoU/dx2 = 1/2.
  np.testing.assert_allclose(_grad("iou", a, b), [0.0, 0.0, -0.5, 0.0])


# --- properties --------------------------------------------------------------------------------

_coordinate = st.floats(-1e6, 1e6, allow_nan=False, width=32)
_size = st.floats(0, 1e5, allow_nan=False, width=32)


@jax.jit
def _all_losses(a, b):
  values = {k: f(a, b) for k, f in BOX_LOSSES.items()}
  grads = {k: jax.grad(f)(a, b) for k, f in BOX_LOSSES.items()}
  return values, grads, ge.boxes.box_iou(b, a)


@settings(max_examples=100, deadline=None)
@given(_coordinate, _coordinate, _size, _size, _coordinate, _coordinate, _size, _size)
@example(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.1754943508222875e-38)  # boxes within f32 tiny
@example(0.0, 1e-10, 0.0, 0.0, 0.0, 0.0, 0.0, 35.0)  # a point and a segment (fused 0/0 once)
@example(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0)  # CIoU above 2: a point and a flat box
def test_bounds_orderings_and_finite_gradients(x, y, w, h, u, v, s, t):
  a = jnp.array([x, y, x + w, y + h], jnp.float32)
  b = jnp.array([u, v, u + s, v + t], jnp.float32)
  values, grads, iou_ba = _all_losses(a, b)
  losses = {k: float(value) for k, value in values.items()}
  assert 0.0 <= losses["iou"] <= 1.0
  assert 1.0 - losses["iou"] == pytest.approx(float(iou_ba), abs=1e-6)  # symmetric
  assert losses["iou"] - 1e-6 <= losses["giou"] <= 2.0 + 1e-6
  assert losses["iou"] - 1e-6 <= losses["diou"] <= losses["ciou"] + 1e-6 <= 2.5 + 1e-5  # αv ≤ v²/(1+v) ≤ 1/2
  for grad in grads.values():
    assert np.all(np.isfinite(np.asarray(grad)))


# --- encoded offsets, dtypes, shapes, errors --------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_encoded_offsets_equal_decoded_boxes(kind):
  rng = np.random.default_rng(1)
  anchors = np.array([[0.0, 0.0, 8.0, 8.0], [10.0, 4.0, 30.0, 14.0], [5.0, 5.0, 9.0, 13.0]], np.float32)
  pred = rng.normal(size=(3, 4)).astype(np.float32)
  target = rng.normal(size=(3, 4)).astype(np.float32)
  loss = BOX_LOSSES[kind]
  got = loss(pred, target, anchors=anchors, variances=(0.1, 0.2))
  want = loss(decode_offsets(pred, anchors), decode_offsets(target, anchors))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # decode: centre offset 1 of an 8-pixel anchor with v0 = 0.1 moves it by 0.8 px
  np.testing.assert_allclose(decode_offsets(jnp.array([1.0, 0, 0, 0]), anchors[0]), [0.8, 0, 8.8, 8], atol=1e-6)
  jax_test_util.check_grads(lambda p: loss(p, target, anchors=anchors).sum(), (pred,), order=1,
                            modes=("rev",), atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16_and_large_coordinates_finite(kind):
  a, b = _random_pairs(2, 16, 1e4)
  for dtype in (jnp.bfloat16, jnp.float32):
    out = BOX_LOSSES[kind](jnp.asarray(a, dtype), jnp.asarray(b, dtype))
    grads = jax.grad(lambda x: BOX_LOSSES[kind](x, jnp.asarray(b, dtype)).astype(jnp.float32).sum())(
        jnp.asarray(a, dtype))
    assert out.dtype == dtype and np.all(np.isfinite(np.asarray(out, np.float32)))
    assert np.all(np.isfinite(np.asarray(grads, np.float32)))


def test_broadcasting_gives_pairwise_matrix():
  a, b = _random_pairs(3, 5, 10.0)
  box_iou = jax.jit(ge.boxes.box_iou)
  matrix = box_iou(a[:, None], b[None, :3])
  assert matrix.shape == (5, 3)
  np.testing.assert_allclose(matrix[2, 1], box_iou(a[2], b[1]))


@pytest.mark.parametrize("kind", KINDS)
def test_reversed_box_raises_eagerly_and_is_nan_under_jit(kind):
  good, bad = jnp.array([[0.0, 0.0, 1.0, 1.0]] * 2), jnp.array([[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 1.0, 1.0]])
  with pytest.raises(ValueError, match=r"`boxes` must satisfy x1 <= x2 and y1 <= y2.*box 1.*\[2\.0, 0\.0, 1\.0, 1\.0\]"):
    BOX_LOSSES[kind](bad, good)
  with pytest.raises(ValueError, match=r"`target_boxes` must satisfy"):
    BOX_LOSSES[kind](good, bad)
  with pytest.raises(ValueError, match=r"`boxes` must be finite"):
    BOX_LOSSES[kind](good.at[0, 0].set(math.nan), good)
  out = jax.jit(BOX_LOSSES[kind])(bad, good)
  assert float(out[0]) == 0.0 and math.isnan(float(out[1]))


def test_shape_and_dtype_errors():
  with pytest.raises(ValueError, match=r"`boxes` must have shape \[..., 4\]"):
    ge.boxes.giou_loss(jnp.zeros(3), jnp.zeros(3))
  with pytest.raises(TypeError, match="`target_boxes` must be floating-point"):
    ge.boxes.giou_loss(jnp.zeros(4), jnp.zeros(4, jnp.int32))
  with pytest.raises(ValueError, match="do not broadcast"):
    ge.boxes.giou_loss(jnp.zeros((2, 4)), jnp.zeros((3, 4)))


# --- in the detection experiment ---------------------------------------------------------------

def test_detection_box_loss_field_keeps_old_config_identity_and_trains_iou():
  import dataclasses
  import functools

  from gradeng.experiments import detection as det
  from gradeng.experiments.detection._config import to_jsonable
  from gradeng.experiments.detection.configs import DETECTION_LOSSES as LOSSES, get_config

  plain = LOSSES["ce_ohem"]
  assert plain.box_loss == "smooth_l1" and "box_loss" not in to_jsonable(plain)  # old runs resume
  assert to_jsonable(LOSSES["ce_ohem_giou"])["box_loss"] == "giou"
  with pytest.raises(ValueError, match="`box_loss` must be one of"):
    dataclasses.replace(plain, box_loss="l1")
  assert [s.box_loss for s in get_config(True, variant="iou").losses] == [
      "smooth_l1", "iou", "giou", "diou", "ciou"]

  anchors = jnp.array([[0.0, 0.0, 8.0, 8.0], [4.0, 4.0, 20.0, 12.0], [10.0, 0.0, 14.0, 6.0]])
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(2, 3, 11)), jnp.float32)
  offsets = jnp.asarray(rng.normal(size=(2, 3, 4)), jnp.float32)
  targets = jnp.asarray(rng.normal(size=(2, 3, 4)), jnp.float32)
  labels = jnp.array([[1, 0, 3], [0, 0, 2]])
  spec = LOSSES["ce_ohem_giou"]

  @jax.jit  # the loss and the per-box reference in one compiled program
  def loss_and_per_box(logits, offsets, labels, targets):
    return (det.detection_loss(spec, logits, offsets, labels, targets, anchors=anchors, variances=(0.1, 0.2)),
            ge.boxes.giou_loss(offsets, targets, anchors=anchors))

  (total, parts, _), per_box = loss_and_per_box(logits, offsets, labels, targets)
  positive = np.asarray(labels) > 0
  per_box = np.asarray(per_box)
  assert float(parts["loc"]) == pytest.approx(per_box[positive].sum() / positive.sum(), rel=1e-5)
  assert float(total) == pytest.approx(float(parts["cls"]) + 2.0 * float(parts["loc"]), rel=1e-5)
  with pytest.raises(ValueError, match="needs the `anchors`"):  # raised while tracing: nothing compiled
    jax.jit(functools.partial(det.detection_loss, spec))(logits, offsets, labels, targets)


def test_localisation_map_thresholds_agree_with_pycocotools():
  """mAP@[.5:.95]: at each of COCO's ten IoU thresholds our curves, interpolated COCO's way,
  equal pycocotools' precision; `localisation_map` averages our VOC-interpolated APs."""
  pytest.importorskip("pycocotools")
  from gradeng.experiments import detection as det
  from gradeng.experiments.detection._metrics import COCO_THRESHOLDS, localisation_map
  from tests.test_detection import _coco_101_point_ap, _random_fixture, coco_precision

  num_classes = 4
  gt_boxes, gt_labels, dets = _random_fixture(np.random.default_rng(1), num_classes=num_classes)
  precision = coco_precision(gt_boxes, gt_labels, dets, num_classes=num_classes,
                             thresholds=COCO_THRESHOLDS)
  ours_voc = []
  for t_index, threshold in enumerate(COCO_THRESHOLDS):
    ours = det.evaluate_map(dets, gt_boxes, gt_labels, num_classes=num_classes, iou_threshold=threshold)
    coco_ap = precision[t_index].mean(axis=0)
    np.testing.assert_allclose([_coco_101_point_ap(c.recall, c.precision) for c in ours.curves],
                               coco_ap, atol=1e-12, err_msg=f"IoU {threshold}")
    ours_voc.append(ours.mean_ap)
  summary = localisation_map(dets, gt_boxes, gt_labels, num_classes=num_classes)
  assert summary["map_50"] == ours_voc[0] and summary["map_75"] == ours_voc[5]
  assert summary["map_50_95"] == pytest.approx(np.mean(ours_voc))
  assert summary["map_50"] > summary["map_75"] > 0  # stricter thresholds, fewer true positives


@pytest.mark.slow
def test_tiny_detection_run_with_giou_reports_localisation_map(tmp_path):
  from gradeng.experiments.detection._config import (DataConfig, ExperimentConfig, FeatureMap, LossSpec,
                                                     ModelConfig, TrainConfig)
  from gradeng.experiments.detection._experiment import run_experiment

  config = ExperimentConfig(
      name="tiny", data=DataConfig(canvas_size=32, digit_sizes=(8, 12), max_objects=3, num_train=48, num_test=8),
      model=ModelConfig(widths=(8, 8, 8), feature_maps=(FeatureMap(4, (7.0, 10.0)), FeatureMap(8, (14.0,), (0.8, 0.5)))),
      train=TrainConfig(steps=4, batch_size=8, eval_every=2, checkpoint_every=2),
      losses=(LossSpec("ce_ohem", "CE + OHEM", ge.cross_entropy_loss, {}, "ohem", learning_rate=1e-3,
                       loc_weight=1.0, neg_pos_ratio=1.0),
              LossSpec("ce_ohem_giou", "CE + OHEM, GIoU", ge.cross_entropy_loss, {}, "ohem",
                       learning_rate=1e-3, loc_weight=2.0, neg_pos_ratio=1.0, box_loss="giou")),
      figure_stem="tiny_iou_map")
  summary = run_experiment(config, tmp_path, progress=False)
  for name in ("ce_ohem", "ce_ohem_giou"):
    entry = summary["losses"][name]
    assert 0.0 <= entry["final_map_50_95"] <= entry["mean"] + 1e-12  # stricter IoU, lower mAP
    assert 0.0 <= entry["final_map_75"] <= 1.0
  assert "| detections ≥ 0.5 per image | mAP@0.75 | mAP@[.5:.95] |" in summary["table_markdown"]
  stored = json.loads((tmp_path / "runs" / "ce_ohem" / "seed0" / "config.json").read_text())
  assert "box_loss" not in stored["loss"]


def test_giou_and_ciou_gradients_fused_in_one_jit_are_finite_for_nearby_points():
  # Found by hypothesis: jitted together, the GIoU and CIoU gradients were NaN for a point box
  # 1e-16 px from another (each alone, or eagerly, was finite).
  a = jnp.array([1e-16, 0.0, 1e-16, 0.0], jnp.float32)
  b = jnp.zeros(4, jnp.float32)
  grads = jax.jit(lambda a, b: [jax.grad(BOX_LOSSES[k])(a, b) for k in ("giou", "ciou")])(a, b)
  # DIoU/CIoU: ρ²/c² = 1 with c = ρ = 1e-16 (the boxes' x-offset), so ∂/∂x1 = ∂/∂x2 = ±1/c.
  for grad in grads:
    assert np.all(np.isfinite(np.asarray(grad)))
  np.testing.assert_allclose(grads[1], [1e16, 0.0, -1e16, 0.0], rtol=1e-5)


# --- identical and nearly identical boxes: a float64 NumPy reference, relative tolerance -------

def _reference64(kind, a, b, alpha=None):
  """The textbook formulas in float64 on the float32 boxes (vectorised over the leading axis);
  with ``alpha`` CIoU's α is held at that value (its documented gradient)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  wa, ha = a[..., 2] - a[..., 0], a[..., 3] - a[..., 1]
  wb, hb = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
  iw = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0)
  ih = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0)
  inter = iw * ih
  union = wa * ha + wb * hb - inter
  iou = inter / union
  cw = np.maximum(a[..., 2], b[..., 2]) - np.minimum(a[..., 0], b[..., 0])
  ch = np.maximum(a[..., 3], b[..., 3]) - np.minimum(a[..., 1], b[..., 1])
  if kind == "iou":
    return 1 - iou
  if kind == "giou":
    return 1 - iou + (cw * ch - union) / (cw * ch)
  rho2 = ((a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) ** 2
          + (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) ** 2) / 4
  diou = 1 - iou + rho2 / (cw**2 + ch**2)
  if kind == "diou":
    return diou
  v = 4 / np.pi**2 * (np.arctan(wb / hb) - np.arctan(wa / ha)) ** 2
  return diou + (v / (1 - iou + v) if alpha is None else alpha) * v


def _box_family(name, count=200, seed=0):
  """float32 boxes [count, 4]: corners in [0, 150), sides by family."""
  rng = np.random.default_rng(seed)
  xy = rng.uniform(0, 150, (count, 2))
  if name == "random":
    wh = rng.uniform(0.1, 50, (count, 2))
  elif name == "thin":  # 1-50 px wide, 0.01-0.2 px high
    wh = np.stack([rng.uniform(1, 50, count), rng.uniform(0.01, 0.2, count)], -1)
  elif name == "tiny":  # corners below 0.015, sides 1e-6 to 5e-4
    xy, wh = xy * 1e-4, rng.uniform(0.1, 50, (count, 2)) * 1e-5
  else:  # large: corners up to 1.5e5, sides 10 to 5000
    xy, wh = xy * 1e3, rng.uniform(0.1, 50, (count, 2)) * 1e2
  return np.concatenate([xy, xy + wh], -1).astype(np.float32)


def _nearby(boxes, relative, seed=1):
  """Each coordinate moved by up to ``relative`` of its box's side (corners kept ordered)."""
  rng = np.random.default_rng(seed)
  sides = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
  moved = (boxes + rng.uniform(-relative, relative, boxes.shape) * sides).astype(np.float32)
  return np.concatenate([np.minimum(moved[:, :2], moved[:, 2:]), np.maximum(moved[:, :2], moved[:, 2:])], -1)


@jax.jit
def _batched_all(boxes, target):
  """Every kind's values and gradients over a batch, in one compiled program per shape."""
  return ({k: f(boxes, target) for k, f in BOX_LOSSES.items()},
          {k: jax.vmap(jax.grad(f))(boxes, target) for k, f in BOX_LOSSES.items()})


_ROWS = 200  # every batch is padded to this many rows: one compilation for all the batched checks


def _batched(kind, boxes, target):
  """``_batched_all``'s values and gradients of ``kind`` (each row is independent of the others)."""
  count = len(boxes)
  pad = lambda x: np.concatenate([x, np.broadcast_to(x[:1], (_ROWS - count, 4))])  # noqa: E731
  values, grads = _batched_all(pad(np.asarray(boxes, np.float32)), pad(np.asarray(target, np.float32)))
  return values[kind][:count], grads[kind][:count]


FAMILIES = ("thin", "tiny", "large", "random")


def test_issue_thin_box_giou_is_zero_and_exact():
  # From the cross-check: GIoU was -2.797e-05 for this box against itself (gradient up to
  # 1.2e-4) and 4.133e-4 for x2 moved by 1e-3, where float64 gives 3.8473e-4.
  b = np.array([76.7789535522461, 47.5517692565918, 79.37574768066406, 47.66416931152344], np.float32)
  c = b.copy()
  c[2] += np.float32(1e-3)
  for kind in KINDS:
    assert float(BOX_LOSSES[kind](b, b)) == 0.0
    np.testing.assert_array_equal(_grad(kind, b, b), 0.0)
  # By hand from the float32 coordinates: only x2 differs, by δ = c2 - b2; h = b3 - b1, w = b2 - b0.
  # U - I = δh, |C| = U, so GIoU = IoU loss = δh / ((w + δ)h) = δ / (w + δ).
  delta, width = float(c[2]) - float(b[2]), float(b[2]) - float(b[0])
  assert float(ge.boxes.giou_loss(c, b)) == pytest.approx(delta / (width + delta), rel=1e-6)
  assert delta / (width + delta) == pytest.approx(3.8473e-4, rel=1e-4)
  assert float(ge.boxes.giou_loss(c, b)) == pytest.approx(float(_reference64("giou", c, b)), rel=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_identical_boxes_exactly_zero_loss_and_gradient(kind, family):
  boxes = _box_family(family)
  values, grads = (np.asarray(v) for v in _batched(kind, boxes, boxes))
  np.testing.assert_array_equal(values, 0.0)
  np.testing.assert_array_equal(grads, 0.0)


@pytest.mark.parametrize("relative", [1e-2, 1e-4])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_nearly_identical_boxes_match_float64_relatively(kind, family, relative):
  # Measured worst relative error over these cases: 3.1e-7 (the textbook float32 formula with
  # the enclosing box's scaling of coordinates had 2e-3 at 1 % and up to 3e2 at 0.01 %).
  target = _box_family(family)
  boxes = _nearby(target, relative)
  want = _reference64(kind, boxes, target)
  assert np.all(want > 0)
  got = np.asarray(_batched(kind, boxes, target)[0], np.float64)
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_nearly_identical_boxes_gradients_match_float64(kind, family):
  """Central differences of the float64 reference, with steps 1e-6 of the sides: the kinks (a
  coordinate of one box equal to the same coordinate of the other) are more than two steps
  away for these boxes."""
  target = _box_family(family, count=64)
  boxes = _nearby(target, 1e-2)
  moved = np.abs(boxes - target) / np.tile(target[:, 2:] - target[:, :2], 2)
  assert moved.min() > 2e-6
  alpha = None
  if kind == "ciou":  # α frozen at the boxes (the loss's documented gradient)
    v = _reference64("ciou", boxes, target) - _reference64("diou", boxes, target)
    alpha = v / (_reference64("ciou", boxes, target, alpha=1.0) - _reference64("diou", boxes, target))
  steps = 1e-6 * np.tile(boxes[:, 2:] - boxes[:, :2], 2).astype(np.float64)
  want = np.zeros(boxes.shape)
  for i in range(4):
    up, down = boxes.astype(np.float64), boxes.astype(np.float64)
    up[:, i] += steps[:, i]
    down[:, i] -= steps[:, i]
    want[:, i] = (_reference64(kind, up, target, alpha) - _reference64(kind, down, target, alpha)) / (2 * steps[:, i])
  got = np.asarray(_batched(kind, boxes, target)[1], np.float64)
  scale = np.abs(want).max(axis=1, keepdims=True)
  worst = np.max(np.abs(got - want) / scale)  # measured: 1.03e-6 (thin), 2.2e-7 to 2.7e-7 (others)
  assert worst <= 4e-6, worst
