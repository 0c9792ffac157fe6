"""The frame gate, h2's frame buffer replaced: the frames h2's own buffer gives, and the
refusals the gate adds, with no trio and no socket.

Random frames, common and odd (padding, priority flags, header blocks split over
CONTINUATION, stream 0, unknown types, oversized), after the preface and a SETTINGS
frame, are cut into random pieces and fed to h2's ``FrameBuffer`` and to the gate.
Both must give the same frames in the same order, and fail at the same frame: h2's
buffer with its exception, the gate with its exception or the connection error it
leaves pending (which h2's connection would also have raised, one step later).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from h2.exceptions import ProtocolError
from h2.frame_buffer import FrameBuffer
from hyperframe.exceptions import InvalidPaddingError
from hyperframe.flags import Flags
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, SettingsFrame
from hypothesis import assume, given, settings, strategies as st

from trio_h2 import Config
from trio_h2.proto.errors import ProtocolViolation
from trio_h2.proto.h2.gate import ACTIVE, PREFACE, FrameGate

MAX_FRAME = 16_384
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
CONFIG = Config(max_control_frames_per_window=10_000, max_resets_per_window=10_000)


class Peer:
    def stream_state(self, stream_id: int) -> int:
        return ACTIVE


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


def reference_run(pieces: list[bytes]) -> list[Any]:
    """h2's buffer: frames, then "error" where it (or h2's connection) would fail."""
    buffer = FrameBuffer(server=True)
    buffer.max_frame_size = MAX_FRAME
    out: list[Any] = []
    try:
        for piece in pieces:
            buffer.add_data(piece)
            for item in buffer:
                if isinstance(item, ContinuationFrame):
                    # Outside a header block; h2's connection refuses it.
                    out.append("error")
                    return out
                out.append(describe(item))
    except (ProtocolError, InvalidPaddingError):
        out.append("error")
    return out


def gate_run(pieces: list[bytes]) -> list[Any]:
    gate = FrameGate(CONFIG, Peer())
    out: list[Any] = []
    try:
        for piece in pieces:
            gate.feed(piece, 0.0)
            while True:
                for item in gate:
                    out.append(describe(item))
                pending = gate.take_pending()
                if pending is None:
                    break
                assert pending.stream_id is None, "no stream error is expected here"
                out.append("error")
                return out
    except (ProtocolError, InvalidPaddingError, ProtocolViolation):
        out.append("error")
    return out


def zero_increment(raw: bytes) -> bool:
    return raw[3] == 0x8 and raw[:3] == b"\x00\x00\x04" and not int.from_bytes(raw[9:13]) << 1


@settings(max_examples=600, deadline=None)
@given(frames=st.lists(FRAMES, max_size=8), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_the_gate_gives_the_frames_h2s_buffer_gives(frames: list[bytes], cuts: list[int]) -> None:
    # A zero WINDOW_UPDATE increment on a stream is the gate's stream error (RFC 9113
    # §6.9), where h2 would close the connection: the conformance tests cover it.
    assume(not any(zero_increment(raw) and raw[5:9] != b"\x00" * 4 for raw in frames))
    data = PREFACE + SETTINGS + b"".join(frames)
    points = sorted({min(cut, len(data)) for cut in cuts} | {len(data)})
    pieces = [data[start:end] for start, end in zip([0, *points], points, strict=False)]
    expected = reference_run(pieces)
    got = gate_run(pieces)
    assert got == expected


def test_common_frames_are_built_without_hyperframes_parsers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: Any, data: Any) -> None:
        raise AssertionError("hyperframe's parser was used")

    gate = FrameGate(CONFIG, Peer())
    gate.feed(PREFACE + SETTINGS, 0.0)
    assert [type(f) for f in gate] == [SettingsFrame]
    monkeypatch.setattr(DataFrame, "parse_body", refuse)
    monkeypatch.setattr(HeadersFrame, "parse_body", refuse)
    gate.feed(frame(0x1, 0x5, 1, b"\x82") + frame(0x0, 0x1, 3, b"body"), 0.0)
    headers, data = list(gate)
    assert isinstance(headers, HeadersFrame)
    assert headers.data == b"\x82"
    assert set(headers.flags) == {"END_STREAM", "END_HEADERS"}
    assert isinstance(data, DataFrame)
    assert (data.stream_id, data.data, data.flow_controlled_length) == (3, b"body", 4)
    assert type(data.data) is bytes


def test_a_frame_inside_a_header_block_is_a_pending_connection_error() -> None:
    gate = FrameGate(CONFIG, Peer())
    gate.feed(PREFACE + SETTINGS + frame(0x1, 0x0, 1, b"\x82") + frame(0x0, 0x0, 1, b"x"), 0.0)
    assert len(list(gate)) == 1  # the SETTINGS frame; the block waits
    pending = gate.take_pending()
    assert pending is not None
    assert pending.stream_id is None
    assert str(pending) == "frame inside a header block"


def test_a_header_block_over_continuation_frames_is_one_headers_frame() -> None:
    gate = FrameGate(CONFIG, Peer())
    gate.feed(PREFACE + SETTINGS, 0.0)
    list(gate)
    gate.feed(frame(0x1, 0x1, 1, b"\x82") + frame(0x9, 0x0, 1, b"\x86"), 0.0)
    assert list(gate) == []
    gate.end_of_input(5.0)
    assert gate.header_block_since == 5.0
    gate.feed(frame(0x9, 0x4, 1, b"\x84"), 6.0)
    (headers,) = list(gate)
    gate.end_of_input(6.0)
    assert gate.header_block_since is None
    assert isinstance(headers, HeadersFrame)
    assert headers.data == b"\x82\x86\x84"
    assert set(headers.flags) == {"END_STREAM", "END_HEADERS"}


def test_a_bad_priority_frame_on_a_stream_is_a_pending_stream_error() -> None:
    gate = FrameGate(CONFIG, Peer())
    gate.feed(
        PREFACE + SETTINGS + frame(0x2, 0x0, 3, b"\x00\x00") + frame(0x6, 0, 0, b"p" * 8), 0.0
    )
    assert len(list(gate)) == 1
    pending = gate.take_pending()
    assert pending is not None
    assert (pending.stream_id, pending.error_code) == (3, 0x6)  # FRAME_SIZE_ERROR
    # The bad frame is dropped; the next one comes.
    assert [type(f).__name__ for f in gate] == ["PingFrame"]
