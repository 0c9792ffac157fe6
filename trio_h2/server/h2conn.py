"""One HTTP/2 connection: a reader feeding h2, one writer owning the socket, a task per stream.

Theory of operation
-------------------
Three kinds of task share one ``h2.connection.H2Connection``, inside one nursery:

* the **reader** receives bytes, hands them to h2 and dispatches the resulting events.
  Dispatch never awaits: a new request starts a stream task, DATA goes into that
  stream's buffer, a reset cancels that stream's task, a WINDOW_UPDATE wakes the
  senders parked on that window.
* **stream tasks** run the application's handler.  Their response calls
  (``_outbound.py``) change h2's state synchronously (send headers, send as much data
  as the windows allow) and then move h2's output into the connection's outbound
  buffer.  They await only for flow-control credit or for the outbound buffer to drain.
* the **writer** (``_writer.py``) is the only task that awaits a send.  It takes the
  whole outbound buffer at once, so frames from many streams leave in one write, and a
  cancelled handler can never cut a frame in half.  (On a plain TCP socket, a lone
  stream's frames are written synchronously when nothing else is queued; see there.)

Because every change to h2's state is synchronous, no lock is needed: h2 is never
seen half-updated by another task.

What the peer sends passes the frame gate (``_gate.py``) before h2 sees it, and h2
itself is a corrected subclass (``_protocol.py``): together they give the answers
RFC 9113 asks for where h2's differ, and bound what a hostile peer can make the
server buffer or do.  Request headers are checked in ``_validate.py``; a malformed
request is a stream error, never a connection error.  The first transport failure cancels the whole
connection.  Memory is bounded by Config: request bodies by the flow-control windows
(credit returns only as handlers read), outbound bytes by ``max_outbound_buffer``
(senders and the reader wait when it is full; a peer that never reads is dropped
after ``send_timeout``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import h2.config
import h2.events
import h2.exceptions
import h2.settings
import trio
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame, RstStreamFrame

from .._config import Config
from .._errors import (
    H2Error,
    LocalProtocolError,
    RequestBodyTooLarge,
    StreamReset,
)
from .._headers import DateCache, RawHeaders
from ..proto.h2.corrections import ServerH2
from ..proto.h2.fast import FastH2Connection
from ..proto.h2.gate import FrameGate, GateError
from ..proto.h2.validate import MalformedRequest, check_request, check_trailers
from ..proto.state import ConnectionState
from .flow import WindowWaiters
from .h2send import StreamSender
from .sockio import DirectSocket, socket_fd
from .stream import PushedResponse, Stream, pseudo_split
from .writer import Writer

log = logging.getLogger("trio_h2")
access_log = logging.getLogger("trio_h2.access")

#: What serve() runs for each request, in a task of its own.
Handler = Callable[[Stream], Awaitable[None]]

RECEIVE_SIZE = 65_536
_SettingCodes = h2.settings.SettingCodes
# Once reading stops (CLOSING or later), every loop and dispatch run ends.
_CLOSING = ConnectionState.CLOSING
_H2Events = h2.events


class _ServerH2(FastH2Connection, ServerH2):
    """ServerH2's corrections to h2 (``_protocol.py``), sending through ``_h2fast.py``."""


