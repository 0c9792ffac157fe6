"""The workloads, and running the load generator -- h2load, or the WebSocket client -- on one.

Each generator runs as a subprocess; what it printed is read into a :class:`LoadResult`, with
the CPU time it took: a generator near a whole core would be measuring itself.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

HELLO_PATH = "/hello"
DOWNLOAD_PATH = "/1m"
UPLOAD_PATH = "/upload"
WS_PATH = "/ws"
ONE_MIB = 1_048_576
WS_CLIENT = Path(__file__).resolve().with_name("ws_client.py")

#: How the generator talks: HTTP/2 (h2c with prior knowledge, or h2 by ALPN), HTTP/1.1
#: (``h2load --h1``), or WebSockets over HTTP/1.1 (``ws_client.py``).
Protocol = Literal["h2", "h1", "ws"]


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    path: str
    #: Requests, or for "ws" messages echoed.
    requests: int
    #: Connections.
    clients: int
    #: Concurrent streams per connection; pipelined requests for "h1"; for "ws" messages
    #: in flight per connection.
    streams: int = 1
    upload: bool = False
    tls: bool = False
    protocol: Protocol = "h2"
    #: Bytes of text in each WebSocket message.
    message_bytes: int = 0
    #: "req/s", "MiB/s" where each request moves 1 MiB, or "msg/s".
    unit: str = "req/s"
    #: For a churn row: the requests each connection makes before it closes, which a
    #: smaller run keeps by opening fewer connections.
    per_connection: int | None = None

    def scaled(self, requests: int) -> Workload:
        if self.per_connection is not None:
            clients = max(1, requests // self.per_connection)
            return replace(self, requests=clients * self.per_connection, clients=clients)
        return replace(self, requests=max(requests, self.clients))

    def generator(self) -> str:
        return "ws_client.py" if self.protocol == "ws" else "h2load"

    def load_args(self) -> list[str]:
        argv = ["-n", str(self.requests), "-c", str(self.clients)]
        if self.protocol == "ws":
            return [*argv, "-w", str(self.streams), "-s", str(self.message_bytes)]
        argv += ["-m", str(self.streams)]
        # Under --h1, h2load's -m is the depth of pipelining on each connection.
        return ["--h1", *argv] if self.protocol == "h1" else argv

    def command(self) -> str:
        """The generator's command line, for the results (without host, port and timeout)."""
        return " ".join([self.generator(), *self.load_args()])


WORKLOADS: tuple[Workload, ...] = (
    Workload("W1", "13 B GET, 10 conns x 10 streams", HELLO_PATH, 20_000, 10, 10),
    Workload("W2", "13 B GET, 100 conns x 1 stream", HELLO_PATH, 5_000, 100, 1),
    Workload("W3", "1 MiB GET, 4 conns x 4 streams", DOWNLOAD_PATH, 500, 4, 4, unit="MiB/s"),
    Workload("W4", "1 MiB POST, 4 conns", UPLOAD_PATH, 300, 4, 1, upload=True, unit="MiB/s"),
    Workload("W5", "W1 over TLS", HELLO_PATH, 20_000, 10, 10, tls=True),
    Workload(
        "C1", "connection churn: 1,000 conns x 5 GETs, then close", HELLO_PATH, 5_000, 1_000,
        1, per_connection=5,
    ),
    Workload(
        "H1", "HTTP/1.1: 13 B GET, 10 conns, keep-alive", HELLO_PATH, 10_000, 10, 1,
        protocol="h1",
    ),
    Workload(
        "H1P", "HTTP/1.1: H1 pipelined 10 deep", HELLO_PATH, 10_000, 10, 10, protocol="h1"
    ),
    Workload(
        "WS", "WebSocket echo: 32 B text, 10 conns x 32 in flight", WS_PATH, 50_000, 10, 32,
        protocol="ws", message_bytes=32, unit="msg/s",
    ),
)  # fmt: skip

#: Request counts of --smoke: enough to exercise every path, too few to time anything.
SMOKE_REQUESTS = {
    "W1": 300, "W2": 200, "W3": 16, "W4": 12, "W5": 300, "C1": 200, "H1": 200, "H1P": 200,
    "WS": 2_000,
}  # fmt: skip


