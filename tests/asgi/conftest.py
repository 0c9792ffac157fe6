"""Helpers for the ASGI tests: an application served in memory, and what it saw."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio_h2.testing
from trio_h2.asgi import ASGIApp, ASGIHandler


@asynccontextmanager
async def served(app: ASGIApp, **kwargs: Any) -> AsyncIterator[trio_h2.testing.Client]:
    """``app`` behind an ASGIHandler (keywords: its own, then connect()'s), in memory."""
    handler_keys = {"root_path", "state", "server", "disconnect_grace"}
    handler_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in handler_keys}
    async with trio_h2.testing.connect(ASGIHandler(app, **handler_kwargs), **kwargs) as client:
        yield client


def simple_app(body: bytes = b"ok", status: int = 200) -> ASGIApp:
    async def app(scope: Any, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app
