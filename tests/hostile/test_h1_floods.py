"""HTTP/1.1 peers that flood: pipelined requests from a client that never reads, and a
crowd of idle keep-alive connections.  Memory and work stay bounded by Config."""

from __future__ import annotations

import trio
import trio.testing

import trio_h2
from trio_h2.server.listen import Server


async def test_pipelining_without_reading_stops_the_server_reading() -> None:
    handled = 0

    async def handler(stream: trio_h2.Stream) -> None:
        nonlocal handled
        handled += 1
        await stream.respond(200, [("content-type", "text/plain")], b"x" * 1000)

    # Lockstep: nothing the server writes goes anywhere until the client reads,
    # which it never does.
    client, server_side = trio.testing.lockstep_stream_pair()
    config = trio_h2.Config(max_outbound_buffer=16_384)
    server = Server(handler, config, None)
    sent = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))

        async def flood() -> None:
            nonlocal sent
            while True:
                await client.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 100)
                sent += 100

        nursery.start_soon(flood)
        await trio.testing.wait_all_tasks_blocked()
        # The writer holds at most max_outbound_buffer (plus one response); then the
        # reader stops, and so does the client's sending.
        assert handled <= config.max_outbound_buffer // 1000 + 2
        assert sent <= 200
        nursery.cancel_scope.cancel()


async def test_a_client_that_reads_gets_every_pipelined_answer_in_order() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain")], stream.path.encode())

    client, server_side = trio.testing.memory_stream_pair()
    server = Server(handler, trio_h2.Config(date_header=False), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(500))
        await client.send_all(
            requests + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := await client.receive_some():
            data += chunk
        nursery.cancel_scope.cancel()
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in data.split(b"HTTP/1.1 200 OK\r\n")[1:]]
    assert bodies == [b"/%d" % i for i in range(500)] + [b"/last"]
