"""Hello, world over HTTP/2 (h2c, prior knowledge).

python examples/hello.py [--port 8080]
curl --http2-prior-knowledge http://127.0.0.1:8080/
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import trio

import trio_h2


async def hello(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain; charset=utf-8")], "Hello, world!\n")


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(trio_h2.serve, hello, "127.0.0.1", port))
        print(f"Serving on http://{address.host}:{address.port}/", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Hello, world over HTTP/2.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    args = parser.parse_args()
    try:
        trio.run(main, args.port)
    except* KeyboardInterrupt:
        # serve() has shut down gracefully by now; the KeyboardInterrupt comes
        # wrapped in the nursery's exception group, which except* looks inside.
        print("Stopped.", file=sys.stderr)
