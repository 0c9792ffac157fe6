"""Response body sources, flow control and content-length, in memory."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.server.body import FILE_CHUNK
from trio_h2.testing import connect

PAYLOAD = bytes(range(256)) * 800  # 200 KiB: several windows and frames


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await trio.lowlevel.checkpoint()


class RecordingFile:
    """A binary file object that records how, and on which thread, it is read."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)
        self.reads: list[int] = []
        self.on_main_thread: list[bool] = []
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        self.on_main_thread.append(threading.current_thread() is threading.main_thread())
        return self._file.read(size)

    def close(self) -> None:
        self.closed = True


def _channel_of(data: bytes, nursery: trio.Nursery, size: int = 7_000) -> object:
    send, receive = trio.open_memory_channel[bytes](0)

    async def produce() -> None:
        async with send:
            try:
                for start in range(0, len(data), size):
                    await send.send(data[start : start + size])
            except trio.BrokenResourceError:
                pass  # the response is over (HEAD): nobody reads any more

    nursery.start_soon(produce)
    return receive


SOURCES: dict[str, Callable[[bytes, trio.Nursery, Path], object]] = {
    "bytes": lambda data, _, __: data,
    "bytearray": lambda data, _, __: bytearray(data),
    "memoryview": lambda data, _, __: memoryview(data),
    "bytesio": lambda data, _, __: io.BytesIO(data),
    "file": lambda data, _, tmp: _real_file(data, tmp),
    "async-iterable": lambda data, _, __: _chunks(data, 10_000),
    "channel": lambda data, nursery, _: _channel_of(data, nursery),
}
KNOWN_LENGTH = {"bytes", "bytearray", "memoryview", "bytesio", "file"}


def _real_file(data: bytes, tmp: Path) -> object:
    path = tmp / "body.bin"
    path.write_bytes(data)
    return open(path, "rb")  # respond() closes it


def _source_handler(source: str, data: bytes, tmp: Path) -> Any:
    async def handler(stream: trio_h2.Stream) -> None:
        async with trio.open_nursery() as nursery:
            body = SOURCES[source](data, nursery, tmp)
            await stream.respond(200, [("content-type", "application/octet-stream")], body)  # type: ignore[arg-type]

    return handler


@pytest.mark.parametrize("source", list(SOURCES))
async def test_every_body_source_is_sent_whole(source: str, tmp_path: Path) -> None:
    async with connect(_source_handler(source, PAYLOAD, tmp_path)) as client:
        response = await client.get("/")
    assert response.status == 200
    assert response.body == PAYLOAD
    expected = str(len(PAYLOAD)) if source in KNOWN_LENGTH else None
    assert response.header("content-length") == expected


async def test_str_body_is_utf8_with_its_encoded_length() -> None:
    text = "Grüße, 世界 🌍\n" * 1000

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain; charset=utf-8")], text)

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.text == text
    assert response.header("content-length") == str(len(text.encode("utf-8")))


async def test_text_file_object_is_sent_as_utf8_without_a_length(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("naïve café\n" * 100, encoding="latin-1")

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], open(path, encoding="latin-1"))  # noqa: SIM115

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.text == "naïve café\n" * 100
    assert response.header("content-length") is None


async def test_file_is_read_in_chunks_in_a_worker_thread_and_closed() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    file = RecordingFile(data)

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], file)  # type: ignore[arg-type]

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.body == data
    # Never read whole: bounded reads, as many as the size needs, plus the one at EOF.
    assert set(file.reads) == {FILE_CHUNK}
    assert len(file.reads) == len(data) // FILE_CHUNK + 1
    assert not any(file.on_main_thread)
    assert file.closed


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize(("window", "frame_size"), [(100, 16_384), (1_048_576, 32_768)])
async def test_frames_fit_the_peer_window_and_max_frame_size(
    source: str, window: int, frame_size: int, tmp_path: Path
) -> None:
    handler = _source_handler(source, PAYLOAD, tmp_path)
    sizes: list[int] = []
    async with (
        connect(handler, initial_window_size=window, max_frame_size=frame_size) as client,
        client.stream("GET", "/") as response,
    ):
        async for chunk in response.aiter_bytes():
            sizes.append(len(chunk))
    assert response.response.body == PAYLOAD
    assert max(sizes) <= min(window, frame_size)
    if window > frame_size and source in ("bytes", "bytesio", "file"):
        # Big frames are used when the peer allows them.
        assert max(sizes) == frame_size


