"""Engineering experiments (issue 6): warm-up, periodic, adaptive γ and GHM-C coefficients.

  python experiments/engineering/run.py                 # quick (≈2 min on 2 CPU cores) -> figures/
  python experiments/engineering/run.py --full          # full config (8 seeds, ratios 10/100/1000)
  python experiments/engineering/run.py --out /tmp/eng  # elsewhere

From Python: ``gradeng.experiments.engineering.run_engineering(out_dir, quick=True) -> dict``.
"""

import argparse
import json
import time

from gradeng.experiments.engineering import run_engineering


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--full", action="store_true", help="the full configuration")
  parser.add_argument("--out", default="figures", help="output directory (default: figures/)")
  args = parser.parse_args()
  start = time.perf_counter()
  summary = run_engineering(args.out, quick=not args.full)
  print(json.dumps({"seconds": summary["seconds"], "total": round(time.perf_counter() - start, 1),
                    "files": summary["files"]}, indent=1))


if __name__ == "__main__":
  main()
