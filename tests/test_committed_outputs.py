"""The committed quick outputs against their own records and against the README's readings.

Training results are not compared byte for byte: they depend on the XLA:CPU code (instruction
set, core count; docs/experiments/determinism.md). What is checked instead, in well under a
second:

* the experiment commands pin the instruction set before JAX starts (user flags win);
* each committed table is the mean ± sd of its own per-seed records, and the README's copies of
  the tables are the committed ones;
* every ordering the README's readings state survives the seed spread of the committed numbers:
  "a beats b" needs the means apart by more than the two sds together, "a and b are level" needs
  them apart by less than that (`CLAIMS`).
"""

from __future__ import annotations

import csv
import json
import os
import re
import statistics
from pathlib import Path

import pytest

from gradeng.experiments.common import DETERMINISTIC_XLA_FLAGS, merge_xla_flags

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
README = (ROOT / "README.md").read_text()


# --- the pinned XLA flags ---------------------------------------------------------------------

def test_merge_keeps_user_flags_and_adds_missing():
  assert merge_xla_flags("") == " ".join(DETERMINISTIC_XLA_FLAGS)
  assert merge_xla_flags("--xla_cpu_max_isa=AVX512") == "--xla_cpu_max_isa=AVX512"
  merged = merge_xla_flags("--xla_force_host_platform_device_count=2")
  assert merged.split() == ["--xla_force_host_platform_device_count=2", *DETERMINISTIC_XLA_FLAGS]
  with pytest.raises(ValueError, match="--name=value"):
    merge_xla_flags("", defaults=("xla_cpu_max_isa",))


@pytest.mark.parametrize("command", ["experiment", "reproduce", "simulate", "learn-coefficient"])
@pytest.mark.parametrize("user", ["", "--xla_cpu_max_isa=SSE4_2"])
def test_training_commands_pin_the_isa_before_running(command, user, monkeypatch, capsys):
  from gradeng.cli import main

  monkeypatch.setenv("XLA_FLAGS", user)
  with pytest.raises(SystemExit):
    main([command, "--help"])
  capsys.readouterr()
  assert os.environ["XLA_FLAGS"] == merge_xla_flags(user)
  assert ("SSE4_2" in os.environ["XLA_FLAGS"]) == bool(user)


def test_other_commands_leave_xla_flags_alone(monkeypatch, capsys):
  from gradeng.cli import main

  monkeypatch.setenv("XLA_FLAGS", "")
  with pytest.raises(SystemExit):
    main(["derive", "--help"])
  capsys.readouterr()
  assert os.environ["XLA_FLAGS"] == ""


# --- reading the committed tables ---------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _cells(line: str) -> list[str]:
  return [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]


def _table_after(text: str, header: str) -> dict[str, list[str]]:
  """The Markdown table whose header row starts with ``header``: first cell -> other cells."""
  lines = text.splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith(header))
  rows = {}
  for line in lines[start + 2:]:
    if not line.startswith("|"):
      break
    first, *rest = _cells(line)
    rows[first] = rest
  return rows


def _mean_sd(cell: str) -> tuple[float, float]:
  """``"0.345 ± 0.026"`` -> (0.345, 0.026); a cell without ± has sd 0."""
  numbers = [float(x) for x in _NUMBER.findall(cell)]
  return (numbers[0], numbers[1]) if "±" in cell else (numbers[0], 0.0)


def _read_csv(path: Path) -> list[dict[str, str]]:
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


# --- ordinal ---------------------------------------------------------------------------------

ORDINAL_HEADER = "| loss | MAE (mean ± std) |"


def _ordinal_table(stem: str) -> dict[str, dict[str, tuple[float, float]]]:
  """label -> {"mae": (mean, sd), "accuracy": (mean, sd)} as the committed table prints them."""
  table = _table_after((FIGURES / "ordinal" / f"{stem}_table.md").read_text(), ORDINAL_HEADER)
  return {label: {"mae": _mean_sd(c[0]), "accuracy": _mean_sd(c[1])} for label, c in table.items()}


