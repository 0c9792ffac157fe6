"""HTTP/1.1 peers that flood or stall: pipelined requests from a client that never
reads, bodies that never finish, and crowds of idle keep-alive connections.  Memory,
work and time stay bounded by Config."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import pytest
import trio
import trio.testing

import trio_h2
import trio_h2.testing
from tests.support import MemoryListener
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


# ------------------------------------------------------------------ slow bodies


async def read_whole_body(stream: trio_h2.Stream) -> None:
    body = await stream.read()
    await stream.respond(200, [("content-type", "text/plain")], b"%d" % len(body))


async def until_closed(client: trio.abc.Stream) -> bytes:
    data = b""
    while chunk := await client.receive_some():
        data += chunk
    return data


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_that_stops_coming_gets_408_at_body_timeout(
    autojump_clock: trio.testing.MockClock, framing: str
) -> None:
    config = trio_h2.Config(body_timeout=7, date_header=False)
    client, server_side = trio.testing.memory_stream_pair()
    server = Server(read_whole_body, config, None)
    if framing == "chunked":
        head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        part = b"a\r\n0123456789\r\n"
    else:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        part = b"0123456789"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        await client.send_all(head + part)
        # Each piece that comes in time starts the wait afresh.
        for _ in range(3):
            await trio.sleep(6)
            await client.send_all(part)
        start = trio.current_time()
        data = await until_closed(client)
        assert trio.current_time() - start == pytest.approx(7)
        nursery.cancel_scope.cancel()
    assert data == (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
        b"content-length: 16\r\nserver: trio_h2\r\nconnection: close\r\n\r\n"
        b"Request Timeout\n"
    )


async def test_a_handler_that_does_not_read_is_not_timed_out_by_the_body(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The bound is on the peer while the handler waits for it, not on the handler.
    async def slow_handler(stream: trio_h2.Stream) -> None:
        await trio.sleep(100)
        await read_whole_body(stream)

    config = trio_h2.Config(body_timeout=7, date_header=False)
    client, server_side = trio.testing.memory_stream_pair()
    server = Server(slow_handler, config, None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        await client.send_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        )
        data = await until_closed(client)
        nursery.cancel_scope.cancel()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\n3")


async def test_a_stalled_body_over_http2_is_answered_408_and_the_connection_lives(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(body_timeout=7)
    async with trio_h2.testing.connect(read_whole_body, config=config) as client:
        stream_id = await client.start_request(
            "POST", "/", [("content-length", "100")], end_stream=False
        )
        await client.send_data(stream_id, b"0123456789", end_stream=False)
        start = trio.current_time()
        response = await client.wait_response(stream_id)
        assert trio.current_time() - start == pytest.approx(7)
        assert response.status == 408
        assert response.body == b"Request Timeout\n"
        assert (await client.post("/", body=b"abc")).body == b"3"


# ------------------------------------------------------- idle keep-alive crowds


async def keep_alive_client(listener: MemoryListener) -> trio.abc.Stream:
    """A connection that has had one answer and stays open, idle."""
    stream = await listener.connect()
    await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while not data.endswith(b"\r\n\r\n5"):
        data += await stream.receive_some()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    return stream


async def five(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], b"5")


async def test_the_longest_idle_keep_alive_connection_makes_room_for_a_new_one(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2")
    server = Server(five, trio_h2.Config(max_connections=3, keep_alive_timeout=60), None)
    listener = MemoryListener()
    async with trio.open_nursery() as nursery, AsyncExitStack():
        nursery.start_soon(server._accept_loop, listener, nursery)
        crowd = []
        for _ in range(3):
            crowd.append(await keep_alive_client(listener))
            await trio.sleep(1)
        newcomer = await keep_alive_client(listener)
        # The oldest is closed, with nothing more said; the others stay open.
        assert await crowd[0].receive_some() == b""
        for survivor in (crowd[1], crowd[2], newcomer):
            await survivor.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await survivor.receive_some()).startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(server._slots) == 3
        nursery.cancel_scope.cancel()
    reclaimed = [r.getMessage() for r in caplog.records if "to make room" in r.getMessage()]
    assert reclaimed == [
        "closing the connection from None (idle for 3.0 s) to make room for a new one"
    ]


async def test_a_crowd_of_idle_keep_alive_connections_is_bounded_then_timed_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(max_connections=20, keep_alive_timeout=5)
    server = Server(five, config, None)
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server._accept_loop, listener, nursery)
        crowd = [await keep_alive_client(listener) for _ in range(200)]
        # Never more open than the limit, and each newcomer was served.
        assert len(server._slots) == 20
        start = trio.current_time()
        for stream in crowd[-20:]:
            assert await stream.receive_some() == b""
        assert trio.current_time() - start == pytest.approx(5)
        await trio.testing.wait_all_tasks_blocked()
        assert len(server._slots) == 0
        nursery.cancel_scope.cancel()
