"""h2 made cheap for a server that answers many small requests: frames and HPACK.

h2 builds a hyperframe object (with its Flags set, Padding and Priority parts) for every
frame it sends, serialises it, joins the bytes and copies them again when they are taken;
it re-checks and re-normalises every header block and logs as it goes.  For a 13-byte
response that is most of the cost of answering.  The overrides here produce the same
bytes and leave h2's state exactly as h2 would (the connection and stream state machines
see the same inputs in the same order, windows shrink by the same amounts, the same
exceptions come out), but write the frame headers with one ``struct.pack`` straight into
h2's outbound buffer.  Anything unusual (padding, priority, a stream h2 does not know,
an informational response, a frame over the window) goes to h2's own code.

Header compression both ways uses our dict-indexed HPACK objects
(``hpack_encoder.py``, ``hpack_decoder.py``) in place of hpack's, and received bytes
are cut into frames by the frame gate (``gate.py``), which is h2's frame buffer.

The server passes only bytes headers, already checked (``_headers.py``), and runs with
h2's outbound validation and normalisation off, which is what lets these paths skip them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from h2.config import DummyLogger
from h2.connection import ConnectionInputs, ConnectionState, H2ConnectionStateMachine
from h2.errors import ErrorCodes
from h2.events import Event
from h2.exceptions import (
    FlowControlError,
    ProtocolError,
    StreamClosedError,
    StreamIDTooLowError,
)
from h2.stream import (
    StreamClosedBy,
    StreamInputs,
    StreamState,
    _transitions as _stream_transitions,
)
from hyperframe.frame import Frame, RstStreamFrame

if TYPE_CHECKING:
    from hpack.struct import HeaderWeaklyTyped

from .goaway import H2Connection
from .hpack_decoder import HeaderDecoder
from .hpack_encoder import HeaderEncoder
from .wire import (
    CONTINUATION,
    DATA,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FRAME_HEADER,
    HEADERS,
)

_SEND_HEADERS = ConnectionInputs.SEND_HEADERS
_SEND_DATA = ConnectionInputs.SEND_DATA
_STREAM_SEND_HEADERS = StreamInputs.SEND_HEADERS
_STREAM_SEND_DATA = StreamInputs.SEND_DATA
_STREAM_SEND_END = StreamInputs.SEND_END_STREAM

# Inputs that leave a state machine where it is and call nothing, in the states a
# server usually sends from.  Feeding them to process_input() changes nothing but
# costs a dict lookup keyed by enums with a Python-level __hash__, so they are
# skipped in exactly those states; whatever h2's tables say otherwise is honoured.
_SERVER_OPEN = ConnectionState.SERVER_OPEN
_CONN_TABLE = H2ConnectionStateMachine._transitions
_QUIET_CONN_HEADERS = _CONN_TABLE.get((_SERVER_OPEN, _SEND_HEADERS)) == (None, _SERVER_OPEN)
_QUIET_CONN_DATA = _CONN_TABLE.get((_SERVER_OPEN, _SEND_DATA)) == (None, _SERVER_OPEN)
_OPEN = StreamState.OPEN
_HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_REMOTE
_QUIET_STREAM_DATA = _stream_transitions.get((_OPEN, _STREAM_SEND_DATA)) == (None, _OPEN) and (
    _stream_transitions.get((_HALF_CLOSED_REMOTE, _STREAM_SEND_DATA))
    == (None, _HALF_CLOSED_REMOTE)
)


def frame_header(length: int, frame_type: int, flags: int, stream_id: int) -> bytes:
    """The 9-byte frame header of RFC 9113 §4.1."""
    return FRAME_HEADER.pack(length >> 8, length & 0xFF, frame_type, flags, stream_id)


def _informational(headers: list[Any]) -> bool:
    # bytes are compared only with bytes and str with str: under ``python -bb`` a
    # comparison across the two is an error.
    if not headers:
        return False
    name, value = headers[0][0], headers[0][1]
    if name.__class__ is bytes:
        if name != b":status":
            return False
    elif not isinstance(name, str) or name != ":status":
        return False
    if isinstance(value, str):
        return value[:1] == "1"
    return bool(value[:1] == b"1")


class FastH2Connection(H2Connection):
    """A server-side h2 connection whose HEADERS and DATA frames are built by hand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # h2 sets encoder.header_table_size from the peer's SETTINGS, and the
        # decoder's limits from ours, as it did on hpack's objects; the limits set
        # so far carry over.
        self.encoder: Any = HeaderEncoder()
        decoder = HeaderDecoder(self.decoder.max_header_list_size)
        decoder.max_allowed_table_size = self.decoder.max_allowed_table_size
        self.decoder: Any = decoder

    def forget_stream(self, stream_id: int) -> None:
        """Drop a finished stream from h2's table, noting how it closed, as h2 does.

        h2 drops closed streams only while it counts the open ones, which the server
        keeps it from doing (``_protocol.ServerH2.open_inbound_streams``): without
        this, every stream of a long connection would stay in ``h2.streams`` (memory,
        and slower dict work) until the connection ends.
        """
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            self._closed_streams[stream_id] = stream.closed_by

    def send_headers(
        self,
        stream_id: int,
        headers: Iterable[HeaderWeaklyTyped],
        end_stream: bool = False,
        priority_weight: int | None = None,
        priority_depends_on: int | None = None,
        priority_exclusive: bool | None = None,
    ) -> None:
        stream = self.streams.get(stream_id)
        if (
            stream is None
            or priority_weight is not None
            or priority_depends_on is not None
            or priority_exclusive is not None
            or not isinstance(headers, list)
            or _informational(headers)
        ):
            # New (pushed) streams, priorities and 1xx responses: h2's own path.
            super().send_headers(
                stream_id,
                headers,
                end_stream,
                priority_weight,
                priority_depends_on,
                priority_exclusive,
            )
            return
        # The same inputs in the same order as h2.send_headers / H2Stream.send_headers.
        if not (_QUIET_CONN_HEADERS and self.state_machine.state is _SERVER_OPEN):
            self.state_machine.process_input(_SEND_HEADERS)
        machine = stream.state_machine
        machine.process_input(_STREAM_SEND_HEADERS)
        block = self.encoder.encode(headers)
        flags = FLAG_END_HEADERS
        if end_stream:
            machine.process_input(_STREAM_SEND_END)
            flags |= FLAG_END_STREAM
        if machine.trailers_sent and not end_stream:
            raise ProtocolError("Trailers must have END_STREAM set.")
        # What h2 records for a header block without :method.
        stream.request_method = None
        out = self._data_to_send
        size = self.max_outbound_frame_size
        length = len(block)
        if length <= size:
            out += FRAME_HEADER.pack(length >> 8, length & 0xFF, HEADERS, flags, stream_id)
            out += block
            return
        # CONTINUATION frames carry the rest; END_STREAM stays on the HEADERS frame.
        first = flags & ~FLAG_END_HEADERS
        out += FRAME_HEADER.pack(size >> 8, size & 0xFF, HEADERS, first, stream_id)
        out += block[:size]
        for start in range(size, length, size):
            chunk = block[start : start + size]
            last = FLAG_END_HEADERS if start + size >= length else 0
            n = len(chunk)
            out += FRAME_HEADER.pack(n >> 8, n & 0xFF, CONTINUATION, last, stream_id)
            out += chunk

    def send_data(
        self,
        stream_id: int,
        data: bytes | memoryview,
        end_stream: bool = False,
        pad_length: Any = None,
    ) -> None:
        stream = self.streams.get(stream_id)
        length = len(data)
        if (
            stream is None
            or pad_length is not None
            or length > self.max_outbound_frame_size
            or length > self.outbound_flow_control_window
            or length > stream.outbound_flow_control_window
        ):
            # h2 raises the right error for each of these (or pads).
            super().send_data(stream_id, data, end_stream, pad_length)
            return
        self._send_data_frames(stream, stream_id, data, length, end_stream)

    def send_data_frames(self, stream_id: int, data: bytes | memoryview, end_stream: bool) -> None:
        """Send ``data`` as DATA frames of at most the peer's frame size, at once.

        ``data`` must fit the flow-control windows (as for ``send_data``); it is
        copied once, into the outbound buffer.
        """
        stream = self.streams.get(stream_id)
        length = len(data)
        size = self.max_outbound_frame_size
        if length <= size or stream is None:
            self.send_data(stream_id, data, end_stream)
            return
        window = min(self.outbound_flow_control_window, stream.outbound_flow_control_window)
        if length > window:
            raise FlowControlError(f"Cannot send {length} bytes, flow control window is {window}")
        self._send_data_frames(stream, stream_id, data, length, end_stream)

    def _send_data_frames(
        self, stream: Any, stream_id: int, data: bytes | memoryview, length: int, end: bool
    ) -> None:
        # h2.send_data per frame: connection SEND_DATA, stream SEND_DATA (both leave
        # an open stream's state as it is, so once stands for every frame), then
        # SEND_END_STREAM with the last frame; both windows shrink by the length.
        if not (_QUIET_CONN_DATA and self.state_machine.state is _SERVER_OPEN):
            self.state_machine.process_input(_SEND_DATA)
        machine = stream.state_machine
        state = machine.state
        if not (_QUIET_STREAM_DATA and (state is _OPEN or state is _HALF_CLOSED_REMOTE)):
            machine.process_input(_STREAM_SEND_DATA)
        if end:
            machine.process_input(_STREAM_SEND_END)
        stream.outbound_flow_control_window -= length
        self.outbound_flow_control_window -= length
        out = self._data_to_send
        pack = FRAME_HEADER.pack
        size = self.max_outbound_frame_size
        if length <= size:
            out += pack(length >> 8, length & 0xFF, DATA, FLAG_END_STREAM if end else 0, stream_id)
            out += data
            return
        view = memoryview(data)
        for start in range(0, length, size):
            n = min(size, length - start)
            flags = FLAG_END_STREAM if end and start + n == length else 0
            out += pack(n >> 8, n & 0xFF, DATA, flags, stream_id)
            out += view[start : start + n]

    def end_stream(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            super().end_stream(stream_id)  # raises NoSuchStreamError / StreamClosedError
            return
        if not (_QUIET_CONN_DATA and self.state_machine.state is _SERVER_OPEN):
            self.state_machine.process_input(_SEND_DATA)
        stream.state_machine.process_input(_STREAM_SEND_END)
        self._data_to_send += FRAME_HEADER.pack(0, 0, DATA, FLAG_END_STREAM, stream_id)

    def _receive_frame(self, frame: Frame) -> list[Event]:
        # h2's own method, less its first line: ``logger.trace("...", repr(frame))``
        # formats every received frame before the (no-op) logger drops it, and the
        # repr of a DATA frame serialises and hex-dumps its payload: a fifth of the
        # server's time on uploads.  The trace still goes out to a real logger.
        if not isinstance(self.config.logger, DummyLogger):
            self.config.logger.trace("Received frame: %s", repr(frame))
        events: list[Event]
        # Whether the server had reset this stream before the frame came: h2 marks a
        # stream it resets in answer to the frame itself the same way, and that
        # RST_STREAM must go out.
        reset_before = (
            frame.stream_id != 0
            and self._stream_closed_by(frame.stream_id) is StreamClosedBy.SEND_RST_STREAM
        )
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except StreamClosedError as e:
            if reset_before and e.stream_id == frame.stream_id:
                # RFC 9113 §5.1: frames still in flight when we reset a stream MUST
                # be ignored (h2 answers them with another RST_STREAM).  What they do
                # to the connection (HPACK, flow control) has been done already.
                events = e._events
            elif self._stream_is_closed_by_reset(e.stream_id):
                f = RstStreamFrame(e.stream_id)
                f.error_code = e.error_code
                self._prepare_for_sending([f])
                events = e._events
            else:
                raise
        except StreamIDTooLowError as e:
            if reset_before and e.stream_id == frame.stream_id:
                events = []
            elif self._stream_is_closed_by_reset(e.stream_id):
                f = RstStreamFrame(e.stream_id)
                f.error_code = ErrorCodes.STREAM_CLOSED
                self._prepare_for_sending([f])
                events = []
            elif self._stream_is_closed_by_end(e.stream_id):
                raise StreamClosedError(e.stream_id) from e
            else:
                raise
        else:
            self._prepare_for_sending(frames)
        return events

    def take_outbound(self) -> bytearray:
        """Take h2's outbound buffer itself (``data_to_send()`` would copy it)."""
        data = self._data_to_send
        self._data_to_send = bytearray()
        return data
