"""``python -m gpuhash.cli``: the ``gpuhash`` command line (as ``python -m gpuhash``)."""

from __future__ import annotations

import sys

from gpuhash.cli import main

if __name__ == "__main__":
    sys.exit(main())