def workloads_for(mode: str) -> list[Workload]:
    if mode == "smoke":
        return [w.scaled(SMOKE_REQUESTS[w.id]) for w in WORKLOADS]
    if mode == "quick":
        return [w.scaled(w.requests // 5) for w in WORKLOADS]
    return list(WORKLOADS)


@dataclass(frozen=True)
class LoadResult:
    requested: int
    succeeded: int
    elapsed_s: float
    latency_mean_ms: float | None
    #: CPU seconds the generator used (user and system), if known, and the seconds they
    #: were counted over when that is not ``elapsed_s`` (h2load's, counted over its whole
    #: process, start included).
    cpu_s: float | None = None
    cpu_window_s: float | None = None
    #: What went wrong, as the generator told it (the WebSocket client does).
    errors: tuple[str, ...] = ()

    @property
    def failures(self) -> int:
        return self.requested - self.succeeded

    @property
    def rate(self) -> float:
        """Successful requests (messages) per second; for the 1 MiB workloads also MiB/s."""
        return self.succeeded / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cpu_share(self) -> float | None:
        """The generator's CPU time over the time it was counted in: 1.0 is a whole core."""
        window = self.elapsed_s if self.cpu_window_s is None else self.cpu_window_s
        if self.cpu_s is None or window <= 0:
            return None
        return self.cpu_s / window


class LoadError(Exception):
    """The generator could not run, or printed no statistics."""


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_DURATION = re.compile(r"([\d.]+)(us|ms|s)")
_FINISHED = re.compile(r"^finished in (\S+),", re.MULTILINE)
_REQUESTS = re.compile(r"^requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded", re.M)
_REQUEST_TIME = re.compile(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)", re.MULTILINE)


def parse_duration(text: str) -> float:
    """Seconds in one of h2load's durations: ``873us``, ``9.47ms``, ``1.23s``."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not an h2load duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_h2load(output: str) -> LoadResult:
    finished = _FINISHED.search(output)
    requests = _REQUESTS.search(output)
    if finished is None or requests is None:
        raise LoadError("h2load printed no statistics: " + _tail(output))
    elapsed = parse_duration(finished[1])
    request_time = _REQUEST_TIME.search(output)
    latency = None
    if request_time is not None and int(requests[2]) > 0:
        latency = parse_duration(request_time[3]) * 1e3
        # On runs of a few milliseconds h2load now and then prints a duration of a few
        # microseconds; the run lasted at least as long as its slowest request.
        elapsed = max(elapsed, parse_duration(request_time[2]))
    return LoadResult(
        requested=int(requests[1]),
        succeeded=int(requests[2]),
        elapsed_s=elapsed,
        latency_mean_ms=latency,
    )


def run_load(
    workload: Workload,
    port: int,
    *,
    upload_file: Path,
    prefix: list[str],
    timeout: float,
    requests: int | None = None,
) -> LoadResult:
    """Drive the server on ``port`` with ``workload`` (or ``requests`` of it, for a warm-up)."""
    if requests is not None:
        workload = workload.scaled(requests)
    if workload.protocol == "ws":
        return run_ws_client(workload, port, prefix=prefix, timeout=timeout)
    return run_h2load(workload, port, upload_file=upload_file, prefix=prefix, timeout=timeout)


def run_h2load(
    workload: Workload, port: int, *, upload_file: Path, prefix: list[str], timeout: float
) -> LoadResult:
    scheme = "https" if workload.tls else "http"
    argv = [*prefix, "h2load", *workload.load_args()]
    if workload.upload:
        argv += ["-d", str(upload_file)]
    argv.append(f"{scheme}://127.0.0.1:{port}{workload.path}")
    done, cpu, wall = _run(argv, timeout, "h2load")
    return replace(parse_h2load(done.stdout + done.stderr), cpu_s=cpu, cpu_window_s=wall)


def run_ws_client(
    workload: Workload,
    port: int,
    *,
    prefix: list[str],
    timeout: float,
    extra_args: Sequence[str] = (),
) -> LoadResult:
    argv = [
        *prefix, sys.executable, str(WS_CLIENT), "--port", str(port), "--path", workload.path,
        *workload.load_args(), "--timeout", str(timeout), *extra_args,
    ]  # fmt: skip
    # The client keeps to its own timeout; the margin is for its start and close handshakes.
    done, _, _ = _run(argv, timeout + 15, "the WebSocket client")
    try:
        out = json.loads(done.stdout)
    except ValueError:
        raise LoadError(
            "the WebSocket client printed no statistics: " + _tail(done.stdout + done.stderr)
        ) from None
    errors = tuple(out["errors"])
    if out["error_count"] > len(errors):
        errors += (f"{out['error_count'] - len(errors)} more connections failed",)
    return LoadResult(
        requested=out["requested"],
        succeeded=out["succeeded"],
        elapsed_s=out["elapsed_s"],
        latency_mean_ms=out["latency_mean_ms"],
        # The client's own count, of the measured part only: not its start or handshakes.
        cpu_s=out["cpu_s"],
        errors=errors,
    )


def _run(
    argv: list[str], timeout: float, name: str
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run a generator: what it printed, the CPU seconds it took and the seconds it ran."""
    # The harness waits for no other child meanwhile, so the difference is the generator's.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LoadError(f"{name} did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise LoadError(f"{name} could not run: {exc}") from None
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, cpu, wall


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(nothing)"