def _ordinal(stem: str) -> dict[str, dict[str, tuple[float, float]]]:
  """label -> {"mae": (mean, sample sd), "accuracy": ...} from the committed per-seed records.

  The ordinal table prints the population sd (``np.std``, ddof 0); the readings are judged on
  the sample sd (ddof 1), as the embedding table prints it.
  """
  records = json.loads((FIGURES / "ordinal" / f"{stem}_results.json").read_text())
  return {record["label"]: {m: (statistics.mean(record[m]), statistics.stdev(record[m]))
                            for m in ("mae", "accuracy")}
          for record in records["losses"].values()}


@pytest.mark.parametrize("stem", ["ordinal_quick", "ordinal_reproduce"])
def test_ordinal_table_is_mean_and_sd_of_its_seeds(stem):
  records = json.loads((FIGURES / "ordinal" / f"{stem}_results.json").read_text())
  rows = _read_csv(FIGURES / "ordinal" / f"{stem}.csv")
  table = _ordinal_table(stem)
  assert len(table) == len(records["losses"])
  for name, record in records["losses"].items():
    for metric in ("mae", "accuracy"):
      per_seed = [float(r[metric]) for r in rows if r["loss"] == name]
      assert per_seed == pytest.approx(record[metric], abs=1e-6)
      mean, sd = table[record["label"]][metric]
      assert mean == pytest.approx(statistics.mean(per_seed), abs=5.01e-4)
      assert sd == pytest.approx(statistics.pstdev(per_seed), abs=5.01e-4)


def test_readme_ordinal_table_is_the_committed_one():
  assert _table_after(README, ORDINAL_HEADER) == _table_after(
      (FIGURES / "ordinal" / "ordinal_quick_table.md").read_text(), ORDINAL_HEADER)


# --- embedding -------------------------------------------------------------------------------

EMBEDDING_HEADER = "| loss | Recall@1 | MAP@R |"
#: results.md's loss names -> the README's labels
EMBEDDING_LABELS = {
    "raw pixels (floor)": "raw pixels (floor)", "softmax": "softmax", "normface": "NormFace",
    "sphereface": "A-softmax (m = 4, λ annealed)", "cosface": "CosFace", "arcface": "ArcFace",
    "arcface+focal": "ArcFace + focal γ=2", "center+softmax": "center loss + softmax",
    "contrastive": "contrastive", "triplet": "triplet, semi-hard",
    "triplet-drop": "triplet, semi-hard, condition-3 dropped",
    "multi-similarity": "multi-similarity", "circle": "circle",
}
EMBEDDING_METRICS = ("recall1", "map_r", "auc", "tar")


def _embedding(folder: str = "embedding") -> dict[str, dict[str, tuple[float, float]]]:
  table = _table_after((FIGURES / folder / "results.md").read_text(), EMBEDDING_HEADER)
  return {EMBEDDING_LABELS[name]: dict(zip(EMBEDDING_METRICS, map(_mean_sd, cells)))
          for name, cells in table.items()}


def test_readme_embedding_quick_table_is_the_committed_one():
  readme = README[README.index("### Embedding losses"):README.index("Full configuration (`gradeng experiment embedding`")]
  table = _table_after(readme, EMBEDDING_HEADER)
  committed = _embedding()
  assert set(table) == set(committed)
  for label, cells in table.items():
    assert dict(zip(EMBEDDING_METRICS, map(_mean_sd, cells))) == committed[label]


def test_readme_embedding_full_table_is_the_committed_one():
  readme = README[README.index("Full configuration (`gradeng experiment embedding`"):]
  table = _table_after(readme, EMBEDDING_HEADER)
  committed = _embedding("embedding_full")
  assert {label: dict(zip(EMBEDDING_METRICS, map(_mean_sd, cells)))
          for label, cells in table.items()} == committed


