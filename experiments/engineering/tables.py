"""Markdown tables of the engineering experiments from their CSV files (for docs/engineering_results.md).

  python experiments/engineering/tables.py figures                 # the quick run
  python experiments/engineering/tables.py figures/engineering_full

The tables are `gradeng.experiments.engineering.tables_markdown`.
"""

import sys

from gradeng.experiments.engineering import tables_markdown

print(tables_markdown(sys.argv[1]), end="")
