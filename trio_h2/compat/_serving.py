"""The server shell shared by the compatibility layers: bind now, serve_forever() later.

Programs of the nghttp2 and hyper era build a server object, which binds its socket
at once (an address in use fails right there), and then call the blocking
``serve_forever()``.  :class:`CompatServer` gives them that shape on top of trio_h2's
own server: the sockets bound here become trio listeners for the same accept loop,
TLS/ALPN handling and connections that :func:`trio_h2.serve` runs.  It is a shell,
not a second server.

``serve_forever()`` either runs trio directly, or runs an asyncio event loop that
hosts trio in guest mode (:func:`trio.lowlevel.start_guest_run`).  The second is for
callback-style programs that drive asyncio from their callbacks: those callbacks run
inside the asyncio loop's own callbacks, so ``asyncio.get_event_loop()``,
``ensure_future()`` and ``open_connection()`` work there, while trio runs the server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import outcome
import trio

from .._config import Config
from ..server.listen import Server, prepare_ssl_context
from ..server.stream import Handler

log = logging.getLogger("trio_h2.compat")


def bind_sockets(host: str | None, port: int) -> list[socket.socket]:
    """Listening TCP sockets for ``host`` (None or ``""``: every interface) and ``port``.

    One socket per address the host resolves to, as asyncio's ``create_server`` and
    trio's ``open_tcp_listeners`` do.  With port 0, the first socket's port is reused
    for the others, so the server has a single port to report.
    """
    infos = socket.getaddrinfo(
        host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, type_, proto, _, sockaddr in infos:
            if (family, sockaddr) in seen:
                continue
            seen.add((family, sockaddr))
            try:
                sock = socket.socket(family, type_, proto)
            except OSError as exc:
                if exc.errno == errno.EAFNOSUPPORT:
                    continue  # e.g. IPv6 compiled in but turned off
                raise
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # Each family gets its own socket, as asyncio does.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                sockaddr = (sockaddr[0], sockets[0].getsockname()[1], *sockaddr[2:])
            sock.bind(sockaddr)
            sock.listen(socket.SOMAXCONN)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(f"no usable address for {host!r}")
    return sockets


class CompatServer:
    """Binds at construction; :meth:`serve_forever` serves ``handler`` until stopped."""

    def __init__(
        self,
        address: Sequence[Any],
        handler: Handler,
        ssl_context: ssl.SSLContext | None = None,
        config: Config | None = None,
        *,
        asyncio_host: bool = False,
    ) -> None:
        host, port = address[0], address[1]
        self._handler = handler
        self._config = config or Config()
        self._ssl_context = prepare_ssl_context(ssl_context) if ssl_context else None
        self._lock = threading.Lock()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._stop_requested = False
        self._closed = False
        self._sockets = bind_sockets(host, int(port))
        #: The asyncio loop serve_forever() runs (None when trio runs directly).
        self.loop: asyncio.AbstractEventLoop | None = None
        self._own_loop = False
        if asyncio_host:
            self.loop, self._own_loop = _event_loop()

    @property
    def server_address(self) -> tuple[str, int]:
        """``(host, port)`` of the first listening socket (port 0 resolved)."""
        host, port = self._sockets[0].getsockname()[:2]
        return host, port

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (or Ctrl+C); then close the sockets."""
        if self._closed:
            raise RuntimeError("this server is closed")
        try:
            if self.loop is None:
                trio.run(self._serve)
            else:
                self._run_as_guest(self.loop)
        except BaseExceptionGroup as group:
            # Ctrl+C reaches the program as itself, as it did from these servers
            # (whatever the interruption broke on its way out comes along with it).
            interrupted, _ = group.split(KeyboardInterrupt)
            if interrupted is not None:
                raise KeyboardInterrupt from None
            raise
        finally:
            self.server_close()

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop; returns at once, from any thread.

        Stopping is graceful: no new connections, GOAWAY to every client, and
        ``Config.graceful_shutdown_timeout`` seconds for the streams in flight.
        """
        with self._lock:
            self._stop_requested = True
            token, scope = self._token, self._scope
        if token is not None and scope is not None:
            try:
                token.run_sync_soon(scope.cancel)
            except trio.RunFinishedError:
                pass

    def server_close(self) -> None:
        """Close the listening sockets (and the asyncio loop); idempotent."""
        if self._closed:
            return
        self._closed = True
        for sock in self._sockets:
            sock.close()
        loop = self.loop
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()
            if self._own_loop:
                asyncio.set_event_loop(None)

    async def _serve(self) -> None:
        listeners = [
            trio.SocketListener(trio.socket.from_stdlib_socket(sock)) for sock in self._sockets
        ]
        server = Server(self._handler, self._config, self._ssl_context)
        with trio.CancelScope() as scope:
            with self._lock:
                self._token = trio.lowlevel.current_trio_token()
                self._scope = scope
                if self._stop_requested:
                    scope.cancel()
            address = self.server_address
            log.info("listen, address:%s, port:%s", address[0], address[1])
            await server.serve_listeners(listeners, trio.TASK_STATUS_IGNORED)

    def _run_as_guest(self, loop: asyncio.AbstractEventLoop) -> None:
        done: list[outcome.Outcome[None]] = []

        def finished(result: outcome.Outcome[None]) -> None:
            done.append(result)
            loop.stop()

        trio.lowlevel.start_guest_run(
            self._serve,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=finished,
            host_uses_signal_set_wakeup_fd=True,
        )
        try:
            loop.run_forever()
        finally:
            if not done:
                # Interrupted in asyncio code (Ctrl+C): trio must finish before the
                # loop that hosts it goes away.
                self.shutdown()
                while not done:
                    loop.run_forever()
        done[0].unwrap()


def _event_loop() -> tuple[asyncio.AbstractEventLoop, bool]:
    # Like the old asyncio.get_event_loop(): the thread's current loop if it has an
    # open one (a program may have scheduled work on it already), else a new one.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("serve_forever() blocks; it cannot run inside a running loop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            loop = None
    if loop is not None and not loop.is_closed():
        return loop, False
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop, True
