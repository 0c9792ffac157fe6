"""The frame gate: h2's frame buffer, replaced by one that looks at each frame first.

h2 reads received bytes through its ``incoming_buffer`` (``h2.frame_buffer.FrameBuffer``):
it adds what arrived, then iterates the buffer for whole frames, each of which it
processes before asking for the next.  :class:`FrameGate` *is* that buffer, so each
frame header is parsed once, here, and every frame is looked at before h2 sees it,
with h2's state already up to date with every earlier frame.  The gate:

* checks the connection preface, and that SETTINGS comes first (RFC 9113 §3.4);
* refuses a frame longer than SETTINGS_MAX_FRAME_SIZE as soon as its header
  arrives, instead of buffering up to 16 MiB first (§4.2);
* bounds a header block spread over CONTINUATION frames, in octets (h2 does not)
  and in frames (before h2's own limit, with a clearer error code), and tells
  since when one has been waiting for its end (for the header timeout);
* makes stream errors of a PRIORITY frame of the wrong length (§6.3) and of a
  zero WINDOW_UPDATE increment on a stream (§6.9), which h2 would make
  connection errors of;
* counts the frames that cost work but carry no request (PING, SETTINGS, PRIORITY,
  empty DATA, WINDOW_UPDATE, unknown types) and the streams reset by or because
  of the peer, per ``Config.reset_window``; past the limits the peer gets
  GOAWAY(ENHANCE_YOUR_CALM).

When a frame needs the connection's decision (a stream error, or a connection error
found here) the gate stops the iteration before it, so that h2 returns the events of
the frames before it first; the connection then takes the decision
(:meth:`FrameGate.take_pending`) and reads on.

Frames are built as h2's buffer builds them, with the same classes and attributes.
The two a server mostly receives, a DATA frame and a HEADERS frame that is a whole
header block, neither padded nor with priority, are built directly, their payload
copied once out of the buffer; every other frame goes through hyperframe's own
parsers (``FRAMES``, ``parse_flags``, ``parse_body``), as in h2.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Protocol

from h2.exceptions import FrameDataMissingError, ProtocolError
from h2.frame_buffer import FrameBuffer
from hyperframe.exceptions import InvalidDataError, InvalidFrameError
from hyperframe.flags import Flags
from hyperframe.frame import FRAMES, DataFrame, ExtensionFrame, Frame, HeadersFrame

from ..._config import Config
from ..._errors import ErrorCode
from ..errors import ProtocolViolation
from .wire import (
    CONTINUATION,
    DATA,
    FLAG_ACK,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FLAG_PADDED,
    FLAG_PRIORITY,
    FRAME_HEADER,
    HEADERS,
    PRIORITY,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
)

if TYPE_CHECKING:
    from h2._typing import Buffer

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

_U32 = struct.Struct(">L")

#: CONTINUATION frames one header block may use (h2 itself stops at 63).
MAX_CONTINUATIONS = 32

IDLE, ACTIVE, CLOSED = 0, 1, 2

# The flags hyperframe would set, by the bits that matter here.  A Flags object only
# reads its set of valid names, so frames share one per type.
_HEADERS_VALID = {flag.name for flag in HeadersFrame.defined_flags}
_DATA_VALID = {flag.name for flag in DataFrame.defined_flags}
_FAST_EXCLUDED = FLAG_PADDED | FLAG_PRIORITY


class GatePeer(Protocol):
    """What the gate needs from the connection."""

    def stream_state(self, stream_id: int) -> int:
        """0 for an idle stream, 1 for an open (or half-closed) one, 2 for a closed one."""
        ...


def _violation(error_code: ErrorCode, message: str) -> ProtocolViolation:
    """A connection error found by the gate: the answer is GOAWAY with ``error_code``."""
    return ProtocolViolation(message, error_code)


def _flags(valid: set[str], names: set[str]) -> Flags:
    flags: Flags = Flags.__new__(Flags)
    flags._valid_flags = valid
    flags._flags = names
    return flags


def _headers_frame(stream_id: int, flag_byte: int, block: bytes) -> HeadersFrame:
    frame: Any = HeadersFrame.__new__(HeadersFrame)
    names = {"END_HEADERS"}
    if flag_byte & FLAG_END_STREAM:
        names.add("END_STREAM")
    frame.stream_id = stream_id
    frame.flags = _flags(_HEADERS_VALID, names)
    frame.body_len = len(block)
    frame.pad_length = 0
    frame.depends_on = 0
    frame.stream_weight = 0
    frame.exclusive = False
    frame.data = block
    return frame  # type: ignore[no-any-return]


def _data_frame(stream_id: int, flag_byte: int, data: bytes) -> DataFrame:
    frame: Any = DataFrame.__new__(DataFrame)
    frame.stream_id = stream_id
    frame.flags = _flags(_DATA_VALID, {"END_STREAM"} if flag_byte & FLAG_END_STREAM else set())
    frame.body_len = len(data)
    frame.pad_length = 0
    frame.data = data
    return frame  # type: ignore[no-any-return]


class FrameGate(FrameBuffer):
    """h2's frame buffer, looking at each frame before h2 does (see the module docstring)."""

    def __init__(self, config: Config, peer: GatePeer) -> None:
        super().__init__(server=True)
        self._peer = peer
        self.max_frame_size = config.max_frame_size
        # A header block larger than this, before decoding, is refused outright.
        self._max_block = 2 * config.max_header_list_size
        self._max_control = config.max_control_frames_per_window
        self._max_resets = config.max_resets_per_window
        self._window = config.reset_window
        # What is being read: the bytes of the last read themselves while they hold
        # whole frames (no copy), from ``_pos`` on; a partial frame left at the end is
        # kept in a bytearray that the next read is added to.
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._preface_left = len(PREFACE)
        self._first_frame = True
        # The header block being received: its first frame and its fragments.
        self._block_first: Frame | None = None
        self._block_parts: list[bytes] = []
        self._block_stream = 0
        self._block_size = 0
        # Highest stream id the peer opened, counting frames h2 has not seen yet.
        self._highest_opened = 0
        #: trio time since which a header block has been incomplete, or None.
        self.header_block_since: float | None = None
        self._now = 0.0
        self._window_start = -1e18
        self._control = 0
        self._resets = 0
        # A decision the connection must take before the next frame: a stream error
        # (the frame is dropped) or a connection error.
        self._pending: ProtocolViolation | None = None

    # ------------------------------------------------------------------ budgets

    def _roll(self, now: float) -> None:
        if now - self._window_start >= self._window:
            self._window_start = now
            self._control = 0
            self._resets = 0

    def note_reset(self, now: float) -> None:
        """Count a stream reset by the peer or refused because of it (rapid reset)."""
        self._roll(now)
        self._resets += 1
        if self._resets > self._max_resets:
            raise _violation(ErrorCode.ENHANCE_YOUR_CALM, "too many stream resets")

    def _note_control(self) -> None:
        self._control += 1
        if self._control > self._max_control:
            raise _violation(ErrorCode.ENHANCE_YOUR_CALM, "too many control frames")

    def credit(self, frames: int) -> None:
        """DATA frames sent earn the peer WINDOW_UPDATEs that are not counted as a flood."""
        self._control = max(0, self._control - frames)

    # -------------------------------------------------------------------- input

    def feed(self, data: bytes | bytearray, now: float) -> None:
        """Take bytes the peer sent at ``now`` (and own them); h2 then iterates for frames."""
        self._now = now
        self._roll(now)
        if self._preface_left:
            size = min(self._preface_left, len(data))
            offset = len(PREFACE) - self._preface_left
            if data[:size] != PREFACE[offset : offset + size]:
                raise _violation(ErrorCode.PROTOCOL_ERROR, "invalid connection preface")
            self._preface_left -= size
            data = data[size:]
        if self._pos < len(self._buf):
            buf = self._buf
            assert isinstance(buf, bytearray)
            buf += data
        else:
            self._buf = data
            self._pos = 0

    def add_data(self, data: Buffer) -> None:
        # h2 calls this from receive_data(); the bytes came in through feed().
        if memoryview(data).nbytes:
            raise AssertionError("bytes go to the gate through feed()")

    def _has_pending(self) -> bool:
        # A call, not ``self._pending is not None`` inline: in __next__ the check at
        # the top narrows the attribute to None for mypy, across the _look() call
        # that may set it, and a compiler that trusts the narrowing gets it wrong.
        return self._pending is not None

    def take_pending(self) -> ProtocolViolation | None:
        """The decision the iteration stopped for, if any (see the module docstring)."""
        pending, self._pending = self._pending, None
        return pending

    def end_of_input(self, now: float) -> None:
        """Note whether a header block (or a frame header) is left waiting for its end."""
        buf = self._buf
        pos = self._pos
        left = len(buf) - pos
        if (
            self._block_stream
            or 0 < left < 9
            or (left and buf[pos + 3] in (HEADERS, CONTINUATION))
        ):
            if self.header_block_since is None:
                self.header_block_since = now
        else:
            self.header_block_since = None

    def __next__(self) -> Frame:
        if self._pending is not None:
            raise StopIteration
        while True:
            buf = self._buf
            pos = self._pos
            if len(buf) - pos < 9:
                self._keep_rest()
                raise StopIteration
            high, low, ftype, flags, stream_id = FRAME_HEADER.unpack_from(buf, pos)
            length = (high << 8) | low
            stream_id &= 0x7FFFFFFF
            try:
                if length > self.max_frame_size:
                    # Refused now, not once 16 MiB have been buffered.
                    raise _violation(
                        ErrorCode.FRAME_SIZE_ERROR,
                        f"frame of {length} octets is over SETTINGS_MAX_FRAME_SIZE",
                    )
                if len(buf) - pos - 9 < length:
                    self._keep_rest()
                    raise StopIteration  # the rest of the frame is still to come
                keep = self._look(ftype, flags, stream_id, length)
            except ProtocolViolation as exc:
                # Taken by the connection after h2 has returned what came before.
                self._pending = exc
                raise StopIteration from None
            if not keep:
                self._pos = pos + 9 + length
                if self._has_pending():
                    raise StopIteration
                continue
            frame = self._build(ftype, flags, stream_id, length)
            if frame is not None:
                return frame

    def _look(self, ftype: int, flags: int, stream_id: int, length: int) -> bool:
        """Check one frame before h2 sees it; False drops it (a stream error is pending)."""
        if self._first_frame:
            self._first_frame = False
            if ftype != SETTINGS or flags & FLAG_ACK:
                raise _violation(ErrorCode.PROTOCOL_ERROR, "the preface must be SETTINGS")
        if self._block_stream:
            if ftype != CONTINUATION or stream_id != self._block_stream:
                raise _violation(ErrorCode.PROTOCOL_ERROR, "frame inside a header block")
            self._add_to_block(length)
            if len(self._block_parts) > MAX_CONTINUATIONS and not flags & FLAG_END_HEADERS:
                raise _violation(ErrorCode.ENHANCE_YOUR_CALM, "header block in too many parts")
        elif ftype == DATA:
            if not length and not flags & FLAG_END_STREAM:
                self._note_control()
        elif ftype == HEADERS:
            if stream_id > self._highest_opened and stream_id & 1:
                self._highest_opened = stream_id
            if not flags & FLAG_END_HEADERS:
                self._block_size = 0
                self._add_to_block(length)
        elif ftype == WINDOW_UPDATE:
            self._note_control()
            increment = _U32.unpack_from(self._buf, self._pos + 9)[0] if length == 4 else 1
            if stream_id and not increment & 0x7FFFFFFF:
                # §6.9: on a stream, a zero increment is a stream error.
                if self._is_idle(stream_id):
                    raise _violation(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on idle stream")
                if self._peer.stream_state(stream_id) == ACTIVE:
                    self._pending = ProtocolViolation(
                        "WINDOW_UPDATE with a zero increment",
                        ErrorCode.PROTOCOL_ERROR,
                        stream_id=stream_id,
                    )
                return False
        elif ftype == PRIORITY:
            self._note_control()
            if stream_id and length != 5:
                # §6.3: a stream error, where h2 would close the connection.
                self._pending = ProtocolViolation(
                    "PRIORITY frame of the wrong length",
                    ErrorCode.FRAME_SIZE_ERROR,
                    stream_id=stream_id,
                )
                return False
        elif ftype == RST_STREAM:
            self.note_reset(self._now)
        elif ftype == SETTINGS:
            self._note_control()
            if flags & FLAG_ACK and length:
                raise _violation(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
        elif ftype == CONTINUATION:
            raise _violation(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block")
        else:
            # PING, GOAWAY, and frame types we ignore (§5.5) all cost work.
            self._note_control()
        return True

    def _build(self, ftype: int, flags: int, stream_id: int, length: int) -> Frame | None:
        """The frame h2's buffer would give, taken out of the buffer; None inside a block."""
        buf = self._buf
        start = self._pos + 9
        end = start + length
        if (
            ftype <= HEADERS
            and stream_id
            and not flags & _FAST_EXCLUDED
            and (ftype == DATA or flags & FLAG_END_HEADERS)
            and not self._block_stream
        ):
            # The payload's one copy between the socket and the application.
            with memoryview(buf) as view:
                payload = view[start:end].tobytes()
            self._pos = end
            if ftype == HEADERS:
                return _headers_frame(stream_id, flags, payload)
            return _data_frame(stream_id, flags, payload)
        cls = FRAMES.get(ftype)
        try:
            # hyperframe refuses a stream id the type cannot have (DATA on stream 0...).
            frame: Frame = cls(stream_id) if cls is not None else ExtensionFrame(ftype, stream_id)
        except (InvalidDataError, InvalidFrameError) as err:
            raise ProtocolError(f"Received frame with invalid header: {err!s}") from err
        frame.parse_flags(flags)
        # The same errors as h2's buffer.  (After one, the buffer is not resized
        # again: the traceback may still hold a view of it.)
        try:
            with memoryview(buf) as view:
                frame.parse_body(view[start:end])
        except InvalidDataError as err:
            raise ProtocolError("Received frame with non-compliant data") from err
        except InvalidFrameError as err:
            raise FrameDataMissingError("Frame data missing or invalid") from err
        self._pos = end
        return self._join_block(frame, ftype, flags, stream_id)

    def _keep_rest(self) -> None:
        """Keep what is left of the input (a partial frame) for the next read."""
        pos = self._pos
        buf = self._buf
        if pos == len(buf):
            self._buf = b""
            self._pos = 0
        elif pos:
            if isinstance(buf, bytearray):
                del buf[:pos]
            else:
                self._buf = bytearray(buf[pos:])
            self._pos = 0
        elif not isinstance(self._buf, bytearray):
            self._buf = bytearray(self._buf)

    def _join_block(self, frame: Any, ftype: int, flags: int, stream_id: int) -> Frame | None:
        """A header block over CONTINUATION frames becomes one HEADERS frame, as in h2."""
        if self._block_stream:
            # The gate has checked that this is the block's next CONTINUATION.
            self._block_parts.append(frame.data)
            if not flags & FLAG_END_HEADERS:
                return None
            first: Any = self._block_first
            first.flags.add("END_HEADERS")
            first.data = b"".join(self._block_parts)
            self._block_first = None
            self._block_parts = []
            self._block_stream = 0
            return first  # type: ignore[no-any-return]
        if ftype == HEADERS and not flags & FLAG_END_HEADERS:
            self._block_first = frame
            self._block_parts = [frame.data]
            self._block_stream = stream_id
            return None
        return frame  # type: ignore[no-any-return]

    def _is_idle(self, stream_id: int) -> bool:
        if stream_id & 1:
            return stream_id > self._highest_opened
        return self._peer.stream_state(stream_id) == IDLE

    def _add_to_block(self, length: int) -> None:
        self._block_size += length
        if self._block_size > self._max_block:
            raise _violation(ErrorCode.ENHANCE_YOUR_CALM, "header block too large")
