"""Trailers, both ways, in memory."""

from __future__ import annotations

import io
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.testing import connect

GRPC_OK = [("grpc-status", "0"), ("grpc-message", "OK")]


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# ------------------------------------------------------------ response trailers


@pytest.mark.parametrize(
    "source", ["bytes", "empty", "str", "bytesio", "file", "async-iterable", "channel"]
)
async def test_respond_sends_trailers_last_for_every_source(source: str, tmp_path: Path) -> None:
    data = b"0123456789" * 10_000
    path = tmp_path / "body.bin"
    path.write_bytes(data)

    async def handler(stream: trio_h2.Stream) -> None:
        async with trio.open_nursery() as nursery:
            if source == "channel":
                send, receive = trio.open_memory_channel[bytes](0)

                async def produce() -> None:
                    async with send:
                        async for chunk in _chunks(data, 30_000):
                            await send.send(chunk)

                nursery.start_soon(produce)
                body: object = receive
            else:
                body = {
                    "bytes": lambda: data,
                    "empty": lambda: b"",
                    "str": lambda: data.decode(),
                    "bytesio": lambda: io.BytesIO(data),
                    "file": lambda: open(path, "rb"),  # noqa: SIM115 - respond() closes it
                    "async-iterable": lambda: _chunks(data, 30_000),
                }[source]()
            await stream.respond(200, [], body, trailers=[("x-checksum", "c0ffee")])  # type: ignore[arg-type]

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.body == (b"" if source == "empty" else data)
    assert response.trailers == [("x-checksum", "c0ffee")]
    # Trailers close the stream: nothing after them, and no empty DATA before them.
    assert response.arrival[-1] == "trailers"
    assert response.arrival.count("trailers") == 1
    if source == "empty":
        assert response.arrival == ["headers", "trailers"]


def _grpc_frame(message: bytes) -> bytes:
    return struct.pack(">?I", False, len(message)) + message


async def test_grpc_style_status_in_trailers() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        request = await stream.read()
        headers = [("content-type", "application/grpc")]
        if stream.path == "/echo.Echo/Fail":
            # A gRPC error is a 200 with no messages and the status in trailers.
            await stream.respond(
                200, headers, trailers=[("grpc-status", "13"), ("grpc-message", "broken")]
            )
            return
        async with stream.start_response(200, headers) as body:
            await body.send(request)
            body.set_trailers(GRPC_OK)

    message = _grpc_frame(b"\x0a\x05hello")
    grpc_request = [("content-type", "application/grpc"), ("te", "trailers")]
    async with connect(handler) as client:
        ok = await client.post("/echo.Echo/Say", message, grpc_request)
        failed = await client.post("/echo.Echo/Fail", message, grpc_request)
    assert ok.header("content-type") == "application/grpc"
    assert ok.body == message
    assert ok.trailers == GRPC_OK
    assert ok.arrival == ["headers", "data", "trailers"]
    assert failed.status == 200
    assert failed.body == b""
    assert failed.trailers == [("grpc-status", "13"), ("grpc-message", "broken")]


async def test_trailers_follow_all_data_through_a_small_window() -> None:
    data = bytes(range(256)) * 100

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            body.set_trailers([("x-early", "set before any data")])
            for start in range(0, len(data), 1000):
                await body.send(data[start : start + 1000])

    async with (
        connect(handler, initial_window_size=100) as client,
        client.stream("GET", "/") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        assert response.response.trailers is None  # held back behind the window
        received = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert received == data
    assert response.response.trailers == [("x-early", "set before any data")]
    assert response.response.arrival[-1] == "trailers"


async def test_set_trailers_replaces_and_empty_sends_none() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"x")
            body.set_trailers([("x-first", "1")])
            if stream.path == "/replace":
                body.set_trailers([("x-second", "2"), ("x-second", "3")])
            else:
                body.set_trailers([])

    async with connect(handler) as client:
        replaced = await client.get("/replace")
        cleared = await client.get("/clear")
    assert replaced.trailers == [("x-second", "2"), ("x-second", "3")]
    assert cleared.trailers is None
    assert "trailers" not in cleared.arrival
    assert cleared.body == b"x"


@pytest.mark.parametrize(
    ("trailers", "message"),
    [
        ([(":status", "200")], "pseudo-header"),
        ([("content-length", "3")], "trailer"),
        ([("Grpc-Status", "0")], "lowercase"),
        ([("connection", "close")], "connection-specific"),
        ([("x-bad", "a\nb")], "invalid value"),
    ],
)
async def test_invalid_trailers_raise_before_anything_is_sent(
    trailers: list[tuple[str, str]], message: str
) -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            if stream.path == "/respond":
                await stream.respond(200, [], b"body", trailers=trailers)
            else:
                await stream.respond(200, [], _chunks(b"body", 2), trailers=trailers)
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))
        await stream.respond(200, [], b"clean")

    async with connect(handler) as client:
        fixed = await client.get("/respond")
        streamed = await client.get("/streamed")
    assert len(errors) == 2
    assert all(message in error for error in errors)
    for response in (fixed, streamed):
        assert response.body == b"clean"
        assert response.trailers is None


