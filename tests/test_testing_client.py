"""The test client itself: what it shows a test must not depend on the timing of the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import h2.connection
import hpack
import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame, SettingsFrame

import trio_h2
from tests.support import ForwardingStream
from trio_h2.server.listen import Server
from trio_h2.testing import Response, StreamingResponse, connect, open_client


class ResponseBeforeReturn(ForwardingStream):
    """A client transport whose sends, once armed, return only after ``until`` is set
    and every other task is blocked.

    What the server answers to a request is then in the client before the call that
    sent the request returns, as it can be over a fast socket.
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        super().__init__(inner)
        self.until: trio.Event | None = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)
        if self.until is not None:
            await self.until.wait()
            await trio.testing.wait_all_tasks_blocked()


async def test_a_streamed_response_keeps_chunks_that_came_with_the_headers() -> None:
    first_sent = trio.Event()
    release = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"first")
            first_sent.set()
            await release.wait()
            await body.send(b"second")

    client_side, server_side = trio.testing.memory_stream_pair()
    transport = ResponseBeforeReturn(client_side)
    server = Server(handler, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        async with open_client(transport) as client:
            await client.ping()  # the handshake is over,
            await trio.testing.wait_all_tasks_blocked()  # and the client's reader idle
            transport.until = first_sent
            async with client.stream("GET", "/") as response:
                transport.until = None
                assert response.response.arrival == ["headers", "data"]
                chunks = response.aiter_bytes()
                with trio.fail_after(10):  # without the chunk, this would wait for ever
                    assert await chunks.__anext__() == b"first"
                release.set()
                assert [chunk async for chunk in chunks] == [b"second"]
        nursery.cancel_scope.cancel()


# ----------------------------------------------------------------- plain h2


async def test_the_client_runs_on_h2_as_released() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200)

    async with connect(handler) as client:
        assert type(client.h2) is h2.connection.H2Connection
        assert (await client.get("/")).status == 200


async def test_after_a_graceful_goaway_streams_finish_and_new_ones_are_refused() -> None:
    started = trio.Event()
    release = trio.Event()
    big = b"x" * 200_000  # more than the client's windows: WINDOW_UPDATEs must still go

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/upload":
            async with stream.start_response(200) as response:
                await response.send(b"reading: ")
                await response.send(await stream.read())
            return
        started.set()
        await release.wait()
        await stream.respond(200, [], big)

    async def upload(goaway: trio.Event) -> AsyncIterator[bytes]:
        yield b"before the GOAWAY, "
        await goaway.wait()
        yield b"after it"

    responses: dict[str, Response] = {}

    async def get_slow(client: trio_h2.testing.Client) -> None:
        responses["slow"] = await client.get("/slow")

    client_stream, server_stream = trio.testing.memory_stream_pair()
    server = Server(handler, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_stream, None)
        async with open_client(client_stream) as client, trio.open_nursery() as requests:
            requests.start_soon(get_slow, client)
            await started.wait()
            async with client.stream(
                "POST", "/upload", body=upload(client.goaway_received)
            ) as streaming:
                nursery.start_soon(server.shutdown)
                await client.final_goaway_received.wait()
                assert client.goaway is not None
                assert client.goaway.error_code == ErrorCodes.NO_ERROR
                assert client.goaway.last_stream_id == streaming.response.stream_id
                with pytest.raises(trio_h2.ConnectionClosed, match="GOAWAY"):
                    await client.get("/new")
                release.set()
                assert b"".join([chunk async for chunk in streaming]) == (
                    b"reading: before the GOAWAY, after it"
                )
            await client.connection_closed.wait()
        assert responses["slow"].status == 200
        assert responses["slow"].body == big
        assert not server.connections


def _frames(*frames: object) -> bytes:
    return b"".join(frame.serialize() for frame in frames)  # type: ignore[attr-defined]


