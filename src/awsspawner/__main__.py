"""``python -m awsspawner``: the ``awsspawner`` command (see :mod:`awsspawner.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
