"""Connection behaviour: failures, resets, cancellation, timeouts, PING and shutdown."""

from __future__ import annotations

import logging

import h2.connection
import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from tests.conformance.rawpeer import open_served_peer
from trio_h2.server.listen import Server
from trio_h2.testing import connect, open_client


async def test_handler_exception_before_response_gives_500_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/boom":
            raise ValueError("kaboom")
        await stream.respond(200, [], b"fine")

    with caplog.at_level(logging.ERROR, logger="trio_h2"):
        async with connect(handler) as client:
            boom = await client.get("/boom")
            fine = await client.get("/fine")
    assert boom.status == 500
    assert boom.body == b"Internal Server Error\n"
    assert fine.body == b"fine"
    (record,) = [r for r in caplog.records if r.name == "trio_h2"]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert "/boom" in record.getMessage()


async def test_handler_exception_mid_body_resets_with_internal_error() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/boom":
            async with stream.start_response(200) as body:
                await body.send(b"partial")
                raise RuntimeError("mid-body")
        await stream.respond(200, [], b"fine")

    async with connect(handler) as client:
        boom = await client.get("/boom", raise_on_reset=False)
        with pytest.raises(trio_h2.StreamReset) as info:
            await client.get("/boom")
        fine = await client.get("/fine")
    assert boom.status == 200
    assert boom.body == b"partial"
    assert boom.reset_code == ErrorCodes.INTERNAL_ERROR
    assert info.value.error_code == ErrorCodes.INTERNAL_ERROR
    assert fine.body == b"fine"


async def test_handler_returning_without_a_response_gives_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        return None

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.status == 500
    assert "without responding" in caplog.text


async def test_client_reset_cancels_only_that_handler() -> None:
    started = trio.Event()
    outcome: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/slow":
            started.set()
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                outcome.append("cancelled")
                raise
        await stream.respond(200, [], b"other")

    async with connect(handler) as client:
        stream_id = await client.start_request("GET", "/slow", end_stream=True)
        await started.wait()
        await client.reset(stream_id, ErrorCodes.CANCEL)
        other = await client.get("/other")
        await trio.testing.wait_all_tasks_blocked()
    assert outcome == ["cancelled"]
    assert other.body == b"other"


async def test_reading_after_reset_raises_stream_reset() -> None:
    errors: list[trio_h2.StreamReset] = []
    release = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        with trio.CancelScope(shield=True):
            await release.wait()
        try:
            await stream.read()
        except trio_h2.StreamReset as exc:
            errors.append(exc)

    async with connect(handler) as client:
        stream_id = await client.start_request("POST", "/")
        await trio.testing.wait_all_tasks_blocked()
        await client.reset(stream_id, ErrorCodes.REFUSED_STREAM)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
        await trio.testing.wait_all_tasks_blocked()
    assert errors[0].error_code == ErrorCodes.REFUSED_STREAM
    assert errors[0].remote


async def test_disconnect_cancels_every_handler() -> None:
    cancelled: list[int] = []
    started = 0
    all_started = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        nonlocal started
        started += 1
        if started == 3:
            all_started.set()
        try:
            await trio.sleep_forever()
        finally:
            cancelled.append(stream.stream_id)

    client_stream, server_stream = trio.testing.memory_stream_pair()
    server = Server(handler, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_stream, None)
        async with open_client(client_stream) as client:
            for _ in range(3):
                await client.start_request("GET", "/", end_stream=True)
            await all_started.wait()
            await client_stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert not server.connections
    assert sorted(cancelled) == [1, 3, 5]


async def test_ping_is_answered() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200)

    async with connect(handler) as client:
        assert await client.ping(b"12345678") == b"12345678"
        assert await client.ping(b"abcdefgh") == b"abcdefgh"


async def test_idle_connection_gets_goaway(autojump_clock: trio.testing.MockClock) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200)

    config = trio_h2.Config(idle_timeout=30)
    async with connect(handler, config=config) as client:
        await client.get("/")
        await trio.sleep(29)
        assert client.goaway is None
        await client.connection_closed.wait()
        assert trio.current_time() == pytest.approx(30, abs=1)
        assert client.goaway is not None
        assert client.goaway.error_code == ErrorCodes.NO_ERROR
        assert client.goaway.last_stream_id == 1


