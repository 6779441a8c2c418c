"""A finished detection run continued to more steps equals the longer run trained straight."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradeng.experiments.detection import _train
from tests.test_detection_train import tiny  # noqa: F401  (the module-scoped tiny experiment)

pytestmark = pytest.mark.slow


def _with_steps(config, steps):
  import dataclasses

  return dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))


def test_a_shorter_finished_run_is_extended_bit_identically(tiny, tmp_path):  # noqa: F811
  _, config, data = tiny
  spec = config.losses[1]  # Maki: constant learning rate, no step-scheduled state
  short, long = _with_steps(config, 2), _with_steps(config, 4)
  straight = _train.train_run(long, spec, 0, data, tmp_path / "straight", progress=False)
  first = _train.train_run(short, spec, 0, data, tmp_path / "extended", progress=False)
  assert first["steps"] == 2
  extended = _train.train_run(long, spec, 0, data, tmp_path / "extended", progress=False)
  assert extended["steps"] == 4 and extended["final_map"] == straight["final_map"]
  with np.load(tmp_path / "straight" / _train.CHECKPOINT) as a, \
       np.load(tmp_path / "extended" / _train.CHECKPOINT) as b:
    for name in a.files:
      if name.startswith("leaf_"):
        np.testing.assert_array_equal(a[name], b[name])
  steps = [json.loads(line)["step"] for line in
           (tmp_path / "extended" / _train.METRICS).read_text().splitlines()]
  assert steps == [2, 4]


def test_a_longer_run_or_another_change_is_still_refused(tiny, tmp_path):  # noqa: F811
  _, config, data = tiny
  spec = config.losses[1]
  _train.train_run(config, spec, 0, data, tmp_path / "run", progress=False)  # 4 steps
  with pytest.raises(ValueError, match=r"`train.steps` is 4 there and 2 here"):
    _train.train_run(_with_steps(config, 2), spec, 0, data, tmp_path / "run", progress=False)
  import dataclasses

  other = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=6, batch_size=4))
  with pytest.raises(ValueError, match=r"train.batch_size"):
    _train.train_run(other, spec, 0, data, tmp_path / "run", progress=False)


def test_prefix_rule_needs_a_length_free_training():
  base = {"data": {}, "model": {}, "seed": 0, "train": {"steps": 2, "batch_size": 8},
          "loss": {"lr_warmup_steps": 0, "stateful": None}}
  longer = {**base, "train": {"steps": 4, "batch_size": 8}}
  assert _train._is_prefix(base, longer) and not _train._is_prefix(longer, base)
  warm = {**longer, "loss": {"lr_warmup_steps": 1, "stateful": None}}
  assert not _train._is_prefix({**base, "loss": warm["loss"]}, warm)
