"""h2's connection object, corrected where it answers differently from RFC 9113.

h2 makes connection errors of several things RFC 9113 calls stream errors.  These
subclasses keep h2's state machine and HPACK decoding, and change only the answer:

* a malformed request (a content-length that is not a number, trailers without
  END_STREAM, a ``:status`` in a request) resets that stream (§8.1.1), where h2
  closes the connection; content-length is checked by the connection instead;
* a header block HPACK cannot decode is a COMPRESSION_ERROR (§4.3), not a
  PROTOCOL_ERROR;
* a stream that depends on itself, in HEADERS or PRIORITY, is a stream error
  (§5.3.1);
* DATA arriving on a stream the server reset is ignored (its flow-control credit
  returned) instead of drawing one more RST_STREAM each (§5.1, "closed"); DATA
  after the peer's own END_STREAM is a connection error, as HEADERS is;
* more streams than SETTINGS_MAX_CONCURRENT_STREAMS are refused one by one with
  REFUSED_STREAM (§5.1.2), by the connection, instead of closing it;
* a GOAWAY from the client does not stop the server from answering the requests
  it has already sent (§6.8; its last-stream-id counts pushed streams only), and
  does not drop the frames already queued for it;
* a header block may decode to twice ``max_header_list_size`` before HPACK gives
  up (then the connection is closed); between one and two times the limit the
  request is answered 431 and the connection stays usable.

Stream errors found here come out as ``StreamReset`` events with ``remote_reset``
False, so the connection treats them like any reset: no handler, or a cancelled one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import h2.connection
import h2.events
import h2.exceptions
import h2.stream
from h2.errors import ErrorCodes
from h2.stream import StreamInputs, StreamState
from h2.utilities import is_informational_response
from hpack import HPACKError, NeverIndexedHeaderTuple
from hyperframe.frame import DataFrame, Frame, HeadersFrame, PriorityFrame, RstStreamFrame

if TYPE_CHECKING:
    from h2.connection import AllowedStreamIDs
    from h2.settings import ChangedSetting, SettingCodes
    from hpack.struct import Header

from ..errors import ProtocolViolation
from .goaway import H2Connection


def _stream_error(message: str) -> ProtocolViolation:
    """A malformed request: reset that stream, keep the connection (§8.1.1)."""
    return ProtocolViolation(message, ErrorCodes.PROTOCOL_ERROR, stream_id=0)


_RECEIVING_REQUEST = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL)
_ENDED = (h2.stream.StreamClosedBy.RECV_END_STREAM, h2.stream.StreamClosedBy.SEND_END_STREAM)


class _ServerStream(h2.stream.H2Stream):
    def _initialize_content_length(self, headers: Iterable[Header]) -> None:
        # The connection checks content-length (a stream error when malformed).
        return None

    def _track_content_length(self, length: int, end_stream: bool) -> None:
        return None

    # h2's receive_headers() less what a server never needs: its content-length
    # tracking (the connection does that), the 1xx branch (a request never is one),
    # and a chain of generators to join cookie fields.  The state machine sees the
    # same inputs; the event carries the same fields.  Headers decoded to str (which
    # this server never asks of h2) are left to h2.
    def receive_headers(
        self, headers: Iterable[Header], end_stream: bool, header_encoding: bool | str | None
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        machine = self.state_machine
        state = machine.state
        if state in _RECEIVING_REQUEST and not end_stream:
            # §8.1: only trailers may follow the request headers, and they end it.
            raise _stream_error("a second HEADERS frame without END_STREAM")
        informational = is_informational_response(headers)
        if informational and state is StreamState.IDLE:
            # h2 would take this for a 1xx response; it opens a malformed request.
            machine.process_input(StreamInputs.RECV_HEADERS)
            raise _stream_error(":status in a request")
        if informational or header_encoding is not None:
            return super().receive_headers(headers, end_stream, header_encoding)
        events: list[Any] = machine.process_input(StreamInputs.RECV_HEADERS)
        if end_stream:
            ended = machine.process_input(StreamInputs.RECV_END_STREAM)
            events[0].stream_ended = ended[0]
            events += ended
        events[0].headers = join_cookies(headers)
        return [], events


def join_cookies(fields: Iterable[Header]) -> list[Any]:
    """RFC 9113 §8.2.3: cookie fields joined into one, placed last (as h2 does it)."""
    headers = fields if isinstance(fields, list) else list(fields)
    for name, _ in headers:
        if name == b"cookie":
            break
    else:
        return headers
    cookies = [value for name, value in headers if name == b"cookie"]
    joined = [field for field in headers if field[0] != b"cookie"]
    joined.append(NeverIndexedHeaderTuple(b"cookie", b"; ".join(cookies)))
    return joined


class ServerH2(H2Connection):
    """The server side of h2's connection, with the corrections listed above."""

    def __init__(self, *args: Any, header_list_limit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_list_limit = header_list_limit
        self.decoder.max_header_list_size = header_list_limit

    # h2 answers a HEADERS frame over SETTINGS_MAX_CONCURRENT_STREAMS with a connection
    # error; RFC 9113 §5.1.2 asks for a stream error.  Report no open inbound streams
    # to h2's check, and refuse such streams in Connection._on_request instead.  This
    # also spares h2 a walk over every stream for each new one.
    @property
    def open_inbound_streams(self) -> int:
        return 0

    def count_open_inbound_streams(self) -> int:
        return super().open_inbound_streams

    def stream_state(self, stream_id: int) -> int:
        """0: idle, 1: open or half-closed, 2: closed (see ``_gate.GatePeer``)."""
        stream = self.streams.get(stream_id)
        if stream is not None:
            return 2 if stream.closed else 1
        if stream_id % 2:
            highest = self.highest_inbound_stream_id
        else:
            highest = self.highest_outbound_stream_id
        return 0 if stream_id > highest else 2

    def _local_settings_acked(self) -> dict[SettingCodes | int, ChangedSetting]:
        changes = super()._local_settings_acked()
        # h2 sets the decoder's limit to the advertised one; keep the hard limit.
        self.decoder.max_header_list_size = self._header_list_limit
        return changes

    def _begin_new_stream(
        self, stream_id: int, allowed_ids: AllowedStreamIDs
    ) -> h2.stream.H2Stream:
        stream = super()._begin_new_stream(stream_id, allowed_ids)
        stream.__class__ = _ServerStream
        return stream

    def _stream_error(
        self, stream_id: int, error_code: ErrorCodes
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        event = h2.events.StreamReset(
            stream_id=stream_id, error_code=error_code, remote_reset=False
        )
        stream = self.streams.get(stream_id)
        if stream is not None and not stream.closed:
            return stream.reset_stream(error_code), [event]
        frame = RstStreamFrame(stream_id)
        frame.error_code = error_code
        return [frame], [event]

    def _receive_headers_frame(
        self, frame: HeadersFrame
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        self_dependent = "PRIORITY" in frame.flags and frame.depends_on == frame.stream_id
        if self_dependent:
            frame.flags.discard("PRIORITY")
        try:
            frames, events = super()._receive_headers_frame(frame)
        except ProtocolViolation as exc:
            if exc.is_connection_error:
                raise
            return self._stream_error(frame.stream_id, ErrorCodes(exc.error_code))
        except h2.exceptions.DenialOfServiceError:
            raise
        except h2.exceptions.ProtocolError as exc:
            if isinstance(exc.__cause__, HPACKError | IndexError | TypeError | UnicodeDecodeError):
                # h2 calls a decoding error PROTOCOL_ERROR; §4.3 says COMPRESSION_ERROR.
                # Raised past h2, which would answer it with its own GOAWAY.
                raise ProtocolViolation(str(exc), ErrorCodes.COMPRESSION_ERROR) from exc.__cause__
            raise
        if self_dependent:
            # The block was decoded (HPACK stays in step); the request is refused.
            return self._stream_error(frame.stream_id, ErrorCodes.PROTOCOL_ERROR)
        return frames, events

    def _receive_priority_frame(
        self, frame: HeadersFrame | PriorityFrame
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        if isinstance(frame, PriorityFrame) and frame.depends_on == frame.stream_id:
            return self._stream_error(frame.stream_id, ErrorCodes.PROTOCOL_ERROR)
        return super()._receive_priority_frame(frame)

    def _handle_data_on_closed_stream(
        self,
        events: list[h2.events.Event],
        exc: h2.exceptions.StreamClosedError,
        frame: DataFrame,
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        closed_by = self._stream_closed_by(frame.stream_id)
        if not exc._events and closed_by in _ENDED:
            # The peer ended the stream and sends more: RFC 9113 §5.1 lets this be
            # a connection error, as HEADERS there is in h2 (and h2spec wants it).
            raise exc
        frames, out = super()._handle_data_on_closed_stream(events, exc, frame)
        if (
            not exc._events
            and self._stream_closed_by(frame.stream_id) is h2.stream.StreamClosedBy.SEND_RST_STREAM
        ):
            # §5.1: frames in flight when we reset the stream are ignored.
            frames = [f for f in frames if not isinstance(f, RstStreamFrame)]
        return frames, out