async def test_open_streams_keep_the_connection_from_idling(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await trio.sleep(100)
        await stream.respond(200, [], b"late")

    config = trio_h2.Config(idle_timeout=10)
    async with connect(handler, config=config) as client:
        response = await client.get("/")
        assert response.body == b"late"
        assert client.goaway is None


async def test_missing_preface_times_out(autojump_clock: trio.testing.MockClock) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        raise AssertionError("no request can arrive")

    client_stream, server_stream = trio.testing.memory_stream_pair()
    server = Server(handler, trio_h2.Config(handshake_timeout=5), None)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve_transport, server_stream, None)
            await client_stream.send_all(b"PRI * HTTP/2.0\r\n")  # and then nothing
            received = b""
            while chunk := await client_stream.receive_some():
                received += chunk
    assert trio.current_time() == pytest.approx(5, abs=1)
    assert received  # the server's SETTINGS went out before it gave up


async def test_graceful_shutdown_finishes_in_flight_and_refuses_new() -> None:
    release = trio.Event()
    started = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/slow":
            started.set()
            await release.wait()
        await stream.respond(200, [], stream.path.encode())

    client_stream, server_stream = trio.testing.memory_stream_pair()
    server = Server(handler, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_stream, None)
        async with open_client(client_stream) as client:
            slow_id = await client.start_request("GET", "/slow", end_stream=True)
            await started.wait()
            nursery.start_soon(server.shutdown)
            await trio.testing.wait_all_tasks_blocked()
            assert client.goaway is not None
            assert client.goaway.error_code == ErrorCodes.NO_ERROR
            assert client.goaway.last_stream_id == slow_id
            release.set()
            response = await client.wait_response(slow_id)
            assert response.body == b"/slow"
            await client.connection_closed.wait()
        assert not server.connections


async def test_graceful_shutdown_cancels_after_the_grace_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cancelled = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    client_stream, server_stream = trio.testing.memory_stream_pair()
    server = Server(handler, trio_h2.Config(graceful_shutdown_timeout=7), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_stream, None)
        async with open_client(client_stream) as client:
            stream_id = await client.start_request("GET", "/", end_stream=True)
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
            await server.shutdown()
            assert trio.current_time() - start == pytest.approx(7)
            await cancelled.wait()
            response = await client.wait_response(stream_id)
            assert response.status is None
    assert not server.connections


async def test_requests_above_goaway_last_stream_id_are_refused() -> None:
    release = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        await release.wait()
        await stream.respond(200)

    # A raw peer: the test client opens no stream once it has the server's GOAWAY.
    async with open_served_peer(handler) as served:
        peer = served.peer
        await peer.request(1)
        await trio.testing.wait_all_tasks_blocked()
        (connection,) = served.server.connections
        connection.shutdown()
        await peer.expect_graceful_goaway(last_stream_id=1)
        await peer.request(3)
        await peer.expect_rst(3, ErrorCodes.REFUSED_STREAM)
        release.set()
        assert (await peer.expect_response(1)).status == 200


async def test_client_goaway_lets_in_flight_streams_finish() -> None:
    release = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        await release.wait()
        await stream.respond(200, [], b"x" * 200_000)

    client_stream, server_stream = trio.testing.memory_stream_pair()
    server = Server(handler, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_stream, None)
        async with open_client(client_stream) as client:
            stream_id = await client.start_request("GET", "/", end_stream=True)
            await trio.testing.wait_all_tasks_blocked()
            client.h2.close_connection(ErrorCodes.NO_ERROR, last_stream_id=0)
            client.h2.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
            await client._send()
            await trio.testing.wait_all_tasks_blocked()
            release.set()
            response = await client.wait_response(stream_id)
            assert response.body == b"x" * 200_000
            await trio.testing.wait_all_tasks_blocked()
        assert not server.connections


async def test_client_goaway_with_error_closes_at_once() -> None:
    cancelled = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    client_stream, server_stream = trio.testing.memory_stream_pair()
    server = Server(handler, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_stream, None)
        async with open_client(client_stream) as client:
            await client.start_request("GET", "/", end_stream=True)
            await trio.testing.wait_all_tasks_blocked()
            client.h2.close_connection(ErrorCodes.INTERNAL_ERROR)
            await client._send()
            await cancelled.wait()
            await client.connection_closed.wait()