@pytest.mark.parametrize("piece", [1, 7, 65_536])
async def test_frames_after_a_goaway_still_reach_the_streams_it_covers(piece: int) -> None:
    """A scripted server: GOAWAY(last-stream-id 1) with streams 1 and 3 open, then the
    response on 1; the bytes come ``piece`` at a time, the GOAWAY split among them."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    both_sent = trio.Event()
    status = hpack.Encoder().encode([(":status", "200")])
    script = _frames(
        GoAwayFrame(0, last_stream_id=1, error_code=ErrorCodes.NO_ERROR),
        HeadersFrame(1, status, flags=["END_HEADERS"]),
        DataFrame(1, b"late", flags=["END_STREAM"]),
    )

    async def scripted_server() -> None:
        await server_stream.send_all(_frames(SettingsFrame(0)))
        await both_sent.wait()
        for start in range(0, len(script), piece):
            await server_stream.send_all(script[start : start + piece])
            await trio.testing.wait_all_tasks_blocked()

    outcome: list[BaseException] = []

    async def refused_get(client: trio_h2.testing.Client) -> None:
        with pytest.raises(trio_h2.ConnectionClosed) as caught:
            await client.get("/two")
        outcome.append(caught.value)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(scripted_server)
        async with open_client(client_stream) as client:
            first = await client.start_request("GET", "/one", end_stream=True)
            nursery.start_soon(refused_get, client)
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(client.h2.streams) == [1, 3]
            both_sent.set()
            response = await client.wait_response(first)
            assert (response.status, response.body) == (200, b"late")
            await trio.testing.wait_all_tasks_blocked()
            assert "without processing the request" in str(outcome[0])
            assert client.goaway is not None
            assert client.goaway.last_stream_id == 1
            with pytest.raises(trio_h2.ConnectionClosed):
                await client.start_request("GET", "/three")
        nursery.cancel_scope.cancel()


# --------------------------------------------------------- streamed bodies


async def test_async_for_reads_a_streaming_response() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            for part in (b"one ", b"two ", b"three"):
                await body.send(part)

    async with connect(handler) as client, client.stream("GET", "/") as response:
        assert isinstance(response, StreamingResponse)
        assert [chunk async for chunk in response] == [b"one ", b"two ", b"three"]
        assert response.response.body == b"one two three"


async def test_async_for_raises_on_a_reset() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"part")
            raise RuntimeError("the handler fails half way")

    async with connect(handler) as client, client.stream("GET", "/") as response:
        chunks = []

        async def read_all() -> None:
            async for chunk in response:
                chunks.append(chunk)

        with pytest.raises(trio_h2.StreamReset):
            await read_all()
    assert chunks == [b"part"]


# -------------------------------------------------------- request trailers


async def _echo_with_trailers(stream: trio_h2.Stream) -> None:
    body = b"".join([chunk async for chunk in stream])
    assert stream.trailers is not None
    await stream.respond(
        200, [("x-body", str(len(body)))], body, trailers=[("x-seen", repr(stream.trailers))]
    )


async def _chunks() -> AsyncIterator[bytes]:
    yield b"ab"
    yield b"c"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, b""),
        (b"", b""),
        ("abc", b"abc"),
        (b"abc", b"abc"),
        (b"z" * 100_000, b"z" * 100_000),  # past the stream window: DATA, then trailers
        ("async iterable", b"abc"),
    ],
)
async def test_request_sends_trailers_after_the_body(
    body: str | bytes | None, expected: bytes
) -> None:
    sent = _chunks() if isinstance(body, str) and body == "async iterable" else body
    async with connect(_echo_with_trailers) as client:
        response = await client.request(
            "PUT", "/", [("te", "trailers")], sent, trailers=[("x-checksum", "abc")]
        )
    assert response.body == expected
    assert response.trailers == [("x-seen", "[('x-checksum', 'abc')]")]


async def test_post_and_stream_send_trailers() -> None:
    async with connect(_echo_with_trailers) as client:
        posted = await client.post("/", b"data", trailers=[(b"x-checksum", b"abc"), ("x-n", "1")])
        async with client.stream(
            "POST", "/", body=_chunks(), trailers=[("x-checksum", "def")]
        ) as streaming:
            assert b"".join([chunk async for chunk in streaming]) == b"abc"
    assert posted.body == b"data"
    assert posted.trailers == [("x-seen", "[('x-checksum', 'abc'), ('x-n', '1')]")]
    assert streaming.response.trailers == [("x-seen", "[('x-checksum', 'def')]")]


async def test_trailers_end_the_request_stream_in_a_headers_frame() -> None:
    frames: list[str] = []

    class Recording(ForwardingStream):
        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            frames.extend(_frame_kinds(bytes(data)))
            await self.inner.send_all(data)

    client_side, server_side = trio.testing.memory_stream_pair()
    server = Server(_echo_with_trailers, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        async with open_client(Recording(client_side)) as client:
            await client.ping()
            frames.clear()
            await client.post("/", b"abc", trailers=[("x-checksum", "abc")])
            assert [f for f in frames if f.startswith(("HEADERS", "DATA"))] == [
                "HEADERS",
                "DATA",
                "HEADERS END_STREAM",
            ]
        nursery.cancel_scope.cancel()


def _frame_kinds(data: bytes) -> list[str]:
    kinds = []
    while len(data) >= 9:
        length, kind, flags = int.from_bytes(data[:3], "big"), data[3], data[4]
        name = {0: "DATA", 1: "HEADERS"}.get(kind, str(kind))
        kinds.append(name + (" END_STREAM" if kind in (0, 1) and flags & 0x1 else ""))
        data = data[9 + length :]
    return kinds


# ---------------------------------------------------------------- Response


def test_header_names_match_case_insensitively() -> None:
    response = Response(1, status=200, headers=[("content-type", "text/plain"), ("x-a", "1")])
    assert response.header("Content-Type") == "text/plain"
    assert response.header("CONTENT-TYPE") == "text/plain"
    assert response.header("x-A") == "1"
    assert response.header("X-Missing") is None
    assert response.header("X-Missing", "fallback") == "fallback"


async def test_header_on_a_served_response() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("x-custom", "yes")], b"{}")

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.header("x-custom") == response.header("X-CUSTOM") == "yes"


def test_text_json_header_and_raise_on_reset_are_documented() -> None:
    assert "UTF-8" in (Response.text.__doc__ or "")
    assert "JSON" in (Response.json.__doc__ or "")
    assert "case-insensitively" in (Response.header.__doc__ or "")
    assert "raise_on_reset" in (trio_h2.testing.Client.request.__doc__ or "")
    assert "trailers" in (trio_h2.testing.Client.request.__doc__ or "")
