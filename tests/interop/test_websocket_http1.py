"""WebSockets over HTTP/1.1 (RFC 6455 Upgrade) with real clients over real sockets.

trio-websocket's own client and the ``websockets`` package's client (on asyncio, in
a thread) connect to the server as they would to any WebSocket server, over ws://
and wss://; the handler is the same one that serves RFC 8441 over HTTP/2.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trio
import trio_websocket
import trustme
import websockets.asyncio.client

import trio_h2
from tests.support import running_server

pytestmark = pytest.mark.interop


async def echo(stream: trio_h2.Stream) -> None:
    if not stream.is_websocket:
        await stream.respond(
            200, [("content-type", "text/plain")], b"plain " + stream.http_version.encode()
        )
        return
    if stream.path == "/private":
        await stream.respond(403, [("content-type", "text/plain")], b"no\n")
        return
    subprotocol = "chat" if "chat" in (stream.header("sec-websocket-protocol") or "") else None
    ws = await stream.accept_websocket(subprotocol, [("x-served-by", "trio_h2")])
    while True:
        try:
            message = await ws.get_message()
        except trio_websocket.ConnectionClosed:
            return
        await ws.send_message(message)


async def test_trio_websocket_client_over_ws() -> None:
    async with running_server(echo) as address:
        url = f"ws://127.0.0.1:{address.port}/echo"
        async with trio_websocket.open_websocket_url(url, subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert dict(ws.handshake_headers)[b"x-served-by"] == b"trio_h2"
            await ws.send_message("hello")
            assert await ws.get_message() == "hello"
            await ws.send_message(b"\x00\xff" * 40_000)
            assert await ws.get_message() == b"\x00\xff" * 40_000
        # The same port still serves plain HTTP/1.1 afterwards.
        stream = await trio.open_tcp_stream("127.0.0.1", address.port)
        await stream.send_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
        await stream.aclose()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.endswith(b"plain 1.1")


async def test_a_refused_upgrade_is_an_ordinary_response() -> None:
    async with running_server(echo) as address:
        # The client's own socket, closed here: trio-websocket leaves a rejected
        # connection's socket open.
        stream = await trio.open_tcp_stream("127.0.0.1", address.port)
        rejected: list[trio_websocket.ConnectionRejected] = []
        try:
            async with trio.open_nursery() as nursery:
                await trio_websocket.wrap_client_stream(nursery, stream, "127.0.0.1", "/private")
        except* trio_websocket.ConnectionRejected as group:
            rejected += group.exceptions  # type: ignore[arg-type]
        finally:
            await stream.aclose()
        assert rejected
        assert {(r.status_code, r.body) for r in rejected} == {(403, b"no\n")}


async def test_websockets_package_client_over_ws_and_wss(
    ca: trustme.CA, server_ssl_context: ssl.SSLContext
) -> None:
    async def talk(url: str, context: ssl.SSLContext | None) -> list[object]:
        async with websockets.asyncio.client.connect(
            url,
            ssl=context,
            subprotocols=["chat"],  # type: ignore[list-item]
        ) as ws:
            await ws.send("ping?")
            text = await ws.recv()
            await ws.send(b"bytes")
            data = await ws.recv()
            return [ws.subprotocol, text, data]

    async with running_server(echo) as address:
        url = f"ws://127.0.0.1:{address.port}/echo"
        result = await trio.to_thread.run_sync(asyncio.run, talk(url, None))
        assert result == ["chat", "ping?", b"bytes"]
    async with running_server(echo, ssl_context=server_ssl_context) as address:
        client = ssl.create_default_context()
        ca.configure_trust(client)
        url = f"wss://localhost:{address.port}/echo"
        result = await trio.to_thread.run_sync(asyncio.run, talk(url, client))
        assert result == ["chat", "ping?", b"bytes"]
