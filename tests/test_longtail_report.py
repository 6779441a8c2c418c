"""The long-tail derivation pages and gradient figure: generated from the library, deterministic."""

import numpy as np

import gradeng.longtail as lt
from gradeng.longtail import _report


def test_pages_hold_equation_weight_and_table(tmp_path):
  paths = lt.write_derivations(tmp_path)
  assert {p.name for p in paths} == {f"longtail_{n}.md" for n in (
      "class_balanced", "logit_adjustment", "balanced_softmax", "ldam_drw", "equalization", "eqlv2",
      "seesaw", "equalized_focal")}
  for path in paths:
    text = path.read_text(encoding="utf-8")
    assert "$$" in text and "Per-class logit weight" in text and "|---:" in text, path.name
    assert "nan" not in text.lower(), path.name
  # the class-balanced table is the library's weights
  w = np.asarray(lt.class_balanced_weights(_report.COUNTS, beta=0.999))
  assert f"{w[_report.RARE]:.4g}" in (tmp_path / "longtail_class_balanced.md").read_text(encoding="utf-8")


def test_committed_pages_are_current():
  from pathlib import Path
  root = Path(__file__).resolve().parents[1] / "derivations"
  for name, text in _report.derivation_pages().items():
    assert (root / f"longtail_{name}.md").read_text(encoding="utf-8") == text, name


def test_gradient_figure_is_deterministic(tmp_path):
  a = lt.write_gradient_figure(tmp_path / "a", steps=3, batch=16)
  b = lt.write_gradient_figure(tmp_path / "b", steps=3, batch=16)
  for x, y in zip(a, b):
    assert x.read_bytes() == y.read_bytes(), x.name
  rows = (tmp_path / "a" / "gradients.csv").read_text().splitlines()
  assert rows[0] == "loss,step,class,kind,mean_abs_gradient_per_batch"
  assert len(rows) == 1 + 8 * 3 * 2 * 2


def test_trajectories_show_the_equalization_effect():
  by_loss = {t.loss: t for t in _report.gradient_trajectories(steps=5, batch=32)}
  rare = _report.RARE
  assert np.all(by_loss["EQL (λ=0.01)"].negative[rare] == 0)  # suppression removed entirely
  assert by_loss["class-balanced CE (β=0.999)"].positive[rare][-1] > by_loss["CE"].positive[rare][-1]
  assert by_loss["logit-adjusted / balanced softmax"].negative[rare][-1] < by_loss["CE"].negative[rare][-1]
