"""Entry point of ``smartpapers-loadtest`` (and ``python -m smartpapers.loadtest``)."""

from __future__ import annotations

import sys

from smartpapers.loadtest.cli import main

if __name__ == "__main__":
    sys.exit(main())