async def test_set_trailers_outside_an_open_body_is_refused() -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"x")
        try:
            body.set_trailers([("x-late", "1")])
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.trailers is None
    assert "already ended" in errors[0]


async def test_head_response_drops_trailers() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], b"body", trailers=GRPC_OK)

    async with connect(handler) as client:
        head = await client.request("HEAD", "/")
    assert head.arrival == ["headers"]
    assert head.trailers is None
    assert head.header("content-length") == "4"


async def test_reset_body_sends_no_trailers() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            body.set_trailers(GRPC_OK)
            await body.send(b"partial")
            raise RuntimeError("failed mid-body")

    async with connect(handler) as client:
        response = await client.get("/", raise_on_reset=False)
    assert response.reset_code == ErrorCodes.INTERNAL_ERROR
    assert response.trailers is None


# ------------------------------------------------------------- request trailers


async def _send_request_with_trailers(
    client: trio_h2.testing.Client,
    body_chunks: list[bytes],
    trailers: list[tuple[bytes, bytes]],
    path: str = "/",
) -> trio_h2.testing.Response:
    stream_id = await client.start_request("POST", path, [("te", "trailers")])
    for chunk in body_chunks:
        await client.send_data(stream_id, chunk, end_stream=False)
    client.h2.send_headers(stream_id, trailers, end_stream=True)
    await client._send()
    return await client.wait_response(stream_id)


async def test_request_trailers_appear_when_the_body_is_read_to_its_end() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        # Everything has arrived by now, trailers included, yet they stay hidden
        # until the body has been read up to them.
        await trio.testing.wait_all_tasks_blocked()
        assert stream.request_complete
        seen.append(stream.trailers)
        chunks = []
        async for chunk in stream:
            seen.append(stream.trailers)
            chunks.append(chunk)
        seen.append(stream.trailers)
        await stream.respond(200, [], b"".join(chunks), trailers=stream.trailers)

    async with connect(handler) as client:
        stream_id = await client.start_request("POST", "/", [("te", "trailers")])
        await client.send_data(stream_id, b"abc", end_stream=False)
        client.h2.send_headers(stream_id, [(b"x-sum", b"6"), (b"x-n", b"3")], end_stream=True)
        await client._send()
        response = await client.wait_response(stream_id)
    assert response.body == b"abc"
    assert seen == [None, None, [("x-sum", "6"), ("x-n", "3")]]
    # Echoed back as response trailers.
    assert response.trailers == [("x-sum", "6"), ("x-n", "3")]


async def test_request_trailers_with_no_body() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        body = await stream.read()
        seen.append((body, stream.trailers))
        await stream.respond(204)

    async with connect(handler) as client:
        response = await _send_request_with_trailers(client, [], [(b"x-only", b"trailers")])
    assert response.status == 204
    assert seen == [(b"", [("x-only", "trailers")])]


async def test_request_trailers_after_a_large_streamed_body() -> None:
    seen: list[object] = []
    payload = bytes(range(256)) * 2048  # 512 KiB, over the server's window

    async def handler(stream: trio_h2.Stream) -> None:
        total = 0
        async for chunk in stream:
            total += len(chunk)
        seen.append((total, stream.trailers))
        await stream.respond(200)

    config = trio_h2.Config(initial_window_size=65_535)
    async with connect(handler, config=config) as client:
        chunks = [payload[i : i + 50_000] for i in range(0, len(payload), 50_000)]
        response = await _send_request_with_trailers(
            client, chunks, [(b"grpc-status", b"0"), (b"x-digest", b"sha-256=abc")]
        )
    assert response.status == 200
    assert seen == [(len(payload), [("grpc-status", "0"), ("x-digest", "sha-256=abc")])]


async def test_no_request_trailers_is_none() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.read()
        seen.append(stream.trailers)
        await stream.respond(200)

    async with connect(handler) as client:
        await client.post("/", b"body")
        await client.get("/")
    assert seen == [None, None]


async def test_request_trailers_keep_order_and_repeats() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.read()
        seen.append(stream.trailers)
        await stream.respond(200)

    trailers = [(b"x-a", b"1"), (b"x-b", b"2"), (b"x-a", b"3")]
    async with connect(handler) as client:
        await _send_request_with_trailers(client, [b"data"], trailers)
    assert seen == [[("x-a", "1"), ("x-b", "2"), ("x-a", "3")]]
