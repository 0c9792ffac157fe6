"""The server side of one HTTP/2 connection, sans I/O: bytes in, events out, ``send_*`` in.

:class:`H2Server` is the one owner of the connection's protocol state.  It holds the
h2 state machine (with its corrections, ``corrections.py``, and fast paths,
``fast.py``), the frame gate (``gate.py``), request validation (``validate.py``),
content-length accounting, concurrency refusal, the flood budgets, the connection's
life (:class:`~trio_h2.proto.state.ConnectionState`), and every stream's
:class:`~trio_h2.proto.state.StreamState`.  Every decision about what the wire says
(GOAWAY and its last-stream-id, RST_STREAM and its code, which requests are refused)
is made here.

It imports no I/O library and never looks at a clock: the caller passes the time
with received data.  The server layer feeds it what the socket gives
(:meth:`H2Server.receive_data`), reacts to the events, calls the ``send_*`` methods
for responses, and writes :meth:`H2Server.data_to_send` to the socket.

This is also the one place where h2's exceptions become trio_h2's: a peer's violation
becomes a :class:`~trio_h2.proto.events.ConnectionViolation` event or a stream reset;
the application's misuse (a call on a stream that is gone) a public exception from
``trio_h2._errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.exceptions import InvalidFrameError
from hyperframe.frame import GoAwayFrame, RstStreamFrame

from ..._config import Config
from ..._errors import ConnectionClosed, ErrorCode, LocalProtocolError, StreamReset
from ..errors import ProtocolViolation
from ..events import (
    ConnectionViolation,
    DataReceived,
    Event,
    GoAwayReceived,
    RawHeaders,
    RequestEnded,
    RequestReceived,
    SettingsChanged,
    StreamReset as StreamResetEvent,
    WindowOpened,
)
from ..state import ConnectionState, StreamState
from .corrections import ServerH2
from .fast import FastH2Connection
from .gate import ACTIVE, FrameGate
from .validate import MalformedRequest, check_request, check_trailers

_SettingCodes = h2.settings.SettingCodes
#: Fields of an upgrading HTTP/1.1 request that belong to the upgrade, not the request.
_UPGRADE_FIELDS = frozenset({b"connection", b"upgrade", b"http2-settings", b"keep-alive"})
_H2Events = h2.events

# RFC 9113 §6.8: the first GOAWAY of a graceful close names the highest stream id.
_MAX_STREAM_ID = 2**31 - 1
# The payload of the PING sent with it, to know when the peer has seen it.
_DRAIN_PING = b"trio_h2\x00"
_CLOSING = ConnectionState.CLOSING
_H2_CLOSED = h2.connection.ConnectionState.CLOSED


class _ServerH2(FastH2Connection, ServerH2):
    """ServerH2's corrections to h2 (``corrections.py``), sending through ``fast.py``."""


class _StreamRecord:
    """What the connection keeps per stream beside its :class:`StreamState`."""

    __slots__ = ("body_left", "pushed", "state")

    def __init__(self, state: StreamState, body_left: int | None, pushed: bool) -> None:
        self.state = state
        #: Declared request-body bytes still expected, or None without content-length.
        self.body_left = body_left
        self.pushed = pushed


