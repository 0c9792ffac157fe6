"""One HTTP/2 connection: a reader feeding h2, one writer owning the socket, a task per stream.

Theory of operation
-------------------
Three kinds of task share one sans-IO :class:`~trio_h2.proto.h2.connection.H2Server`
(the protocol state: h2, the frame gate, validation, limits), inside one nursery:

* the **reader** receives bytes, hands them to the protocol object and dispatches the
  events it returns.
  Dispatch never awaits: a new request starts a stream task, DATA goes into that
  stream's buffer, a reset cancels that stream's task, a WINDOW_UPDATE wakes the
  senders parked on that window.
* **stream tasks** run the application's handler.  Their response calls
  (``h2send.py``) change the protocol state synchronously (send headers, send as much
  data as the windows allow) and then move its output into the connection's outbound
  buffer.  They await only for flow-control credit or for the outbound buffer to drain.
* the **writer** (``writer.py``) is the only task that awaits a send.  It takes the
  whole outbound buffer at once, so frames from many streams leave in one write, and a
  cancelled handler can never cut a frame in half.  (On a plain TCP socket, a lone
  stream's frames are written synchronously when nothing else is queued; see there.)

Because every change to the protocol state is synchronous, no lock is needed: it is
never seen half-updated by another task.

Every decision about what the wire says (GOAWAY, RST_STREAM, refusals, limits) is
the protocol object's; this module turns its events into tasks and trio Events, and
owns only time (the deadlines) and the tasks.  The first transport failure cancels
the whole connection.  Memory is bounded by Config: request bodies by the flow-control windows
(credit returns only as handlers read), outbound bytes by ``max_outbound_buffer``
(senders and the reader wait when it is full; a peer that never reads is dropped
after ``send_timeout``).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import trio

from .._config import Config
from .._errors import ErrorCode
from .._headers import DateCache, RawHeaders
from ..proto import events as ev
from ..proto.h2.connection import H2Server
from ..proto.state import ConnectionState
from .access import log_exchange
from .answers import PEER_FAULTS, answer_431, answer_error, server_headers
from .flow import WindowWaiters
from .h2send import StreamSender
from .health import HealthCheck
from .interrupt import call_handler, protected
from .proxied import Proxied
from .sockio import DirectSocket, socket_fd
from .stream import Handler, PushedResponse, Stream, pseudo_split
from .tls import TLSSession, session_of
from .writer import Writer

log = logging.getLogger("trio_h2")

__all__ = ["Connection", "Handler"]

RECEIVE_SIZE = 65_536
# Seconds the first GOAWAY of a graceful close waits for its PING to come back
# (one round trip) before the second one goes anyway.
SHUTDOWN_NOTICE_TIME = 1.0
# Once reading stops (CLOSING or later), every loop and dispatch run ends.
_CLOSING = ConnectionState.CLOSING


@dataclass(frozen=True)
class H2cUpgrade:
    """An HTTP/1.1 request that asked to continue in HTTP/2 (RFC 7540 §3.2)."""

    settings: bytes
    pseudo: Mapping[bytes, bytes]
    headers: RawHeaders


class Connection(StreamSender):
    """Serves HTTP/2 on one transport stream until it closes."""

    def __init__(
        self,
        transport: trio.abc.Stream,
        handler: Handler,
        config: Config,
        *,
        client_address: Any = None,
        date_cache: DateCache | None = None,
        initial_data: bytes | bytearray = b"",
        started_at: float | None = None,
        proxied: Proxied | None = None,
        upgrade: H2cUpgrade | None = None,
        health: HealthCheck | None = None,
    ) -> None:
        self._transport = transport
        # Config.health_path's answer, given the server's draining state (None: off).
        self._health = health
        self._started_at = started_at
        # The HTTP/1.1 request that asked for h2c, answered on stream 1.
        self._upgrade = upgrade
        # Bytes read before the protocol was known (the start of the preface).
        self._initial = initial_data
        self._handler = handler
        self._config = config
        self.client_address = client_address
        # What the streams may believe of their forwarded headers (see proxied.py).
        self._proxied = proxied
        self._date = date_cache or DateCache()
        self._static_headers = server_headers(config)
        self._proto = H2Server(config)
        # The handler side of each active stream; its protocol state is the proto's.
        self._streams: dict[int, Stream] = {}
        # Streams whose request came in the bytes being dispatched; their handlers
        # start after the whole batch, unless the batch also reset them.
        self._starting: list[tuple[Stream, Handler]] = []
        self._idle_since = 0.0
        self._handshake_deadline = math.inf
        # Shut down before the preface came: the graceful close starts once it has.
        self._after_preface = False
        # When the second GOAWAY of a graceful close goes, unless the PING comes back.
        self._notice_deadline = math.inf
        self._windows = WindowWaiters()
        fd = socket_fd(transport)
        self._direct = DirectSocket(fd) if fd is not None else None
        self._receive_some = (
            self._direct.receive_some if self._direct is not None else transport.receive_some
        )
        self._writer = Writer(
            transport,
            max_buffer=config.max_outbound_buffer,
            send_timeout=config.send_timeout,
            peer=client_address,
            several_streams=lambda: len(self._streams) > 1,
            on_lost=self._writer_lost,
            direct=self._direct,
        )
        self._handlers: trio.Nursery | None = None
        self._cancel_scope = trio.CancelScope()
        self._reader_scope = trio.CancelScope()
        self.closed = trio.Event()
        self._dispatch_table: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.RequestReceived: self._on_request,
            ev.DataReceived: self._on_data,
            ev.RequestEnded: self._on_request_ended,
            ev.StreamReset: self._on_reset,
            ev.WindowOpened: self._on_window_opened,
            ev.SettingsChanged: self._on_settings,
            ev.GoAwayReceived: self._on_goaway,
            ev.ConnectionViolation: self._on_violation,
        }

    # ------------------------------------------------------------------ lifecycle

    @protected
    async def run(self) -> None:
        """Serve until the peer leaves, the connection fails, or shutdown completes."""
        try:
            with self._cancel_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer.run)
                    async with trio.open_nursery() as handlers:
                        self._handlers = handlers
                        if self._upgrade is None:
                            self._proto.initiate()
                        else:
                            upgrade = self._upgrade
                            for event in self._proto.initiate_upgrade(
                                upgrade.settings, upgrade.pseudo, upgrade.headers
                            ):
                                self._dispatch_table[type(event)](event)
                            self._start_handlers()
                        self._flush()
                        await self._reader_loop()
                        handlers.cancel_scope.cancel()
                    # What is queued (responses, GOAWAY) still goes out, briefly.
                    with trio.move_on_after(min(self._config.send_timeout, 5.0)):
                        await self._writer.wait_sent()
                    nursery.cancel_scope.cancel()
        finally:
            self.closed.set()
            self._writer.detach()
            await trio.aclose_forcefully(self._transport)

    def shutdown(self, *, at_once: bool = False) -> None:
        """Start a graceful close: GOAWAY (two of them, RFC 9113 §6.8, unless
        ``at_once``), then finish the streams already accepted.

        Before the client's preface has come (the connection is new, or it has just
        upgraded from HTTP/1.1), the requests right behind it cannot have seen any
        GOAWAY: the graceful close waits for it, SHUTDOWN_NOTICE_TIME at most, so that
        they are served rather than refused.
        """
        if not at_once and self._proto.state is ConnectionState.HANDSHAKE:
            if not self._after_preface:
                self._after_preface = True
                deadline = trio.current_time() + SHUTDOWN_NOTICE_TIME
                self._handshake_deadline = min(self._handshake_deadline, deadline)
                self._reader_scope.deadline = min(self._reader_scope.deadline, deadline)
            return
        self._start_shutdown(notice=not at_once)
        self._flush()
        for stream in self._streams.values():
            if stream.tunnel is not None:
                stream.tunnel.shutdown()  # a WebSocket says 1001 (going away)
        self._check_life()

    def abort(self) -> None:
        """Close now: every handler is cancelled."""
        self._cancel_scope.cancel()

    @property
    def active_streams(self) -> int:
        return len(self._streams)

    @property
    def preface_received(self) -> bool:
        """Whether the peer's connection preface (its first SETTINGS) has arrived."""
        return self._proto.state is not ConnectionState.HANDSHAKE

    @property
    def idle_since(self) -> float | None:
        """Since when (trio time) no stream has been open; None while one is open.

        None as well before the peer's preface: the connection has not been idle,
        it has not started (see :attr:`preface_received`).
        """
        if self._streams or self._proto.state is ConnectionState.HANDSHAKE:
            return None
        return self._idle_since

    def _check_life(self) -> None:
        """Stop reading once the protocol says the connection is closing."""
        if self._proto.state >= _CLOSING:
            self._reader_scope.cancel()

    # --------------------------------------------------------------------- reader

    async def _reader_loop(self) -> None:
        # The reader runs under a deadline: the handshake's, then the idle timeout's
        # (no open stream), or a header block's (slowloris).  Moving a CancelScope's
        # deadline costs a trip through trio's deadline heap, and a connection with one
        # request at a time goes idle and busy once per request; so the deadline is only
        # ever allowed to fire early, never late: when it fires, the loop works out
        # whether anything has really expired and, if not, reads on under a new one.
        started = self._started_at if self._started_at is not None else trio.current_time()
        self._handshake_deadline = min(
            self._handshake_deadline, started + self._config.handshake_timeout
        )
        proto = self._proto
        while proto.state < _CLOSING:
            deadline = self._next_deadline()
            if deadline <= trio.current_time():
                if not self._deadline_expired():
                    return
                continue
            self._reader_scope = trio.CancelScope(deadline=deadline)
            with self._reader_scope:
                await self._read_frames()
                return

    async def _read_frames(self) -> None:
        config = self._config
        proto = self._proto
        scope = self._reader_scope
        dispatch = self._dispatch_table
        while proto.state < _CLOSING:
            if self._writer.full:
                # The peer is not reading what we send; read no more work from it.
                await self._writer.wait_drained()
                continue
            if self._initial:
                data, self._initial = self._initial, b""
            else:
                try:
                    data = await self._receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
            if not data:
                proto.transport_lost()
                return
            handshake = proto.state is ConnectionState.HANDSHAKE
            for event in proto.receive_data(data, trio.current_time()):
                dispatch[type(event)](event)
            if handshake and proto.state is not ConnectionState.HANDSHAKE:
                self._went_idle()
                if self._after_preface:
                    self._start_shutdown()  # the requests in this batch are in
            if self._starting:
                self._start_handlers()
            self._flush()
            since = proto.header_block_since
            if since is not None and since + config.header_timeout < scope.deadline:
                scope.deadline = since + config.header_timeout

    def _next_deadline(self) -> float:
        """When the reader must look at the clock (possibly before any expiry)."""
        config = self._config
        now = trio.current_time()
        state = self._proto.state
        if state is ConnectionState.HANDSHAKE:
            deadline = self._handshake_deadline
        elif self._proto.shutdown_notice_pending:
            deadline = self._notice_deadline
        elif self._streams or state is ConnectionState.DRAINING:
            deadline = now + config.idle_timeout  # not idle: only a time to look again
        else:
            deadline = self._idle_since + config.idle_timeout
        since = self._proto.header_block_since
        if since is not None:
            # A header block (slowloris) gets header_timeout, open streams or not.
            deadline = min(deadline, since + config.header_timeout)
        return deadline

    def _deadline_expired(self) -> bool:
        """Act on what expired; whether the reader goes on reading."""
        proto = self._proto
        if proto.state >= _CLOSING:
            return False
        since = proto.header_block_since
        now = trio.current_time()
        if proto.state is ConnectionState.HANDSHAKE:
            log.debug("no HTTP/2 preface from %s in time", self.client_address)
            self._flush()
            return False
        if since is not None and now >= since + self._config.header_timeout:
            log.debug("header block from %s not finished in time", self.client_address)
            proto.close(ErrorCode.NO_ERROR, "header block not finished in time")
        elif proto.shutdown_notice_pending:
            # The peer did not acknowledge the first GOAWAY's PING in time.
            proto.finish_shutdown()
        elif not self._streams and proto.state is ConnectionState.OPEN:
            self._start_shutdown()
        self._flush()
        return proto.state < _CLOSING

    def _start_shutdown(self, *, notice: bool = True) -> None:
        self._proto.start_shutdown(notice=notice)
        if self._proto.shutdown_notice_pending:
            self._notice_deadline = trio.current_time() + min(
                SHUTDOWN_NOTICE_TIME, self._config.graceful_shutdown_timeout
            )
            if self._reader_scope.deadline > self._notice_deadline:
                self._reader_scope.deadline = self._notice_deadline

    def _went_idle(self) -> None:
        self._idle_since = trio.current_time()

    # ------------------------------------------------------------------- dispatch

    def _on_settings(self, event: ev.SettingsChanged) -> None:
        if event.windows_changed:
            self._windows.wake_all()

    def _on_request(self, event: ev.RequestReceived) -> None:
        stream = Stream(
            self,
            event.stream_id,
            event.pseudo,
            event.headers,
            state=self._proto.stream(event.stream_id),
            client_address=self.client_address,
            proxied=self._proxied,
            max_body_size=self._config.max_request_body_size,
            config=self._config,
        )
        self._streams[event.stream_id] = stream
        handler: Handler = self._handler
        if event.too_large:
            handler = answer_431
        elif self._health is not None and self._health.answers(event.pseudo.get(b":path")):
            handler = self._health
        self._starting.append((stream, handler))

    def _start_handlers(self) -> None:
        starting, self._starting = self._starting, []
        assert self._handlers is not None
        for stream, handler in starting:
            if stream.state.reset_code is not None:
                # Reset in the same batch of frames (rapid reset): no task at all.
                self._forget(stream, ErrorCode.CANCEL)
            else:
                self._handlers.start_soon(self._run_stream, stream, handler)

    def _on_data(self, event: ev.DataReceived) -> None:
        self._streams[event.stream_id].inbound.feed(event.data, event.flow_length)

    def _on_request_ended(self, event: ev.RequestEnded) -> None:
        self._streams[event.stream_id].inbound.end(event.trailers)

    def _on_reset(self, event: ev.StreamReset) -> None:
        self._wake(event.stream_id)
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream.cancel_scope.cancel()

    def _on_window_opened(self, event: ev.WindowOpened) -> None:
        if event.stream_id:
            self._windows.wake(event.stream_id)
        else:
            self._windows.wake_connection()

    def _on_goaway(self, event: ev.GoAwayReceived) -> None:
        if event.error_code != ErrorCode.NO_ERROR:
            log.debug(
                "peer %s sent GOAWAY %s: %r",
                self.client_address,
                event.error_code,
                event.debug_data,
            )
        self._check_life()

    def _on_violation(self, event: ev.ConnectionViolation) -> None:
        log.debug(
            "closing connection from %s (%s): %s",
            self.client_address,
            event.error_code,
            event.message,
        )
        self._check_life()

    # ------------------------------------------------------------------- streams

    @protected
    async def _run_stream(self, stream: Stream, handler: Handler) -> None:
        reset_code: int = ErrorCode.CANCEL
        try:
            with stream.cancel_scope:
                failure: Exception | None = None
                try:
                    if stream.protocol is None:
                        await call_handler(handler, stream)
                    else:
                        # An extended CONNECT: the handler may open a tunnel on it.
                        await stream.run_handler(handler)
                except Exception as exc:
                    failure = exc
                    if not isinstance(exc, PEER_FAULTS):
                        reset_code = ErrorCode.INTERNAL_ERROR
                if failure is not None:
                    await answer_error(stream, failure)
                elif not stream.response_started:
                    if stream.method != "CONNECT":
                        log.error("handler for %r returned without responding", stream)
                    await answer_error(stream, None)
        finally:
            self._stream_done(stream, reset_code)

    def _stream_done(self, stream: Stream, reset_code: int) -> None:
        # Logged first: a client that closes the connection as soon as it has the
        # response often does so before the handler's task has finished.
        log_exchange(
            stream, stream.client_address, lost=self._proto.state is ConnectionState.BROKEN
        )
        self._forget(stream, reset_code)

    def _forget(self, stream: Stream, unfinished_code: int) -> None:
        stream_id = stream.stream_id
        self._proto.finish_stream(stream_id, stream.inbound.take_unread(), unfinished_code)
        del self._streams[stream_id]
        self._windows.wake(stream_id)
        self._flush()
        if not self._streams:
            self._went_idle()
            self._check_life()

    # ----------------------------------------------- StreamIO: the connection's TLS

    @functools.cached_property
    def tls(self) -> TLSSession | None:
        """The connection's own TLS session (read once, when first asked for)."""
        return session_of(self._transport)

    # -------------------------------------------- StreamIO: push (the rest in h2send.py)

    def push_nowait(
        self, parent: Stream, request_headers: RawHeaders, response: PushedResponse
    ) -> Stream | None:
        promised_id = self._proto.push(parent.stream_id, request_headers)
        if promised_id is None:
            return None
        self._flush()
        pseudo, regular = pseudo_split(request_headers)
        pushed = Stream(
            self,
            promised_id,
            pseudo,
            regular,
            state=self._proto.stream(promised_id),
            client_address=self.client_address,
            proxied=self._proxied,
            max_body_size=0,
            pushed=True,
        )
        self._streams[promised_id] = pushed

        async def serve_push(stream: Stream) -> None:
            await stream.respond(response.status, response.headers, response.body)

        assert self._handlers is not None
        self._handlers.start_soon(self._run_stream, pushed, response.handler or serve_push)
        return pushed

    # --------------------------------------------------------------------- writer

    def _writer_lost(self) -> None:
        # The first transport failure ends the connection for every task.
        self._proto.transport_lost()
        self._cancel_scope.cancel()
