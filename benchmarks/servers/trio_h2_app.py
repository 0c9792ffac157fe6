"""The benchmark's trio_h2 server: a native handler on the public API.

``/1m`` answers 1 MiB, a POST reads the whole request body and answers its length, a
WebSocket at ``/ws`` echoes every message, anything else answers the 13 bytes
``Hello, world!`` -- the same as ``asgi_app.py``.  It serves HTTP/2 and HTTP/1.1 on one port.

    python trio_h2_app.py --port 8080 [--certfile cert.pem --keyfile key.pem]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import ssl

import trio

import trio_h2

HELLO = b"Hello, world!"
ONE_MIB = b"x" * 1_048_576
WS_PATH = "/ws"


async def handler(stream: trio_h2.Stream) -> None:
    # The path first: an older trio_h2 (``--base``) without WebSockets still serves the rest.
    if stream.path == WS_PATH and stream.is_websocket:
        # Imported here, as trio_h2 does: the HTTP rows' memory stays without it.
        import trio_websocket

        ws = await stream.accept_websocket()
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            while True:
                await ws.send_message(await ws.get_message())
    elif stream.path == "/1m":
        await stream.respond(200, [("content-type", "application/octet-stream")], ONE_MIB)
    elif stream.method == "POST":
        size = 0
        async for chunk in stream:
            size += len(chunk)
        await stream.respond(200, [("content-type", "text/plain")], str(size))
    else:
        await stream.respond(200, [("content-type", "text/plain")], HELLO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--certfile", help="PEM certificate chain: serve TLS with ALPN h2")
    parser.add_argument("--keyfile", help="PEM private key of --certfile")
    args = parser.parse_args()

    ssl_context = None
    if args.certfile:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.certfile, args.keyfile)
        ssl_context.set_alpn_protocols(["h2"])
    serve = functools.partial(
        trio_h2.serve, handler, args.host, args.port, ssl_context=ssl_context
    )
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(serve)


if __name__ == "__main__":
    main()
