"""The HTTP/1.1 connection driver, in memory and byte for byte: the same handlers as over
HTTP/2, keep-alive, pipelining, bodies, 100-continue, timeouts and closes."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import h2.config
import h2.connection
import h2.events
import hyperframe.frame
import pytest
import trio
import trio.testing

import trio_h2
import trio_h2.testing
from trio_h2.server.listen import Server


async def app(stream: trio_h2.Stream) -> None:
    path = stream.path
    if path == "/echo":
        body = await stream.read()
        await stream.respond(200, [("content-type", "text/plain")], body)
    elif path == "/info":
        text = f"{stream.http_version} {stream.method} {stream.authority} {stream.scheme}"
        await stream.respond(200, [("content-type", "text/plain")], text)
    elif path == "/stream":
        async with stream.start_response(200, [("content-type", "text/plain")]) as body:
            body.set_trailers([("x-sum", "6")])
            for part in (b"one", b"two"):
                await body.send(part)
    elif path == "/early":
        await stream.send_informational(103, [("link", "</s.css>; rel=preload")])
        await stream.respond(204)
    elif path == "/reset":
        async with stream.start_response(200, [("content-length", "10")]) as body:
            await body.send(b"part")
            await stream.reset()
    elif path == "/ignore-body":
        await stream.respond(200, [("content-type", "text/plain")], b"ignored")
    elif path == "/push":
        pushed = await stream.push("/x", body=b"x")
        await stream.respond(200, body=repr(pushed))
    else:
        await stream.respond(404, [("content-type", "text/plain")], b"not here\n")


class Peer:
    """The client's end: what it sends, and what the server has sent so far."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.received = bytearray()
        self.closed = trio.Event()

    async def send_all(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _read(self) -> None:
        try:
            while chunk := await self.stream.receive_some():
                self.received += chunk
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        self.closed.set()

    async def take(self) -> bytes:
        """What arrived once every task is blocked (the server has said all it will)."""
        await trio.testing.wait_all_tasks_blocked()
        data = bytes(self.received)
        self.received.clear()
        return data

    async def until_closed(self) -> bytes:
        await self.closed.wait()
        return await self.take()


@asynccontextmanager
async def connection(
    handler: trio_h2.Handler = app, config: trio_h2.Config | None = None
) -> AsyncIterator[Peer]:
    client, server_side = trio.testing.memory_stream_pair()
    server = Server(handler, config or trio_h2.Config(date_header=False), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1234))
        peer = Peer(client)
        nursery.start_soon(peer._read)
        yield peer
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_a_request_gets_its_answer_and_the_connection_stays_open() -> None:
    async with connection() as client:
        await client.send_all(b"GET /info HTTP/1.1\r\nHost: example.test\r\n\r\n")
        body = b"1.1 GET example.test http"
        assert await client.take() == (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 25\r\n"
            b"server: trio_h2\r\n\r\n" + body
        )
        await client.send_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.take()).startswith(b"HTTP/1.1 404 Not Found\r\n")


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with connection() as client:
        await client.send_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\nsecond\r\n0\r\n\r\n"
            b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = await client.until_closed()
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert data.index(b"first") < data.index(b"second") < data.index(b"1.1 GET x http")
    assert data.rstrip().endswith(b"1.1 GET x http")
    assert b"Connection: close\r\n" in data.split(b"second")[1]


async def test_a_streamed_response_is_chunked_and_trailers_need_te() -> None:
    async with connection() as client:
        await client.send_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
        with_trailers = await client.take()
        await client.send_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        without = await client.take()
    assert with_trailers.endswith(b"\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\nx-sum: 6\r\n\r\n")
    assert b"Transfer-Encoding: chunked\r\n" in with_trailers
    assert without.endswith(b"\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")


async def test_100_continue_waits_for_the_handler_to_read() -> None:
    reading = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        await reading.wait()
        await stream.respond(200, body=await stream.read())

    async with connection(handler) as client:
        await client.send_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        assert await client.take() == b""  # not before the handler reads
        reading.set()
        assert await client.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
        await client.send_all(b"body")
        assert (await client.take()).endswith(b"\r\n\r\nbody")


