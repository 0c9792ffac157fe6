"""The applications the ASGI tests serve: Starlette, FastAPI and Quart-trio, as people write them.

``python -m trio_h2 --asgi tests.asgi.apps:app`` serves the Starlette one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import trio
from fastapi import FastAPI, WebSocket as FastAPIWebSocket
from quart_trio import QuartTrio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

# -------------------------------------------------------------------- Starlette

#: Filled by the lifespan; tests look at it to see startup and shutdown happen.
EVENTS: list[str] = []


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    EVENTS.append("startup")
    yield {"greeting": "hello from the lifespan", "counter": [0]}
    EVENTS.append("shutdown")


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello from starlette\n")


async def state(request: Request) -> Response:
    counter = request.state.counter
    counter[0] += 1
    return JSONResponse(
        {
            "greeting": request.state.greeting,
            "count": counter[0],
            "http_version": request.scope["http_version"],
            "path": request.url.path,
            "root_path": request.scope["root_path"],
            "host": request.headers.get("host"),
        }
    )


async def numbers(request: Request) -> Response:
    count = int(request.query_params.get("count", "5"))

    async def generate() -> AsyncIterator[bytes]:
        for i in range(count):
            yield f"{i}\n".encode()
            await trio.sleep(0)

    return StreamingResponse(generate(), media_type="text/plain")


async def upload(request: Request) -> Response:
    size = 0
    chunks = 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks += bool(chunk)
    return JSONResponse({"size": size, "chunks": chunks})


async def echo_body(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


async def file(request: Request) -> Response:
    return FileResponse(os.path.abspath(__file__), media_type="text/x-python")


async def chat(websocket: WebSocket) -> None:
    await websocket.accept(
        subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None
    )
    try:
        while True:
            text = await websocket.receive_text()
            if text == "close":
                await websocket.close(code=4000, reason="asked to")
                return
            await websocket.send_text(f"echo: {text}")
    except WebSocketDisconnect:
        pass


async def refuse(websocket: WebSocket) -> None:
    await websocket.close(code=1008)


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/state", state),
        Route("/numbers", numbers),
        Route("/upload", upload, methods=["POST"]),
        Route("/echo", echo_body, methods=["POST"]),
        Route("/file", file),
        WebSocketRoute("/ws", chat),
        WebSocketRoute("/refuse", refuse),
    ],
    lifespan=_lifespan,
)

# ---------------------------------------------------------------------- FastAPI

api = FastAPI()


class Item(pydantic.BaseModel):
    name: str
    price: float
    tags: list[str] = []


@api.post("/items")
async def create_item(item: Item) -> dict[str, Any]:
    return {"name": item.name, "total": item.price * 2, "tags": item.tags}


@api.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


@api.websocket("/ws")
async def api_ws(websocket: FastAPIWebSocket) -> None:
    await websocket.accept()
    data = await websocket.receive_json()
    await websocket.send_json({"got": data})
    await websocket.close()


# ------------------------------------------------------------------- Quart-trio

quart_app = QuartTrio(__name__)


@quart_app.route("/")
async def quart_hello() -> str:
    return "hello from quart-trio\n"


@quart_app.route("/echo", methods=["POST"])
async def quart_echo() -> dict[str, Any]:
    from quart import request

    data = await request.get_data()
    return {"length": len(data), "method": request.method}


@quart_app.websocket("/ws")
async def quart_ws() -> None:
    from quart import websocket

    while True:
        message = await websocket.receive()
        await websocket.send(f"quart: {message}")
