"""103 Early Hints: tell the client what to preload while the page is still being made.

    python examples/early_hints.py [--port 8080]
    nghttp -v http://127.0.0.1:8080/      # a :status 103 HEADERS, then the 200
    curl -v --http2-prior-knowledge http://127.0.0.1:8080/

The 103 goes out at once; the final response follows when the (simulated) slow
work is done.  Any number of 1xx responses may precede the final one.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import trio

import trio_h2

HINTS = [
    ("link", "</style.css>; rel=preload; as=style"),
    ("link", "</app.js>; rel=preload; as=script"),
]

PAGE = b"""\
<!doctype html>
<html>
<head><link rel="stylesheet" href="/style.css"><script src="/app.js" defer></script></head>
<body><h1>Hinted</h1></body>
</html>
"""


async def handler(stream: trio_h2.Stream) -> None:
    if stream.path != "/":
        await stream.respond(404, [("content-type", "text/plain")], b"Not Found\n")
        return
    await stream.send_informational(103, HINTS)
    await trio.sleep(0.2)  # the slow part: a database query, a template to render
    await stream.respond(200, [("content-type", "text/html; charset=utf-8"), *HINTS], PAGE)


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(trio_h2.serve, handler, "127.0.0.1", port))
        print(f"Serving on http://{address.host}:{address.port}/", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="103 Early Hints before the page.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    args = parser.parse_args()
    try:
        trio.run(main, args.port)
    except* KeyboardInterrupt:
        # serve() has shut down gracefully by now; the KeyboardInterrupt comes
        # wrapped in the nursery's exception group, which except* looks inside.
        print("Stopped.", file=sys.stderr)
