"""The benchmark harness in its smoke mode: it runs and writes well-formed results.

Timings are never asserted: the smoke mode sends a few hundred requests per workload, which
keeps the harness working, not the numbers meaningful.  The WebSocket client is also run
against its reference echo, where it must count every echo, and report a server that does
not echo.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import require_tool

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
RUN = BENCHMARKS / "run.py"
WS_CLIENT = BENCHMARKS / "harness" / "ws_client.py"
WS_REFERENCE = BENCHMARKS / "harness" / "ws_reference.py"
HTTP2 = ["W1", "W2", "W3", "W4", "W5", "C1"]
#: HTTP/1.1 with h2load --h1, plain and pipelined, and the WebSocket echo.
HTTP1 = ["H1", "H1P", "WS"]
WORKLOADS = HTTP2 + HTTP1
ROW_KEYS = {
    "workload", "server", "label", "unit", "median", "mean_latency_ms", "peak_rss_mib",
    "client_cpu", "failures", "requests", "rounds", "ratio", "note", "skipped",
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
    assert (tmp_path / "smoke.md").read_text().startswith("Median throughput")
    servers = {server["id"]: server for server in results["servers"]}
    assert {
        "trio_h2",
        "trio_h2-asgi",
        "hypercorn-trio",
        "nghttpd",
        "uvicorn-h11",
        "uvicorn-httptools",
    } <= (servers.keys())
    # Servers without HTTP/2, or without HTTP/1.1, run only the rows they can.
    assert servers["uvicorn-h11"]["only"] == HTTP1
    assert servers["nghttpd"]["only"] == HTTP2

    for row in results["summary"]:
        assert set(row) == ROW_KEYS
        assert row["workload"] in WORKLOADS
        assert row["unit"] == {"W3": "MiB/s", "W4": "MiB/s", "WS": "msg/s"}.get(
            row["workload"], "req/s"
        )
        if row["median"] is not None:
            assert math.isfinite(row["median"])
            assert row["median"] > 0
        only = servers[row["server"]]["only"]
        assert only is None or row["workload"] in only
    for run in results["runs"]:
        assert run["failures"] == run["requested"] - run["succeeded"]

    for ours in ("trio_h2", "trio_h2-asgi"):
        if servers[ours]["skipped"]:
            pytest.fail(f"{ours} did not run: {servers[ours]['skipped']}")
        rows = {row["workload"]: row for row in results["summary"] if row["server"] == ours}
        assert sorted(rows) == sorted(WORKLOADS), ours
        for workload, row in rows.items():
            assert row["note"] is None, (ours, workload, row["note"])
            assert row["requests"] > 0, (ours, workload)
            assert row["failures"] == 0, (ours, workload)
            assert row["peak_rss_mib"] is None or row["peak_rss_mib"] > 0
            assert row["client_cpu"] is not None, (ours, workload)
            assert row["client_cpu"] > 0, (ours, workload)
    if not servers["hypercorn-trio"]["skipped"]:
        for workload in HTTP1:
            assert rows[workload]["ratio"] is not None, workload


@contextlib.contextmanager
def reference_echo() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(WS_REFERENCE), "--port", str(port)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(10)


def ws_client(port: int, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(WS_CLIENT), "--port", str(port), "--timeout", "10", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_ws_client_counts_echoes_and_failures() -> None:
    with reference_echo() as port:
        good = ws_client(port, "-n", "5000", "-c", "4", "-w", "16", "-s", "40", "--null-mask")
        # Masked with a real key, the frames are not what the reference echo can answer.
        bad = ws_client(port, "-n", "400", "-c", "2", "-w", "16", "-s", "40")
    assert (good["requested"], good["succeeded"], good["error_count"]) == (5000, 5000, 0)
    assert good["errors"] == []
    assert (bad["requested"], bad["succeeded"], bad["error_count"]) == (400, 0, 2)
    assert "closed by the server after 0 echoes" in str(bad["errors"])
