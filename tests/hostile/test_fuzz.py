"""Random and mutated frame sequences against a server connection, in memory.

Whatever arrives, the connection task must end on its own once the peer hangs up,
raise nothing, leave no handler task behind, and only ever write well-formed
frames, with nothing after a GOAWAY that reports an error.
"""

from __future__ import annotations

import struct

import hpack
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conformance.rawpeer import raw_frame

from .session import PREFACE, check_session, run_session

_REQUEST = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "a")]


stream_ids = st.sampled_from([0, 1, 1, 1, 3, 3, 5, 2, 7, 2**31 - 1])
small_ints = st.integers(0, 2**32 - 1)


@st.composite
def header_blocks(draw: st.DrawFn) -> bytes:
    fields = list(_REQUEST)
    if draw(st.booleans()):
        fields.append(draw(st.sampled_from([("content-length", "3"), ("te", "gzip"), ("X", "y")])))
    if draw(st.booleans()):
        fields.reverse()
    block = hpack.Encoder().encode(fields)
    if draw(st.integers(0, 4)) == 0:
        block = draw(st.binary(max_size=40))
    return bytes(block)


_CONNECTION_TYPES = (4, 6, 7, 8)  # SETTINGS, PING, GOAWAY (and WINDOW_UPDATE, often)
_PROPER_FLAGS = {0: [0, 1], 1: [4, 5, 0, 0x25], 4: [0, 1], 6: [0, 1], 9: [4, 0]}


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    # Mostly requests and their bodies, every other type too, and unknown ones.
    ftype = draw(st.sampled_from([0, 0, 1, 1, 1, 1, 2, 3, 3, 4, 5, 6, 7, 7, 8, 8, 9, 10, 0xBB]))
    proper = draw(st.integers(0, 4)) > 0
    if proper:
        flags = draw(st.sampled_from(_PROPER_FLAGS.get(ftype, [0])))
        if ftype in _CONNECTION_TYPES and (ftype != 8 or draw(st.booleans())):
            stream_id = 0
        else:
            stream_id = draw(st.sampled_from([1, 1, 3, 3, 5, 7, 9]))
    else:
        flags = draw(st.sampled_from([0, 1, 4, 5, 8, 0x20, 0x25, 0xFF]))
        stream_id = draw(stream_ids)
    if ftype in (1, 9):  # HEADERS, CONTINUATION
        payload = draw(header_blocks())
        if flags & 0x20:
            payload = struct.pack(">LB", draw(stream_ids), 16) + payload
    elif ftype == 4:  # SETTINGS
        pairs = draw(st.lists(st.tuples(st.integers(0, 9), small_ints), max_size=3))
        payload = b"".join(struct.pack(">HL", k, v) for k, v in pairs)
    elif ftype in (3, 8):  # RST_STREAM, WINDOW_UPDATE
        payload = struct.pack(">L", draw(st.sampled_from([0, 1, 8, 2**31 - 1, 2**32 - 1])))
    elif ftype == 7:  # GOAWAY
        payload = struct.pack(">LL", draw(stream_ids), draw(st.sampled_from([0, 0, 1, 2, 11, 99])))
    elif ftype == 6:  # PING
        payload = draw(st.binary(min_size=8, max_size=8))
    elif ftype == 2:  # PRIORITY
        payload = struct.pack(">LB", draw(stream_ids), draw(st.integers(0, 255)))
    else:
        payload = draw(st.binary(max_size=30))
    if not proper and draw(st.booleans()):
        payload = payload[: draw(st.integers(0, len(payload)))]
    return raw_frame(ftype, flags, stream_id, payload)


@st.composite
def sessions(draw: st.DrawFn) -> list[bytes]:
    data = PREFACE + raw_frame(4, 0, 0, b"")
    if draw(st.integers(0, 19)) == 0:
        data = draw(st.binary(max_size=30)) + data
    if draw(st.booleans()):
        # A request in flight gives the later frames a live stream to disturb.
        flags = draw(st.sampled_from([4, 5]))
        data += raw_frame(1, flags, 1, bytes(hpack.Encoder().encode(_REQUEST)))
    data += b"".join(draw(st.lists(frames(), max_size=25)))
    if draw(st.integers(0, 4)) == 0 and data:
        # A mutation: flip one byte somewhere.
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([data[index] ^ draw(st.integers(1, 255))]) + data[index + 1 :]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(chunks=sessions(), linger=st.sampled_from([0, 0.5, 2, 30]))
def test_random_frames_end_the_connection_legally(chunks: list[bytes], linger: float) -> None:
    check_session(*run_session(chunks, linger))
