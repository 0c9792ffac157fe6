"""serve(): listeners, TLS with ALPN, the accept loop, and graceful shutdown.

Each connection runs in a cancel scope of its own, shielded from the cancellation of
serve() itself.  That is what lets shutdown be graceful: when serve() is cancelled it
stops accepting, sends every connection GOAWAY, waits up to the grace period for their
streams to finish, and only then cancels what is left.

``max_connections`` counts every accepted socket, from accept() to its close, TLS
handshake and all (one ``_Slot`` each).  At the limit a new connection does not simply
lock legitimate clients out behind a crowd of idle ones: the server first reclaims the
connection that has been idle longest, one with no open stream, and refuses the new
one only when every connection is busy.  A connection that has not finished its TLS
handshake or sent its HTTP/2 preface counts as idle since it was accepted: it has done
no work, so it goes in accept order, before a client that has been idle for less long.
(A minimum age before such a connection may be reclaimed would not help: a flood of
fresh connections would then fill every slot with connections too young to reclaim and
lock everyone out; in plain accept order a legitimate client at least gets its turn.)
"""

from __future__ import annotations

import errno
import logging
import math
import os
import socket
import ssl
from typing import Any, NamedTuple, Protocol

import trio

from .._config import Config
from .._errors import single_exception
from .._headers import DateCache
from ..proto.forwarded import TrustedProxies
from ..proto.proxy import ProxyHeader
from .h1conn import H1Connection
from .h2conn import Connection, H2cUpgrade
from .health import HealthCheck
from .interrupt import protected
from .proxied import (
    PrefixedStream,
    Proxied,
    client_of,
    connection_origin,
    receive_proxy_header,
)
from .stream import Handler

log = logging.getLogger("trio_h2")

#: What TLS offers by ALPN, in the server's order of preference.
ALPN_PROTOCOLS = ["h2", "http/1.1"]
#: How a cleartext HTTP/2 connection starts (RFC 9113 §3.4); no HTTP/1.x method is
#: ``PRI``, so these three bytes tell the protocols apart.
_PREFACE_START = b"PRI"

#: The errors from accept() that mean the process or the system is out of file
#: descriptors or memory (the list ``trio.serve_listeners`` uses).  They pass with
#: time, so the accept loop backs off and retries; any other error ends serve().
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
#: Seconds to wait after the first such error (trio's own choice); the wait doubles
#: while they repeat, up to ACCEPT_BACKOFF_MAX, and starts over after a success.
ACCEPT_BACKOFF = 0.1
ACCEPT_BACKOFF_MAX = 1.0
#: At most one warning per this many seconds while accept() keeps failing.
ACCEPT_LOG_INTERVAL = 10.0
#: Seconds a connection accepted before the shutdown, and not yet started (TLS, the
#: PROXY header, the first bytes), has to start once the shutdown has begun.
FIRST_REQUEST_TIME = 1.0
#: Seconds a reclaimed idle connection has to send its GOAWAY and close before it is
#: closed by force (only a peer that does not read can make it take that long).
RECLAIM_TIMEOUT = 1.0


class ServerAddress(NamedTuple):
    """Where a server listens; what ``await nursery.start(serve, ...)`` returns.

    For a Unix socket, ``host`` is its path and ``port`` is 0.
    """

    host: str
    port: int

    @classmethod
    def of(cls, sockname: Any) -> ServerAddress:
        """The address of a socket, from its ``getsockname()``."""
        if isinstance(sockname, tuple):
            return cls(str(sockname[0]), int(sockname[1]))
        if isinstance(sockname, bytes):  # an abstract or undecodable Unix path
            return cls(sockname.decode("utf-8", "backslashreplace"), 0)
        return cls(str(sockname), 0)


class ServedConnection(Protocol):
    """What the server asks of a connection, whatever its protocol."""

    closed: trio.Event

    async def run(self) -> None: ...

    def shutdown(self, *, at_once: bool = False) -> None:
        """Close gracefully; ``at_once``: refuse what may be in flight rather than
        wait a round trip for it (the slot is wanted now)."""

    def abort(self) -> None: ...

    @property
    def active_streams(self) -> int: ...

    @property
    def preface_received(self) -> bool: ...

    @property
    def idle_since(self) -> float | None: ...


