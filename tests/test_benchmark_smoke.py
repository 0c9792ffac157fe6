"""The benchmark harness in its smoke mode: it runs and writes well-formed results.

Timings are never asserted: the smoke mode sends a few hundred requests per workload, which
keeps the harness working, not the numbers meaningful.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_tool

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
WORKLOADS = ["W1", "W2", "W3", "W4", "W5"]
ROW_KEYS = {
    "workload", "server", "label", "unit", "median", "mean_latency_ms", "peak_rss_mib",
    "failures", "requests", "rounds", "ratio", "note", "skipped",
}  # fmt: skip

pytestmark = [
    pytest.mark.interop,
    pytest.mark.benchmark,
]


def test_smoke_run_writes_results(tmp_path: Path) -> None:
    require_tool("h2load")
    done = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "workload" in done.stdout

    results = json.loads((tmp_path / "smoke.json").read_text())
    assert results["mode"] == "smoke"
    assert results["rounds"] == 1
    assert results["baseline"] == "hypercorn-trio"
    assert [w["id"] for w in results["workloads"]] == WORKLOADS
    servers = {server["id"]: server for server in results["servers"]}
    assert {"trio_h2", "hypercorn-trio", "nghttpd"} <= servers.keys()

    for row in results["summary"]:
        assert set(row) == ROW_KEYS
        assert row["workload"] in WORKLOADS
        assert row["unit"] in ("req/s", "MiB/s")
        if row["median"] is not None:
            assert math.isfinite(row["median"])
            assert row["median"] > 0
    for run in results["runs"]:
        assert run["failures"] == run["requested"] - run["succeeded"]

    if servers["trio_h2"]["skipped"]:
        pytest.skip(f"trio_h2 did not run: {servers['trio_h2']['skipped']}")
    rows = {row["workload"]: row for row in results["summary"] if row["server"] == "trio_h2"}
    assert sorted(rows) == WORKLOADS
    for workload, row in rows.items():
        assert row["note"] is None, (workload, row["note"])
        assert row["requests"] > 0, workload
        assert row["failures"] == 0, workload
        assert row["peak_rss_mib"] is None or row["peak_rss_mib"] > 0
