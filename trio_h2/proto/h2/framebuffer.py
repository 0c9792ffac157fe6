"""Received bytes cut into frames, with the common frames built cheaply.

h2's ``FrameBuffer`` copies each frame header out of the buffer, builds the frame
through hyperframe's chain of constructors (``Frame``, ``Padding``, ``Priority``, a
fresh ``Flags``) and then parses the body through memoryviews; for a small request
that is a good part of what receiving it costs.  :class:`FastFrameBuffer` builds the
two frames a server mostly receives, a HEADERS frame that is a whole header block and
a DATA frame, neither padded nor with priority, straight from the buffer: the frame
objects it returns have the same class and the same attributes as hyperframe's.
Every other frame, and every frame inside a header block, goes to h2's own code,
which parses it from the same unconsumed bytes.
"""

from __future__ import annotations

from typing import Any

from h2.frame_buffer import FrameBuffer
from hyperframe.flags import Flags
from hyperframe.frame import DataFrame, Frame, HeadersFrame

from .wire import (
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FLAG_PADDED,
    FLAG_PRIORITY,
    FRAME_HEADER,
    HEADERS,
)

# The flags hyperframe would set, by the bits that matter here.  A Flags object only
# reads its set of valid names, so frames share one per type.
_HEADERS_VALID = {flag.name for flag in HeadersFrame.defined_flags}
_DATA_VALID = {flag.name for flag in DataFrame.defined_flags}


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


class FastFrameBuffer(FrameBuffer):
    """h2's frame buffer, with whole unpadded HEADERS and DATA frames built directly."""

    def __next__(self) -> Frame:
        data = self._data
        if len(data) < 9:
            raise StopIteration
        if self._headers_buffer:
            return super().__next__()
        high, low, frame_type, flag_byte, stream_id = FRAME_HEADER.unpack_from(data)
        length = (high << 8) | low
        stream_id &= 0x7FFFFFFF
        if (
            frame_type > HEADERS
            or not stream_id
            or flag_byte & (FLAG_PADDED | FLAG_PRIORITY)
            or (frame_type == HEADERS and not flag_byte & FLAG_END_HEADERS)
        ):
            return super().__next__()
        if len(data) < 9 + length:
            raise StopIteration  # the rest of the frame is still to come
        self._validate_frame_length(length)
        payload = bytes(data[9 : 9 + length])
        del data[: 9 + length]
        if frame_type == HEADERS:
            return _headers_frame(stream_id, flag_byte, payload)
        return _data_frame(stream_id, flag_byte, payload)
