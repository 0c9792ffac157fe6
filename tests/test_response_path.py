"""The response path: h2's bookkeeping stays bounded and in agreement with what was sent."""

from __future__ import annotations

from typing import Any

import trio_h2
from trio_h2.testing import connect


def server_h2(stream: trio_h2.Stream) -> Any:
    """The server's h2 connection behind a stream (white box)."""
    return stream._io._h2  # type: ignore[attr-defined]


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