# --- crowded -----------------------------------------------------------------------------------

def _crowded_recall(method: str) -> list[float]:
  """Recall (score ≥ 0.5) at every level of the committed quick run, for ``method``."""
  return [float(r["recall"]) for r in _read_csv(FIGURES / "crowded" / "crowded_quick.csv")
          if r["method"] == method]


def test_crowded_quick_set_head_finds_almost_nothing_confidently():
  """README: at 1,000 steps no set-head hypothesis reaches 0.5 (one seed, 40 canvases a level),
  and SSD + per-class NMS finds more at every level."""
  set_head, ssd = _crowded_recall("set_ce"), _crowded_recall("ssd_nms")
  assert len(set_head) == len(ssd) == 10
  assert max(set_head) <= 1 / 40  # at most one digit of 40: the pinned run and the cross-check: 0
  assert all(s > h for s, h in zip(ssd, set_head))


# --- the readings ------------------------------------------------------------------------------

def _apart(a: tuple[float, float], b: tuple[float, float]) -> bool:
  """Means further apart than the two seed sds together."""
  return abs(a[0] - b[0]) > a[1] + b[1]


#: (table, metric, a, relation, b): "a beats b" (higher is better unless the metric is MAE) or
#: "a ~ b" (within the seed spread); the README's readings, in the words of the regenerated tables.
CE, BLUR05, BLUR1, BLUR2 = ("CE, hard labels", "CE, Gaussian targets σ=0.5",
                             "CE, Gaussian targets σ=1", "CE, Gaussian targets σ=2")
L2, FOCAL, MAKI = "L2 regression", "focal γ=2, σ=1 targets", "Maki γ=1, σ=1 targets"
CLAIMS: list[tuple[str, str, str, str, str]] = [
    # README, ordinal: neither blurred targets nor hard labels win; σ = 2, focal and Maki lose.
    *[("ordinal_quick", m, CE, "~", b) for m in ("mae", "accuracy") for b in (BLUR05, BLUR1, L2)],
    *[("ordinal_quick", m, CE, ">", b) for m in ("mae", "accuracy") for b in (BLUR2, FOCAL, MAKI)],
    *[("ordinal_quick", m, BLUR1, "~", b) for m in ("mae", "accuracy") for b in (FOCAL, MAKI)],
]
PIXELS, CONTRASTIVE, CIRCLE, MS = "raw pixels (floor)", "contrastive", "circle", "multi-similarity"
LEARNED = [label for label in EMBEDDING_LABELS.values() if label != PIXELS]
LEADERS = ["center loss + softmax", "softmax", "A-softmax (m = 4, λ annealed)"]
FOLLOWERS = ["NormFace", "ArcFace", "ArcFace + focal γ=2", "triplet, semi-hard",
             "triplet, semi-hard, condition-3 dropped"]
