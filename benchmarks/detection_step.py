"""Seconds per training step and per evaluation of a detection config, and the whole run's cost.

The full detection configuration is meant for a GPU; this measures what it costs where it runs
(median of 20 jitted steps after 3 warm-up steps, one evaluation on the test canvases), and
extrapolates to every (loss, seed) run of the config: steps × step time + evaluations × eval time.

  python benchmarks/detection_step.py            # the full configuration
  python benchmarks/detection_step.py --quick
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from gradeng.experiments import detection as _train
from gradeng.experiments.detection import load_config


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="the quick configuration instead")
  parser.add_argument("--loss", default="ce_ohem", help="loss whose training step is timed")
  parser.add_argument("--variant", default="paper", help="config variant (paper, engineering, converged)")
  args = parser.parse_args()
  config = load_config(quick=args.quick, variant=args.variant)
  spec = config.loss(args.loss)
  start = time.perf_counter()
  data = _train.prepare_data(config)
  print(f"{config.name}: prepare_data {time.perf_counter() - start:.1f} s, "
        f"{data.stats['anchors_per_image']} anchors per image; jax {jax.__version__} on "
        f"{jax.devices()[0].device_kind} ({jax.default_backend()})")
  graphdef, params = _train.init_model(config.model, len(data.class_names), 1, seed=0, prior=spec.prior)
  opt_state, loss_state = _train.optimizer(spec).init(params), _train.init_loss_state(spec)
  times = []
  for step in range(23):
    index = _train.batch_indices(0, step, len(data.train_images), config.train.batch_size)
    begin = time.perf_counter()
    params, opt_state, loss_state, parts = _train.train_step(
        params, opt_state, loss_state, data.train_images[index], data.train_labels[index],
        data.train_offsets[index], graphdef=graphdef, spec=spec)
    jax.block_until_ready(parts)
    times.append(time.perf_counter() - begin)
  step_s = float(np.median(times[3:]))
  begin = time.perf_counter()
  _train.evaluate(graphdef, params, data, config)
  eval_s = time.perf_counter() - begin
  runs = len(config.losses) * len(config.seeds)
  evaluations = -(-config.train.steps // config.train.eval_every)
  total = runs * (config.train.steps * step_s + evaluations * eval_s)
  print(f"median step {step_s:.3f} s ({spec.name}, batch {config.train.batch_size}), one evaluation "
        f"{eval_s:.1f} s; {runs} runs × {config.train.steps} steps ≈ {total / 3600:.1f} h")


if __name__ == "__main__":
  main()
