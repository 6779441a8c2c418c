"""The long-tail derivation pages and gradient figure: generated from the library, deterministic."""

from pathlib import Path

import numpy as np
import pytest

import gradeng.longtail as lt
from gradeng.longtail import _report


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
  """The pages `write_derivations` writes (the texts of `derivation_pages`), generated once."""
  out = tmp_path_factory.mktemp("longtail_pages")
  return out, lt.write_derivations(out)


def test_pages_hold_equation_weight_and_table(pages):
  out, paths = pages
  assert {p.name for p in paths} == {f"longtail_{n}.md" for n in (
      "class_balanced", "logit_adjustment", "balanced_softmax", "ldam_drw", "equalization", "eqlv2",
      "seesaw", "equalized_focal")}
  for path in paths:
    text = path.read_text(encoding="utf-8")
    assert "$$" in text and "Per-class logit weight" in text and "|---:" in text, path.name
    assert "nan" not in text.lower(), path.name
  # the class-balanced table is the library's weights
  w = np.asarray(lt.class_balanced_weights(_report.COUNTS, beta=0.999))
  assert f"{w[_report.RARE]:.4g}" in (out / "longtail_class_balanced.md").read_text(encoding="utf-8")


def test_committed_pages_are_current(pages):
  # `write_derivations` writes the texts of `derivation_pages()` unchanged, one file per page.
  _, paths = pages
  root = Path(__file__).resolve().parents[1] / "derivations"
  for path in paths:
    assert (root / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), path.name


@pytest.mark.slow
def test_gradient_figure_is_deterministic_and_shows_the_equalization_effect(tmp_path, monkeypatch):
  # The trajectories behind figure `a` are kept for the equalization checks (one stream fewer).
  computed, original = [], _report.gradient_trajectories

  def keep(*args, **kwargs):
    computed.append(original(*args, **kwargs))
    return computed[-1]

  monkeypatch.setattr(_report, "gradient_trajectories", keep)
  a = lt.write_gradient_figure(tmp_path / "a", steps=5, batch=32)
  b = lt.write_gradient_figure(tmp_path / "b", steps=5, batch=32)
  for x, y in zip(a, b):
    assert x.read_bytes() == y.read_bytes(), x.name
  rows = (tmp_path / "a" / "gradients.csv").read_text().splitlines()
  assert rows[0] == "loss,step,class,kind,mean_abs_gradient_per_batch"
  assert len(rows) == 1 + 8 * 5 * 2 * 2
  # The equalization effect in the stream of figure `a` (5 batches of 32).
  assert len(computed) == 2
  by_loss = {t.loss: t for t in computed[0]}
  rare = _report.RARE
  assert np.all(by_loss["EQL (λ=0.01)"].negative[rare] == 0)  # suppression removed entirely
  assert by_loss["class-balanced CE (β=0.999)"].positive[rare][-1] > by_loss["CE"].positive[rare][-1]
  assert by_loss["logit-adjusted / balanced softmax"].negative[rare][-1] < by_loss["CE"].negative[rare][-1]
