"""The shapes ASGI 3 passes around: scopes, messages, and the three callables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

#: A connection scope: ``scope["type"]`` is ``"http"``, ``"websocket"`` or ``"lifespan"``.
Scope = MutableMapping[str, Any]
#: An event dict, received or sent; ``message["type"]`` names it.
Message = MutableMapping[str, Any]
#: ``await receive()``: the next event from the server.
Receive = Callable[[], Awaitable[Message]]
#: ``await send(message)``: an event for the server.
Send = Callable[[Message], Awaitable[None]]
#: An ASGI 3 application: ``await app(scope, receive, send)``.
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The ASGI version implemented, and the versions of its sub-specifications.
ASGI_VERSION = "3.0"
#: HTTP and WebSocket 2.5: ``send()`` on a closed connection raises an OSError (2.4)
#: and ``websocket.disconnect`` carries a ``reason`` (2.5).
HTTP_SPEC_VERSION = "2.5"
LIFESPAN_SPEC_VERSION = "2.0"