class Connection(StreamSender):
    """Serves HTTP/2 on one transport stream until it closes."""

    _h2: _ServerH2

    def __init__(
        self,
        transport: trio.abc.Stream,
        handler: Handler,
        config: Config,
        *,
        client_address: Any = None,
        date_cache: DateCache | None = None,
    ) -> None:
        self._transport = transport
        self._handler = handler
        self._config = config
        self.client_address = client_address
        self._date = date_cache or DateCache()
        self._static_headers: RawHeaders = []
        if config.server_header is not None:
            self._static_headers.append((b"server", config.server_header.encode("utf-8")))

        h2_config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            # Response headers are checked once where they are built (_headers.py).
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            # Checked in _validate.py, as stream errors; h2 would close the
            # connection.  Split cookie fields are joined (§8.2.3) in _protocol.py,
            # and by h2 on the paths left to it.
            validate_inbound_headers=False,
            normalize_inbound_headers=True,
        )
        self._h2 = _ServerH2(config=h2_config, header_list_limit=2 * config.max_header_list_size)
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                _SettingCodes.MAX_CONCURRENT_STREAMS: config.max_concurrent_streams,
                _SettingCodes.INITIAL_WINDOW_SIZE: config.initial_window_size,
                _SettingCodes.MAX_FRAME_SIZE: config.max_frame_size,
                _SettingCodes.MAX_HEADER_LIST_SIZE: config.max_header_list_size,
                _SettingCodes.HEADER_TABLE_SIZE: config.header_table_size,
                _SettingCodes.ENABLE_PUSH: 0,
            },
        )
        # Settings given as initial values count as applied, so h2 would never
        # derive its own limits from them: set those here.  Every Config bound is
        # at least the protocol default, so applying them before the peer's ACK
        # never refuses what a peer may send under the defaults.
        # (The decoder's header-list limit is ServerH2's alone: see _protocol.py.)
        self._h2.max_inbound_frame_size = config.max_frame_size
        self._h2.decoder.max_allowed_table_size = config.header_table_size
        self._streams: dict[int, Stream] = {}
        # Pushed streams not finished yet.  h2 counts only open streams against the
        # peer's SETTINGS_MAX_CONCURRENT_STREAMS, not reserved ones, but each promised
        # stream opens when its response starts, so all of them count.
        self._pushes_in_flight = 0
        # Streams whose request came in the run of frames being dispatched; their
        # handlers start after the run, unless the run also reset them.
        self._starting: list[tuple[Stream, Handler]] = []
        # Declared request-body bytes still expected, per stream with content-length.
        self._body_left: dict[int, int] = {}
        self._gate = FrameGate(config, self)
        self._idle_since = 0.0
        self._handshake_deadline = math.inf
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
        self._life = ConnectionState.HANDSHAKE
        # Set once the server has said GOAWAY: streams above it are refused.
        self._goaway_sent = False
        self._goaway_last_id = 2**31 - 1
        # The highest stream the server acted on (RFC 9113 §6.8): a request that got
        # a handler.  Refused and malformed ones are not counted; the peer may retry.
        self._last_acted = 0
        self.closed = trio.Event()
        self._dispatch_table: dict[type[Any], Callable[[Any], None]] = {
            _H2Events.RequestReceived: self._on_request,
            _H2Events.DataReceived: self._on_data,
            _H2Events.StreamEnded: self._on_stream_ended,
            _H2Events.TrailersReceived: self._on_trailers,
            _H2Events.StreamReset: self._on_reset,
            _H2Events.WindowUpdated: self._on_window_updated,
            _H2Events.RemoteSettingsChanged: self._on_settings,
            _H2Events.ConnectionTerminated: self._on_terminated,
        }

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Serve until the peer leaves, the connection fails, or shutdown completes."""
        try:
            with self._cancel_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer.run)
                    async with trio.open_nursery() as handlers:
                        self._handlers = handlers
                        self._h2.initiate_connection()
                        extra = self._config.initial_connection_window_size - 65_535
                        if extra > 0:
                            self._h2.increment_flow_control_window(extra)
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

    def shutdown(self) -> None:
        """Start a graceful close: GOAWAY, then finish the streams already accepted."""
        if self._goaway_sent or self._life >= ConnectionState.CLOSING:
            return
        self._send_goaway(ErrorCodes.NO_ERROR, self._last_acted)
        self._stop_if_done()

    def abort(self) -> None:
        """Close now: every handler is cancelled."""
        self._cancel_scope.cancel()

    @property
    def active_streams(self) -> int:
        return len(self._streams)

    @property
    def preface_received(self) -> bool:
        """Whether the peer's connection preface (its first SETTINGS) has arrived."""
        return self._life is not ConnectionState.HANDSHAKE

    @property
    def idle_since(self) -> float | None:
        """Since when (trio time) no stream has been open; None while one is open.

        None as well before the peer's preface: the connection has not been idle,
        it has not started (see :attr:`preface_received`).
        """
        if self._streams or self._life is ConnectionState.HANDSHAKE:
            return None
        return self._idle_since

    def _send_goaway(self, code: int, last_stream_id: int, debug: bytes = b"") -> None:
        # Built by hand: h2.close_connection() would refuse every later frame, and a
        # graceful GOAWAY still lets the accepted streams finish their responses.
        self._flush()
        frame = GoAwayFrame(
            0, last_stream_id=last_stream_id, error_code=code, additional_data=debug
        )
        self._writer.queue(frame.serialize())
        self._goaway_sent = True
        self._goaway_last_id = min(self._goaway_last_id, last_stream_id)
        self._advance(ConnectionState.DRAINING)

    def _advance(self, state: ConnectionState) -> None:
        """Move the connection's life on; it never goes back."""
        if state > self._life:
            self._life = state
            if state >= ConnectionState.CLOSING:
                self._reader_scope.cancel()

    def _stop_if_done(self) -> None:
        if self._life is ConnectionState.DRAINING and not self._streams:
            self._advance(ConnectionState.CLOSING)

    def _close_with_error(self, code: int, message: str) -> None:
        log.debug("closing connection from %s: %s", self.client_address, message)
        if self._life is not ConnectionState.BROKEN:
            try:
                self._h2.close_connection(
                    code, additional_data=message.encode()[:200], last_stream_id=self._last_acted
                )
            except h2.exceptions.ProtocolError:
                pass
            self._flush()
        self._advance(ConnectionState.CLOSING)

    # --------------------------------------------------------------------- reader

    async def _reader_loop(self) -> None:
        # The reader runs under a deadline: the handshake's, then the idle timeout's
        # (no open stream), or a header block's (slowloris).  Moving a CancelScope's
        # deadline costs a trip through trio's deadline heap, and a connection with one
        # request at a time goes idle and busy once per request; so the deadline is only
        # ever allowed to fire early, never late: when it fires, the loop works out
        # whether anything has really expired and, if not, reads on under a new one.
        self._handshake_deadline = trio.current_time() + self._config.handshake_timeout
        while self._life < _CLOSING:
            deadline = self._next_deadline()
            if deadline <= trio.current_time():
                break
            self._reader_scope = trio.CancelScope(deadline=deadline)
            with self._reader_scope:
                await self._read_frames()
                return
        self._deadline_expired()

    async def _read_frames(self) -> None:
        config = self._config
        gate = self._gate
        scope = self._reader_scope
        while self._life < _CLOSING:
            if self._writer.full:
                # The peer is not reading what we send; read no more work from it.
                await self._writer.wait_drained()
                continue
            try:
                data = await self._receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self._advance(ConnectionState.BROKEN)
                return
            try:
                for run in gate.feed(data, trio.current_time()):
                    self._receive(run)
                    if self._life >= _CLOSING:
                        break
            except GateError as exc:
                self._close_with_error(exc.error_code, str(exc))
                return
            except h2.exceptions.ProtocolError as exc:
                # h2 has queued GOAWAY with the right code already.
                log.debug("protocol error from %s: %s", self.client_address, exc)
                self._flush()
                return
            self._flush()
            since = gate.header_block_since
            if since is not None and since + config.header_timeout < scope.deadline:
                scope.deadline = since + config.header_timeout

    def _next_deadline(self) -> float:
        """When the reader must next look at the clock (possibly before any expiry)."""
        config = self._config
        now = trio.current_time()
        if self._life is ConnectionState.HANDSHAKE:
            deadline = self._handshake_deadline
        elif self._streams:
            deadline = now + config.idle_timeout  # not idle: only a time to look again
        else:
            deadline = self._idle_since + config.idle_timeout
        since = self._gate.header_block_since
        if since is not None:
            # A header block (slowloris) gets header_timeout, open streams or not.
            deadline = min(deadline, since + config.header_timeout)
        return deadline

    def _deadline_expired(self) -> None:
        if self._life >= _CLOSING:
            return
        since = self._gate.header_block_since
        if self._life is ConnectionState.HANDSHAKE:
            log.debug("no HTTP/2 preface from %s in time", self.client_address)
        elif since is not None and trio.current_time() >= since + self._config.header_timeout:
            self._close_with_error(ErrorCodes.NO_ERROR, "header block not finished in time")
        elif not self._streams:
            self._send_goaway(ErrorCodes.NO_ERROR, self._last_acted)

    def _receive(self, data: bytes) -> None:
        events = self._h2.receive_data(data)
        dispatch = self._dispatch_table
        for event in events:
            handler = dispatch.get(type(event))
            if handler is not None:
                handler(event)
                if self._life >= _CLOSING:
                    return
        if self._starting:
            self._start_handlers()

    def _went_idle(self) -> None:
        self._idle_since = trio.current_time()

    # ------------------------------------------------------------------- dispatch

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        if self._life is ConnectionState.HANDSHAKE:
            self._advance(ConnectionState.OPEN)
            self._went_idle()
        if _SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
            self._windows.wake_all()

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        headers = event.headers
        assert stream_id is not None
        assert headers is not None
        if self._goaway_sent and stream_id > self._goaway_last_id:
            self._h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        if len(self._streams) >= self._config.max_concurrent_streams and (
            self._h2.count_open_inbound_streams() > self._config.max_concurrent_streams
        ):
            self._gate.note_reset(trio.current_time())
            self._h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        try:
            info = check_request(headers)
            if event.stream_ended is not None and info.content_length:
                raise MalformedRequest("content-length with no body")
        except MalformedRequest as exc:
            self._reset_for_peer(stream_id, ErrorCodes.PROTOCOL_ERROR, str(exc))
            return
        if info.content_length is not None and event.stream_ended is None:
            self._body_left[stream_id] = info.content_length
        pseudo, regular = pseudo_split(headers)
        stream = Stream(
            self,
            stream_id,
            pseudo,
            regular,
            client_address=self.client_address,
            max_body_size=self._config.max_request_body_size,
        )
        self._streams[stream_id] = stream
        if event.stream_ended is not None:
            stream.inbound.end()
        self._last_acted = stream_id
        if info.size > self._config.max_header_list_size:
            self._starting.append((stream, _answer_431))
        else:
            self._starting.append((stream, self._handler))

    def _start_handlers(self) -> None:
        starting, self._starting = self._starting, []
        assert self._handlers is not None
        for stream, handler in starting:
            if stream.state.reset_code is not None:
                # Reset in the same run of frames (rapid reset): no task at all.
                self._forget(stream)
            else:
                self._handlers.start_soon(self._run_stream, stream, handler)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None
        assert event.data is not None
        length = event.flow_controlled_length or 0
        stream = self._streams.get(stream_id)
        if not event.data or stream is None or stream.state.reset_code is not None:
            # Nobody will read it (or there is nothing to read: an empty or all-padding
            # DATA frame must not look like the end of the body); give the credit back.
            self._h2.acknowledge_received_data(length, stream_id)
            return
        left = self._body_left.get(stream_id)
        if left is not None:
            left -= len(event.data)
            if left < 0:
                self._reset_for_peer(
                    stream_id, ErrorCodes.PROTOCOL_ERROR, "more body than content-length"
                )
                self._h2.acknowledge_received_data(length, stream_id)
                return
            self._body_left[stream_id] = left
        stream.inbound.feed(event.data, length)

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream_id = event.stream_id or 0
        stream = self._streams.get(stream_id)
        if stream is not None:
            if self._body_left.pop(stream_id, 0):
                self._reset_for_peer(
                    stream_id, ErrorCodes.PROTOCOL_ERROR, "less body than content-length"
                )
                return
            stream.inbound.end()

    def _on_trailers(self, event: h2.events.TrailersReceived) -> None:
        stream_id = event.stream_id or 0
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        assert event.headers is not None
        try:
            check_trailers(event.headers)
            if self._body_left.pop(stream_id, 0):
                raise MalformedRequest("less body than content-length")
        except MalformedRequest as exc:
            self._reset_for_peer(stream_id, ErrorCodes.PROTOCOL_ERROR, str(exc))
            return
        stream.inbound.end(event.headers)

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream_id = event.stream_id or 0
        if not event.remote_reset:
            # A stream error h2's layer found (_protocol.py): the peer's doing.
            self._gate.note_reset(trio.current_time())
        self._body_left.pop(stream_id, None)
        self._mark_reset(stream_id, event.error_code or 0, remote=event.remote_reset)
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.cancel_scope.cancel()

    def _on_window_updated(self, event: h2.events.WindowUpdated) -> None:
        if event.stream_id:
            self._windows.wake(event.stream_id)
        else:
            self._windows.wake_connection()

    def _on_terminated(self, event: h2.events.ConnectionTerminated) -> None:
        if event.error_code != ErrorCodes.NO_ERROR:
            log.debug(
                "peer %s sent GOAWAY %s: %r",
                self.client_address,
                event.error_code,
                event.additional_data,
            )
            self._advance(ConnectionState.BROKEN)
            return
        # Streams above its last-stream-id were never ours; the rest may finish.
        self._advance(ConnectionState.DRAINING)
        self._stop_if_done()

    # ------------------------------------------------------------------- streams

    async def _run_stream(self, stream: Stream, handler: Handler) -> None:
        reset_code: int = ErrorCodes.CANCEL
        try:
            with stream.cancel_scope:
                failure: Exception | None = None
                try:
                    await handler(stream)
                except Exception as exc:
                    failure = exc
                    if not isinstance(exc, RequestBodyTooLarge):
                        reset_code = ErrorCodes.INTERNAL_ERROR
                if failure is not None:
                    await self._answer_error(stream, failure)
                elif not stream.response_started:
                    if stream.method != "CONNECT":
                        log.error("handler for %r returned without responding", stream)
                    await self._answer_error(stream, None)
        finally:
            self._stream_done(stream, reset_code)

    async def _answer_error(self, stream: Stream, exc: Exception | None) -> None:
        if isinstance(exc, StreamReset):
            return  # reset by the peer, or by the server for the peer's fault
        if stream.response_started:
            log.error("handler for %r failed after the response started", stream, exc_info=exc)
            return
        if isinstance(exc, RequestBodyTooLarge):
            log.info("%r answered 413: %s", stream, exc)
            status, reason = 413, b"Request Entity Too Large\n"
        elif exc is None and stream.method == "CONNECT":
            # The handler opened no tunnel: CONNECT is not served here.
            status, reason = 405, b"Method Not Allowed\n"
        else:
            if exc is not None:
                log.error("handler for %r failed", stream, exc_info=exc)
            status, reason = 500, b"Internal Server Error\n"
        try:
            await stream.respond(status, [("content-type", "text/plain")], reason)
        except H2Error:
            pass

    def _stream_done(self, stream: Stream, reset_code: int) -> None:
        stream_id = stream.stream_id
        # Logged first: a client that closes the connection as soon as it has the
        # response often does so before the handler's task has finished.
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                '%s "%s %s HTTP/2" %s',
                _host(self.client_address),
                stream.method,
                stream.path,
                stream.status if stream.status is not None else "-",
            )
        if self._life is ConnectionState.BROKEN:
            self._streams.pop(stream_id, None)
            return
        if not stream.response_ended:
            # The handler left a response half-sent: never leave the peer waiting.
            self.reset_stream(stream_id, reset_code)
        elif not stream.request_complete and stream.state.reset_code is None:
            # RFC 9113 §8.1: the response is complete; stop the upload politely.
            self.reset_stream(stream_id, ErrorCodes.NO_ERROR)
        self._forget(stream)

    def _forget(self, stream: Stream) -> None:
        stream_id = stream.stream_id
        unread = stream.inbound.take_unread()
        if unread:
            self._h2.acknowledge_received_data(unread, stream_id)
        self._h2.forget_stream(stream_id)
        if self._streams.pop(stream_id, None) is not None and stream.pushed:
            self._pushes_in_flight -= 1
        self._body_left.pop(stream_id, None)
        self._windows.wake(stream_id)
        self._flush()
        if not self._streams:
            self._went_idle()
            self._stop_if_done()

    # ------------------------------------------- GatePeer, used by the frame gate

    def stream_state(self, stream_id: int) -> int:
        return self._h2.stream_state(stream_id)

    def stream_error(self, stream_id: int, error_code: int) -> None:
        self._reset_for_peer(stream_id, error_code, "stream error found by the frame gate")

    def _reset_for_peer(self, stream_id: int, error_code: int, reason: str) -> None:
        """Reset a stream for the peer's fault (RFC 9113 §5.4.2), and count it."""
        log.debug("resetting stream %d from %s: %s", stream_id, self.client_address, reason)
        self._gate.note_reset(trio.current_time())
        if self._h2.stream_state(stream_id) == 1:
            self._h2.reset_stream(stream_id, error_code)
            self._flush()
        else:
            # h2 knows no open stream there (e.g. PRIORITY on an idle one).
            self._flush()
            self._writer.queue(RstStreamFrame(stream_id, error_code=error_code).serialize())
        self._mark_reset(stream_id, error_code, remote=False)
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.cancel_scope.cancel()
        self._body_left.pop(stream_id, None)

    # -------------------------------------------- StreamIO: push (the rest in _outbound.py)

    def push_nowait(
        self, parent: Stream, request_headers: RawHeaders, response: PushedResponse
    ) -> Stream | None:
        h2_conn = self._h2
        remote = h2_conn.remote_settings
        if (
            not remote.enable_push
            or self._life is not ConnectionState.OPEN
            or self._pushes_in_flight >= remote.max_concurrent_streams
        ):
            return None
        self._check_stream(parent.stream_id)
        promised_id = h2_conn.get_next_available_stream_id()
        try:
            h2_conn.push_stream(parent.stream_id, promised_id, request_headers)
        except h2.exceptions.StreamClosedError:
            raise StreamReset(ErrorCodes.STREAM_CLOSED, remote=True) from None
        except h2.exceptions.ProtocolError as exc:
            raise LocalProtocolError(str(exc)) from None
        self._flush()
        pseudo, regular = pseudo_split(request_headers)
        pushed = Stream(
            self,
            promised_id,
            pseudo,
            regular,
            client_address=self.client_address,
            max_body_size=0,
            pushed=True,
        )
        pushed.inbound.end()
        self._streams[promised_id] = pushed
        self._pushes_in_flight += 1

        async def serve_push(stream: Stream) -> None:
            await stream.respond(response.status, response.headers, response.body)

        assert self._handlers is not None
        self._handlers.start_soon(self._run_stream, pushed, response.handler or serve_push)
        return pushed

    # --------------------------------------------------------------------- writer

    def _writer_lost(self) -> None:
        # The first transport failure ends the connection for every task.
        self._advance(ConnectionState.BROKEN)
        self._cancel_scope.cancel()


async def _answer_431(stream: Stream) -> None:
    # RFC 9113 §10.5.1: the header list is over SETTINGS_MAX_HEADER_LIST_SIZE.
    await stream.respond(
        431, [("content-type", "text/plain")], b"Request Header Fields Too Large\n"
    )


def _host(address: Any) -> str:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address) if address is not None else "-"
