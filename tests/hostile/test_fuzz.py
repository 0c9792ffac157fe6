"""Random and mutated frame sequences against a server connection, in memory.

Whatever arrives, the connection task must end on its own once the peer hangs up,
raise nothing, leave no handler task behind, and only ever write well-formed
frames, with nothing after a GOAWAY that reports an error.
"""

from __future__ import annotations

import struct

import hpack
import trio
import trio.testing
from h2.errors import ErrorCodes
from hyperframe.frame import Frame, GoAwayFrame, RstStreamFrame
from hypothesis import HealthCheck, given, settings, strategies as st

import trio_h2
from trio_h2._server import Server

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_REQUEST = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "a")]


def frame(ftype: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    length = len(payload)
    return struct.pack(">HBBBL", length >> 8, length & 0xFF, ftype, flags, stream_id) + payload


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
    return frame(ftype, flags, stream_id, payload)


@st.composite
def sessions(draw: st.DrawFn) -> list[bytes]:
    data = PREFACE + frame(4, 0, 0, b"")
    if draw(st.integers(0, 19)) == 0:
        data = draw(st.binary(max_size=30)) + data
    if draw(st.booleans()):
        # A request in flight gives the later frames a live stream to disturb.
        flags = draw(st.sampled_from([4, 5]))
        data += frame(1, flags, 1, bytes(hpack.Encoder().encode(_REQUEST)))
    data += b"".join(draw(st.lists(frames(), max_size=25)))
    if draw(st.integers(0, 4)) == 0 and data:
        # A mutation: flip one byte somewhere.
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([data[index] ^ draw(st.integers(1, 255))]) + data[index + 1 :]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


class Tracking:
    def __init__(self) -> None:
        self.running = 0

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.running += 1
        try:
            if stream.header("content-length") == "3":
                await stream.push("/pushed", body=b"p")
            body = await stream.read(limit=100)
            async with stream.start_response(200) as out:
                await out.send(body or b"empty")
                await trio.sleep(1)
                await out.send(b"!")
        finally:
            self.running -= 1


def run_session(chunks: list[bytes], linger: float) -> tuple[list[Frame], Tracking]:
    handler = Tracking()
    config = trio_h2.Config(max_concurrent_streams=3, idle_timeout=5, send_timeout=5)
    output = bytearray()

    async def main() -> None:
        client, server_side = trio.testing.memory_stream_pair()
        server = Server(handler, config, None)
        done = trio.Event()

        async def serve() -> None:
            # Whatever escapes serve_transport fails the test through the nursery.
            try:
                await server.serve_transport(server_side, ("fuzz", 0))
            finally:
                done.set()

        async def read() -> None:
            while True:
                try:
                    data = await client.receive_some(65_536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not data:
                    return
                output.extend(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            nursery.start_soon(read)
            try:
                for chunk in chunks:
                    await client.send_all(chunk)
                    await trio.testing.wait_all_tasks_blocked()
                await trio.sleep(linger)
            except trio.BrokenResourceError:
                pass
            await client.send_stream.aclose()
            # With the peer gone, the connection must end by itself.
            with trio.fail_after(3_600):
                await done.wait()
            await client.aclose()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return parse_all(bytes(output)), handler


def parse_all(data: bytes) -> list[Frame]:
    out: list[Frame] = []
    view = memoryview(data)
    while view:
        assert len(view) >= 9, f"trailing partial frame header {bytes(view)!r}"
        parsed, length = Frame.parse_frame_header(view[:9])
        assert len(view) >= 9 + length, "trailing partial frame"
        parsed.parse_body(view[9 : 9 + length])
        out.append(parsed)
        view = view[9 + length :]
    return out


def check_output(frames_out: list[Frame]) -> None:
    for index, item in enumerate(frames_out):
        if isinstance(item, RstStreamFrame):
            assert item.stream_id != 0
        if isinstance(item, GoAwayFrame) and item.error_code != ErrorCodes.NO_ERROR:
            later = frames_out[index + 1 :]
            assert all(isinstance(f, GoAwayFrame) for f in later), later


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(chunks=sessions(), linger=st.sampled_from([0, 0.5, 2, 30]))
def test_random_frames_end_the_connection_legally(chunks: list[bytes], linger: float) -> None:
    frames_out, handler = run_session(chunks, linger)
    assert handler.running == 0
    check_output(frames_out)
