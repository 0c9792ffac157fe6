"""serve(): an ASGI application on trio_h2, its lifespan around the server."""

from __future__ import annotations

import socket
import ssl

import trio

from .._config import Config
from ..server.interrupt import protected
from ..server.listen import ServerAddress, serve_listeners
from ._handler import ASGIHandler
from ._lifespan import lifespan
from ._scope import ServerAddress as ScopeServer
from ._types import ASGIApp


def listening_address(listeners: list[trio.SocketListener]) -> ScopeServer:
    """``(host, port)`` of the first listener, as ``scope["server"]`` reports it
    (``(path, None)`` for a Unix socket, as the ASGI spec has it)."""
    sockname = listeners[0].socket.getsockname()
    if isinstance(sockname, tuple):
        return str(sockname[0]), int(sockname[1])
    return ServerAddress.of(sockname).host, None


@protected
async def serve(
    app: ASGIApp,
    host: str | None = "127.0.0.1",
    port: int = 8080,
    *,
    ssl_context: ssl.SSLContext | None = None,
    config: Config | None = None,
    root_path: str = "",
    task_status: trio.TaskStatus[ServerAddress] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve an ASGI 3 application until cancelled, as :func:`trio_h2.serve` serves a handler.

    The application's lifespan startup runs first, before the port is opened (a
    failed startup raises :class:`LifespanError` and nothing is served); then every
    request, over HTTP/1.1 or HTTP/2, cleartext or TLS, is served by an
    :class:`ASGIHandler` with the lifespan's state.  ``await nursery.start(serve,
    app, "127.0.0.1", 0)`` returns the :class:`~trio_h2.ServerAddress` once it
    accepts connections.  Cancelling it is the server's graceful shutdown (GOAWAY,
    in-flight requests get ``config.graceful_shutdown_timeout`` seconds); the
    lifespan shutdown follows once the last request is over.
    """
    config = config or Config()
    async with lifespan(app, shutdown_timeout=config.graceful_shutdown_timeout) as state:
        listeners = await trio.open_tcp_listeners(port, host=host or None)
        for listener in listeners:
            # As trio_h2.serve() does: Nagle off on the listener too.
            try:
                listener.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        handler = ASGIHandler(
            app, root_path=root_path, state=state, server=listening_address(listeners)
        )
        await serve_listeners(
            handler, listeners, ssl_context=ssl_context, config=config, task_status=task_status
        )
