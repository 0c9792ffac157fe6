"""The frame gate: what the peer sends is looked at frame by frame before h2 sees it.

h2 parses a frame only once all of it has arrived, and some of its answers are not
the ones RFC 9113 asks of a server.  The gate reads only the nine-octet frame
headers (and the four or five payload octets of WINDOW_UPDATE and PRIORITY), so it
costs a struct unpack per frame, and it:

* checks the connection preface, and that SETTINGS comes first (§3.4);
* refuses a frame longer than SETTINGS_MAX_FRAME_SIZE as soon as its header
  arrives, instead of buffering up to 16 MiB first (§4.2);
* bounds a header block spread over CONTINUATION frames, in octets (h2 does not)
  and in frames (before h2's own limit, with a clearer error code), and tells
  since when one has been waiting for its end (for the header timeout);
* makes stream errors of a PRIORITY frame of the wrong length (§6.3) and of a
  zero WINDOW_UPDATE increment on a stream (§6.9), which h2 would make
  connection errors of;
* counts the frames that cost work but carry no request (PING, SETTINGS, PRIORITY,
  empty DATA, WINDOW_UPDATE, unknown types) and the streams reset
  by or because of the peer, per ``Config.reset_window``; past the limits the
  peer gets GOAWAY(ENHANCE_YOUR_CALM).

Whole frames go on to h2 in runs: while nothing needs the gate's attention, all
that arrived in one read is handed over in one call.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Protocol

from ..._config import Config
from ..._errors import ErrorCode
from ..errors import ProtocolViolation
from .wire import (
    CONTINUATION,
    DATA,
    FLAG_ACK,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FRAME_HEADER,
    HEADERS,
    PRIORITY,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

_U32 = struct.Struct(">L")

#: CONTINUATION frames one header block may use (h2 itself stops at 63).
MAX_CONTINUATIONS = 32


def _violation(error_code: ErrorCode, message: str) -> ProtocolViolation:
    """A connection error found by the gate: the answer is GOAWAY with ``error_code``."""
    return ProtocolViolation(message, error_code)


class GatePeer(Protocol):
    """What the gate needs from the connection."""

    def stream_state(self, stream_id: int) -> int:
        """0 for an idle stream, 1 for an open (or half-closed) one, 2 for a closed one."""
        ...

    def stream_error(self, stream_id: int, error_code: int) -> None:
        """Reset ``stream_id`` (RST_STREAM with ``error_code``) for a peer's fault."""
        ...


IDLE, ACTIVE, CLOSED = 0, 1, 2


