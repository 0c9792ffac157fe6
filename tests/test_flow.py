"""Flow control both ways: backpressure on uploads, windows and frame sizes on responses."""

from __future__ import annotations

import h2.settings
import trio
import trio.testing

import trio_h2
from trio_h2.server.flow import WindowWaiters
from trio_h2.testing import connect


def buffered(stream: trio_h2.Stream) -> int:
    """Request-body bytes the server holds for a stream that its handler has not read."""
    return stream.inbound.buffered


async def test_slow_reader_bounds_server_memory_by_the_window() -> None:
    window = 65_536
    config = trio_h2.Config(initial_window_size=window, initial_connection_window_size=window * 4)
    total = 50 * 1024 * 1024
    streams: list[trio_h2.Stream] = []
    go = trio.Event()
    sent = 0

    async def handler(stream: trio_h2.Stream) -> None:
        streams.append(stream)
        await go.wait()
        received = 0
        async for chunk in stream:
            received += len(chunk)
            assert buffered(stream) <= window
        await stream.respond(200, [], str(received))

    async def upload():  # type: ignore[no-untyped-def]
        nonlocal sent
        chunk = b"u" * 65_536
        while sent < total:
            sent += len(chunk)
            yield chunk

    async with connect(handler, config=config) as client:
        async with trio.open_nursery() as nursery:
            result: list[trio_h2.testing.Response] = []

            async def post() -> None:
                result.append(await client.post("/upload", upload()))

            nursery.start_soon(post)
            await trio.testing.wait_all_tasks_blocked()
            # The handler reads nothing: the uploader is stopped at the stream window.
            (stream,) = streams
            assert buffered(stream) <= window
            assert sent <= window + 2 * 65_536
            go.set()
        assert result[0].body == str(total).encode()


async def test_credit_returns_as_the_handler_reads() -> None:
    window = 65_536
    config = trio_h2.Config(initial_window_size=window)
    streams: list[trio_h2.Stream] = []
    step = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        streams.append(stream)
        await step.wait()
        first = await stream.receive_some()
        assert first
        await trio.sleep_forever()

    async with connect(handler, config=config) as client:
        stream_id = await client.start_request("POST", "/")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_data, stream_id, b"d" * (4 * window))
            await trio.testing.wait_all_tasks_blocked()
            before = client.h2.local_flow_control_window(stream_id)
            assert before == 0
            step.set()
            await trio.testing.wait_all_tasks_blocked()
            # Reading is what moved the window: the uploader got credit and is blocked again.
            assert buffered(streams[0]) <= window
            nursery.cancel_scope.cancel()


async def test_response_waits_for_client_window_and_resumes() -> None:
    payload = bytes(range(256)) * 400  # 102,400 bytes
    progress: list[int] = []

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            for i in range(0, len(payload), 10_000):
                await body.send(payload[i : i + 10_000])
                progress.append(i)

    async with (
        connect(handler, initial_window_size=20_000) as client,
        client.stream("GET", "/") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        # Only what fits in a 20,000-byte window has been sent.
        assert len(progress) <= 2
        got = b""
        async for chunk in response.aiter_bytes():
            got += chunk
    assert got == payload


async def test_data_frames_follow_the_peer_max_frame_size() -> None:
    payload = b"m" * 100_000

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], payload)

    async with connect(handler, initial_window_size=1_000_000) as client:
        small = await client.get("/")
    async with connect(handler, initial_window_size=1_000_000, max_frame_size=65_536) as client:
        large = await client.get("/")
    assert small.body == payload
    assert large.body == payload
    assert small.arrival.count("data") == 7  # ceil(100000 / 16384)
    assert large.arrival.count("data") == 2  # ceil(100000 / 65536)


