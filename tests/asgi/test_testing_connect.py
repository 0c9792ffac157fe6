"""trio_h2.testing.connect() takes an ASGI application as it takes a native handler."""

from __future__ import annotations

from typing import Any

import pytest

import trio_h2.testing
from trio_h2.asgi import is_asgi_application


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "hello"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                events.append("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        body = f"{scope['state']['greeting']} over {scope['http_version']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    else:
        await send({"type": "websocket.accept"})
        message = await receive()
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"].upper()})
        await send({"type": "websocket.close", "code": 1000})


events: list[str] = []


@pytest.mark.parametrize("http_version", ["2", "1.1"])
async def test_an_asgi_app_runs_in_memory_with_its_lifespan(http_version: str) -> None:
    events.clear()
    async with trio_h2.testing.connect(app, http_version=http_version) as client:
        response = await client.get("/")
        assert response.body == f"hello over {http_version}".encode()
        async with client.websocket("/ws") as ws:
            await ws.send_message("shout")
            assert await ws.get_message() == "SHOUT"
        assert events == []
    assert events == ["shutdown"]


def test_asgi_applications_are_told_from_handlers() -> None:
    async def handler(stream: object) -> None: ...

    class App:
        async def __call__(self, scope: object, receive: object, send: object) -> None: ...

    assert is_asgi_application(app)
    assert is_asgi_application(App())
    assert not is_asgi_application(handler)
    assert not is_asgi_application(print)  # no signature to read: not claimed
