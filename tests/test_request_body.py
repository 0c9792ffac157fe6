"""Reading request bodies: whole or chunked, credit returned, empty DATA frames skipped."""

from __future__ import annotations

from typing import Any

import pytest

import trio_h2
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
        servers.append(stream._io._h2)  # type: ignore[attr-defined]
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
        servers.append(stream._io._h2)  # type: ignore[attr-defined]
        await body_length(stream)

    config = trio_h2.Config(initial_window_size=65_535, initial_connection_window_size=65_535)
    body = bytes(range(256)) * 2_000  # several windows' worth
    async with connect(handler, config=config) as client:
        for _ in range(3):
            response = await client.post("/read", body)
            assert response.body == str(len(body)).encode()
            assert unacknowledged(servers[-1]) == 0