async def test_initial_window_size_changes_apply_to_open_streams() -> None:
    payload = b"w" * 50_000
    sent = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], payload)
        sent.set()

    async with (
        connect(handler, initial_window_size=10_000) as client,
        client.stream("GET", "/") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        assert not sent.is_set()
        # Shrink below what is in flight (the window goes negative), then grow.
        client.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        await client._send()
        await trio.testing.wait_all_tasks_blocked()
        assert not sent.is_set()
        client.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1_000_000})
        await client._send()
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert body == payload
    assert sent.is_set()


async def test_connection_window_is_shared_and_refilled() -> None:
    # Three 100 kB responses through the client's 65,535-byte connection window.
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], stream.path.encode() * 20_000)

    async with connect(handler) as client, trio.open_nursery() as nursery:
        results: dict[str, bytes] = {}

        async def fetch(path: str) -> None:
            results[path] = (await client.get(path)).body

        for path in ("/aaaa", "/bbbb", "/cccc"):
            nursery.start_soon(fetch, path)
    assert results == {p: p.encode() * 20_000 for p in ("/aaaa", "/bbbb", "/cccc")}


async def test_unread_body_credit_is_returned_to_the_connection() -> None:
    # Handlers that ignore their request bodies must not starve the connection window.
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], b"ignored")

    config = trio_h2.Config(initial_connection_window_size=65_535, initial_window_size=65_535)
    async with connect(handler, config=config) as client:
        for _ in range(20):
            response = await client.post("/", b"x" * 60_000)
            assert response.body == b"ignored"


async def test_connection_credit_is_handed_on_in_turn() -> None:
    # Twenty responses share the client's 65,535-byte connection window.  Each
    # WINDOW_UPDATE on the connection wakes one waiting sender, which hands on what it
    # does not use: all complete, and senders are not woken in herds only to park again.
    size = 200_000
    parked = 0
    original = WindowWaiters.wait

    async def counting(self: WindowWaiters, stream_id: int, *, connection: bool = False) -> None:
        nonlocal parked
        parked += 1
        await original(self, stream_id, connection=connection)

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], stream.path.encode()[-1:] * size)

    WindowWaiters.wait = counting  # type: ignore[method-assign]
    try:
        async with connect(handler, initial_window_size=1_000_000) as client:
            results: dict[str, bytes] = {}

            async def fetch(path: str) -> None:
                results[path] = (await client.get(path)).body

            async with trio.open_nursery() as nursery:
                for i in range(20):
                    nursery.start_soon(fetch, f"/{chr(97 + i)}")
    finally:
        WindowWaiters.wait = original  # type: ignore[method-assign]
    assert results == {f"/{chr(97 + i)}": chr(97 + i).encode() * size for i in range(20)}
    # About one park per connection-window refill, not one per waiting stream.
    refills = 20 * size // 32_768
    assert parked <= 2 * refills + 20


async def test_deferred_sender_does_not_strand_connection_credit() -> None:
    # A body that waits for the window and then does not send (deferred generation)
    # must not keep the connection's credit from the stream in line behind it.
    stall = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/stalled":
            async with stream.start_response(200) as body:
                await body.send(b"s" * 65_535)  # the client's whole connection window
                await stream.wait_send_window()
                await stall.wait()
        else:
            await stream.respond(200, [], b"o" * 1_000)

    async with connect(handler, initial_window_size=1_000_000) as client:
        async with client.stream("GET", "/stalled") as stalled:
            await trio.testing.wait_all_tasks_blocked()
            async with trio.open_nursery() as nursery:
                result: list[bytes] = []

                async def other() -> None:
                    result.append((await client.get("/other")).body)

                nursery.start_soon(other)
                await trio.testing.wait_all_tasks_blocked()
                assert not result  # in line behind /stalled, at a shut connection window
                # One WINDOW_UPDATE with all the credit: it wakes /stalled, first in line.
                client.h2.increment_flow_control_window(65_535)
                await client._send()
                with trio.fail_after(10):
                    while not result:
                        await trio.testing.wait_all_tasks_blocked()
                        if not result:
                            await client.ping()  # lets time pass without sleeping
                del stalled
            assert result == [b"o" * 1_000]
            stall.set()