CLAIMS += [
    # README, embedding (quick): the pixels lead Recall@1 and trail ROC AUC ...
    *[("embedding", "recall1", PIXELS, ">", b) for b in LEARNED],
    *[("embedding", "auc", a, ">", PIXELS) for a in LEARNED],
    # ... on MAP@R most learned embeddings are ahead of them, three are not ...
    *[("embedding", "map_r", a, ">", PIXELS) for a in LEARNED if a not in (CONTRASTIVE, MS, CIRCLE)],
    *[("embedding", "map_r", a, "~", PIXELS) for a in (CONTRASTIVE, MS)],
    ("embedding", "map_r", PIXELS, ">", CIRCLE),
    # ... three classification-style losses lead MAP@R and AUC, CosFace is level with both groups
    # except that it is ahead of ArcFace + focal on AUC,
    *[("embedding", m, a, ">", b) for m in ("map_r", "auc") for a in LEADERS for b in FOLLOWERS],
    *[("embedding", m, "CosFace", "~", b) for m in ("map_r", "auc") for b in LEADERS + FOLLOWERS
      if (m, b) != ("auc", "ArcFace + focal γ=2")],
    ("embedding", "auc", "CosFace", ">", "ArcFace + focal γ=2"),
    # ... circle is last, multi-similarity level with contrastive ...
    *[("embedding", m, CONTRASTIVE, ">", CIRCLE) for m in ("map_r", "auc")],
    *[("embedding", m, CONTRASTIVE, "~", MS) for m in ("map_r", "auc")],
    # ... contrastive is last on Recall@1, and dropping triplet outliers changes nothing.
    *[("embedding", "recall1", a, ">", CONTRASTIVE) for a in LEADERS[1:] + [
        "NormFace", "CosFace", "ArcFace", "ArcFace + focal γ=2", "triplet, semi-hard"]],
    *[("embedding", "recall1", "NormFace", ">", b) for b in FOLLOWERS[1:] + [LEADERS[0]]],
    *[("embedding", m, "triplet, semi-hard", "~", "triplet, semi-hard, condition-3 dropped")
      for m in EMBEDDING_METRICS],
]
ARCFACE, TRIPLET, TRIPLET_DROP = "ArcFace", "triplet, semi-hard", "triplet, semi-hard, condition-3 dropped"
CLAIMS += [
    # README, embedding (full): center + softmax and softmax ahead of ArcFace and the pair losses
    # on MAP@R; A-softmax and CosFace ahead of fewer; NormFace level with both; contrastive last.
    *[("embedding_full", "map_r", a, ">", b) for a in LEADERS[:2]
      for b in (ARCFACE, TRIPLET, TRIPLET_DROP, MS, CIRCLE)],
    *[("embedding_full", "map_r", a, ">", b) for a in (LEADERS[2], "CosFace")
      for b in (ARCFACE, TRIPLET_DROP, MS)],
    *[("embedding_full", "map_r", "NormFace", "~", b) for b in LEADERS + [ARCFACE, TRIPLET, MS]],
    *[("embedding_full", "map_r", a, ">", CONTRASTIVE) for a in LEARNED if a != CONTRASTIVE],
    *[("embedding_full", "recall1", PIXELS, ">", b) for b in LEARNED],
    *[("embedding_full", "map_r", CIRCLE, "~", b) for b in (TRIPLET, TRIPLET_DROP, MS)],
]

TABLES = {"ordinal_quick": lambda: _ordinal("ordinal_quick"),
          "ordinal_reproduce": lambda: _ordinal("ordinal_reproduce"),
          "embedding": _embedding, "embedding_full": lambda: _embedding("embedding_full")}


# --- long-tail ---------------------------------------------------------------------------------

LONGTAIL_METRICS = ("overall", "many", "medium", "few")


def _longtail_table(text: str, imbalance: int) -> dict[str, dict[str, tuple[float, float]]]:
  """label -> {metric: (mean, sd)} of the table of imbalance factor ``imbalance`` in ``text``."""
  table = _table_after(text, f"| loss (IF {imbalance}) |")
  return {label: dict(zip(LONGTAIL_METRICS, map(_mean_sd, cells))) for label, cells in table.items()}


def _longtail(stem: str, imbalance: int) -> dict[str, dict[str, tuple[float, float]]]:
  """label -> {metric: (mean, sample sd)} from the committed per-seed records."""
  records = json.loads((FIGURES / "longtail" / f"{stem}_results.json").read_text())
  return {r["label"]: {m: (statistics.mean(r[m]), statistics.stdev(r[m])) for m in LONGTAIL_METRICS}
          for r in records["results"][str(imbalance)].values()}


