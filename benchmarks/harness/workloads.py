"""The workloads, and running h2load against a server and reading what it printed."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

HELLO_PATH = "/hello"
DOWNLOAD_PATH = "/1m"
UPLOAD_PATH = "/upload"
ONE_MIB = 1_048_576


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    path: str
    requests: int
    clients: int
    streams: int = 1
    upload: bool = False
    tls: bool = False
    #: "req/s", or "MiB/s" where each request moves 1 MiB.
    unit: str = "req/s"

    def scaled(self, requests: int) -> Workload:
        return replace(self, requests=max(requests, self.clients))

    def h2load_args(self) -> list[str]:
        return ["-n", str(self.requests), "-c", str(self.clients), "-m", str(self.streams)]


WORKLOADS: tuple[Workload, ...] = (
    Workload("W1", "13 B GET, 10 conns x 10 streams", HELLO_PATH, 20_000, 10, 10),
    Workload("W2", "13 B GET, 100 conns x 1 stream", HELLO_PATH, 5_000, 100, 1),
    Workload("W3", "1 MiB GET, 4 conns x 4 streams", DOWNLOAD_PATH, 500, 4, 4, unit="MiB/s"),
    Workload("W4", "1 MiB POST, 4 conns", UPLOAD_PATH, 300, 4, 1, upload=True, unit="MiB/s"),
    Workload("W5", "W1 over TLS", HELLO_PATH, 20_000, 10, 10, tls=True),
)

#: Request counts of --smoke: enough to exercise every path, too few to time anything.
SMOKE_REQUESTS = {"W1": 300, "W2": 200, "W3": 16, "W4": 12, "W5": 300}


def workloads_for(mode: str) -> list[Workload]:
    if mode == "smoke":
        return [w.scaled(SMOKE_REQUESTS[w.id]) for w in WORKLOADS]
    if mode == "quick":
        return [w.scaled(w.requests // 5) for w in WORKLOADS]
    return list(WORKLOADS)


@dataclass(frozen=True)
class H2loadResult:
    requested: int
    succeeded: int
    elapsed_s: float
    latency_mean_ms: float | None

    @property
    def failures(self) -> int:
        return self.requested - self.succeeded

    @property
    def rate(self) -> float:
        """Successful requests per second; for the 1 MiB workloads that is also MiB/s."""
        return self.succeeded / self.elapsed_s if self.elapsed_s > 0 else 0.0


class H2loadError(Exception):
    """h2load could not run, or printed no statistics."""


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


def parse_h2load(output: str) -> H2loadResult:
    finished = _FINISHED.search(output)
    requests = _REQUESTS.search(output)
    if finished is None or requests is None:
        raise H2loadError("h2load printed no statistics: " + _tail(output))
    elapsed = parse_duration(finished[1])
    request_time = _REQUEST_TIME.search(output)
    latency = None
    if request_time is not None and int(requests[2]) > 0:
        latency = parse_duration(request_time[3]) * 1e3
        # On runs of a few milliseconds h2load now and then prints a duration of a few
        # microseconds; the run lasted at least as long as its slowest request.
        elapsed = max(elapsed, parse_duration(request_time[2]))
    return H2loadResult(
        requested=int(requests[1]),
        succeeded=int(requests[2]),
        elapsed_s=elapsed,
        latency_mean_ms=latency,
    )


def run_h2load(
    workload: Workload,
    port: int,
    *,
    upload_file: Path,
    prefix: list[str],
    timeout: float,
    requests: int | None = None,
) -> H2loadResult:
    """Drive the server on ``port`` with ``workload`` (or ``requests`` of it, for a warm-up)."""
    if requests is not None:
        workload = workload.scaled(requests)
    scheme = "https" if workload.tls else "http"
    argv = [*prefix, "h2load", *workload.h2load_args()]
    if workload.upload:
        argv += ["-d", str(upload_file)]
    argv.append(f"{scheme}://127.0.0.1:{port}{workload.path}")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise H2loadError(f"h2load did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise H2loadError(f"h2load could not run: {exc}") from None
    return parse_h2load(done.stdout + done.stderr)


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(nothing)"
