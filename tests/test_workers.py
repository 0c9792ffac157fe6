"""SO_REUSEPORT listeners and serve_listeners(), in one process (the CLI tests run processes)."""

from __future__ import annotations

import contextlib

import pytest
import trio

import trio_h2
from trio_h2 import _listeners, _workers
from trio_h2.testing import open_client

pytestmark = pytest.mark.skipif(not _workers.HAVE_REUSE_PORT, reason="needs SO_REUSEPORT")


def answer(name: bytes) -> trio_h2.server.h2conn.Handler:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain")], name)

    return handler


async def test_servers_share_a_reserved_port() -> None:
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(_workers.reserve_port("127.0.0.1", 0))
        assert port > 0
        bind = [_listeners.Bind("127.0.0.1", port)]
        first, second = (
            [
                trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                for sock in stack.enter_context(
                    _listeners.open_sockets(bind, reuse_port=True)
                ).sockets
            ]
            for _ in range(2)
        )
        async with trio.open_nursery() as nursery:
            for listeners, name in ((first, b"first"), (second, b"second")):
                address = await nursery.start(trio_h2.serve_listeners, answer(name), listeners)
                assert address == trio_h2.ServerAddress("127.0.0.1", port)
            answers = set()
            for _ in range(6):
                transport = await trio.open_tcp_stream("127.0.0.1", port)
                async with open_client(transport) as client:
                    response = await client.get("/")
                assert response.status == 200
                answers.add(response.body)
            # Which server the kernel picks is its business; each answer is one of them.
            assert answers <= {b"first", b"second"}
            nursery.cancel_scope.cancel()
    # Cancelling serve_listeners() closed the listeners it was given.
    for listener in first + second:
        assert listener.socket.fileno() == -1


async def test_serve_listeners_needs_a_listener() -> None:
    with pytest.raises(ValueError, match="at least one listener"):
        await trio_h2.serve_listeners(answer(b""), [])
