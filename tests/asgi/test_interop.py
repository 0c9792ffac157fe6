"""ASGI applications on real sockets, reached by curl, httpx, trio-websocket and h2load."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio_websocket

import trio_h2
import trio_h2.asgi

from . import apps

pytestmark = pytest.mark.interop


@asynccontextmanager
async def running(app: Any, **kwargs: Any) -> AsyncIterator[str]:
    """``trio_h2.asgi.serve(app)`` on a free loopback port; yields its base URL."""
    async with trio.open_nursery() as nursery:
        address: trio_h2.ServerAddress = await nursery.start(
            lambda task_status: trio_h2.asgi.serve(
                app, "127.0.0.1", 0, task_status=task_status, **kwargs
            )
        )
        try:
            yield f"http://127.0.0.1:{address.port}"
        finally:
            nursery.cancel_scope.cancel()


async def run(*command: str) -> str:
    with trio.fail_after(60):
        result = await trio.run_process(list(command), capture_stdout=True, capture_stderr=True)
    return result.stdout.decode()


@pytest.mark.parametrize(
    ("curl_args", "version"), [([], "1.1"), (["--http2-prior-knowledge"], "2")]
)
async def test_curl(curl: str, curl_args: list[str], version: str) -> None:
    async with running(apps.app) as url:
        state = await run(curl, "-s", *curl_args, url + "/state")
        streamed = await run(curl, "-s", "-N", *curl_args, url + "/numbers?count=1000")
        upload = await run(
            curl, "-s", *curl_args, "--data-binary", "@" + apps.__file__, url + "/upload"
        )
        file = await run(curl, "-s", *curl_args, url + "/file")
        missing = await run(curl, "-s", *curl_args, url + "/nowhere")
    body = json.loads(state)
    assert body["http_version"] == version
    assert body["greeting"] == "hello from the lifespan"
    assert streamed == "".join(f"{i}\n" for i in range(1000))
    with open(apps.__file__, "rb") as source:
        expected = source.read()
    assert json.loads(upload)["size"] == len(expected)
    assert file.encode() == expected
    assert missing == "Not Found"


async def test_curl_fastapi_json(curl: str) -> None:
    async with running(apps.api) as url:
        out = await run(
            curl,
            "-s",
            "--http2-prior-knowledge",
            "-H",
            "content-type: application/json",
            "-d",
            '{"name": "ink", "price": 2}',
            url + "/items",
        )
    assert json.loads(out) == {"name": "ink", "total": 4.0, "tags": []}


@pytest.mark.parametrize(("http1", "http2", "version"), [(True, False, "1.1"), (False, True, "2")])
async def test_httpx(http1: bool, http2: bool, version: str) -> None:
    async with (
        running(apps.app) as url,
        httpx.AsyncClient(http1=http1, http2=http2, base_url=url) as client,
    ):
        state = await client.get("/state")
        async with client.stream("GET", "/numbers?count=2000") as response:
            streamed = b"".join([chunk async for chunk in response.aiter_bytes()])
        upload = await client.post("/upload", content=b"u" * 300_000)
    assert state.json()["http_version"] == version
    assert streamed == b"".join(f"{i}\n".encode() for i in range(2000))
    assert upload.json()["size"] == 300_000
    async with (
        running(apps.quart_app) as url,
        httpx.AsyncClient(http1=http1, http2=http2, base_url=url) as client,
    ):
        quart = await client.post("/echo", content=b"q" * 1000)
    assert quart.json() == {"length": 1000, "method": "POST"}


async def test_trio_websocket_client_over_http1_upgrade() -> None:
    for app, greeting, reply in (
        (apps.app, "hello", "echo: hello"),
        (apps.quart_app, "hi", "quart: hi"),
    ):
        async with running(app) as url:
            ws_url = url.replace("http://", "ws://") + "/ws"
            async with trio_websocket.open_websocket_url(ws_url, subprotocols=["chat"]) as ws:
                await ws.send_message(greeting)
                assert await ws.get_message() == reply
                assert ws.subprotocol == ("chat" if app is apps.app else None)


async def _client_socket(url: str) -> trio.SocketStream:
    port = int(url.rpartition(":")[2])
    return await trio.open_tcp_stream("127.0.0.1", port)


async def test_trio_websocket_client_sees_the_applications_close_and_refusal() -> None:
    # On the client's own socket, closed here: trio-websocket's client leaves its
    # socket open when the server closes or refuses.
    async with running(apps.app) as url:
        stream = await _client_socket(url)
        try:
            async with trio.open_nursery() as nursery:
                ws = await trio_websocket.wrap_client_stream(nursery, stream, "127.0.0.1", "/ws")
                await ws.send_message("close")
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
                nursery.cancel_scope.cancel()
        finally:
            await stream.aclose()
        assert closed.value.reason.code == 4000
        assert closed.value.reason.reason == "asked to"
        stream = await _client_socket(url)
        rejected: list[trio_websocket.ConnectionRejected] = []
        try:
            async with trio.open_nursery() as nursery:
                await trio_websocket.wrap_client_stream(nursery, stream, "127.0.0.1", "/refuse")
        except* trio_websocket.ConnectionRejected as group:
            rejected += group.exceptions  # type: ignore[arg-type]
        finally:
            await stream.aclose()
        assert [r.status_code for r in rejected] == [403]


async def test_fastapi_websocket_with_trio_websocket_client() -> None:
    # On the client's own socket: the route returns after one answer, so the server
    # closes first, and trio-websocket's client then leaves its socket open.
    async with running(apps.api) as url:
        stream = await _client_socket(url)
        try:
            async with trio.open_nursery() as nursery:
                ws = await trio_websocket.wrap_client_stream(nursery, stream, "127.0.0.1", "/ws")
                await ws.send_message(json.dumps([1, 2]))
                assert json.loads(await ws.get_message()) == {"got": [1, 2]}
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 1000
                nursery.cancel_scope.cancel()
        finally:
            await stream.aclose()


@pytest.mark.parametrize("h1", [False, True], ids=["h2", "h1"])
async def test_h2load_has_no_failures(h2load: str, h1: bool) -> None:
    async with running(apps.app) as url:
        out = await run(h2load, *(["--h1"] if h1 else []), "-n", "200", "-c", "4", url + "/")
    assert "200 succeeded, 0 failed, 0 errored, 0 timeout" in out, out
    assert re.search(r"status codes: 200 2xx", out), out
