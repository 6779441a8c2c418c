"""Report of the embedding experiment: the results table (``results.json``, ``results.md``, mean ±
std over seeds, from the saved runs) and two figures, each written with the data behind it (JSON).

* ``embedding_2d``: 2-D embeddings of the training classes under softmax, center loss + softmax
  and ArcFace (the classic figure of the face-recognition papers), with the mean cosine
  similarity between different classes' mean embeddings in each title.
* ``pair_weights``: the metric-learning analogue of the paper's Figure 1 — the pair weight
  ∂L/∂s of one positive (and one negative) pair against its cosine similarity s, taken from the
  very rules the losses inject (`gradeng.embedding.PAIR_RULES`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gradeng.experiments.common import atomic_write_json, atomic_write_text, save_figure
from gradeng.experiments.embedding._config import ExperimentConfig

PARTNER = {"positive": 0.3, "negative": 0.7}  # the other pair's similarity in each panel


def pair_weight_curves(num: int = 201) -> dict:
  """``{"s": grid, "losses": {loss: {"positive": [...], "negative": [...]}}}``: ∂L/∂s of one pair.

  The anchor has one positive and one negative; the panel's pair sweeps s ∈ [−1, 1], the other
  stays at `PARTNER`. Distance-based rules get d = √(2 − 2s) (squared for the triplet, whose
  FaceNet form uses d²), and the weight is converted with the chain rule.
  """
  import jax
  import jax.numpy as jnp

  from gradeng.embedding import PAIR_RULES, TRIPLET_RULES

  s_grid = np.linspace(-0.999, 0.999, num)
  pos = jnp.array([[False, True, False], [True, False, False], [False, False, False]])
  neg = jnp.array([[False, False, True], [False, False, True], [True, True, False]])
  rules = {
      "contrastive (m=1)": ("d", PAIR_RULES["contrastive"][1], (1.0,)),
      "triplet (m=0.2, d²)": ("d2", TRIPLET_RULES["semi-hard"], (0.2, 0.0)),
      "binomial deviance": ("s", PAIR_RULES["binomial_deviance"][1], (2.0, 0.5, 1.0)),
      "multi-similarity": ("s", PAIR_RULES["multi_similarity"][1], (2.0, 50.0, 0.5, 0.1)),
      "circle (γ=80, m=0.4)": ("s", PAIR_RULES["circle"][1], (80.0, 0.4)),
  }
  curves: dict = {"s": s_grid.tolist(), "partner_similarity": PARTNER, "losses": {}}
  similarities = {}  # the anchor's similarity to its positive (column 1) or negative (2) on s_grid
  for column in (1, 2):
    rows = np.tile(np.array([1.0, PARTNER["positive"], PARTNER["negative"]]), (num, 1))
    rows[:, column] = s_grid
    sim = np.zeros((num, 3, 3))
    sim[:, 0, :] = rows
    sim[:, 1:, 0] = rows[:, 1:]
    sim[:, 1, 1] = sim[:, 2, 2] = 1.0
    similarities[column] = jnp.asarray(sim, jnp.float32)
  for name, (variable, rule, params) in rules.items():
    # One compiled program per rule for the whole grid and both sides (op by op, 2,010 calls
    # took ~4 s).
    weights = jax.jit(jax.vmap(lambda x, rule=rule, params=params: rule(
        x, pos, neg, *(jnp.float32(p) for p in params))[1]))
    curves["losses"][name] = {}
    for kind, column in (("positive", 1), ("negative", 2)):
      sim = similarities[column]
      if variable == "s":
        x, ds = sim, np.ones(num)
      elif variable == "d2":
        x, ds = 2.0 - 2.0 * sim, np.full(num, -2.0)
      else:
        x = jnp.sqrt(jnp.maximum(2.0 - 2.0 * sim, 0.0))
        ds = -1.0 / np.maximum(np.sqrt(2.0 - 2.0 * s_grid), 1e-6)
      curves["losses"][name][kind] = (np.asarray(weights(x)[:, 0, column], np.float64)
                                      * ds).tolist()
  return curves


def pair_weight_figure(folder) -> list[Path]:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  folder = Path(folder)
  curves = pair_weight_curves()
  s = np.array(curves["s"])
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
  for ax, kind in zip(axes, ("positive", "negative")):
    for name, data in curves["losses"].items():
      ax.plot(s, data[kind], label=name)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("cosine similarity s of the pair")
    ax.set_title(f"{kind} pair (the other pair at s = {PARTNER[kind]})")
  axes[0].set_ylabel("pair weight ∂L/∂s (symlog)")
  axes[1].legend(fontsize=8)
  fig.suptitle("Pair weight vs similarity (what each embedding loss does to the gradient)")
  fig.tight_layout()
  png, data = folder / "pair_weights.png", folder / "pair_weights.json"
  save_figure(fig, png)
  plt.close(fig)
  atomic_write_json(data, curves, indent=1)
  return [png, data]


def embedding_figure(config, train_x, train_y, folder, *, points_per_class: int = 150) -> list[Path]:
  """Trains each of ``config.figure_losses`` with a 2-D embedding (seed 0) and plots it."""
  import dataclasses

  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  from gradeng.experiments.embedding._train import embed_all, train

  folder = Path(folder)
  rng = np.random.default_rng(0)
  pick = np.concatenate([rng.choice(np.flatnonzero(train_y == c), points_per_class, replace=False)
                         for c in np.unique(train_y)])
  tc = dataclasses.replace(config.train, embedding_dim=2, steps=config.figure_steps)
  fig, axes = plt.subplots(1, len(config.figure_losses), figsize=(4.2 * len(config.figure_losses), 4.2))
  record = {}
  for ax, name in zip(np.atleast_1d(axes), config.figure_losses):
    embed, params, _ = train(name, train_x, train_y, tc, (0,))
    e = embed_all(embed, params, train_x[pick])[0]
    y = train_y[pick]
    means = np.stack([e[y == c].mean(0) for c in np.unique(y)])
    unit = means / np.linalg.norm(means, axis=1, keepdims=True)
    cos = unit @ unit.T
    off = cos[~np.eye(len(cos), dtype=bool)]
    record[name] = {"points": np.round(e, 4).tolist(), "labels": y.tolist(),
                    "mean_cross_class_cosine": float(off.mean()),
                    "max_cross_class_cosine": float(off.max())}
    for c in np.unique(y):
      ax.scatter(e[y == c, 0], e[y == c, 1], s=4, label=str(c))
    ax.set_title(f"{name}\nmean cos between class means {off.mean():.2f}, max {off.max():.2f}",
                 fontsize=9)
    ax.set_aspect("equal", adjustable="datalim")
  np.atleast_1d(axes)[0].legend(markerscale=3, fontsize=7, title="digit")
  fig.suptitle("2-D embeddings of the training digits 0–5")
  fig.tight_layout()
  png, data = folder / "embedding_2d.png", folder / "embedding_2d.json"
  save_figure(fig, png)
  plt.close(fig)
  atomic_write_json(data, record, indent=None)
  return [png, data]


METRICS = ("recall_at_1", "map_at_r", "roc_auc", "tar_at_far")


HEADERS = {"recall_at_1": "Recall@1", "map_at_r": "MAP@R", "roc_auc": "ROC AUC",
           "tar_at_far": "TAR@FAR=1e-2"}


def _run_path(out: Path, loss: str, seed: int) -> Path:
  return out / "runs" / loss.replace("+", "_") / f"seed{seed}.json"


def summarize(config: ExperimentConfig, out: Path, losses, raw: dict, test_items: int) -> dict:
  """Reads ``runs/`` and writes ``results.json`` and ``results.md`` (mean ± std over seeds)."""
  rows = []
  for name in losses:
    records = [json.loads(_run_path(out, name, s).read_text()) for s in config.train.seeds]
    row = {"loss": name, "seeds": len(records)}
    for m in METRICS:
      values = np.array([r[m] for r in records], float)
      row[m] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))
                if len(values) > 1 else 0.0, "values": values.tolist()}
    rows.append(row)
  summary = {"config": config.name, "raw_pixels": raw, "losses": rows,
             "test_items": test_items, "note": "mean ± sample std over seeds; cosine similarity"}
  lines = [f"| loss | {' | '.join(HEADERS[m] for m in METRICS)} |",
           "|---|" + "---:|" * len(METRICS),
           "| raw pixels (floor) | " + " | ".join(f"{raw[m]:.3f}" for m in METRICS) + " |"]
  for row in rows:
    lines.append(f"| {row['loss']} | " + " | ".join(
        f"{row[m]['mean']:.3f} ± {row[m]['std']:.3f}" for m in METRICS) + " |")
  summary["table_markdown"] = "\n".join(lines)
  atomic_write_json(out / "results.json", {k: v for k, v in summary.items() if k != "table_markdown"},
                    sort_keys=True)
  header = (f"# Open-set retrieval on digits 6–9 after training on 0–5 ({config.name})\n\n"
            f"{len(config.train.seeds)} seeds, {config.train.steps} steps, embedding size "
            f"{config.train.embedding_dim}; mean ± std over seeds. Generated by `gradeng "
            f"experiment embedding`.\n\n")
  atomic_write_text(out / "results.md", header + summary["table_markdown"] + "\n")
  return summary