@pytest.mark.parametrize("stem", ["longtail_quick", "longtail"])
def test_longtail_table_is_mean_and_sample_sd_of_its_seeds(stem):
  records = json.loads((FIGURES / "longtail" / f"{stem}_results.json").read_text())
  rows = _read_csv(FIGURES / "longtail" / f"{stem}.csv")
  text = (FIGURES / "longtail" / f"{stem}_table.md").read_text()
  assert records["imbalance_factors"] == [10, 100] and len(records["seeds"]) >= 3
  for imbalance in records["imbalance_factors"]:
    table = _longtail_table(text, imbalance)
    by_loss = records["results"][str(imbalance)]
    assert len(table) == len(by_loss) == 9
    for name, record in by_loss.items():
      for metric in LONGTAIL_METRICS:
        per_seed = [float(r[metric]) for r in rows if r["loss"] == name and r["imbalance"] == str(imbalance)]
        assert per_seed == pytest.approx(record[metric], abs=1e-6)
        mean, sd = table[record["label"]][metric]
        assert mean == pytest.approx(statistics.mean(per_seed), abs=5.01e-4)
        assert sd == pytest.approx(statistics.stdev(per_seed), abs=5.01e-4)


def test_readme_longtail_tables_are_the_committed_full_ones():
  readme = README[README.index("### Long-tailed classification"):]
  committed = (FIGURES / "longtail" / "longtail_table.md").read_text()
  for imbalance in (10, 100):
    assert _longtail_table(readme, imbalance) == _longtail_table(committed, imbalance)


LT_CE, LT_FOCAL, LT_MAKI, LT_CB = "CE", "focal γ=2", "Maki γ=1", "class-balanced focal γ=2"
LT_BS, LT_LDAM, LT_EQL, LT_SEESAW, LT_EFL = ("balanced softmax", "LDAM-DRW", "EQL v2", "Seesaw", "EFL")
LT_ALL = [LT_CE, LT_FOCAL, LT_MAKI, LT_CB, LT_BS, LT_LDAM, LT_EQL, LT_SEESAW, LT_EFL]
LT_LEADERS = [LT_BS, LT_LDAM, LT_SEESAW]
CLAIMS += [
    # README, long-tail (full): at IF 10 no two losses apart overall, many- or medium-shot; on
    # few-shot only balanced softmax ahead of EQL v2.
    *[("longtail:10", m, a, "~", b) for m in ("overall", "many", "medium")
      for i, a in enumerate(LT_ALL) for b in LT_ALL[i + 1:]],
    ("longtail:10", "few", LT_BS, ">", LT_EQL),
    # IF 100: the three leaders ahead of CE, focal and Maki overall and few-shot; balanced softmax
    # ahead of Seesaw, level with LDAM-DRW ...
    *[("longtail:100", m, a, ">", b) for m in ("overall", "few") for a in LT_LEADERS
      for b in (LT_CE, LT_FOCAL, LT_MAKI)],
    *[("longtail:100", m, LT_BS, ">", LT_SEESAW) for m in ("overall", "few")],
    *[("longtail:100", m, LT_BS, "~", LT_LDAM) for m in ("overall", "few")],
    # ... focal, Maki, class-balanced focal, EQL v2 and EFL level with CE on every measure (both
    # IFs); EQL v2 and EFL behind the three leaders ...
    *[(f"longtail:{i}", m, LT_CE, "~", b) for i in (10, 100) for m in LONGTAIL_METRICS
      for b in (LT_FOCAL, LT_MAKI, LT_CB, LT_EQL, LT_EFL)],
    *[("longtail:100", m, a, ">", b) for m in ("overall", "few") for a in LT_LEADERS
      for b in (LT_EQL, LT_EFL)],
    # ... many-shot: EQL v2 and EFL ahead of balanced softmax, and no other pair apart; medium: none.
    *[("longtail:100", "many", a, ">", LT_BS) for a in (LT_EQL, LT_EFL)],
    *[("longtail:100", "many", a, "~", b) for i, a in enumerate(LT_ALL) for b in LT_ALL[i + 1:]
      if {a, b} not in ({LT_EQL, LT_BS}, {LT_EFL, LT_BS})],
    *[("longtail:100", "medium", a, "~", b) for i, a in enumerate(LT_ALL) for b in LT_ALL[i + 1:]],
    # README, long-tail (quick): the same IF 100 leaders ahead of CE overall and few-shot; at
    # IF 10 few-shot, class-balanced focal, balanced softmax and LDAM-DRW ahead of CE (and, above,
    # within the spread of CE in the full run).
    *[("longtail_quick:100", m, a, ">", LT_CE) for m in ("overall", "few") for a in LT_LEADERS],
    *[("longtail_quick:10", "few", a, ">", LT_CE) for a in (LT_CB, LT_BS, LT_LDAM)],
]
TABLES.update({f"{stem}:{i}": (lambda stem=stem, i=i: _longtail(stem, i))
               for stem in ("longtail", "longtail_quick") for i in (10, 100)})

