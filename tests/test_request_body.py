"""Reading request bodies: whole or chunked, credit returned, empty DATA frames skipped."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_h2
from trio_h2.server.request_body import RECEIVE_COALESCE
from trio_h2.testing import connect


async def body_length(stream: trio_h2.Stream) -> None:
    if stream.path == "/chunks":
        total = 0
        async for chunk in stream:
            assert chunk
            total += len(chunk)
    else:
        total = len(await stream.read())
    await stream.respond(200, [], str(total))


@pytest.mark.parametrize("path", ["/read", "/chunks"])
async def test_empty_data_frames_do_not_end_the_body(path: str) -> None:
    async with connect(body_length) as client:
        stream_id = await client.start_request("POST", path)
        for part in (b"abc", b"", b"", b"defg", b""):
            await client.send_data(stream_id, part, end_stream=False)
        await client.send_data(stream_id, b"hij", end_stream=True)
        response = await client.wait_response(stream_id)
    assert response.body == b"10"


def unacknowledged(server_h2: Any) -> int:
    """Request bytes the server has received but not yet credited back (connection)."""
    manager = server_h2._inbound_flow_control_window_manager
    return int(manager.max_window_size - manager.current_window_size - manager._bytes_processed)


async def test_padded_empty_frame_credit_comes_back() -> None:
    servers: list[Any] = []

    async def handler(stream: trio_h2.Stream) -> None:
        servers.append(stream._io._proto._h2)  # type: ignore[attr-defined]
        await body_length(stream)

    async with connect(handler) as client:
        stream_id = await client.start_request("POST", "/read")
        client.h2.send_data(stream_id, b"", end_stream=False, pad_length=200)
        await client._send()
        await client.send_data(stream_id, b"x" * 100, end_stream=True)
        response = await client.wait_response(stream_id)
        assert response.body == b"100"
        assert unacknowledged(servers[0]) == 0


async def test_read_of_many_buffered_chunks_returns_all_credit() -> None:
    servers: list[Any] = []

    async def handler(stream: trio_h2.Stream) -> None:
        servers.append(stream._io._proto._h2)  # type: ignore[attr-defined]
        await body_length(stream)

    config = trio_h2.Config(initial_window_size=65_535, initial_connection_window_size=65_535)
    body = bytes(range(256)) * 2_000  # several windows' worth
    async with connect(handler, config=config) as client:
        for _ in range(3):
            response = await client.post("/read", body)
            assert response.body == str(len(body)).encode()
            assert unacknowledged(servers[-1]) == 0


async def test_buffered_frames_come_out_together() -> None:
    go = trio.Event()
    sizes: list[int] = []

    async def handler(stream: trio_h2.Stream) -> None:
        await go.wait()
        async for chunk in stream:
            sizes.append(len(chunk))
        await stream.respond(200, [], str(sum(sizes)))

    config = trio_h2.Config(initial_window_size=1_048_576)
    async with connect(handler, config=config) as client:
        stream_id = await client.start_request("POST", "/")
        await client.send_data(stream_id, b"x" * 200_000, end_stream=True)
        await trio.testing.wait_all_tasks_blocked()
        go.set()
        response = await client.wait_response(stream_id)
    assert response.body == b"200000"
    # Frames are at most 16 KiB; what was buffered comes out in chunks of about
    # RECEIVE_COALESCE, not frame by frame.
    assert max(sizes) >= RECEIVE_COALESCE
    assert len(sizes) <= 200_000 // RECEIVE_COALESCE + 1
