"""``python -m backprop``: the command line (``fit``, ``predict``, ``info``); see ``backprop._cli``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
