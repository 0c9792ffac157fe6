"""A response is complete once its end is queued, whatever the client does next.

A client with the whole response (its Content-Length, or END_STREAM) may close at
once, before the handler's task has come back from its last send.  The exchange is
still whole: the access log says so, and the handler is not cancelled after the fact.
"""

from __future__ import annotations

import io
import logging
import sys

import h2.config
import h2.connection
import h2.events
import pytest
import trio
import trio.testing

import trio_h2
import trio_h2.testing
from tests.support import running_server
from trio_h2.server.listen import Server

BODY = b"x" * 5000


async def file_body(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], io.BytesIO(BODY))


async def bytes_body(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], BODY)


async def streamed_with_length(stream: trio_h2.Stream) -> None:
    async with stream.start_response(200, content_length=len(BODY)) as body:
        await body.send(BODY[:1000])
        await body.send(BODY[1000:])


async def last_chunk_ends_it(stream: trio_h2.Stream) -> None:
    async with stream.start_response(200, content_length=len(BODY)) as body:
        await body.send(BODY[:1000])
        await body.send(BODY[1000:], end=True)
        # Whatever the peer does now, this exchange is complete.
        await trio.sleep(1)


HANDLERS = [file_body, bytes_body, streamed_with_length, last_chunk_ends_it]


async def h1_exchange(client: trio.abc.Stream) -> bytes:
    await client.send_all(b"GET /f HTTP/1.1\r\nHost: a\r\n\r\n")
    received = b""
    while not received.endswith(BODY):
        received += await client.receive_some()
    return received


async def h2_exchange(client: trio.abc.Stream) -> bytes:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(
        1,
        [(":method", "GET"), (":path", "/f"), (":scheme", "http"), (":authority", "a")],
        end_stream=True,
    )
    await client.send_all(conn.data_to_send())
    body = b""
    while True:
        for event in conn.receive_data(await client.receive_some()):
            if isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, 1)
            if isinstance(event, h2.events.StreamEnded):
                return body
        await client.send_all(conn.data_to_send())


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda h: h.__name__)
@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_a_client_that_closes_on_the_last_byte_got_a_whole_response(
    handler: trio_h2.Handler,
    http_version: str,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    server = Server(handler, trio_h2.Config(), None)
    client, transport = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, transport, ("127.0.0.1", 50000))
        exchange = h2_exchange if http_version == "2" else h1_exchange
        received = await exchange(client)
        assert received.endswith(BODY)
        await client.aclose()  # at once, as curl does
    (record,) = [r for r in caplog.records if r.name == "trio_h2.access"]
    assert record.outcome == ""  # type: ignore[attr-defined]
    assert record.bytes == len(BODY)  # type: ignore[attr-defined]


#: A client in a process of its own, as curl is: it closes the moment it has the body.
CLOSING_CLIENT = """
import socket, sys
port, count, length = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for _ in range(count):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /f HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
        received = b""
        while len(received.partition(b"\\r\\n\\r\\n")[2]) < length:
            data = sock.recv(65536)
            if not data:
                sys.exit("closed early")
            received += data
print("done")
"""


@pytest.mark.parametrize("handler", HANDLERS[:3], ids=lambda h: h.__name__)
async def test_over_tcp_a_client_that_closes_on_the_last_byte(
    handler: trio_h2.Handler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    count = 40
    async with running_server(handler) as address:
        done = await trio.run_process(
            [sys.executable, "-c", CLOSING_CLIENT, str(address.port), str(count), str(len(BODY))],
            capture_stdout=True,
        )
        assert done.stdout == b"done\n"
    # Leaving the block shut the server down gracefully: every handler has returned.
    outcomes = [r.outcome for r in caplog.records if r.name == "trio_h2.access"]  # type: ignore[attr-defined]
    assert outcomes == [""] * count


async def test_send_end_checks_the_length() -> None:
    failures: list[Exception] = []

    async def short(stream: trio_h2.Stream) -> None:
        try:
            async with stream.start_response(200, content_length=10) as body:
                await body.send(b"12345", end=True)
        except trio_h2.LocalProtocolError as exc:
            failures.append(exc)

    async with trio_h2.testing.connect(short) as client:
        response = await client.get("/", raise_on_reset=False)
    assert response.reset_code == trio_h2.ErrorCode.INTERNAL_ERROR
    assert "content-length said 10" in str(failures[0])


async def test_a_send_after_the_end_is_refused() -> None:
    failures: list[Exception] = []

    async def twice(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"one", end=True)
            try:
                await body.send(b"two")
            except trio_h2.LocalProtocolError as exc:
                failures.append(exc)

    async with trio_h2.testing.connect(twice) as client:
        response = await client.get("/")
    assert response.body == b"one"
    assert "already ended" in str(failures[0])


async def test_trailers_follow_the_last_chunk() -> None:
    async def with_trailers(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            body.set_trailers([("x-checksum", "abc")])
            await body.send(b"data", end=True)

    async with trio_h2.testing.connect(with_trailers) as client:
        response = await client.get("/")
    assert response.body == b"data"
    assert response.trailers == [("x-checksum", "abc")]


async def test_an_empty_last_chunk_ends_the_body() -> None:
    async def empty_end(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"all of it")
            await body.send(b"", end=True)

    for http_version in ("2", "1.1"):
        async with trio_h2.testing.connect(empty_end, http_version=http_version) as client:
            response = await client.get("/")
        assert (response.status, response.body) == (200, b"all of it")


async def test_a_cancelled_last_send_has_no_effect() -> None:
    # trio's rule: cancelled before anything is queued, nothing was sent.
    outcome: list[str] = []

    async def cancelled_end(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            with trio.CancelScope() as scope:
                scope.cancel()
                await body.send(b"never", end=True)
            outcome.append("ended" if stream.state.response_ended else "open")
            await body.send(b"instead")

    async with trio_h2.testing.connect(cancelled_end) as client:
        response = await client.get("/")
    assert outcome == ["open"]
    assert response.body == b"instead"
