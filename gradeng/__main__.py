import sys

from gradeng._cli import main

sys.exit(main())
