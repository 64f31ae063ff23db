"""``python -m chainrule COMMAND``: see chainrule.cli."""

import sys

from chainrule.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m chainrule"))