async def test_a_response_without_reading_the_body_gets_no_100_and_closes() -> None:
    async with connection() as client:
        await client.send_all(
            b"POST /ignore-body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        data = await client.until_closed()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"100 Continue" not in data
    assert b"Connection: close\r\n" in data or b"connection: close\r\n" in data


async def test_http10_informational_and_push_degrade_politely() -> None:
    async with connection() as client:
        await client.send_all(b"GET /early HTTP/1.1\r\nHost: x\r\n\r\n")
        early = await client.take()
        await client.send_all(b"GET /push HTTP/1.1\r\nHost: x\r\n\r\n")
        pushed = await client.take()
        await client.send_all(b"GET /info HTTP/1.0\r\n\r\n")
        old = await client.until_closed()
    assert early.startswith(b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n")
    assert b"HTTP/1.1 204 No Content\r\n" in early
    assert pushed.endswith(b"\r\n\r\nNone")
    assert old.startswith(b"HTTP/1.1 200 OK\r\n")
    assert old.endswith(b"1.0 GET  http")


async def test_a_reset_closes_the_connection_and_the_body_is_visibly_short() -> None:
    async with connection() as client:
        await client.send_all(b"GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await client.until_closed()
    assert data.startswith(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n")
    assert data.endswith(b"\r\n\r\npart")  # 4 of 10 bytes, then the close


async def test_smuggling_is_refused_with_400_and_a_close() -> None:
    async with connection() as client:
        await client.send_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /info HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        data = await client.until_closed()
    assert data == (
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n"
        b"connection: close\r\n\r\nBad Request\n"
    )


async def test_a_slow_head_gets_408_and_an_idle_connection_is_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(header_timeout=3, keep_alive_timeout=2, date_header=False)
    async with connection(config=config) as client:
        await client.send_all(b"GET /info HTTP/1.1\r\nHost: x\r\n")
        start = trio.current_time()
        data = await client.until_closed()
        assert trio.current_time() - start == pytest.approx(3)
        assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    async with connection(config=config) as client:
        await client.send_all(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        start = trio.current_time()
        data = await client.until_closed()
        assert trio.current_time() - start == pytest.approx(2)
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_max_requests_per_connection_closes_after_the_last() -> None:
    config = trio_h2.Config(max_requests_per_connection=2, date_header=False)
    async with connection(config=config) as client:
        await client.send_all(
            b"GET /info HTTP/1.1\r\nHost: x\r\n\r\nGET /info HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        data = await client.until_closed()
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.split(b"HTTP/1.1 200 OK")[2].lower().count(b"connection: close") == 1


async def test_a_body_is_read_as_the_handler_consumes_it() -> None:
    # The handler takes one chunk and waits: the server stops reading the socket
    # (the client's send blocks once its buffer and ours are full).
    taken = trio.Event()
    release = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.receive_some()
        taken.set()
        await release.wait()
        size = 0
        async for chunk in stream:
            size += len(chunk)
        await stream.respond(200, body=str(size))

    client, server_side = trio.testing.lockstep_stream_pair()
    server = Server(handler, trio_h2.Config(date_header=False), None)
    total = 8 * 1_048_576
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n".encode()
        sent = 0

        async def upload() -> None:
            nonlocal sent
            await client.send_all(head)
            chunk = b"u" * 65_536
            while sent < total:
                await client.send_all(chunk)
                sent += len(chunk)

        nursery.start_soon(upload)
        await taken.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert sent < 2 * 1_048_576 + 65_536  # bounded by what the server buffers
        release.set()
        data = b""
        while not data.endswith(str(total - 65_536).encode()) and not data.endswith(
            str(total).encode()
        ):
            data += await client.receive_some()
        nursery.cancel_scope.cancel()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def h2c_upgrade() -> tuple[h2.connection.H2Connection, bytes]:
    """An h2 client that asks to upgrade, and its HTTP/1.1 request (for /info) that asks."""
    h2_client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    settings = h2_client.initiate_upgrade_connection()
    request = (
        b"GET /info HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n"
    )
    return h2_client, request


async def test_h2c_upgrade_answers_stream_1_in_http2_and_goes_on() -> None:
    h2_client, upgrade = h2c_upgrade()
    async with connection() as client:
        await client.send_all(upgrade)
        data = await client.take()
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"Upgrade: h2c" in head or b"upgrade: h2c" in head
        await client.send_all(h2_client.data_to_send())  # the preface, after the 101
        events = h2_client.receive_data(rest + await client.take())
        responses = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
        assert [(e.stream_id, dict(e.headers)[b":status"]) for e in responses] == [(1, b"200")]
        body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
        assert body == b"2 GET example.test http"
        # The connection is HTTP/2 now: the next request is stream 3.
        h2_client.send_headers(
            3,
            [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/info")],
            end_stream=True,
        )
        await client.send_all(h2_client.data_to_send())
        events = h2_client.receive_data(await client.take())
        body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
        assert body == b"2 GET a http"


async def test_an_h2c_upgrade_with_a_body_is_answered_in_http11() -> None:
    async with connection() as client:
        await client.send_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nContent-Length: 4\r\n\r\nbody"
        )
        data = await client.take()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nbody")


async def test_the_request_target_in_parts_over_both_protocols() -> None:
    seen: list[tuple[str, str, str, dict[str, list[str]]]] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append((stream.path, stream.url_path, stream.query_string, stream.query))
        await stream.respond(204)

    async with connection(handler) as client:
        await client.send_all(b"GET /a%2Fb/c?x=1&y=&x=2&z HTTP/1.1\r\nHost: h\r\n\r\n")
        assert (await client.take()).startswith(b"HTTP/1.1 204 No Content\r\n")
    async with trio_h2.testing.connect(handler) as h2_client:
        assert (await h2_client.get("/plain")).status == 204
    assert seen == [
        (
            "/a%2Fb/c?x=1&y=&x=2&z",
            "/a%2Fb/c",
            "x=1&y=&x=2&z",
            {"x": ["1", "2"], "y": [""], "z": [""]},
        ),
        ("/plain", "/plain", "", {}),
    ]


async def test_a_client_that_leaves_before_its_answer_cancels_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    started = trio.Event()
    cancelled = trio.Event()

    async def long_poll(stream: trio_h2.Stream) -> None:
        started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.set()
            raise

    async with connection(long_poll) as client:
        await client.send_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        await started.wait()
        await client.stream.send_stream.aclose()  # the client's end of file
        with trio.fail_after(5):
            await cancelled.wait()
            await client.closed.wait()
        assert await client.take() == b""
    [line] = [r.getMessage() for r in caplog.records if r.name == "trio_h2.access"]
    assert re.fullmatch(
        r'127\.0\.0\.1 "GET /wait HTTP/1\.1" - 0 [0-9.]+ms "-" reset by peer \(CANCEL\)', line
    ), line


async def test_head_of_a_streamed_response_states_no_length() -> None:
    async with connection() as client:
        await client.send_all(b"HEAD /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await client.until_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    # What a GET gets is chunked, of a length not known in advance: no length is said.
    assert b"content-length" not in head.lower()
    assert body == b""


@asynccontextmanager
async def shut_down_server(config: trio_h2.Config) -> AsyncIterator[tuple[Server, Peer]]:
    """A connection to a server, whose shutdown the test starts (``server.shutdown()``)."""
    client, server_side = trio.testing.memory_stream_pair()
    server = Server(app, config, None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1234))
        peer = Peer(client)
        nursery.start_soon(peer._read)
        await trio.testing.wait_all_tasks_blocked()
        yield server, peer
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_shutdown_answers_the_first_request_of_a_fresh_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(date_header=False)
    # Its client cannot know the server is going: its request may be on the wire.
    async with shut_down_server(config) as (server, client), trio.open_nursery() as nursery:
        nursery.start_soon(server.shutdown)
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(0.5)
        await client.send_all(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await client.until_closed()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"connection: close\r\n" in data.lower()
    # The same for a head partly read when the shutdown comes.
    async with shut_down_server(config) as (server, client), trio.open_nursery() as nursery:
        await client.send_all(b"GET /info HTTP/1.1\r\n")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(server.shutdown)
        await trio.testing.wait_all_tasks_blocked()
        await client.send_all(b"Host: x\r\n\r\n")
        data = await client.until_closed()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_shutdown_closes_a_keep_alive_connection_between_requests() -> None:
    config = trio_h2.Config(date_header=False)
    async with shut_down_server(config) as (server, client), trio.open_nursery() as nursery:
        await client.send_all(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.take()).startswith(b"HTTP/1.1 200 OK\r\n")
        # Idle between requests: a client may retry on another (RFC 9112 §9.3.1).
        nursery.start_soon(server.shutdown)
        assert await client.until_closed() == b""


async def test_shutdown_during_an_h2c_upgrade_still_answers_stream_1(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h2_client, upgrade = h2c_upgrade()
    config = trio_h2.Config(date_header=False)
    async with shut_down_server(config) as (server, client), trio.open_nursery() as nursery:
        # The server is going away when the upgrade comes: the HTTP/2 connection
        # starts shut down, before the client's preface.
        nursery.start_soon(server.shutdown)
        await trio.testing.wait_all_tasks_blocked()
        await client.send_all(upgrade)
        data = await client.take()
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        await client.send_all(h2_client.data_to_send())  # the preface, after the 101
        events = h2_client.receive_data(rest + await client.until_closed())
        responses = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
        assert [(e.stream_id, dict(e.headers)[b":status"]) for e in responses] == [(1, b"200")]
        body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
        assert body == b"2 GET example.test http"
        goaways = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
        assert goaways
        assert goaways[-1].error_code == 0


async def test_shutdown_before_the_preface_serves_the_request_behind_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h2_client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    h2_client.initiate_connection()
    h2_client.send_headers(
        1,
        [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/info")],
        end_stream=True,
    )
    config = trio_h2.Config(date_header=False)
    async with shut_down_server(config) as (server, client), trio.open_nursery() as nursery:
        preface = h2_client.data_to_send()
        await client.send_all(preface[:3])  # the protocol is told, the preface not all in
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(server.shutdown)
        await trio.testing.wait_all_tasks_blocked()
        await client.send_all(preface[3:])
        frames = parse_frames(await client.until_closed())
        # h2's client state machine takes nothing but GOAWAY after one, so the frames
        # are read as they are: GOAWAY(2^31-1) with a PING, then stream 1's response,
        # then the GOAWAY that names it.
        kinds = [(type(frame).__name__, frame.stream_id) for frame in frames]
        assert ("HeadersFrame", 1) in kinds
        goaways = [frame for frame in frames if isinstance(frame, hyperframe.frame.GoAwayFrame)]
        assert goaways[-1].last_stream_id == 1
        assert goaways[-1].error_code == 0


def parse_frames(data: bytes) -> list[hyperframe.frame.Frame]:
    frames = []
    while data:
        frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        frames.append(frame)
        data = data[9 + length :]
    return frames