async def test_channel_producer_paused_by_zero_window_resumes_on_window_update() -> None:
    produced: list[int] = []

    async def handler(stream: trio_h2.Stream) -> None:
        send, receive = trio.open_memory_channel[bytes](0)

        async def produce() -> None:
            async with send:
                for i in range(10):
                    await send.send(b"%02d" % i * 25)  # 50 bytes
                    produced.append(i)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            await stream.respond(200, [], receive)

    async with (
        connect(handler, initial_window_size=100) as client,
        client.stream("GET", "/") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        paused_at = list(produced)
        # The 100-byte window is spent: two 50-byte frames arrived, nothing more.
        assert response.response.arrival.count("data") == 2
        # Everyone is blocked and nothing moves until the client reads.
        await trio.testing.wait_all_tasks_blocked()
        assert produced == paused_at
        assert len(paused_at) < 10
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert produced == list(range(10))
    assert body == b"".join(b"%02d" % i * 25 for i in range(10))


async def test_file_reads_pause_with_the_window() -> None:
    data = b"x" * (FILE_CHUNK * 2 + 10)
    file = RecordingFile(data)

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], file)  # type: ignore[arg-type]

    async with (
        connect(handler, initial_window_size=100) as client,
        client.stream("GET", "/") as response,
    ):
        # A task waiting on a worker thread counts as blocked, so wait for the
        # first frame, which can only leave once the first read is back.
        with trio.fail_after(5):
            while "data" not in response.response.arrival:
                await trio.testing.wait_all_tasks_blocked()
        await trio.testing.wait_all_tasks_blocked()
        # One chunk was read and waits for credit; the rest of the file stays on disk.
        assert response.response.arrival.count("data") == 1
        assert len(file.reads) == 1
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert body == data
    assert len(file.reads) == 4  # three chunks, then the empty read at the end


