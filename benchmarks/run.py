#!/usr/bin/env python3
"""Compare trio_h2 with Hypercorn, Granian and nghttpd under h2load (see README.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