def _frames(size: int, frame_size: int) -> int:
    """How many DATA frames carry ``size`` bytes (an empty body takes one)."""
    return max(1, -(-size // frame_size))


class H2Server:
    """One HTTP/2 connection, server side (see the module docstring).

    Streams are *active* from the request that opens them (or the push that promises
    them) until the server layer calls :meth:`finish_stream`; only active streams
    have a :class:`StreamState`.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        h2_config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            # Response headers are checked once where they are built (_headers.py).
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            # Checked in validate.py, as stream errors; h2 would close the
            # connection.  Split cookie fields are joined (§8.2.3) in corrections.py,
            # and by h2 on the paths left to it.
            validate_inbound_headers=False,
            normalize_inbound_headers=True,
        )
        self._h2 = h2_conn = _ServerH2(
            config=h2_config, header_list_limit=2 * config.max_header_list_size
        )
        h2_conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                _SettingCodes.MAX_CONCURRENT_STREAMS: config.max_concurrent_streams,
                _SettingCodes.INITIAL_WINDOW_SIZE: config.initial_window_size,
                _SettingCodes.MAX_FRAME_SIZE: config.max_frame_size,
                _SettingCodes.MAX_HEADER_LIST_SIZE: config.max_header_list_size,
                _SettingCodes.HEADER_TABLE_SIZE: config.header_table_size,
                _SettingCodes.ENABLE_PUSH: 0,
                # RFC 8441 §3: extended CONNECT (``:protocol``), for WebSockets.
                _SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
            },
        )
        # Settings given as initial values count as applied, so h2 would never
        # derive its own limits from them: set those here.  Every Config bound is
        # at least the protocol default, so applying them before the peer's ACK
        # never refuses what a peer may send under the defaults.  (The decoder's
        # header-list limit is ServerH2's alone: see corrections.py.)
        h2_conn.max_inbound_frame_size = config.max_frame_size
        h2_conn.decoder.max_allowed_table_size = config.header_table_size
        self._gate = FrameGate(config, self)
        h2_conn.incoming_buffer = self._gate
        self._streams: dict[int, _StreamRecord] = {}
        # Pushed streams not finished.  h2 counts only open streams against the
        # peer's SETTINGS_MAX_CONCURRENT_STREAMS, not reserved ones, but each promised
        # stream opens when its response starts, so all of them count.
        self._pushes_in_flight = 0
        self._state = ConnectionState.HANDSHAKE
        # Once the server has said GOAWAY, streams above this are refused.
        self._goaway_last_id: int | None = None
        # The highest stream the server acted on (RFC 9113 §6.8): a request handed to
        # the application.  Refused and malformed ones are not counted: the peer may
        # retry them elsewhere.
        self._last_acted = 0
        self._now = 0.0
        # Frames built here rather than by h2, with what h2 queued before them.
        self._raw = bytearray()
        # Events of the receive_data() call in progress.
        self._events: list[Event] = []
        self._dispatch: dict[type[Any], Callable[[Any], None]] = {
            _H2Events.RequestReceived: self._on_request,
            _H2Events.DataReceived: self._on_data,
            _H2Events.StreamEnded: self._on_stream_ended,
            _H2Events.TrailersReceived: self._on_trailers,
            _H2Events.StreamReset: self._on_reset,
            _H2Events.WindowUpdated: self._on_window_updated,
            _H2Events.RemoteSettingsChanged: self._on_settings,
            _H2Events.ConnectionTerminated: self._on_terminated,
            _H2Events.PingAckReceived: self._on_ping_ack,
        }
        #: The first GOAWAY of a graceful close has gone, the second not yet.
        self.shutdown_notice_pending = False

    # ------------------------------------------------------------------ queries

    @property
    def state(self) -> ConnectionState:
        """The connection's life; it only ever moves forward."""
        return self._state

    @property
    def active_streams(self) -> int:
        return len(self._streams)

    @property
    def last_acted(self) -> int:
        """The highest stream id handed to the application so far."""
        return self._last_acted

    @property
    def header_block_since(self) -> float | None:
        """Since when a header block (or a frame header) has been waiting for its end."""
        return self._gate.header_block_since

    @property
    def max_frame_size(self) -> int:
        """The largest DATA payload the peer accepts in one frame."""
        return int(self._h2.max_outbound_frame_size)

    @property
    def connection_window(self) -> int:
        """Flow-control credit the peer has given for the whole connection."""
        return int(self._h2.outbound_flow_control_window)

    def stream(self, stream_id: int) -> StreamState:
        """The state of an active stream (KeyError for any other)."""
        return self._streams[stream_id].state

    def is_pushed(self, stream_id: int) -> bool:
        return self._streams[stream_id].pushed

    # ---------------------------------------------------------------- life

    def _advance(self, state: ConnectionState) -> None:
        """Move the connection's life on; it never goes back."""
        if state > self._state:
            self._state = state

    def initiate(self) -> None:
        """Queue the server's preface: SETTINGS, and the larger connection window."""
        self._h2.initiate_connection()
        extra = self._config.initial_connection_window_size - 65_535
        if extra > 0:
            self._h2.increment_flow_control_window(extra)

    def initiate_upgrade(
        self, settings_header: bytes, pseudo: Mapping[bytes, bytes], headers: RawHeaders
    ) -> list[Event]:
        """Start after an HTTP/1.1 ``Upgrade: h2c`` (RFC 7540 §3.2) instead of :meth:`initiate`.

        ``settings_header`` is the request's ``HTTP2-Settings``; the upgrading request
        (which had no body) becomes stream 1, half-closed by the client, and is
        returned as its RequestReceived for the application to answer on stream 1.
        Raises ProtocolViolation for an ``HTTP2-Settings`` that does not decode.
        """
        try:
            self._h2.initiate_upgrade_connection(settings_header)
        except (ValueError, h2.exceptions.ProtocolError, InvalidFrameError) as exc:
            raise ProtocolViolation(
                f"invalid HTTP2-Settings: {exc}", ErrorCode.PROTOCOL_ERROR
            ) from exc
        extra = self._config.initial_connection_window_size - 65_535
        if extra > 0:
            self._h2.increment_flow_control_window(extra)
        state = StreamState("<Stream 1>")
        state.end_request()
        self._streams[1] = _StreamRecord(state, None, False)
        self._last_acted = 1
        request = {name: value for name, value in pseudo.items() if name != b":protocol"}
        fields = [(n, v) for n, v in headers if n not in _UPGRADE_FIELDS]
        return [RequestReceived(1, request, fields, True)]

    def data_to_send(self) -> bytearray:
        """Take every byte queued for the peer."""
        data = self._h2.take_outbound()
        if self._raw:
            raw, self._raw = self._raw, bytearray()
            raw += data
            return raw
        return data

    def _queue_frame(self, frame: bytes) -> None:
        # After whatever h2 has queued, so that the frames keep their order.
        raw = self._raw
        raw += self._h2.take_outbound()
        raw += frame

    def start_shutdown(self, *, notice: bool = True) -> None:
        """A graceful close in two steps (RFC 9113 §6.8): a PING and a GOAWAY that
        refuses nothing yet; when the PING's acknowledgement comes back (or the driver calls
        :meth:`finish_shutdown`), the GOAWAY with the real last stream id.

        Requests the peer sent before it saw the first GOAWAY are still served, so a
        client that loses no race loses no request; those after the second are
        refused, and the active streams finish.  Before the peer's preface there is
        nothing in flight: the real GOAWAY goes at once, as it does without ``notice``.
        """
        if self._goaway_last_id is not None or self._state >= _CLOSING:
            return
        if self._state is ConnectionState.HANDSHAKE or not notice:
            self._send_goaway(ErrorCode.NO_ERROR, self._last_acted)
            self._stop_if_done()
            return
        # The PING first: a client built on h2 takes no frame but GOAWAY once it has
        # had one, and would fail on a PING after it.  It acknowledges the PING once
        # it has read both.
        self._h2.ping(_DRAIN_PING)
        self._send_goaway(ErrorCode.NO_ERROR, _MAX_STREAM_ID)
        self.shutdown_notice_pending = True

    def finish_shutdown(self) -> None:
        """The second GOAWAY of :meth:`start_shutdown`, if it has not gone yet."""
        if not self.shutdown_notice_pending:
            return
        self.shutdown_notice_pending = False
        if self._state < _CLOSING:
            self._send_goaway(ErrorCode.NO_ERROR, self._last_acted)
            self._stop_if_done()

    def _on_ping_ack(self, event: h2.events.PingAckReceived) -> None:
        if event.ping_data == _DRAIN_PING:
            self.finish_shutdown()

    def close(self, error_code: int, message: str) -> None:
        """End the connection now with GOAWAY(``error_code``); nothing more is read."""
        if self._state is not ConnectionState.BROKEN:
            try:
                self._h2.close_connection(
                    error_code,
                    additional_data=message.encode()[:200],
                    last_stream_id=self._last_acted,
                )
            except h2.exceptions.ProtocolError:
                pass  # h2 has closed already (it sent its own GOAWAY)
        self._advance(_CLOSING)

    def transport_lost(self) -> None:
        """The transport failed or the peer closed it: nothing more can be sent."""
        self._advance(ConnectionState.BROKEN)

    def _send_goaway(self, code: int, last_stream_id: int) -> None:
        # Built by hand: h2.close_connection() would refuse every later frame, and a
        # graceful GOAWAY still lets the accepted streams finish their responses.
        frame = GoAwayFrame(0, last_stream_id=last_stream_id, error_code=code)
        self._queue_frame(frame.serialize())
        if self._goaway_last_id is None or last_stream_id < self._goaway_last_id:
            self._goaway_last_id = last_stream_id
        self._advance(ConnectionState.DRAINING)

    def _stop_if_done(self) -> None:
        if self.shutdown_notice_pending:
            return  # requests may still be on their way
        if self._state is ConnectionState.DRAINING and not self._streams:
            self._advance(_CLOSING)

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes | bytearray, now: float) -> list[Event]:
        """Process bytes from the peer (received at time ``now``); return what happened.

        After a :class:`ConnectionViolation` (or once :attr:`state` is CLOSING or
        later) the caller stops reading; the answer is in :meth:`data_to_send`.
        """
        self._now = now
        events: list[Event] = []
        self._events = events
        acted = self._last_acted
        gate = self._gate
        h2_receive = self._h2.receive_data
        dispatch = self._dispatch
        try:
            gate.feed(data, now)
            while True:
                # h2 iterates the gate for frames (the gate is its frame buffer).
                for event in h2_receive(b""):
                    handler = dispatch.get(type(event))
                    if handler is not None:
                        handler(event)
                        if self._state >= _CLOSING:
                            return events
                pending = gate.take_pending()
                if pending is None:
                    break
                if pending.stream_id is None:
                    raise pending
                self._reset_for_peer(pending.stream_id, pending.error_code, str(pending))
        except ProtocolViolation as exc:
            # Found by the gate, the flood budgets or the corrections: ours to answer.
            events = self._unact(events, acted)
            self.close(exc.error_code, str(exc))
            events.append(ConnectionViolation(exc.error_code, str(exc)))
            return events
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued its GOAWAY, with the right code, already.
            events = self._unact(events, acted)
            code = int(getattr(exc, "error_code", None) or ErrorCode.PROTOCOL_ERROR)
            self._advance(_CLOSING)
            events.append(ConnectionViolation(code, str(exc) or type(exc).__name__))
            return events
        gate.end_of_input(now)
        return events

    def _unact(self, events: list[Event], acted: int) -> list[Event]:
        """Take back the requests of bytes that end in a connection error.

        The connection is closing: they will not be served, so they were not acted
        on (the GOAWAY says so), and their events are dropped.
        """
        new = {e.stream_id for e in events if isinstance(e, RequestReceived)}
        if not new:
            return events
        for stream_id in new:
            del self._streams[stream_id]
        self._last_acted = acted
        self._events = kept = [e for e in events if getattr(e, "stream_id", None) not in new]
        return kept

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        if self._state is ConnectionState.HANDSHAKE:
            self._advance(ConnectionState.OPEN)
        self._events.append(
            SettingsChanged(_SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings)
        )

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id: int = event.stream_id
        headers: list[tuple[bytes, bytes]] = event.headers
        config = self._config
        if self._goaway_last_id is not None and stream_id > self._goaway_last_id:
            self._h2.reset_stream(stream_id, ErrorCode.REFUSED_STREAM)
            return
        if len(self._streams) >= config.max_concurrent_streams and (
            self._h2.count_open_inbound_streams() > config.max_concurrent_streams
        ):
            # §5.1.2: refused, not acted on; counted so that a peer that keeps
            # opening streams past the limit meets the reset budget.
            self._gate.note_reset(self._now)
            self._h2.reset_stream(stream_id, ErrorCode.REFUSED_STREAM)
            return
        ended = event.stream_ended is not None
        try:
            # Allowed from the first request: the preface's SETTINGS advertise it.
            info = check_request(headers, extended_connect=True)
            if ended and info.content_length:
                raise MalformedRequest("content-length with no body")
        except MalformedRequest as exc:
            self._reset_for_peer(stream_id, ErrorCode.PROTOCOL_ERROR, str(exc))
            return
        pseudo = info.pseudo
        state = StreamState(f"<Stream {stream_id}>")
        if ended:
            state.end_request()
        self._streams[stream_id] = _StreamRecord(
            state, None if ended else info.content_length, False
        )
        self._last_acted = stream_id
        self._events.append(
            RequestReceived(
                stream_id,
                pseudo,
                headers[len(pseudo) :],
                ended,
                info.size > config.max_header_list_size,
            )
        )

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id: int = event.stream_id
        data: bytes = event.data
        length = event.flow_controlled_length or 0
        record = self._streams.get(stream_id)
        if not data or record is None or record.state.reset_code is not None:
            # Nobody will read it (or there is nothing to read: an empty or all-padding
            # DATA frame must not look like the end of the body); give the credit back.
            self._h2.acknowledge_received_data(length, stream_id)
            return
        left = record.body_left
        if left is not None:
            left -= len(data)
            if left < 0:
                self._reset_for_peer(
                    stream_id, ErrorCode.PROTOCOL_ERROR, "more body than content-length"
                )
                self._h2.acknowledge_received_data(length, stream_id)
                return
            record.body_left = left
        self._events.append(DataReceived(stream_id, data, length))

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream_id: int = event.stream_id
        record = self._streams.get(stream_id)
        if record is None or record.state.reset_code is not None or record.state.request_ended:
            # Unknown, reset, or ended already (with the headers or the trailers).
            return
        if record.body_left:
            self._reset_for_peer(
                stream_id, ErrorCode.PROTOCOL_ERROR, "less body than content-length"
            )
            return
        record.body_left = None
        record.state.end_request()
        self._events.append(RequestEnded(stream_id))

    def _on_trailers(self, event: h2.events.TrailersReceived) -> None:
        stream_id: int = event.stream_id
        record = self._streams.get(stream_id)
        if record is None or record.state.reset_code is not None:
            return
        trailers: RawHeaders = event.headers
        try:
            check_trailers(trailers)
            if record.body_left:
                raise MalformedRequest("less body than content-length")
        except MalformedRequest as exc:
            self._reset_for_peer(stream_id, ErrorCode.PROTOCOL_ERROR, str(exc))
            return
        record.body_left = None
        record.state.end_request()
        self._events.append(RequestEnded(stream_id, trailers))

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream_id: int = event.stream_id
        code = event.error_code or 0
        if not event.remote_reset:
            # A stream error the corrections found: the peer's doing.
            self._gate.note_reset(self._now)
        record = self._streams.get(stream_id)
        if record is not None:
            record.body_left = None
            record.state.reset(code, remote=event.remote_reset)
        self._events.append(StreamResetEvent(stream_id, code, event.remote_reset))

    def _on_window_updated(self, event: h2.events.WindowUpdated) -> None:
        self._events.append(WindowOpened(event.stream_id or 0))

    def _on_terminated(self, event: h2.events.ConnectionTerminated) -> None:
        code = event.error_code or 0
        self._events.append(
            GoAwayReceived(code, event.last_stream_id or 0, event.additional_data or b"")
        )
        if code != ErrorCode.NO_ERROR:
            self._advance(ConnectionState.BROKEN)
            return
        # Streams above its last-stream-id were never ours; the rest may finish.
        self._advance(ConnectionState.DRAINING)
        self._stop_if_done()

    # ------------------------------------------------------------ stream errors

    def stream_state(self, stream_id: int) -> int:
        return self._h2.stream_state(stream_id)

    def _reset_for_peer(self, stream_id: int, error_code: int, reason: str) -> None:
        """A stream error (RFC 9113 §5.4.2) for the peer's fault: reset, count, report."""
        self._gate.note_reset(self._now)
        self._reset(stream_id, error_code, reason=reason)
        if stream_id in self._streams:
            self._events.append(StreamResetEvent(stream_id, error_code, False))

    # ---------------------------------------------------------------- streams

    def reset_stream(self, stream_id: int, error_code: int) -> None:
        """Reset a stream from the server's side: RST_STREAM, and the stream's state."""
        self._reset(stream_id, error_code)

    def _reset(self, stream_id: int, error_code: int, *, reason: str | None = None) -> None:
        # The one place a reset by the server is written and recorded; ``reason`` is
        # what the peer did wrong, when it is the peer's fault.
        h2_conn = self._h2
        if reason is None or h2_conn.stream_state(stream_id) == ACTIVE:
            try:
                h2_conn.reset_stream(stream_id, error_code)
            except h2.exceptions.ProtocolError:
                pass  # the stream is closed already, or the whole connection is
        else:
            # h2 knows no open stream there (e.g. PRIORITY on an idle one).
            self._queue_frame(RstStreamFrame(stream_id, error_code=error_code).serialize())
        record = self._streams.get(stream_id)
        if record is not None:
            record.body_left = None
            record.state.reset(error_code, remote=False, reason=reason)

    def check_stream(self, stream_id: int) -> StreamState:
        """The state of an active stream the application may still send on; else raise."""
        record = self._streams.get(stream_id)
        if record is None:
            raise LocalProtocolError(f"stream {stream_id} is closed")
        if self._h2.state_machine.state is _H2_CLOSED or self._state is ConnectionState.BROKEN:
            raise ConnectionClosed("the connection is closing")
        state = record.state
        if state.reset_code is not None:
            raise state.reset_error()
        return state

    def send_headers(self, stream_id: int, headers: RawHeaders, end_stream: bool) -> None:
        """Queue a header block (response head, 1xx, or trailers with ``end_stream``)."""
        self.check_stream(stream_id)
        try:
            self._h2.send_headers(stream_id, headers, end_stream=end_stream)
        except h2.exceptions.StreamClosedError:
            raise StreamReset(ErrorCode.STREAM_CLOSED, remote=True) from None
        except h2.exceptions.ProtocolError as exc:
            raise LocalProtocolError(str(exc)) from None

    def end_stream(self, stream_id: int) -> None:
        """Queue an empty DATA frame with END_STREAM."""
        self.check_stream(stream_id)
        try:
            self._h2.end_stream(stream_id)
        except h2.exceptions.StreamClosedError:
            raise StreamReset(ErrorCode.STREAM_CLOSED, remote=True) from None

    def send_window(self, stream_id: int) -> int:
        """How many body bytes may go on ``stream_id`` now (stream and connection windows)."""
        self.check_stream(stream_id)
        try:
            return int(self._h2.local_flow_control_window(stream_id))
        except h2.exceptions.StreamClosedError:
            raise StreamReset(ErrorCode.STREAM_CLOSED, remote=True) from None

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool) -> None:
        """Queue ``data`` as DATA frames; it must fit :meth:`send_window`."""
        h2_conn = self._h2
        h2_conn.send_data_frames(stream_id, data, end_stream)
        self._streams[stream_id].state.sent(len(data))
        # Each DATA frame earns the peer a WINDOW_UPDATE on the stream and one on the
        # connection that the flood budget does not count.
        self._gate.credit(2 * _frames(len(data), h2_conn.max_outbound_frame_size))

    def send_response(
        self,
        stream_id: int,
        headers: RawHeaders,
        data: bytes,
        trailers: RawHeaders | None,
        room: int,
    ) -> bool:
        """Queue a whole response at once if its body fits the windows and ``room``.

        Returns False, having queued nothing, when it does not fit: the caller sends
        it piece by piece as credit comes.
        """
        self.check_stream(stream_id)
        h2_conn = self._h2
        try:
            if len(data) > h2_conn.local_flow_control_window(stream_id) or len(data) > room:
                return False
            h2_conn.send_headers(stream_id, headers, end_stream=not data and not trailers)
            if data:
                h2_conn.send_data_frames(stream_id, data, trailers is None)
                self._streams[stream_id].state.sent(len(data))
                self._gate.credit(2 * _frames(len(data), h2_conn.max_outbound_frame_size))
            if trailers is not None:
                h2_conn.send_headers(stream_id, trailers, end_stream=True)
        except h2.exceptions.StreamClosedError:
            raise StreamReset(ErrorCode.STREAM_CLOSED, remote=True) from None
        except h2.exceptions.ProtocolError as exc:
            raise LocalProtocolError(str(exc)) from None
        return True

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Give the peer ``size`` bytes of credit back: the application consumed them."""
        if size and self._state is not ConnectionState.BROKEN:
            self._h2.acknowledge_received_data(size, stream_id)

    def push(self, parent_id: int, request_headers: RawHeaders) -> int | None:
        """Promise a pushed stream on ``parent_id``; its id, or None if push is not possible."""
        h2_conn = self._h2
        remote = h2_conn.remote_settings
        if (
            not remote.enable_push
            or self._state is not ConnectionState.OPEN
            or self._pushes_in_flight >= remote.max_concurrent_streams
        ):
            return None
        self.check_stream(parent_id)
        promised_id = int(h2_conn.get_next_available_stream_id())
        try:
            h2_conn.push_stream(parent_id, promised_id, request_headers)
        except h2.exceptions.StreamClosedError:
            raise StreamReset(ErrorCode.STREAM_CLOSED, remote=True) from None
        except h2.exceptions.ProtocolError as exc:
            raise LocalProtocolError(str(exc)) from None
        state = StreamState(f"<Stream {promised_id} pushed>")
        state.end_request()
        self._streams[promised_id] = _StreamRecord(state, None, True)
        self._pushes_in_flight += 1
        return promised_id

    def finish_stream(self, stream_id: int, unread: int, unfinished_code: int) -> None:
        """The application is done with ``stream_id``; ``unread`` bytes of credit were never read.

        A response left half-sent is reset with ``unfinished_code`` (the peer must
        never take a truncated body for a whole one); a complete response to a
        request still uploading stops the upload with NO_ERROR (RFC 9113 §8.1).
        """
        record = self._streams.get(stream_id)
        if record is None:
            return
        state = record.state
        if self._state is not ConnectionState.BROKEN:
            if not state.response_ended:
                self._reset(stream_id, unfinished_code)
            elif not state.request_ended and state.reset_code is None:
                self._reset(stream_id, ErrorCode.NO_ERROR)
            if unread:
                self._h2.acknowledge_received_data(unread, stream_id)
        self._h2.forget_stream(stream_id)
        del self._streams[stream_id]
        if record.pushed:
            self._pushes_in_flight -= 1
        self._stop_if_done()