async def test_async_iterable_pauses_with_the_window() -> None:
    pulled: list[int] = []

    async def numbers() -> AsyncIterator[bytes]:
        for i in range(20):
            pulled.append(i)
            yield b"%03d" % i * 20  # 60 bytes

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], numbers())

    async with (
        connect(handler, initial_window_size=100) as client,
        client.stream("GET", "/") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        assert len(pulled) == 2  # 60 bytes sent, the second chunk waits for credit
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert len(pulled) == 20
    assert body == b"".join(b"%03d" % i * 20 for i in range(20))


def _distinct_megabyte(index: int) -> bytes:
    block = bytes(range(256)) * 4096
    shift = index * 997 % len(block)
    return (b"%08d" % index + block[shift:] + block[:shift])[: len(block)]


async def test_hundred_concurrent_streamed_megabytes_through_default_windows() -> None:
    count = 100
    expected = {f"/{i}": _distinct_megabyte(i) for i in range(count)}
    assert all(len(v) == 1_048_576 for v in expected.values())
    assert len(set(expected.values())) == count

    async def handler(stream: trio_h2.Stream) -> None:
        data = expected[stream.path]
        index = int(stream.path[1:])
        async with trio.open_nursery() as nursery:
            # Every streamed source, spread over the streams.
            kind = index % 3
            if kind == 0:
                await stream.respond(200, [], _chunks(data, 65_536))
            elif kind == 1:
                await stream.respond(200, [], _channel_of(data, nursery, 50_000))  # type: ignore[arg-type]
            else:
                async with stream.start_response(200) as body:
                    async for chunk in _chunks(data, 40_000):
                        await body.send(chunk)

    results: dict[str, bytes] = {}

    async def fetch(client: trio_h2.testing.Client, path: str) -> None:
        response = await client.get(path)
        assert response.status == 200
        results[path] = response.body

    with trio.fail_after(120):
        async with connect(handler) as client, trio.open_nursery() as nursery:
            for path in expected:
                nursery.start_soon(fetch, client, path)
    assert results.keys() == expected.keys()
    for path, body in expected.items():
        assert results[path] == body, path


# ------------------------------------------------------------------ content-length


async def _stream_long(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-length", "5")], _chunks(b"0123456789", 3))


async def _stream_short(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-length", "50")], _chunks(b"0123456789", 3))


async def _channel_short(stream: trio_h2.Stream) -> None:
    async with trio.open_nursery() as nursery:
        await stream.respond(
            200,
            [("content-length", "50")],
            _channel_of(b"only ten..", nursery, 4),  # type: ignore[arg-type]
        )


async def _start_response_short(stream: trio_h2.Stream) -> None:
    async with stream.start_response(200, content_length=50) as body:
        await body.send(b"0123456789")


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (_stream_long, "body longer than the content-length 5"),
        (_stream_short, "body of 10 bytes, content-length said 50"),
        (_channel_short, "body of 10 bytes, content-length said 50"),
        (_start_response_short, "body of 10 bytes, content-length said 50"),
    ],
)
async def test_body_disagreeing_with_declared_length_resets_and_logs(
    handler: Any, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="trio_h2")
    async with connect(handler) as client:
        response = await client.get("/", raise_on_reset=False)
        # The connection and its other streams carry on.
        assert (await client.get("/", raise_on_reset=False)).reset_code is not None
    assert response.status == 200
    assert response.reset_code == ErrorCodes.INTERNAL_ERROR
    assert "trailers" not in response.arrival
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors
    assert message in caplog.text


async def test_known_length_contradicting_the_header_fails_before_sending(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-length", "3")], io.BytesIO(b"four"))

    async with connect(handler) as client:
        response = await client.get("/")
    # Nothing had gone out, so the client gets a clean 500 instead of a torn response.
    assert response.status == 500
    assert "content-length header says 3, the body has 4 bytes" in caplog.text


async def test_head_with_declared_length_of_the_get_response() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200, [("content-length", "1000")]) as body:
            await body.send(b"x" * 1000)
            body.set_trailers([("x-digest", "abc")])

    async with connect(handler) as client:
        head = await client.request("HEAD", "/")
        get = await client.get("/")
    assert head.header("content-length") == "1000"
    # HEADERS with END_STREAM and nothing else: no DATA, no trailers.
    assert head.arrival == ["headers"]
    assert head.body == b""
    assert get.body == b"x" * 1000
    assert get.trailers == [("x-digest", "abc")]


# --------------------------------------------------------- ownership and HEAD


@pytest.mark.parametrize("source", list(SOURCES))
async def test_head_sends_headers_only_for_every_source(source: str, tmp_path: Path) -> None:
    async with connect(_source_handler(source, PAYLOAD, tmp_path)) as client:
        with trio.fail_after(5):
            response = await client.request("HEAD", "/")
            # The handler finished too: a following request is served.
            again = await client.get("/small-check", raise_on_reset=False)
    assert response.status == 200
    assert response.body == b""
    assert response.arrival == ["headers"]
    expected = str(len(PAYLOAD)) if source in KNOWN_LENGTH else None
    assert response.header("content-length") == expected
    assert again.status == 200


async def test_respond_closes_its_sources() -> None:
    events: list[str] = []

    async def generator() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            yield b"b"
        finally:
            events.append("generator closed")

    file = RecordingFile(b"data")

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/gen":
            # Stopped half-way: one byte declared, two yielded.
            with pytest.raises(trio_h2.LocalProtocolError):
                await stream.respond(200, [("content-length", "1")], generator())
            events.append("respond raised")
        elif stream.path == "/file":
            await stream.respond(200, [], file)  # type: ignore[arg-type]
        else:
            send, receive = trio.open_memory_channel[bytes](1)
            await send.send(b"only one")
            await stream.respond(200, [("content-length", "8")], receive)
            # The response read what it needed; more is refused, not queued forever.
            with pytest.raises(trio.BrokenResourceError):
                await send.send(b"unread")
            events.append("channel closed")

    async with connect(handler) as client:
        torn = await client.get("/gen", raise_on_reset=False)
        get = await client.get("/file")
        channel = await client.request("HEAD", "/channel")
    assert torn.reset_code == ErrorCodes.INTERNAL_ERROR
    assert get.body == b"data"
    assert channel.header("content-length") == "8"
    # Closed in the handler's task, before respond() returned, not by the GC later.
    assert events == ["generator closed", "respond raised", "channel closed"]
    assert file.closed


async def test_head_channel_producer_learns_nobody_listens() -> None:
    outcome: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        send, receive = trio.open_memory_channel[bytes](0)

        async def produce() -> None:
            async with send:
                try:
                    while True:
                        await send.send(b"event\n")
                except trio.BrokenResourceError:
                    outcome.append("stopped")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            await stream.respond(200, [("content-type", "text/event-stream")], receive)

    async with connect(handler) as client:
        with trio.fail_after(5):
            response = await client.request("HEAD", "/")
            await trio.testing.wait_all_tasks_blocked()
    assert response.arrival == ["headers"]
    assert outcome == ["stopped"]


async def test_source_failing_mid_body_resets_with_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ValueError("database gone")

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/fail":
            await stream.respond(200, [], failing())
        else:
            await stream.respond(200, [], b"fine")

    async with connect(handler) as client:
        failed = await client.get("/fail", raise_on_reset=False)
        fine = await client.get("/")
    assert failed.reset_code == ErrorCodes.INTERNAL_ERROR
    assert failed.body == b"partial"
    assert fine.body == b"fine"
    assert "database gone" in caplog.text


async def test_async_iterable_of_the_wrong_type_resets() -> None:
    async def numbers() -> AsyncIterator[int]:
        yield 1

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], numbers())  # type: ignore[arg-type]

    async with connect(handler) as client:
        response = await client.get("/", raise_on_reset=False)
    assert response.reset_code == ErrorCodes.INTERNAL_ERROR


async def test_client_reset_mid_body_cancels_producer_and_closes_source() -> None:
    closed = trio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * 1000
        finally:
            closed.set()

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/endless":
            await stream.respond(200, [], endless())
        else:
            await stream.respond(200, [], b"fine")

    async with connect(handler, initial_window_size=100) as client:
        async with client.stream("GET", "/endless") as response:
            # The server is parked on the closed window, mid-body.
            await trio.testing.wait_all_tasks_blocked()
            await client.reset(response.response.stream_id)
            with trio.fail_after(5):
                await closed.wait()
        assert (await client.get("/", raise_on_reset=False)).status == 200


@pytest.mark.parametrize("status", [204, 304])
async def test_no_content_length_on_204_and_304(status: int) -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/body":
            try:
                await stream.respond(status, [], b"not allowed")
            except trio_h2.LocalProtocolError as exc:
                errors.append(str(exc))
        await stream.respond(status)

    async with connect(handler) as client:
        empty = await client.get("/")
        with_body = await client.get("/body")
    assert empty.status == status
    assert empty.header("content-length") is None
    assert empty.arrival == ["headers"]
    assert with_body.status == status
    assert errors == [f"a {status} response has no body"]
