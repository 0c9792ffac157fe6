"""Stream hooks for callback-style layers: push_nowait, wait_send_window, reset_code."""

from __future__ import annotations

import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.testing import connect


async def test_push_nowait_returns_the_promised_stream_at_once() -> None:
    promised: list[trio_h2.Stream | None] = []

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.pushed:
            raise AssertionError("pushes given as status/headers/body need no handler")
        promised.append(stream.push_nowait("/a.css", headers=[("content-type", "text/css")]))
        promised.append(stream.push_nowait("/b.js", body=b"js"))
        await stream.respond(200, [], b"page")

    async with connect(handler) as client:
        response = await client.get("/")
    assert [p.stream_id if p else None for p in promised] == [2, 4]
    assert all(p is not None and p.pushed for p in promised)
    assert sorted((p.path, p.body) for p in response.pushed) == [("/a.css", b""), ("/b.js", b"js")]


async def test_push_nowait_is_none_when_push_is_disabled() -> None:
    results: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        results.append(stream.push_nowait("/a.css"))
        results.append(await stream.push("/a.css"))
        await stream.respond(200)

    async with connect(handler, enable_push=False) as client:
        await client.get("/")
    assert results == [None, None]


async def test_push_with_a_handler_serves_the_pushed_stream() -> None:
    async def pushed_handler(stream: trio_h2.Stream) -> None:
        assert stream.pushed
        async with stream.start_response(200, [("x-from", "handler")]) as body:
            await body.send(b"made by ")
            await body.send(stream.path)

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.push("/p", handler=pushed_handler)
        await stream.respond(200, [], b"main")

    async with connect(handler) as client:
        response = await client.get("/")
    (push,) = response.pushed
    assert push.header("x-from") == "handler"
    assert push.body == b"made by /p"


async def test_wait_send_window_is_bounded_by_window_and_frame_size() -> None:
    sizes: list[int] = []

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            sizes.append(await stream.wait_send_window())
            await body.send(b"x" * 100)
            sizes.append(await stream.wait_send_window())
            await body.send(b"x" * sizes[-1])
            sizes.append(await stream.wait_send_window())  # waits for credit

    async with (
        connect(handler, initial_window_size=1000) as client,
        client.stream("GET", "/") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        assert sizes == [1000, 900]  # parked at a closed window
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert len(body) == 1000
    assert sizes == [1000, 900, 1000]

    sizes.clear()
    async with connect(handler, initial_window_size=100_000) as client:
        await client.get("/")
    assert sizes[0] == 16_384  # the peer's SETTINGS_MAX_FRAME_SIZE


async def test_wait_send_window_raises_when_the_stream_is_reset() -> None:
    errors: list[BaseException] = []

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"x" * 10)
            try:
                with trio.CancelScope(shield=True):
                    await stream.wait_send_window()
            except trio_h2.StreamReset as exc:
                errors.append(exc)
                raise

    async with (
        connect(handler, initial_window_size=10) as client,
        client.stream("GET", "/") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        await client.reset(response.response.stream_id, ErrorCodes.CANCEL)
        await trio.testing.wait_all_tasks_blocked()
    assert len(errors) == 1
    assert errors[0].error_code == ErrorCodes.CANCEL  # type: ignore[attr-defined]


async def test_reset_code_and_raw_pseudo_headers() -> None:
    seen: list[trio_h2.Stream] = []
    done = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(stream)
        try:
            await trio.sleep_forever()
        finally:
            done.set()

    async with connect(handler) as client:
        stream_id = await client.start_request("GET", "/x?y", end_stream=True)
        await trio.testing.wait_all_tasks_blocked()
        (stream,) = seen
        assert stream.reset_code is None
        assert stream.raw_pseudo_headers == [
            (b":method", b"GET"),
            (b":scheme", b"http"),
            (b":authority", b"example.test"),
            (b":path", b"/x?y"),
        ]
        await client.reset(stream_id, ErrorCodes.REFUSED_STREAM)
        await done.wait()
    assert stream.reset_code == ErrorCodes.REFUSED_STREAM


async def test_wait_send_window_gives_up_after_send_timeout(autojump_clock: object) -> None:
    errors: list[trio_h2.StreamReset] = []

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"x" * 10)
            try:
                await stream.wait_send_window()
            except trio_h2.StreamReset as exc:
                errors.append(exc)
                raise

    config = trio_h2.Config(send_timeout=5)
    async with (
        connect(handler, config=config, initial_window_size=10) as client,
        client.stream("GET", "/") as response,
    ):
        start = trio.current_time()
        # Read nothing: the server's window stays closed until it gives up.
        await client.wait_response(response.response.stream_id)
        assert response.response.reset_code == ErrorCodes.CANCEL
    assert [e.error_code for e in errors] == [ErrorCodes.CANCEL]
    assert [e.remote for e in errors] == [False]
    assert trio.current_time() - start >= 5
