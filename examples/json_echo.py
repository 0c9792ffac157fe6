"""JSON echo: every request is answered with its own headers and body, as JSON.

    python examples/json_echo.py [--port 8080]
    curl --http2-prior-knowledge -d 'hello' http://127.0.0.1:8080/anything

The classic asyncio + h2 server example, in trio_h2: it answers every request with
``{"headers": {...}, "body": "..."}`` (``application/json``).  What that example
does by hand, the server does here: request data is acknowledged as the handler
reads it (an uploader can go no faster than the handler), and the response waits
for the client's flow-control window, so a 10 MB body goes through a 64 KiB window
without being buffered twice or overrunning anyone.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial

import trio

import trio_h2

#: Largest request body echoed; a larger one is answered with 413.
MAX_BODY = 32 * 1024 * 1024


async def handler(stream: trio_h2.Stream) -> None:
    headers: dict[str, str] = {
        ":method": stream.method,
        ":scheme": stream.scheme,
        ":authority": stream.authority,
        ":path": stream.path,
    }
    for name, value in stream.headers:
        # A repeated field becomes one, its values joined (RFC 9110 §5.3).
        separator = "; " if name == "cookie" else ", "
        headers[name] = f"{headers[name]}{separator}{value}" if name in headers else value
    body = await stream.read(limit=MAX_BODY)
    data = json.dumps(
        {"headers": headers, "body": body.decode("utf-8", "replace")}, indent=4
    ).encode("utf-8")
    await stream.respond(200, [("content-type", "application/json")], data)


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(trio_h2.serve, handler, "127.0.0.1", port))
        print(f"Serving on http://{address.host}:{address.port}/", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Echo each request back as JSON.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    args = parser.parse_args()
    try:
        trio.run(main, args.port)
    except* KeyboardInterrupt:
        # serve() has shut down gracefully by now; the KeyboardInterrupt comes
        # wrapped in the nursery's exception group, which except* looks inside.
        print("Stopped.", file=sys.stderr)
