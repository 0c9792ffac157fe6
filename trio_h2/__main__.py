"""``python -m trio_h2``: serve a directory or a handler over HTTP/2 (see ``--help``)."""

from __future__ import annotations

import sys

from ._cli import main as main

if __name__ == "__main__":
    sys.exit(main())
