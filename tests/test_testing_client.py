"""The test client itself: what it shows a test must not depend on the timing of the wire."""

from __future__ import annotations

import trio
import trio.testing

import trio_h2
from tests.support import ForwardingStream
from trio_h2._server import Server
from trio_h2.testing import open_client


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
