"""``python -m gradeng.longtail [ROOT]``: regenerate ROOT/derivations/longtail_*.md and
ROOT/figures/longtail/gradients.{png,csv} (ROOT defaults to the current directory)."""

import sys
from pathlib import Path

from gradeng.longtail._report import write_derivations, write_gradient_figure


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  root = Path(argv[0]) if argv else Path.cwd()
  for path in write_derivations(root / "derivations") + write_gradient_figure(root / "figures" / "longtail"):
    print(path)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
