"""`python -m chainrule.bench`: the same as `python -m chainrule bench`."""

import sys

from . import main

sys.exit(main())
