"""Server push (PUSH_PROMISE), in memory."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import h2.settings
import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.testing import connect

CSS = b"body { color: rebeccapurple }\n"


async def test_push_promise_comes_first_and_inherits_scheme_and_authority() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.push(
            "/style.css",
            request_headers=[("accept", "text/css")],
            headers=[("content-type", "text/css")],
            body=CSS,
        )
        await stream.respond(200, [("content-type", "text/html")], b'<link href="/style.css">')

    async with connect(handler) as client:
        response = await client.get("/", authority="shop.example:8443")
    assert response.status == 200
    # The client hears of the pushed resource before the page that refers to it.
    assert response.arrival[0] == "push"
    assert response.arrival.index("push") < response.arrival.index("headers")
    (pushed,) = response.pushed
    assert pushed.stream_id % 2 == 0
    assert pushed.request_headers == [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "shop.example:8443"),
        (":path", "/style.css"),
        ("accept", "text/css"),
    ]
    assert pushed.status == 200
    assert pushed.header("content-type") == "text/css"
    assert pushed.header("content-length") == str(len(CSS))
    assert pushed.body == CSS


async def test_push_returns_the_pushed_stream() -> None:
    seen: list[trio_h2.Stream | None] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(await stream.push("/a.js", status=203, body="x"))
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.get("/")
    (pushed_stream,) = seen
    assert pushed_stream is not None
    assert pushed_stream.pushed
    assert (pushed_stream.method, pushed_stream.path) == ("GET", "/a.js")
    assert pushed_stream.stream_id == response.pushed[0].stream_id
    assert response.pushed[0].status == 203


async def test_several_pushes_and_push_after_informational() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.send_informational(103, [("link", "</a.css>; rel=preload")])
        for name in ("a.css", "b.js", "c.png"):
            await stream.push(f"/{name}", body=name)
        await stream.respond(200, [], b"page")

    async with connect(handler) as client:
        response = await client.get("/")
    assert [p.path for p in response.pushed] == ["/a.css", "/b.js", "/c.png"]
    assert [p.body for p in response.pushed] == [b"a.css", b"b.js", b"c.png"]
    assert response.arrival[:4] == ["informational", "push", "push", "push"]


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await trio.lowlevel.checkpoint()


PAYLOAD = bytes(range(256)) * 800  # 200 KiB, more than a default window


def _sources(tmp_path: Path) -> dict[str, Callable[[trio.Nursery], object]]:
    path = tmp_path / "payload.bin"
    path.write_bytes(PAYLOAD)

    def channel(nursery: trio.Nursery) -> object:
        send, receive = trio.open_memory_channel[bytes](0)

        async def produce() -> None:
            async with send:
                async for chunk in _chunks(PAYLOAD, 7_000):
                    await send.send(chunk)

        nursery.start_soon(produce)
        return receive

    return {
        "bytes": lambda _: PAYLOAD,
        "bytesio": lambda _: io.BytesIO(PAYLOAD),
        "file": lambda _: open(path, "rb"),  # respond() closes it
        "async-iterable": lambda _: _chunks(PAYLOAD, 10_000),
        "channel": channel,
    }


@pytest.mark.parametrize("source", ["bytes", "bytesio", "file", "async-iterable", "channel"])
async def test_push_every_body_source(source: str, tmp_path: Path) -> None:
    make = _sources(tmp_path)[source]

    async def handler(stream: trio_h2.Stream) -> None:
        async with trio.open_nursery() as nursery:
            await stream.push("/data.bin", body=make(nursery))  # type: ignore[arg-type]
            await stream.respond(200, [], b"page")

    async with connect(handler) as client:
        response = await client.get("/")
    (pushed,) = response.pushed
    assert pushed.reset_code is None
    assert pushed.body == PAYLOAD
    known = source in ("bytes", "bytesio", "file")
    assert pushed.header("content-length") == (str(len(PAYLOAD)) if known else None)


async def test_pushed_body_respects_a_small_window() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.push("/big", body=_chunks(PAYLOAD, 30_000))
        await stream.respond(200, [], b"page")

    async with connect(handler, initial_window_size=100) as client:
        response = await client.get("/")
    (pushed,) = response.pushed
    assert pushed.body == PAYLOAD
    # No DATA frame was larger than the 100-byte window the client offered.
    assert pushed.arrival.count("data") >= len(PAYLOAD) // 100
    assert response.body == b"page"


async def test_pushed_head_gets_headers_only() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.push("/logo.png", method="HEAD", body=b"\x89PNG....")
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.get("/")
    (pushed,) = response.pushed
    assert pushed.request_headers[0] == (":method", "HEAD")
    assert pushed.header("content-length") == "8"
    assert pushed.body == b""
    assert "data" not in pushed.arrival


async def test_push_is_skipped_when_the_peer_disabled_it() -> None:
    results: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        results.append(await stream.push("/style.css", body=CSS))
        await stream.respond(200, [], b"page")

    async with connect(handler, enable_push=False) as client:
        response = await client.get("/")
    assert results == [None]
    assert response.pushed == []
    assert "push" not in response.arrival
    assert response.body == b"page"


async def test_push_is_skipped_at_the_peers_stream_limit() -> None:
    results: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        results.append(await stream.push("/one", body=b"1"))
        results.append(await stream.push("/two", body=b"2"))
        await stream.respond(200)

    async with connect(handler) as client:
        client.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1})
        await client._send()
        # The request follows the SETTINGS on the wire, so the server knows the limit.
        response = await client.get("/")
        # Once the pushed stream is over, there is room for a push again.
        await trio.testing.wait_all_tasks_blocked()
        again = await client.get("/")
    assert isinstance(results[0], trio_h2.Stream)
    assert results[1] is None
    assert [p.path for p in response.pushed] == ["/one"]
    assert response.pushed[0].body == b"1"
    assert isinstance(results[2], trio_h2.Stream)
    assert results[3] is None
    assert [p.path for p in again.pushed] == ["/one"]


async def test_push_is_skipped_after_the_peer_said_goaway() -> None:
    results: list[object] = []
    go = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        await go.wait()
        results.append(await stream.push("/late.css", body=CSS))
        await stream.respond(200, [], b"still answered")

    async with connect(handler) as client:
        stream_id = await client.start_request("GET", "/", end_stream=True)
        await trio.testing.wait_all_tasks_blocked()
        await client.send_raw(
            # GOAWAY(last_stream_id=0, NO_ERROR): no pushed streams wanted.
            b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + b"\x00" * 8
        )
        await trio.testing.wait_all_tasks_blocked()
        go.set()
        response = await client.wait_response(stream_id)
    assert results == [None]
    # The request the client made before its GOAWAY is still answered.
    assert response.body == b"still answered"
    assert response.pushed == []


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT"])
async def test_push_of_an_unsafe_method_is_refused(method: str) -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.push("/thing", method=method)
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.get("/")
    assert method in errors[0]
    assert response.pushed == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "style.css"}, "starts with '/'"),
        ({"path": "/a b"}, "invalid character"),
        ({"path": "/a\nb"}, "invalid character"),
        ({"path": "/x", "status": 101}, "final status"),
        ({"path": "/x", "headers": [("Content-Type", "x")]}, "lowercase"),
        ({"path": "/x", "request_headers": [("connection", "close")]}, "connection-specific"),
        ({"path": "/x", "body": 42}, "not int"),
    ],
)
async def test_push_misuse_raises_before_anything_is_sent(
    kwargs: dict[str, object], message: str
) -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        path = kwargs.pop("path")
        try:
            await stream.push(path, **kwargs)  # type: ignore[arg-type]
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.get("/")
    assert len(errors) == 1
    assert message in errors[0]
    assert response.pushed == []


async def test_push_after_the_response_started_is_refused() -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"part")
            try:
                await stream.push("/late.css")
            except trio_h2.LocalProtocolError as exc:
                errors.append(str(exc))
        try:
            await stream.push("/later.css")
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.body == b"part"
    assert response.pushed == []
    assert len(errors) == 2
    assert "already started" in errors[0]


async def test_peer_reset_of_a_pushed_stream_cancels_only_its_task() -> None:
    pushed_cancelled = trio.Event()
    parent_finished: list[bool] = []

    async def endless() -> AsyncIterator[bytes]:
        try:
            yield b"first chunk"
            await trio.sleep_forever()
        finally:
            pushed_cancelled.set()
        yield b"never"  # pragma: no cover

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/again":
            await stream.respond(200)
            return
        await stream.push("/endless", body=endless())
        # The parent goes on only once the pushed task has been cancelled,
        # and is itself left alone by that cancellation.
        await pushed_cancelled.wait()
        await stream.respond(200, [], b"parent done")
        parent_finished.append(True)

    async with connect(handler) as client:
        stream_id = await client.start_request("GET", "/", end_stream=True)
        await trio.testing.wait_all_tasks_blocked()
        parent_state = client._streams[stream_id]
        (pushed,) = parent_state.response.pushed
        assert pushed.body == b"first chunk"
        await client.reset(pushed.stream_id, ErrorCodes.CANCEL)
        response = await client.wait_response(stream_id)
        assert response.status == 200
        assert response.body == b"parent done"
        assert response.reset_code is None
        # The connection carries on.
        again = await client.get("/again")
        assert again.status == 200
    assert parent_finished == [True]


async def test_pushed_body_failing_resets_only_the_pushed_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"some"
        raise RuntimeError("backend went away")

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.push("/broken", body=broken())
        await stream.respond(200, [], b"page")

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.body == b"page"
    (pushed,) = response.pushed
    assert pushed.reset_code == ErrorCodes.INTERNAL_ERROR
    assert "backend went away" in caplog.text


async def test_push_with_a_reset_parent_raises_stream_reset() -> None:
    errors: list[BaseException] = []

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.reset(ErrorCodes.REFUSED_STREAM)
        try:
            await stream.push("/x")
        except trio_h2.StreamReset as exc:
            errors.append(exc)

    async with connect(handler) as client:
        response = await client.get("/", raise_on_reset=False)
    assert response.reset_code == ErrorCodes.REFUSED_STREAM
    assert len(errors) == 1
