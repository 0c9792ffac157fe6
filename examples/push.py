"""Server push: the page's stylesheet is pushed along with the page.

    python examples/push.py [--port 8080]
    nghttp -v http://127.0.0.1:8080/      # shows PUSH_PROMISE for /style.css

A client that disabled push (SETTINGS_ENABLE_PUSH=0), or has no room for another
stream, simply gets the page; it asks for /style.css itself when it needs it.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import trio

import trio_h2

STYLE = b"""\
body { font-family: sans-serif; margin: 3em; color: #222; }
h1 { color: rebeccapurple; }
"""

PAGE = b"""\
<!doctype html>
<html>
<head><title>Pushed</title><link rel="stylesheet" href="/style.css"></head>
<body><h1>This page's stylesheet came with it</h1></body>
</html>
"""

CSS_HEADERS = [("content-type", "text/css"), ("cache-control", "max-age=3600")]


async def handler(stream: trio_h2.Stream) -> None:
    if stream.path == "/":
        # Push before responding: the PUSH_PROMISE then reaches the client ahead of
        # the HTML that refers to /style.css, so it never asks for it twice.
        await stream.push(
            "/style.css",
            request_headers=[("accept", "text/css")],
            headers=CSS_HEADERS,
            body=STYLE,
        )
        await stream.respond(200, [("content-type", "text/html; charset=utf-8")], PAGE)
    elif stream.path == "/style.css":
        await stream.respond(200, CSS_HEADERS, STYLE)
    else:
        await stream.respond(404, [("content-type", "text/plain")], b"Not Found\n")


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(trio_h2.serve, handler, "127.0.0.1", port))
        print(f"Serving on http://{address.host}:{address.port}/", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A page served with its stylesheet pushed.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    args = parser.parse_args()
    try:
        trio.run(main, args.port)
    except* KeyboardInterrupt:
        # serve() has shut down gracefully by now; the KeyboardInterrupt comes
        # wrapped in the nursery's exception group, which except* looks inside.
        print("Stopped.", file=sys.stderr)
