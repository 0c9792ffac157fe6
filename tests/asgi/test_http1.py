"""ASGI over HTTP/1.1 and 1.0 on a real socket, byte for byte."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import trio_h2
import trio_h2.asgi

pytestmark = pytest.mark.interop

Scope = dict[str, Any]


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(trio_h2.asgi.serve, app, "127.0.0.1", 0)
        try:
            yield address.port
        finally:
            nursery.cancel_scope.cancel()


async def exchange(port: int, request: bytes) -> bytes:
    """Send ``request``, read until the server closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        with trio.fail_after(30):
            while chunk := await stream.receive_some():
                data += chunk
    return data


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        raise RuntimeError("no lifespan")
    path = scope["path"]
    if path == "/scope":
        body = f"{scope['http_version']} {sorted(scope['extensions'])}".encode()
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": body})
    elif path == "/trailers":
        await send({"type": "http.response.early_hint", "links": [b"</s.css>; rel=preload"]})
        await send({"type": "http.response.push", "path": "/s.css"})  # no push: skipped
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"hello", "more_body": True})
        await send({"type": "http.response.body", "body": b" world"})
        await send({"type": "http.response.trailers", "headers": [(b"x-check", b"ok")]})
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
    elif path == "/fail":
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("mid-body")


async def test_http10_scope_and_a_streamed_body() -> None:
    async with running(app) as port:
        scope = await exchange(port, b"GET /scope HTTP/1.0\r\n\r\n")
        streamed = await exchange(port, b"GET /stream HTTP/1.0\r\n\r\n")
    assert scope.endswith(b"1.0 ['http.response.pathsend']")
    assert scope.startswith(b"HTTP/1.1 200 OK\r\n")
    head, _, body = streamed.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()  # HTTP/1.0: the close ends it
    assert body == b"ab"


async def test_http11_early_hint_chunked_body_and_trailers() -> None:
    async with running(app) as port:
        scope = await exchange(
            port, b"GET /scope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        data = await exchange(
            port,
            b"GET /trailers HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: close\r\n\r\n",
        )
    assert scope.endswith(
        b"1.1 ['http.response.early_hint', 'http.response.pathsend', 'http.response.trailers']"
    )
    assert data.startswith(b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n")
    final = data[data.index(b"HTTP/1.1 200") :]
    head, _, body = final.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-check: ok\r\n\r\n"


async def test_failure_mid_body_closes_the_connection_without_the_last_chunk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running(app) as port:
        data = await exchange(port, b"GET /fail HTTP/1.1\r\nhost: x\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"7\r\npartial\r\n"  # no "0\r\n\r\n": the client knows it is cut short
    assert "mid-body" in caplog.text


async def test_client_gone_mid_upload_is_http_disconnect() -> None:
    seen: list[Any] = []
    first = trio.Event()
    done = trio.Event()

    async def reader(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")
        try:
            while True:
                message = await receive()
                seen.append(message["type"])
                first.set()
                if message["type"] == "http.disconnect" or not message["more_body"]:
                    return
        finally:
            done.set()

    async with running(reader) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly some"
        )
        with trio.fail_after(30):
            await first.wait()
            await stream.aclose()
            await done.wait()
    assert seen == ["http.request", "http.disconnect"]
