"""The cost of one access line, as the command line sets the access log up.

python3 benchmarks/access_log.py [--format default|common|combined|json] [--to FILE]

A real request is served in memory once, for a real finished Stream; then the access
line for it is written over and over, through the same logging set-up that
``python -m trio_h2`` makes (its Formatter, its handler, a line-buffered file), and
the best of many batches is reported as CPU time per line.  CPU time rather than
wall time, so that other work on the machine moves the figure less.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import trio

import trio_h2
from trio_h2 import _logging
from trio_h2.server.access import log_exchange
from trio_h2.testing import connect


async def finished_stream() -> trio_h2.Stream:
    """A Stream whose exchange is over, as the server has it when it logs."""
    served: list[trio_h2.Stream] = []

    async def handler(stream: trio_h2.Stream) -> None:
        served.append(stream)
        await stream.respond(200, [("content-type", "text/plain")], b"Hello, world!")

    async with connect(handler) as client:
        await client.get("/index.html?page=2", [("user-agent", "curl/8.5.0")])
    return served[0]


async def measure(lines: int, batches: int) -> float:
    stream = await finished_stream()
    address = ("127.0.0.1", 50000)
    best = float("inf")
    for _ in range(batches):
        started = time.process_time()
        for _ in range(lines):
            log_exchange(stream, address)
        best = min(best, (time.process_time() - started) / lines)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--format", default="default", help="an --access-log-format value")
    parser.add_argument("--to", help="the file to write to (default: a temporary file)")
    parser.add_argument("--lines", type=int, default=10_000, help="lines per batch")
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        target = args.to or str(Path(directory) / "access.log")
        _logging.configure("info", access_log=target, access_format=args.format)
        best = trio.run(measure, args.lines, args.batches)
        logging.getLogger("trio_h2.access").handlers[0].close()
    print(f"access line, {args.format} format, to a file: {best * 1e6:.2f} µs of CPU per line")


if __name__ == "__main__":
    main()
