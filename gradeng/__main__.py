import sys

from gradeng.cli import main

sys.exit(main())
