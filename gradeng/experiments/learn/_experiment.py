"""``run_experiment``: learn θ twice (meta-gradient, ES), evaluate held out, write everything.

Output directory (everything under ``out_dir`` unless ``figures_dir``/``derivation_path`` say
otherwise)::

  config.json                 the config (another config's directory is refused)
  gradient/state.npz          outer-loop state of the meta-gradient run (resumable)
  es/state.npz                the same for evolution strategies
  results.json                θ, weights, closed forms, outer-loop history, evaluation table
  results.md                  the evaluation table in Markdown
  learned_g.png / .csv        the learned g and w = p·g next to CE, focal and Maki (best γ)
  meta_curve.png / .csv       validation objective per outer step, meta-gradient vs ES
  derivation.md               the learned loss derived by `gradeng.derive`, with its checks

Figures are drawn from ``results.json`` alone (`draw_figures`), and every file is written
atomically; the outer loops resume after a kill (see `gradeng.experiments.learn._meta`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ._config import LearnConfig
from ._evaluate import evaluate
from ._meta import learn
from ._report import LEARNED, derivation_markdown, draw_figures, table_markdown
from gradeng.experiments.common import atomic_write_json, atomic_write_text, on_main_process


def run_experiment(config: LearnConfig, out_dir, *, figures_dir=None, derivation_path=None,
                   progress: bool = True, stop_after: int | None = None) -> dict:
  """Learns θ (meta-gradient and ES), evaluates held out, writes results, figures and derivation.

  Args:
    config: `QUICK`, `FULL` or a custom `LearnConfig`.
    out_dir: run directory (state, results; figures and derivation too unless given).
    figures_dir: where the figures and ``results.md`` go (default ``out_dir``).
    derivation_path: the derivation report's path (default ``out_dir/derivation.md``).
    progress: progress bars.
    stop_after: stop both outer loops after this many steps (for tests of resumption); nothing
      is evaluated or written beyond the saved states then.

  Returns:
    The results dict (also in ``results.json``) with ``files`` (paths written) and ``seconds``.
  """
  from gradeng.runtime import mixture_formula

  out_dir = Path(out_dir)
  figures_dir = out_dir if figures_dir is None else Path(figures_dir)
  derivation_path = out_dir / "derivation.md" if derivation_path is None else Path(derivation_path)
  start = time.perf_counter()
  learned = {}
  for method in LEARNED:
    run = learn(config, method, out_dir, stop_after=stop_after, progress=progress)
    learned[method] = {
        "theta": run["theta"].tolist(), "weights": run["weights"].tolist(),
        "formula": mixture_formula(run["weights"], config.exponents),
        "history": run["history"], "steps": run["steps_done"],
    }
  if stop_after is not None and stop_after < config.outer_steps:
    return {"learned": learned, "files": [], "seconds": time.perf_counter() - start}
  evaluation = evaluate(config, {LEARNED[m]: np.asarray(v["weights"]) for m, v in learned.items()})
  results = {"config": config.to_dict(), "learned": learned, "evaluation": evaluation}

  def write() -> list[Path]:  # several processes: process 0 writes
    paths = [out_dir / "results.json", figures_dir / "results.md", derivation_path]
    atomic_write_json(paths[0], results, indent=1)
    atomic_write_text(paths[1], table_markdown(results) + "\n")
    atomic_write_text(paths[2], derivation_markdown(results) + "\n")
    return paths + draw_figures(results, figures_dir)

  paths = on_main_process(write)
  return {**results, "files": [str(p) for p in paths], "seconds": time.perf_counter() - start}
