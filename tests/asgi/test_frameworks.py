"""Starlette, FastAPI and Quart-trio applications, in memory over HTTP/2 (RFC 8441 WebSockets)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket

from trio_h2.asgi import ASGIHandler, lifespan
from trio_h2.testing import Client, connect

from . import apps


class Served:
    """An application with its lifespan, and a client for it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __aenter__(self) -> Client:
        self._lifespan = lifespan(self.app)
        state = await self._lifespan.__aenter__()
        self._connection = connect(ASGIHandler(self.app, state=state))
        return await self._connection.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._connection.__aexit__(*exc)
        finally:
            await self._lifespan.__aexit__(*exc)


# -------------------------------------------------------------------- Starlette


async def test_starlette_lifespan_state_and_plain_routes() -> None:
    apps.EVENTS.clear()
    async with Served(apps.app) as client:
        assert apps.EVENTS == ["startup"]
        hello = await client.get("/")
        first = await client.get("/state")
        second = await client.get("/state")
        missing = await client.get("/nowhere")
    assert apps.EVENTS == ["startup", "shutdown"]
    assert (hello.status, hello.text) == (200, "hello from starlette\n")
    assert hello.header("content-type") == "text/plain; charset=utf-8"
    assert first.json() == {
        "greeting": "hello from the lifespan",
        "count": 1,
        "http_version": "2",
        "path": "/state",
        "root_path": "",
        "host": "example.test",
    }
    assert second.json()["count"] == 2  # the state's objects are shared
    assert missing.status == 404


async def test_starlette_streaming_response_arrives_in_pieces() -> None:
    async with Served(apps.app) as client, client.stream("GET", "/numbers?count=50") as response:
        assert response.status == 200
        chunks = [chunk async for chunk in response]
    assert b"".join(chunks) == b"".join(f"{i}\n".encode() for i in range(50))
    assert len(chunks) > 1
    assert response.response.header("content-length") is None


async def test_starlette_request_stream_reads_the_upload_as_it_comes() -> None:
    async def upload() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"a" * 10_000
            await trio.sleep(0)

    async with Served(apps.app) as client:
        response = await client.post("/upload", upload())
        echoed = await client.post("/echo", b"\x00\x01" * 50_000)
    assert response.json()["size"] == 200_000
    assert response.json()["chunks"] > 1
    assert echoed.body == b"\x00\x01" * 50_000


async def test_starlette_file_response_goes_by_pathsend() -> None:
    sent: list[str] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def send_recorded(message: Any) -> None:
            sent.append(message["type"])
            await send(message)

        await apps.app(scope, receive, send_recorded)

    async with Served(recording) as client:
        response = await client.get("/file")
    assert response.body == Path(apps.__file__).read_bytes()
    assert response.header("content-length") == str(len(response.body))
    assert "http.response.pathsend" in sent


async def test_starlette_websocket_route() -> None:
    async with Served(apps.app) as client:
        async with client.websocket("/ws", subprotocols=["chat"]) as ws:
            assert ws.response.header("sec-websocket-protocol") == "chat"
            await ws.send_message("one")
            assert await ws.get_message() == "echo: one"
            await ws.send_message("close")
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await ws.get_message()
        assert closed.value.reason.code == 4000
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with client.websocket("/refuse"):
                pass
        assert rejected.value.status_code == 403


# ---------------------------------------------------------------------- FastAPI


async def test_fastapi_json_api_with_a_pydantic_body() -> None:
    async with Served(apps.api) as client:
        created = await client.post(
            "/items",
            json.dumps({"name": "pen", "price": 1.5, "tags": ["office"]}),
            [("content-type", "application/json")],
        )
        invalid = await client.post(
            "/items", json.dumps({"name": "pen"}), [("content-type", "application/json")]
        )
        read = await client.get("/items/42?q=blue")
        docs = await client.get("/openapi.json")
    assert created.status == 200
    assert created.json() == {"name": "pen", "total": 3.0, "tags": ["office"]}
    assert invalid.status == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "price"]
    assert read.json() == {"item_id": 42, "q": "blue"}
    assert "/items/{item_id}" in docs.json()["paths"]


async def test_fastapi_websocket_route() -> None:
    async with Served(apps.api) as client, client.websocket("/ws") as ws:
        await ws.send_message(json.dumps({"n": 1}))
        assert json.loads(await ws.get_message()) == {"got": {"n": 1}}
        with pytest.raises(trio_websocket.ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 1000


# ------------------------------------------------------------------- Quart-trio


async def test_quart_trio_route_and_websocket() -> None:
    async with Served(apps.quart_app) as client:
        hello = await client.get("/")
        echoed = await client.post("/echo", b"q" * 70_000)
        async with client.websocket("/ws") as ws:
            await ws.send_message("ping")
            assert await ws.get_message() == "quart: ping"
    assert (hello.status, hello.text) == (200, "hello from quart-trio\n")
    assert echoed.json() == {"length": 70_000, "method": "POST"}
