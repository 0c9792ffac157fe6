"""The response path: h2's bookkeeping stays bounded and in agreement with what was sent."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.settings
import trio
import trio.testing

import trio_h2
from tests.support import ForwardingStream
from trio_h2.server.listen import Server
from trio_h2.testing import Response, _ClientStream, connect, open_client


def server_h2(stream: trio_h2.Stream) -> Any:
    """The server's h2 connection behind a stream (white box)."""
    return stream._io._proto._h2  # type: ignore[attr-defined]


async def test_finished_streams_leave_h2s_stream_table() -> None:
    sizes: list[int] = []

    async def handler(stream: trio_h2.Stream) -> None:
        sizes.append(len(server_h2(stream).streams))
        body = await stream.read()
        await stream.respond(200, [], body or b"ok")

    async with connect(handler) as client:
        for i in range(200):
            if i % 2:
                response = await client.post("/", b"x" * i)
            else:
                response = await client.get("/")
            assert response.status == 200
    # One request at a time: only the stream being served (and
    # perhaps the one just answered) is in h2's table.
    assert max(sizes) <= 2


def _expected(i: int) -> tuple[bytes, list[tuple[str, str]] | None]:
    body = bytes([65 + i % 26]) * (i * 997 % 70_000)
    trailers = [("x-checksum", str(len(body)))] if i % 3 == 0 else None
    return body, trailers


async def mixed_handler(stream: trio_h2.Stream) -> None:
    kind, _, number = stream.path.strip("/").partition("/")
    i = int(number or 0)
    body, trailers = _expected(i)
    headers = [("content-type", "application/octet-stream"), ("x-i", str(i))]
    if kind == "big-headers":
        headers.append(("x-big", "h" * 40_000))
    if kind == "reset":
        async with stream.start_response(200) as out:
            await out.send(b"partial")
            await stream.reset()
        return
    if kind == "push":
        await stream.push("/pushed", body=b"pushed body", headers=[("x-pushed", "1")])
    if kind == "early":
        await stream.send_informational(103, [("link", "</a.css>; rel=preload")])
    if kind == "stream":
        async with stream.start_response(200, headers) as out:
            if trailers:
                out.set_trailers(trailers)
            for start in range(0, len(body), 5_000):
                await out.send(body[start : start + 5_000])
        return
    await stream.respond(200, headers, body, trailers=trailers)


async def test_many_mixed_responses_on_one_connection_with_small_windows() -> None:
    # A small client window and the smallest frame size: most bodies wait for credit,
    # large header blocks need CONTINUATION, and h2 on the client checks every frame.
    kinds = ["plain", "stream", "big-headers", "reset", "push", "early"]
    async with connect(mixed_handler, initial_window_size=1_000) as client:
        for i in range(60):
            kind = kinds[i % len(kinds)]
            response = await client.get(f"/{kind}/{i}", raise_on_reset=False)
            if kind == "reset":
                assert response.reset_code == 8  # CANCEL
                continue
            body, trailers = _expected(i)
            assert response.status == 200
            assert response.body == body
            assert response.trailers == trailers
            assert response.header("x-i") == str(i)
            assert response.header("content-type") == "application/octet-stream"
            if kind == "big-headers":
                assert response.header("x-big") == "h" * 40_000
            if kind == "push":
                (pushed,) = response.pushed
                assert pushed.body == b"pushed body"
                assert pushed.header("x-pushed") == "1"
            if kind == "early":
                assert [status for status, _ in response.informational] == [103]
        # h2 on both ends agrees on the connection window after all that.
        assert client.h2.inbound_flow_control_window > 0
        final = await client.get("/plain/1")
        assert final.body == _expected(1)[0]


async def test_concurrent_responses_share_the_connection_window() -> None:
    results: dict[int, bytes] = {}
    config = trio_h2.Config(max_outbound_buffer=16_384)
    async with connect(mixed_handler, config=config, initial_window_size=70_000) as client:
        async with trio.open_nursery() as nursery:
            for i in range(1, 40):

                async def fetch(i: int = i) -> None:
                    results[i] = (await client.get(f"/plain/{i}")).body

                nursery.start_soon(fetch)
    assert results == {i: _expected(i)[0] for i in range(1, 40)}


async def test_peer_that_stops_reading_is_dropped_after_send_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], b"x" * 8_000_000)

    config = trio_h2.Config(send_timeout=10, idle_timeout=1_000)
    a, b = trio.socket.socketpair()
    server_end, client_end = trio.SocketStream(a), trio.SocketStream(b)
    # A client that asks for a large response with wide-open windows, then never reads.
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1}
    )
    client.initiate_connection()
    client.increment_flow_control_window(2**31 - 1 - 65_535)
    client.send_headers(
        1,
        [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")],
        end_stream=True,
    )
    await client_end.send_all(client.data_to_send())
    server = Server(handler, config, None)
    start = trio.current_time()
    await server.serve_transport(server_end, None)
    # The writer blocked on a full socket; the connection went after send_timeout.
    assert config.send_timeout - 1 <= trio.current_time() - start <= config.send_timeout + 1
    await client_end.aclose()


async def test_idle_connection_outlives_send_timeout(autojump_clock: trio.abc.Clock) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], b"still here")

    config = trio_h2.Config(send_timeout=5, idle_timeout=1_000)
    async with connect(handler, config=config) as client:
        assert (await client.get("/")).body == b"still here"
        await trio.sleep(30)  # six send timeouts with nothing to send
        assert (await client.get("/")).body == b"still here"
        await trio.sleep(4.5)
        assert (await client.get("/")).body == b"still here"


class CountingStream(ForwardingStream):
    """A transport that counts the server's writes."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        super().__init__(inner)
        self.writes = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        await self.inner.send_all(data)


async def test_responses_of_requests_that_arrive_together_leave_together() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain")], stream.path)

    client_end, server_end = trio.testing.memory_stream_pair()
    counting = CountingStream(server_end)
    server = Server(handler, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, counting, None)
        async with open_client(client_end) as client:
            await client.ping()
            await trio.testing.wait_all_tasks_blocked()
            before = counting.writes
            # Twenty requests in one write (through the client's internals).
            ids = []
            for i in range(20):
                stream_id = client.h2.get_next_available_stream_id()
                client._streams[stream_id] = _ClientStream(Response(stream_id))
                request = [(":method", "GET"), (":scheme", "http"), (":path", f"/{i}")]
                request.append((":authority", "x"))
                client.h2.send_headers(stream_id, request, end_stream=True)
                ids.append(stream_id)
            await client._send()
            responses = [await client.wait_response(stream_id) for stream_id in ids]
            assert [r.body for r in responses] == [f"/{i}".encode() for i in range(20)]
            # Read together, answered together: the writer coalesces them.
            assert counting.writes - before <= 2
        nursery.cancel_scope.cancel()
