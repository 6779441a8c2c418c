"""Top-1 accuracy overall and on many/medium/few-shot classes; results JSON and a Markdown table."""

from __future__ import annotations

import numpy as np

GROUPS = {"many": (0, 1, 2), "medium": (3, 4, 5, 6), "few": (7, 8, 9)}


def accuracies(predictions, y_test) -> dict:
  """{"overall"|"many"|"medium"|"few": (mean, std over seeds)} of top-1 accuracy."""
  predictions, y_test = np.asarray(predictions), np.asarray(y_test)
  correct = predictions == y_test[None, :]
  out = {"overall": correct.mean(1)}
  for group, classes in GROUPS.items():
    members = np.isin(y_test, classes)
    out[group] = correct[:, members].mean(1)
  return {k: [float(v.mean()), float(v.std())] for k, v in out.items()}


def table(results: dict) -> str:
  lines = []
  for imbalance, by_loss in results.items():
    lines += [f"## imbalance factor {imbalance}", "",
              "| loss | overall | many | medium | few |", "|---|---:|---:|---:|---:|"]
    for name, acc in by_loss.items():
      cells = " | ".join(f"{acc[k][0]:.3f} ± {acc[k][1]:.3f}" for k in ("overall", "many", "medium", "few"))
      lines.append(f"| {name} | {cells} |")
    lines.append("")
  return "\n".join(lines)