class FrameGate:
    """Looks at each frame the peer sends before h2 does (see the module docstring)."""

    def __init__(self, config: Config, peer: GatePeer) -> None:
        self._peer = peer
        self._max_frame_size = config.max_frame_size
        # A header block larger than this, before decoding, is refused outright.
        self._max_block = 2 * config.max_header_list_size
        self._max_control = config.max_control_frames_per_window
        self._max_resets = config.max_resets_per_window
        self._window = config.reset_window
        self._buf = bytearray()
        self._preface_left = len(PREFACE)
        self._first_frame = True
        self._block_stream = 0
        self._block_size = 0
        self._block_frames = 0
        # Highest stream id the peer opened, counting frames h2 has not seen yet.
        self._highest_opened = 0
        #: trio time since which a header block has been incomplete, or None.
        self.header_block_since: float | None = None
        self._window_start = -1e18
        self._control = 0
        self._resets = 0

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

    def feed(self, data: bytes | bytearray, now: float) -> Iterator[bytes]:
        """Yield runs of whole frames for h2, in order; raise ProtocolViolation.

        The caller processes each run before asking for the next, so the gate's
        decisions about stream state see every earlier frame.
        """
        buf = self._buf
        buf += data
        self._roll(now)
        pos = 0
        if self._preface_left:
            size = min(self._preface_left, len(buf))
            offset = len(PREFACE) - self._preface_left
            if buf[:size] != PREFACE[offset : offset + size]:
                raise _violation(ErrorCode.PROTOCOL_ERROR, "invalid connection preface")
            self._preface_left -= size
            pos = size
        run_start = 0
        end = len(buf)
        unpack = FRAME_HEADER.unpack_from
        max_frame = self._max_frame_size
        while end - pos >= 9:
            high, low, ftype, flags, stream_id = unpack(buf, pos)
            length = (high << 8) | low
            stream_id &= 0x7FFFFFFF
            if length > max_frame:
                raise _violation(
                    ErrorCode.FRAME_SIZE_ERROR,
                    f"frame of {length} octets is over SETTINGS_MAX_FRAME_SIZE",
                )
            if end - pos - 9 < length:
                break
            frame_end = pos + 9 + length
            if self._first_frame:
                self._first_frame = False
                if ftype != SETTINGS or flags & FLAG_ACK:
                    raise _violation(ErrorCode.PROTOCOL_ERROR, "the preface must be SETTINGS")
            if self._block_stream:
                if ftype != CONTINUATION or stream_id != self._block_stream:
                    raise _violation(ErrorCode.PROTOCOL_ERROR, "frame inside a header block")
                self._add_to_block(length)
                self._block_frames += 1
                if flags & FLAG_END_HEADERS:
                    self._block_stream = 0
                elif self._block_frames > MAX_CONTINUATIONS:
                    raise _violation(ErrorCode.ENHANCE_YOUR_CALM, "header block in too many parts")
            elif ftype == DATA:
                if not length and not flags & FLAG_END_STREAM:
                    self._note_control()
            elif ftype == HEADERS:
                if stream_id > self._highest_opened and stream_id & 1:
                    self._highest_opened = stream_id
                if not flags & FLAG_END_HEADERS:
                    self._block_stream = stream_id
                    self._block_size = 0
                    self._block_frames = 0
                    self._add_to_block(length)
            elif ftype == WINDOW_UPDATE:
                self._note_control()
                increment = _U32.unpack_from(buf, pos + 9)[0] if length == 4 else 1
                if stream_id and not increment & 0x7FFFFFFF:
                    # §6.9: on a stream, a zero increment is a stream error.
                    if self._is_idle(stream_id):
                        raise _violation(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on idle stream")
                    yield bytes(buf[run_start:pos])
                    run_start = frame_end
                    if self._peer.stream_state(stream_id) == ACTIVE:
                        self._peer.stream_error(stream_id, ErrorCode.PROTOCOL_ERROR)
            elif ftype == PRIORITY:
                self._note_control()
                if stream_id and length != 5:
                    # §6.3: a stream error, where h2 would close the connection.
                    yield bytes(buf[run_start:pos])
                    run_start = frame_end
                    self._peer.stream_error(stream_id, ErrorCode.FRAME_SIZE_ERROR)
            elif ftype == RST_STREAM:
                self.note_reset(now)
            elif ftype == SETTINGS:
                self._note_control()
                if flags & FLAG_ACK and length:
                    raise _violation(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            elif ftype == CONTINUATION:
                raise _violation(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without a header block")
            else:
                # PING, GOAWAY, and frame types we ignore (§5.5) all cost work.
                self._note_control()
            pos = frame_end
        if pos > run_start:
            yield bytes(buf[run_start:pos])
        del buf[:pos]
        # A header block (or a frame header) that has started but not ended: the
        # connection bounds how long it may take.
        left = len(buf)
        if self._block_stream or 0 < left < 9 or (left and buf[3] in (HEADERS, CONTINUATION)):
            if self.header_block_since is None:
                self.header_block_since = now
        else:
            self.header_block_since = None

    def _is_idle(self, stream_id: int) -> bool:
        if stream_id & 1:
            return stream_id > self._highest_opened
        return self._peer.stream_state(stream_id) == IDLE

    def _add_to_block(self, length: int) -> None:
        self._block_size += length
        if self._block_size > self._max_block:
            raise _violation(ErrorCode.ENHANCE_YOUR_CALM, "header block too large")
