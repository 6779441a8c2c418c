"""Markdown tables of the engineering experiments from their CSV files (for docs/engineering_results.md).

  python experiments/engineering/tables.py figures                 # the quick run
  python experiments/engineering/tables.py figures/engineering_full
"""
import csv, sys
d = sys.argv[1]
def rows(n): return list(csv.DictReader(open(f"{d}/engineering_{n}.csv")))
print("### (a)")
print("| optimizer | lr | LR warm-up | loss | stable | NaN | median final CE | mean recall |")
print("|---|---|---|---|---|---|---|---|")
for r in rows("warmup"):
  print(f"| {r['optimizer']} | {float(r['lr']):g} | {int(float(r['lr_warmup']))} steps | {r['loss']} | {float(r['stable_fraction'])*int(r['runs']):.0f}/{r['runs']} | {float(r['nan_fraction'])*int(r['runs']):.0f}/{r['runs']} | {float(r['median_final_ce']):.4f} | {float(r['mean_recall']):.3f} |")
print("### (b)")
print("| optimizer | lr | compared runs (a vs b) | max abs Δ train CE (all steps, seeds) | max rel Δ params | final CE a | final CE b |")
print("|---|---|---|---|---|---|---|")
for r in rows("periodic"):
  print(f"| {r['optimizer']} | {float(r['lr']):g} | {r['compare'].replace(' | ',' vs ')} | {float(r['max_abs_train_ce_diff']):.3g} | {float(r['max_rel_param_diff']):.3g} | {float(r['final_ce_a']):.5f} | {float(r['final_ce_b']):.5f} |")
for n in ("adaptive", "ghm", "minibatch"):
  print(f"### {n}")
  print("| loss | ratio | recall (mean ± sd) | AP (mean ± sd) | final train CE |")
  print("|---|---|---|---|---|")
  for r in rows(n):
    print(f"| {r['loss']} | 1:{float(r['ratio']):g} | {float(r['recall_mean']):.3f} ± {float(r['recall_sd']):.3f} | {float(r['ap_mean']):.3f} ± {float(r['ap_sd']):.3f} | {float(r['final_ce_mean']):.4f} |")
