"""ASGIHandler: an ASGI 3 application as a native handler, one Stream per call."""

from __future__ import annotations

import functools
import logging
from typing import Any

from .._errors import H2Error
from ..server.stream import Stream
from ._disconnect import DEFAULT_GRACE, Disconnect, run_app
from ._errors import ClientDisconnected
from ._http import HTTPExchange
from ._response import Phase, Response
from ._scope import ServerAddress as ScopeServer, http_scope, websocket_scope
from ._types import ASGIApp
from ._websocket import WebSocketExchange, WSState

log = logging.getLogger("trio_h2.asgi")


class ASGIHandler:
    """Serve an ASGI 3 application as a trio_h2 handler: ``await handler(stream)``.

    Each request (HTTP/1.0, 1.1 or 2; a WebSocket over an HTTP/1.1 Upgrade or an
    RFC 8441 extended CONNECT) is one call of ``app(scope, receive, send)``, so
    ``trio_h2.serve(ASGIHandler(app))`` serves it and
    ``trio_h2.testing.connect(ASGIHandler(app))`` tests it in memory.

    ``root_path`` is the prefix a proxy strips (``scope["root_path"]``, and the
    front of ``scope["path"]``).  ``state`` is the lifespan's namespace (see
    :func:`trio_h2.asgi.lifespan`): each request gets a shallow copy as
    ``scope["state"]``; with None the scope has no ``state``.  ``server`` is the
    ``(host, port)`` (``(path, None)`` for a Unix socket) reported as
    ``scope["server"]`` (:func:`trio_h2.asgi.serve`
    sets the address it listens on).  When the client goes (a reset stream, a lost
    connection, a shutdown past its grace period) the application is told
    (``http.disconnect``, ``websocket.disconnect``, :class:`ClientDisconnected`
    from ``send()``) instead of being cancelled; it has ``disconnect_grace``
    seconds to return, and is cancelled after that.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        root_path: str = "",
        state: dict[str, Any] | None = None,
        server: ScopeServer | None = None,
        disconnect_grace: float = DEFAULT_GRACE,
    ) -> None:
        if root_path and not root_path.startswith("/"):
            raise ValueError(f"root_path starts with '/', not {root_path!r}")
        if not disconnect_grace >= 0:
            raise ValueError(f"disconnect_grace must be >= 0, not {disconnect_grace!r}")
        #: The application.
        self.app = app
        #: The mount point, without a trailing ``/``.
        self.root_path = root_path.rstrip("/")
        #: The lifespan namespace copied into each scope, or None.
        self.state = state
        #: ``scope["server"]``.
        self.server = server
        self.disconnect_grace = disconnect_grace

    def __repr__(self) -> str:
        return f"ASGIHandler({self.app!r})"

    async def __call__(self, stream: Stream) -> None:
        if stream.is_websocket:
            await self._websocket(stream)
        elif stream.method == "CONNECT":
            # ASGI has no tunnels but WebSockets.
            await stream.respond(405, [("content-type", "text/plain")], b"Method Not Allowed\n")
        else:
            await self._http(stream)

    # ----------------------------------------------------------------------- http

    async def _http(self, stream: Stream) -> None:
        disconnect = Disconnect()
        exchange = HTTPExchange(stream, disconnect, self)
        scope = http_scope(stream, root_path=self.root_path, server=self.server, state=self.state)
        call = functools.partial(self.app, scope, exchange.receive, exchange.send)
        failure = await run_app(call, disconnect, self.disconnect_grace)
        await self._finish(stream, exchange.response, failure, disconnect)

    async def _finish(
        self,
        stream: Stream,
        response: Response,
        failure: Exception | None,
        disconnect: Disconnect,
    ) -> None:
        """Leave the response whole, reset, or answered 500; raise what the server logs."""
        if disconnect.happened or isinstance(failure, ClientDisconnected):
            if failure is not None:
                log.debug("%r: the application ended after its client left: %r", stream, failure)
            await response.abort(failure or ClientDisconnected("the client is gone"))
            return
        if failure is not None:
            # The server answers 500 (nothing sent yet) or resets what is half-sent,
            # and logs the traceback.
            await response.abort(failure)
            raise failure
        phase = response.phase
        if phase is not Phase.IDLE and not response.on_the_wire:
            log.error(
                "%r: the application returned after %s.start without its body",
                stream,
                response.prefix,
            )
            response.phase = Phase.DONE
            try:
                await stream.respond(
                    500, [("content-type", "text/plain")], b"Internal Server Error\n"
                )
            except H2Error:
                pass
        elif phase in (Phase.BODY, Phase.TRAILERS):
            log.error("%r: the application returned before its response was complete", stream)
            await response.abort(ClientDisconnected("unfinished"))
        # Phase.IDLE: the server itself answers 500 for a handler that did not respond.

    # ------------------------------------------------------------------ websocket

    async def _websocket(self, stream: Stream) -> None:
        disconnect = Disconnect()
        exchange = WebSocketExchange(stream, disconnect)
        scope = websocket_scope(
            stream, root_path=self.root_path, server=self.server, state=self.state
        )
        call = functools.partial(self.app, scope, exchange.receive, exchange.send)
        failure = await run_app(call, disconnect, self.disconnect_grace)
        websocket = exchange.websocket
        if websocket is not None:
            # Accepted: the server closes it with 1000 once this returns.
            if failure is not None and not isinstance(failure, ClientDisconnected):
                # Logged before the close handshake, which a client that leaves at
                # once would cut short together with anything after it.
                log.error("%r: the application failed", stream, exc_info=failure)
                await websocket.aclose(1011)
            return
        if not exchange.answered and not disconnect.happened and failure is None:
            # Returned without accepting: refused, as a close before accept is.
            exchange.state = WSState.DENIED
            try:
                await stream.respond(403)
            except H2Error:
                pass
            return
        await self._finish(stream, exchange.denial, failure, disconnect)
