"""FastFrameBuffer gives exactly the frames (and the errors) h2's FrameBuffer gives.

Random frames, common and odd (padding, priority, header blocks split over
CONTINUATION, stream 0, unknown types, oversized), are cut into random pieces and fed
to both buffers; after each piece both must yield equal frames, or raise the same
exception type.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from h2.exceptions import ProtocolError
from h2.frame_buffer import FrameBuffer
from hyperframe.flags import Flags
from hyperframe.frame import DataFrame, HeadersFrame
from hypothesis import given, settings, strategies as st

from trio_h2.proto.h2.framebuffer import FastFrameBuffer

MAX_FRAME = 16_384
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(frame_type: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    n = len(payload)
    return struct.pack(">HBBBL", n >> 8, n & 0xFF, frame_type, flags, stream_id) + payload


FRAMES = st.builds(
    frame,
    st.sampled_from([0x0, 0x0, 0x1, 0x1, 0x9, 0x3, 0x8, 0x6, 0x20]),
    st.sampled_from([0x0, 0x1, 0x4, 0x5, 0x8, 0x9, 0x20, 0x24, 0x25, 0x2D, 0xFF]),
    st.sampled_from([0, 1, 3, 5, 2**31 + 1]),
    st.one_of(
        st.binary(max_size=40),
        st.builds(lambda n: b"\x02" + b"\x00" * n, st.integers(0, 4)),  # padding lengths
        st.just(b"p" * (MAX_FRAME + 1)),  # too large
    ),
)


def describe(value: Any) -> Any:
    if isinstance(value, Flags):
        return ("Flags", sorted(value._flags), sorted(value._valid_flags))
    if hasattr(value, "__dict__"):
        return (type(value).__name__, {k: describe(v) for k, v in vars(value).items()})
    return value


def drain(buffer: FrameBuffer, data: bytes) -> list[Any]:
    """What the buffer yields for one more piece: frames, then an exception if any."""
    out: list[Any] = []
    try:
        buffer.add_data(data)
        buffer.max_frame_size = MAX_FRAME
        for item in buffer:
            out.append(describe(item))
    except Exception as exc:
        out.append(type(exc))
    return out


@settings(max_examples=600, deadline=None)
@given(frames=st.lists(FRAMES, max_size=8), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_fast_buffer_matches_h2(frames: list[bytes], cuts: list[int]) -> None:
    stream = PREFACE + b"".join(frames)
    points = sorted({min(cut, len(stream)) for cut in cuts} | {len(stream)})
    reference, fast = FrameBuffer(server=True), FastFrameBuffer(server=True)
    start = 0
    for end in points:
        expected = drain(reference, stream[start:end])
        assert drain(fast, stream[start:end]) == expected
        if expected and isinstance(expected[-1], type):
            return  # both raised; a connection goes no further
        start = end


def test_common_frames_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: FrameBuffer) -> None:
        raise AssertionError("h2's parser was used")

    buffer = FastFrameBuffer(server=False)
    buffer.max_frame_size = MAX_FRAME
    buffer.add_data(frame(0x1, 0x5, 1, b"\x82") + frame(0x0, 0x1, 3, b"body"))
    monkeypatch.setattr(FrameBuffer, "__next__", refuse)
    headers, data = list(buffer)
    assert isinstance(headers, HeadersFrame)
    assert headers.data == b"\x82"
    assert set(headers.flags) == {"END_STREAM", "END_HEADERS"}
    assert isinstance(data, DataFrame)
    assert (data.stream_id, data.data, data.flow_controlled_length) == (3, b"body", 4)


def test_a_split_header_block_still_fails_on_a_stray_frame() -> None:
    buffer = FastFrameBuffer(server=False)
    buffer.max_frame_size = MAX_FRAME
    buffer.add_data(frame(0x1, 0x0, 1, b"\x82") + frame(0x0, 0x0, 1, b"x"))
    with pytest.raises(ProtocolError, match="header block"):
        list(buffer)
