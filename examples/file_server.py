"""A static file server: one directory tree over HTTP/2.

    python examples/file_server.py [--port 8080] [--directory .]
    curl --http2-prior-knowledge http://127.0.0.1:8080/
    nghttp -v http://127.0.0.1:8080/some/file.txt

It is ``trio_h2.serve_directory``, wrapped in a handler of its own that logs each
request to stderr.  Files are streamed from a worker thread in chunks, never read
whole; nothing outside the directory is served (``..`` and symbolic links that point
out get 404).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from functools import partial

import trio

import trio_h2


def make_handler(directory: str) -> Callable[[trio_h2.Stream], Awaitable[None]]:
    files = trio_h2.serve_directory(directory)

    async def handler(stream: trio_h2.Stream) -> None:
        await files(stream)
        print(f"{stream.method} {stream.path} -> {stream.status}", file=sys.stderr)

    return handler


async def main(port: int, directory: str) -> None:
    async with trio.open_nursery() as nursery:
        serve = partial(trio_h2.serve, make_handler(directory), "127.0.0.1", port)
        address = await nursery.start(serve)
        print(
            f"Serving {os.path.abspath(directory)} on http://{address.host}:{address.port}/",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve a directory over HTTP/2.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--directory", default=".", help="what to serve (default: .)")
    args = parser.parse_args()
    try:
        trio.run(main, args.port, args.directory)
    except* KeyboardInterrupt:
        # serve() has shut down gracefully by now; the KeyboardInterrupt comes
        # wrapped in the nursery's exception group, which except* looks inside.
        print("Stopped.", file=sys.stderr)
