"""Server-sent events: one event a second, made by a producer task, streamed as it comes.

    python examples/sse.py [--port 8080] [--interval 1.0]
    curl -N --http2-prior-knowledge http://127.0.0.1:8080/events

The producer runs in the handler's nursery and hands each event to the response
through a memory channel: the response sends what arrives, when it arrives, and
waits for flow-control credit when the client reads slowly (the channel has no
buffer, so the producer waits too).  When the client goes away, the stream is
reset and the handler, producer included, is cancelled.  For a HEAD request the
response is headers only; the channel is closed and the producer stops.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from functools import partial

import trio

import trio_h2

SSE_HEADERS = [
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
]


async def produce_events(send: trio.MemorySendChannel[bytes], interval: float) -> None:
    async with send:
        number = 0
        try:
            while True:
                number += 1
                now = datetime.now(UTC).isoformat(timespec="seconds")
                await send.send(f"id: {number}\ndata: tick {number} at {now}\n\n".encode())
                await trio.sleep(interval)
        except trio.BrokenResourceError:
            pass  # the response is over: nobody reads any more


async def handler(stream: trio_h2.Stream, interval: float) -> None:
    if stream.path != "/events":
        await stream.respond(404, [("content-type", "text/plain")], b"Try /events\n")
        return
    send, receive = trio.open_memory_channel[bytes](0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce_events, send, interval)
        await stream.respond(200, SSE_HEADERS, receive)


async def main(port: int, interval: float) -> None:
    async with trio.open_nursery() as nursery:
        serve = partial(trio_h2.serve, partial(handler, interval=interval), "127.0.0.1", port)
        address = await nursery.start(serve)
        print(f"Serving on http://{address.host}:{address.port}/events", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Server-sent events over HTTP/2.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between events")
    args = parser.parse_args()
    try:
        trio.run(main, args.port, args.interval)
    except* KeyboardInterrupt:
        # serve() has shut down gracefully by now; the KeyboardInterrupt comes
        # wrapped in the nursery's exception group, which except* looks inside.
        print("Stopped.", file=sys.stderr)