@pytest.mark.parametrize("claim", CLAIMS, ids=" ".join)
def test_readme_readings_survive_the_seed_spread(claim):
  table, metric, a, relation, b = claim
  rows = TABLES[table]()
  first, second = rows[a][metric], rows[b][metric]
  if relation == "~":
    assert not _apart(first, second), f"{a} and {b} are apart on {metric}: {first} vs {second}"
  else:
    lower_is_better = metric == "mae"
    assert _apart(first, second), f"{a} vs {b} on {metric} is within the spread: {first}, {second}"
    assert (first[0] < second[0]) == lower_is_better, f"{a} does not beat {b} on {metric}"


def _detection_rows(text: str) -> dict[str, list[str]]:
  return {cells[0]: cells[1:] for cells in map(_cells, text.splitlines())
          if len(cells) == 5 and "±" in cells[1]}


def test_longtail_detection_full_table_is_its_seeds_and_the_readme_copy():
  folder = FIGURES / "longtail" / "longtail_detection"
  rows = _detection_rows((folder / "table.md").read_text())
  summary = json.loads((folder / "summary.json").read_text())
  assert len(rows) == 6 and _detection_rows(README[README.index("LVIS-style (the"):]) == rows
  for record in summary.values():
    cells = rows[record["label"]]
    for cell, metric in zip(cells, ("ap_r", "ap_c", "ap_f", "map")):
      values = record[metric]["values"]
      assert len(values) == 5
      want = f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
      assert cell == want, (record["label"], metric)
  # The readings' orderings (means apart by more than the two sds together).
  ap = {name: {m: (r[m]["mean"], r[m]["sd"]) for m in ("ap_r", "ap_c", "ap_f", "map")}
        for name, r in summary.items()}
  for metric in ("ap_r", "ap_f", "map"):
    for worse in ("focal", "efl"):
      assert all(_apart(ap[worse][metric], ap[better][metric]) and
                 ap[worse][metric][0] < ap[better][metric][0]
                 for better in ("ce_ohem", "seesaw", "eqlv2")), (metric, worse)
  assert not any(_apart(ap["focal"][m], ap["efl"][m]) for m in ap["focal"])
  assert not any(_apart(ap[a]["ap_r"], ap[b]["ap_r"])
                 for a, b in (("seesaw", "eqlv2"), ("seesaw", "ce_ohem"), ("eqlv2", "ce_ohem")))
  assert all(_apart(ap["eql"]["ap_c"], ap[b]["ap_c"]) and ap["eql"]["ap_c"][0] < ap[b]["ap_c"][0]
             for b in ("ce_ohem", "seesaw", "eqlv2"))
  assert all(_apart(ap["eqlv2"]["ap_f"], ap[b]["ap_f"]) for b in ap if b != "eqlv2")
  assert all(_apart(ap["eqlv2"]["map"], ap[b]["map"]) for b in ap if b not in ("eqlv2", "seesaw"))
  assert not _apart(ap["eqlv2"]["map"], ap["seesaw"]["map"])
