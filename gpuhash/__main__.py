"""``python -m gpuhash``: the ``gpuhash`` command line."""

from __future__ import annotations

import sys

from gpuhash.cli import main

if __name__ == "__main__":
    sys.exit(main())