class _Slot:
    """One accepted connection, from accept() to its close: what max_connections counts."""

    __slots__ = ("accepted_at", "connection", "done", "peer", "reclaimed", "scope")

    def __init__(self) -> None:
        self.accepted_at = trio.current_time()
        self.peer: Any = None
        #: Shielded from serve()'s cancellation (shutdown is graceful); cancelled to
        #: drop the connection before it has become a Connection.
        self.scope = trio.CancelScope(shield=True)
        self.connection: ServedConnection | None = None
        self.reclaimed = False
        self.done = trio.Event()

    def idle_since(self) -> float | None:
        """Since when it has done no work, or None if it is busy (or being reclaimed)."""
        if self.reclaimed:
            return None
        connection = self.connection
        if connection is None or not connection.preface_received:
            return self.accepted_at  # in its TLS handshake, or no preface yet
        return connection.idle_since


class Server:
    """The set of live connections of one ``serve()`` call."""

    def __init__(
        self, handler: Handler, config: Config, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.handler = handler
        self.config = config
        self.ssl_context = ssl_context
        self.connections: set[ServedConnection] = set()
        self._date = DateCache()
        self._idle: trio.Event | None = None
        self._slots: set[_Slot] = set()
        self.shutting_down = False
        self._trusted = TrustedProxies(config.forwarded_allow_ips)
        self._health = HealthCheck(config.health_path) if config.health_path is not None else None

    @protected
    async def serve_listeners(
        self,
        listeners: list[trio.SocketListener],
        task_status: trio.TaskStatus[ServerAddress],
    ) -> None:
        try:
            await self._serve_listeners(listeners, task_status)
        except BaseExceptionGroup as group:
            single = single_exception(group)
            raise single from single.__cause__

    @protected
    async def _serve_listeners(
        self,
        listeners: list[trio.SocketListener],
        task_status: trio.TaskStatus[ServerAddress],
    ) -> None:
        async with trio.open_nursery() as nursery:
            accepting = trio.CancelScope()

            @protected
            async def accept_all() -> None:
                with accepting:
                    async with trio.open_nursery() as acceptors:
                        for listener in listeners:
                            acceptors.start_soon(self._accept_loop, listener, nursery)

            nursery.start_soon(accept_all)
            for listener in listeners:
                log.debug("listening on %s", describe_address(listener.socket.getsockname()))
            task_status.started(ServerAddress.of(listeners[0].socket.getsockname()))
            try:
                await trio.sleep_forever()
            finally:
                # Reached by cancellation and by KeyboardInterrupt alike: stop the
                # accept loops before their listeners close under them, then wind down.
                accepting.cancel()
                with trio.CancelScope(shield=True):
                    for listener in listeners:
                        await listener.aclose()
                    await self.shutdown()

    async def shutdown(self) -> None:
        """Drain: every connection told to close, a grace period, then cancel what is left.

        HTTP/2 connections get GOAWAY and finish their streams; HTTP/1.1 ones close
        after the response in progress (``connection: close``), or at once when idle;
        a connection that has not started yet (in its TLS handshake, its PROXY header
        or its first bytes) has FIRST_REQUEST_TIME to start, and is then drained like
        the others (its first request served, as one already on its way).  The health
        path answers 503 from here on.
        """
        self.shutting_down = True
        if self._health is not None:
            self._health.draining = True
        first_request_by = trio.current_time() + min(
            FIRST_REQUEST_TIME, self.config.graceful_shutdown_timeout
        )
        for slot in list(self._slots):
            if slot.connection is None and slot.scope.deadline > first_request_by:
                # Not yet a connection (TLS handshake, PROXY header, first bytes):
                # it gets a moment to make its request, not its whole handshake
                # timeout, so that a client that connected and said nothing (a
                # browser's preconnect) cannot hold the shutdown for long.
                slot.scope.deadline = first_request_by
        for connection in list(self.connections):
            connection.shutdown()
        with trio.move_on_after(self.config.graceful_shutdown_timeout):
            while self.connections or self._slots:
                self._idle = trio.Event()
                await self._idle.wait()
        for connection in list(self.connections):
            connection.abort()
        for slot in list(self._slots):
            slot.scope.cancel()

    @protected
    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        backoff = ACCEPT_BACKOFF
        failures = 0
        warned_at = -math.inf
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return
            except OSError as exc:
                if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                    raise
                # Out of file descriptors or memory: back off instead of spinning.
                failures += 1
                now = trio.current_time()
                if now - warned_at >= ACCEPT_LOG_INTERVAL:
                    warned_at = now
                    log.warning(
                        "accept() failed: %s (%s), %d time(s) in a row; retrying in %.1f s",
                        errno.errorcode.get(exc.errno, exc.errno),
                        os.strerror(exc.errno),
                        failures,
                        backoff,
                    )
                await trio.sleep(backoff)
                backoff = min(backoff * 2, ACCEPT_BACKOFF_MAX)
                continue
            if failures:
                log.info("accept() works again, after %d failure(s)", failures)
                failures = 0
                backoff = ACCEPT_BACKOFF
            if self.shutting_down:
                log.info("refusing a connection: the server is shutting down")
                await trio.aclose_forcefully(stream)
                continue
            try:
                full = len(self._slots) >= self.config.max_connections
                refuse = full and not await self._make_room()
            except BaseException:
                await trio.aclose_forcefully(stream)  # cancelled while making room
                raise
            if refuse:
                log.info(
                    "refusing a connection from %s: %d open, none idle",
                    _peer_of(stream),
                    len(self._slots),
                )
                await trio.aclose_forcefully(stream)
                continue
            # Counted from here, before its task runs, so that the next accept sees it.
            slot = _Slot()
            self._slots.add(slot)
            nursery.start_soon(self.handle_stream, stream, slot)

    async def _make_room(self) -> bool:
        """Reclaim the connection idle longest; False if every connection is busy.

        The reclaimed connection gets GOAWAY(NO_ERROR) and is closed (one still in its
        TLS handshake, or before the Connection exists, is just closed); this waits
        until its slot is free, so the limit is never exceeded, and closes it by force
        if that takes longer than RECLAIM_TIMEOUT.
        """
        victim: _Slot | None = None
        oldest = math.inf
        for slot in self._slots:
            since = slot.idle_since()
            if since is not None and since < oldest:
                victim, oldest = slot, since
        if victim is None:
            return False
        victim.reclaimed = True
        connection = victim.connection
        if connection is not None and connection.preface_received:
            state = "idle"
        else:
            state = "without its HTTP/2 preface"
        log.info(
            "closing the connection from %s (%s for %.1f s) to make room for a new one",
            victim.peer,
            state,
            trio.current_time() - oldest,
        )
        if connection is not None:
            connection.shutdown(at_once=True)
        else:
            victim.scope.cancel()
        with trio.move_on_after(RECLAIM_TIMEOUT):
            await victim.done.wait()
        if not victim.done.is_set():
            log.debug("closing the connection from %s by force", victim.peer)
            if connection is not None:
                connection.abort()
            victim.scope.cancel()
            await victim.done.wait()
        return True

    @protected
    async def handle_stream(self, stream: trio.abc.Stream, slot: _Slot | None = None) -> None:
        """Serve one accepted TCP connection (TLS first, when configured)."""
        if slot is None:
            slot = _Slot()
        self._slots.add(slot)
        slot.peer = peer = _peer_of(stream)
        handed_over = False
        try:
            # Connections still in their TLS handshake count against max_connections
            # too (their slot is there already), or a flood of handshakes that never
            # finish would get past the limit.
            with slot.scope:
                header: ProxyHeader | None = None
                initial = b""
                if self.config.proxy_protocol:
                    deadline = slot.accepted_at + self.config.handshake_timeout
                    received = await receive_proxy_header(stream, peer, self._trusted, deadline)
                    if received is None:
                        return
                    header, initial = received
                    slot.peer = peer = client_of(header, peer)
                    if initial and self.ssl_context is not None:
                        # The start of the ClientHello came with the header.
                        stream = PrefixedStream(stream, initial)
                        initial = b""
                handshake = await self._handshake(stream, peer, slot.scope)
                if handshake is not None and not slot.scope.cancel_called:
                    transport, alpn = handshake
                    handed_over = True  # the connection closes it from now on
                    await self.serve_transport(
                        transport,
                        peer,
                        slot.scope,
                        _slot=slot,
                        _alpn=alpn,
                        _proxy=header,
                        _initial=initial,
                    )
        finally:
            if not handed_over:
                await trio.aclose_forcefully(stream)
            self._slots.discard(slot)
            slot.done.set()
            self._wake_shutdown()

    async def _handshake(
        self, stream: trio.abc.Stream, peer: Any, scope: trio.CancelScope
    ) -> tuple[trio.abc.Stream, str | None] | None:
        """The transport after TLS, with the protocol ALPN chose; None if there is none."""
        if self.ssl_context is None:
            return stream, None
        # https_compatible: HTTP/2 clients, like HTTPS ones, often close the TCP
        # connection without a TLS close_notify; that is an EOF, not a failure.
        tls = trio.SSLStream(stream, self.ssl_context, server_side=True, https_compatible=True)
        failed = False
        with trio.move_on_after(self.config.handshake_timeout) as handshake:
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError as exc:
                log.debug("TLS handshake with %s failed: %r", peer, exc)
                failed = True
        if handshake.cancelled_caught:
            log.debug("TLS handshake with %s timed out", peer)
        if failed or handshake.cancelled_caught or scope.cancel_called:
            await trio.aclose_forcefully(stream)
            return None
        # A client that offers no ALPN (or none we know) speaks HTTP/1.1.
        alpn = tls.selected_alpn_protocol()
        chosen = "h2" if alpn == "h2" else "http/1.1"
        if chosen == "http/1.1" and not self.config.http1:
            log.info(
                "closing TLS connection from %s: it did not negotiate h2 (ALPN %r)", peer, alpn
            )
            await trio.aclose_forcefully(tls)
            return None
        return tls, chosen

    @protected
    async def serve_transport(
        self,
        transport: trio.abc.Stream,
        peer: Any,
        scope: trio.CancelScope | None = None,
        *,
        _slot: _Slot | None = None,
        _alpn: str | None = None,
        _proxy: ProxyHeader | None = None,
        _initial: bytes = b"",
    ) -> None:
        """Serve HTTP on an established transport until it closes.

        Over TLS the protocol is the one ALPN chose.  On cleartext it is told by the
        first bytes: the HTTP/2 preface means HTTP/2 (prior knowledge); anything else
        is HTTP/1.x.  A connection that starts like the preface and then breaks it
        gets HTTP/2's answer (GOAWAY), not an HTTP/1.1 one.  ``peer`` is the client's
        address; when it is a trusted proxy its forwarded headers are believed.
        """
        config = self.config
        proxied = connection_origin(peer, _proxy, self._trusted)
        # The handshake timeout counts from the accept: TLS, sniffing and preface all.
        started = _slot.accepted_at if _slot is not None else trio.current_time()
        initial = b""
        if _alpn is None:
            try:
                sniffed = await self._sniff(transport, peer, started, _initial)
            except BaseException:
                await trio.aclose_forcefully(transport)  # cancelled: reclaimed, or shutdown
                raise
            if sniffed is None:
                await trio.aclose_forcefully(transport)
                return
            initial = sniffed
            http2 = initial.startswith(_PREFACE_START)
        else:
            http2 = _alpn == "h2"
        # A protocol that is off: the other one answers, in its own terms.
        http2 = (http2 and config.http2) or not config.http1
        connection: ServedConnection
        if http2:
            connection = self._h2_connection(transport, peer, initial, started, proxied)
        else:
            connection = H1Connection(
                transport,
                self.handler,
                config,
                client_address=peer,
                date_cache=self._date,
                initial_data=initial,
                scheme=b"http" if _alpn is None else b"https",
                started_at=started,
                proxied=proxied,
                health=self._health,
            )
        if _slot is not None:
            _slot.connection = connection
            # From here the connection keeps its own time (a shutdown may have
            # shortened the slot's deadline for the start).
            _slot.scope.deadline = math.inf
        self.connections.add(connection)
        if self.shutting_down:
            connection.shutdown()
        try:
            await connection.run()
            if isinstance(connection, H1Connection) and connection.h2c_upgrade is not None:
                # The same socket goes on in HTTP/2, answering the request on stream 1.
                self.connections.discard(connection)
                upgrade, trailing = connection.h2c_upgrade
                # Its preface follows the 101 now: the handshake time starts over.
                connection = self._h2_connection(transport, peer, trailing, None, proxied, upgrade)
                if _slot is not None:
                    _slot.connection = connection
                self.connections.add(connection)
                if self.shutting_down:
                    connection.shutdown()
                await connection.run()
        finally:
            self.connections.discard(connection)
            self._wake_shutdown()

    def _wake_shutdown(self) -> None:
        """Let a shutdown waiting for the last connection look again."""
        if self._idle is not None and not self.connections and not self._slots:
            self._idle.set()

    def _h2_connection(
        self,
        transport: trio.abc.Stream,
        peer: Any,
        initial: bytes | bytearray,
        started: float | None,
        proxied: Proxied | None,
        upgrade: H2cUpgrade | None = None,
    ) -> Connection:
        return Connection(
            transport,
            self.handler,
            self.config,
            client_address=peer,
            date_cache=self._date,
            initial_data=initial,
            started_at=started,
            upgrade=upgrade,
            proxied=proxied,
            health=self._health,
        )

    async def _sniff(
        self, transport: trio.abc.Stream, peer: Any, started: float, data: bytes = b""
    ) -> bytes | None:
        """The first bytes of a cleartext connection, enough to tell the protocol.

        ``data`` is what was read already (after a PROXY header).
        """
        with trio.move_on_at(started + self.config.handshake_timeout):
            while len(data) < len(_PREFACE_START) and _PREFACE_START.startswith(data):
                try:
                    chunk = await transport.receive_some(65_536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None
                if not chunk:
                    return None
                data += chunk
            return data
        log.debug("no request from %s in time", peer)
        return None


def _peer_of(stream: trio.abc.Stream) -> Any:
    """The peer's address, or None (in-memory streams in tests, or disconnected)."""
    sock = getattr(stream, "socket", None)
    try:
        return sock.getpeername() if sock is not None else None
    except OSError:
        return None  # already disconnected


def describe_address(sockname: Any) -> str:
    """A socket address as people write it: ``host:port``, ``[v6]:port``, ``unix:PATH``."""
    if not isinstance(sockname, tuple):
        return f"unix:{ServerAddress.of(sockname).host}"
    host, port = sockname[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def prepare_ssl_context(
    ssl_context: ssl.SSLContext, config: Config | None = None
) -> ssl.SSLContext:
    """Make the context offer, by ALPN, the protocols ``config`` serves (h2, http/1.1)."""
    config = config or Config()
    offered = [
        name
        for name, on in (("h2", config.http2), ("http/1.1", config.http1))
        if on and name in ALPN_PROTOCOLS
    ]
    ssl_context.set_alpn_protocols(offered)
    return ssl_context


@protected
async def serve(
    handler: Handler,
    host: str | None = "127.0.0.1",
    port: int = 8080,
    *,
    ssl_context: ssl.SSLContext | None = None,
    config: Config | None = None,
    task_status: trio.TaskStatus[ServerAddress] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler`` over HTTP/2 until cancelled.

    Each request runs ``await handler(stream)`` in a task of its own, with a
    :class:`~trio_h2.Stream`, over HTTP/1.1 and HTTP/2 alike.  Without ``ssl_context``
    the server speaks cleartext on one port: HTTP/2 to a client that starts with its
    preface (prior knowledge), HTTP/1.x to any other.  With one it speaks TLS and
    negotiates ``h2`` or ``http/1.1`` by ALPN (the context's ALPN list is set to what
    ``config`` serves); a client that offers no ALPN gets HTTP/1.1.  ``host`` may be an IPv4 or
    IPv6 address, a name, or None / ``""`` for every interface; port 0 picks a free
    port.  ``await nursery.start(serve, handler, "127.0.0.1", 0)`` returns the
    :class:`ServerAddress` it listens on.

    Cancelling it is a graceful shutdown: no new connections, GOAWAY to every client,
    ``config.graceful_shutdown_timeout`` seconds for in-flight streams, then the rest
    is cancelled.
    """
    config = config or Config()
    if ssl_context is not None:
        prepare_ssl_context(ssl_context, config)
    listeners = await trio.open_tcp_listeners(port, host=host or None)
    for listener in listeners:
        # Python's socket module leaves Nagle on; trio turns it off for accepted
        # sockets already, and this makes it explicit for the listener too.
        try:
            listener.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    server = Server(handler, config, ssl_context)
    await server.serve_listeners(listeners, task_status)


@protected
async def serve_listeners(
    handler: Handler,
    listeners: list[trio.SocketListener],
    *,
    ssl_context: ssl.SSLContext | None = None,
    config: Config | None = None,
    task_status: trio.TaskStatus[ServerAddress] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Like :func:`serve`, on listening sockets opened by the caller.

    For sockets ``serve()`` would not open itself: with ``SO_REUSEPORT`` so that
    several processes share a port, inherited from a supervisor or from systemd,
    bound to a particular device, or Unix sockets (:func:`trio_h2.open_unix_listener`).
    The listeners are closed when it returns.  ``task_status.started()`` reports the
    address of the first listener (for a Unix socket: its path, and port 0).
    """
    if not listeners:
        raise ValueError("serve_listeners() needs at least one listener")
    config = config or Config()
    if ssl_context is not None:
        prepare_ssl_context(ssl_context, config)
    server = Server(handler, config, ssl_context)
    await server.serve_listeners(listeners, task_status)
