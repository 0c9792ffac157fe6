"""examples/compat/hpack_snippet.py runs and prints a correct round trip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNIPPET = ROOT / "examples" / "compat" / "hpack_snippet.py"


def test_hpack_snippet() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(SNIPPET)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    table = ["[1] (s=38) baz: buz", "[2] (s=38) foo: bar"]
    assert result.stdout.splitlines() == [
        "408294e703626172400362617a0362757a",
        "[(b'foo', b'bar'), (b'baz', b'buz')]",
        "deflater table:",
        *table,
        "inflater table:",
        *table,
    ]
