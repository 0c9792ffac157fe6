"""RFC 9113 §3.4, §4 and §6: the preface, frame format and size, and each frame type."""

from __future__ import annotations

import struct

import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

import trio_h2

from .rawpeer import GET, POST, PREFACE, open_peer, raw_frame

NO_ERROR = ErrorCodes.NO_ERROR
PROTOCOL_ERROR = ErrorCodes.PROTOCOL_ERROR
FRAME_SIZE_ERROR = ErrorCodes.FRAME_SIZE_ERROR
FLOW_CONTROL_ERROR = ErrorCodes.FLOW_CONTROL_ERROR
STREAM_CLOSED = ErrorCodes.STREAM_CLOSED


# ---------------------------------------------------------------- §3.4 preface


@pytest.mark.parametrize(
    "preface",
    [
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
        b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n",
        b"PRIX",
    ],
)
async def test_invalid_preface_gets_goaway_protocol_error(preface: bytes) -> None:
    # It starts like the preface: the answer is HTTP/2's, not an HTTP/1.1 400.
    async with open_peer(handshake=False) as peer:
        await peer.send(preface)
        frame = await peer.expect_goaway(PROTOCOL_ERROR)
        assert frame.last_stream_id == 0


async def test_http1_request_gets_goaway_when_http1_is_off() -> None:
    async with open_peer(config=trio_h2.Config(http1=False), handshake=False) as peer:
        await peer.send(b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
        frame = await peer.expect_goaway(PROTOCOL_ERROR)
        assert frame.last_stream_id == 0


async def test_preface_split_byte_by_byte_is_accepted() -> None:
    async with open_peer(handshake=False) as peer:
        for byte in PREFACE:
            await peer.send(bytes([byte]))
        await peer.send(SettingsFrame(0))
        await peer.expect_frame(SettingsFrame)
        await peer.assert_alive()


async def test_preface_must_continue_with_settings() -> None:
    async with open_peer(handshake=False) as peer:
        await peer.send(PREFACE, PingFrame(0, opaque_data=b"12345678"))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_server_preface_is_settings() -> None:
    async with open_peer(handshake=False) as peer:
        await peer.send(PREFACE, SettingsFrame(0))
        first = await peer.receive_frame()
        assert isinstance(first, SettingsFrame)
        assert "ACK" not in first.flags
        # Push is off: this server never pushes unless a handler asks.
        assert first.settings[SettingsFrame.ENABLE_PUSH] == 0


# ------------------------------------------------------ §4.1 frame format


async def test_unknown_frame_type_is_ignored() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0xBB, 0xFF, 0, b"x" * 20), raw_frame(0xBB, 0, 1, b""))
        await peer.assert_alive()


async def test_undefined_flags_and_reserved_bit_are_ignored() -> None:
    async with open_peer() as peer:
        ping = raw_frame(0x6, 0x16, 0, b"abcdefgh")  # undefined flags 0x16
        await peer.send(ping)
        ack = await peer.expect_frame(PingFrame)
        assert ack.opaque_data == b"abcdefgh"
        # The reserved bit in the stream identifier is set: ignored.
        block = peer.encode(GET)
        await peer.send(raw_frame(0x1, 0x5, 0x80000001, block))
        response = await peer.expect_response(1)
        assert response.status == 200


# ------------------------------------------------------------ §4.2 frame size


async def test_data_frame_of_max_frame_size_is_accepted() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(DataFrame(1, b"x" * 16_384, flags=["END_STREAM"]))
        response = await peer.expect_response(1)
        assert response.body == b"ok:" + b"x" * 16_384


async def test_data_frame_over_max_frame_size_is_frame_size_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(DataFrame(1, b"x" * 16_385, flags=["END_STREAM"]))
        await peer.expect_goaway(FRAME_SIZE_ERROR)


async def test_oversized_frame_is_refused_from_its_header_alone() -> None:
    async with open_peer() as peer:
        # Announce 16 MiB and send only the header: no waiting for the payload.
        await peer.send(raw_frame(0x0, 0, 1)[:0] + struct.pack(">HBBBL", 0xFFFF, 0xFF, 0, 0, 1))
        await peer.expect_goaway(FRAME_SIZE_ERROR)


async def test_headers_frame_over_max_frame_size_is_connection_error() -> None:
    async with open_peer() as peer:
        headers = [*GET, *((f"x-dummy{i}", "y" * 4000) for i in range(5))]
        block = peer.encode(headers)
        assert len(block) > 16_384
        await peer.send(raw_frame(0x1, 0x5, 1, block))
        await peer.expect_goaway(FRAME_SIZE_ERROR)


# ---------------------------------------------------------- §4.3 header blocks


async def test_header_block_in_continuations_is_accepted() -> None:
    async with open_peer() as peer:
        block = peer.encode([*GET, ("x-long", "z" * 100)])
        await peer.send(
            raw_frame(0x1, 0x1, 1, block[:10]),
            raw_frame(0x9, 0x0, 1, block[10:20]),
            raw_frame(0x9, 0x0, 1, b""),
            raw_frame(0x9, 0x4, 1, block[20:]),
        )
        response = await peer.expect_response(1)
        assert response.status == 200


async def test_invalid_header_block_is_compression_error() -> None:
    async with open_peer() as peer:
        # Literal with incremental indexing, then nothing: a truncated block.
        await peer.send(raw_frame(0x1, 0x5, 1, b"\x40"))
        await peer.expect_goaway(ErrorCodes.COMPRESSION_ERROR)


@pytest.mark.parametrize(
    "interloper",
    [
        PriorityFrame(1, depends_on=0, stream_weight=255),
        PingFrame(0, opaque_data=b"12345678"),
        DataFrame(1, b"x"),
        WindowUpdateFrame(0, window_increment=1),
        raw_frame(0xBB, 0, 0, b"ext"),  # even an extension frame (§5.5)
    ],
)
async def test_frame_inside_header_block_is_protocol_error(interloper: object) -> None:
    async with open_peer() as peer:
        block = peer.encode(GET)
        await peer.send(raw_frame(0x1, 0x0, 1, block), interloper)  # type: ignore[arg-type]
        await peer.send(ContinuationFrame(1, b"", flags=["END_HEADERS"]))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_headers_of_another_stream_inside_header_block_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x1, 0x0, 1, peer.encode(GET)))
        await peer.send(peer.headers(3))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_continuation_of_another_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x1, 0x0, 1, peer.encode(GET)))
        await peer.send(raw_frame(0x9, 0x4, 3, b""))
        await peer.expect_goaway(PROTOCOL_ERROR)


# ------------------------------------------------------------------ §6.1 DATA


async def test_data_on_stream_zero_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x0, 0x1, 0, b"test"))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_data_with_invalid_pad_length_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        # Pad length 6 in a 5-octet payload.
        await peer.send(raw_frame(0x0, 0x9, 1, b"\x06test"))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_padded_data_is_accepted_and_padding_is_not_body() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(raw_frame(0x0, 0x9, 1, b"\x03body\x00\x00\x00"))
        response = await peer.expect_response(1)
        assert response.body == b"ok:body"


async def test_data_on_half_closed_remote_stream_is_stream_closed() -> None:
    async def slow(stream: object) -> None:
        await __import__("trio").sleep_forever()

    async with open_peer(slow) as peer:
        await peer.request(1)
        await peer.send(DataFrame(1, b"test", flags=["END_STREAM"]))
        await peer.expect_rst(1, STREAM_CLOSED)
        await peer.send(RstStreamFrame(1, error_code=ErrorCodes.CANCEL))
        await peer.ping()


# --------------------------------------------------------------- §6.2 HEADERS


async def test_headers_on_stream_zero_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x1, 0x5, 0, peer.encode(GET)))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_headers_with_invalid_pad_length_is_protocol_error() -> None:
    async with open_peer() as peer:
        block = peer.encode(GET)
        payload = bytes([len(block) + 10]) + block
        await peer.send(raw_frame(0x1, 0x5 | 0x8, 1, payload))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_headers_with_priority_and_padding_are_accepted() -> None:
    async with open_peer() as peer:
        frame = peer.headers(1)
        frame.flags.add("PRIORITY")
        frame.flags.add("PADDED")
        frame.depends_on, frame.stream_weight, frame.pad_length = 0, 200, 4
        await peer.send(frame)
        assert (await peer.expect_response(1)).status == 200


# -------------------------------------------------------------- §6.3 PRIORITY


async def test_priority_on_stream_zero_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x2, 0, 0, b"\x00\x00\x00\x01\x10"))
        await peer.expect_goaway(PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [4, 6])
async def test_priority_of_wrong_length_is_stream_frame_size_error(length: int) -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x2, 0, 1, b"\x00" * length))
        await peer.expect_rst(1, FRAME_SIZE_ERROR)
        await peer.assert_alive()


async def test_priority_on_idle_and_closed_streams_is_accepted() -> None:
    async with open_peer() as peer:
        await peer.send(PriorityFrame(9, depends_on=0, stream_weight=10))
        await peer.request(1)
        await peer.expect_response(1)
        await peer.send(PriorityFrame(1, depends_on=0, stream_weight=10))
        await peer.assert_alive()


async def test_priority_frame_depending_on_itself_is_stream_error() -> None:
    async with open_peer() as peer:
        await peer.send(PriorityFrame(1, depends_on=1, stream_weight=10))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.send(peer.headers(3))
        assert (await peer.expect_response(3)).status == 200


async def test_headers_depending_on_itself_is_stream_error() -> None:
    started: list[int] = []

    async def handler(stream: object) -> None:
        started.append(1)

    async with open_peer(handler) as peer:
        frame = peer.headers(1)
        frame.flags.add("PRIORITY")
        frame.depends_on, frame.stream_weight = 1, 16
        await peer.send(frame)
        await peer.expect_rst(1, PROTOCOL_ERROR)
        # The block was decoded: the HPACK state is still shared.
        await peer.send(peer.headers(3, [*GET, ("x-check", "1")]))
        await peer.expect_frame(HeadersFrame, 3)
    assert started == [1]


# ------------------------------------------------------------ §6.4 RST_STREAM


async def test_rst_stream_on_stream_zero_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x3, 0, 0, b"\x00\x00\x00\x08"))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_rst_stream_on_idle_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(RstStreamFrame(1, error_code=ErrorCodes.CANCEL))
        frame = await peer.expect_goaway(PROTOCOL_ERROR)
        assert frame.last_stream_id == 0


@pytest.mark.parametrize("length", [3, 5])
async def test_rst_stream_of_wrong_length_is_frame_size_error(length: int) -> None:
    async with open_peer() as peer:
        await peer.request(1, end_stream=False)
        await peer.send(raw_frame(0x3, 0, 1, b"\x00" * length))
        await peer.expect_goaway(FRAME_SIZE_ERROR)


async def test_unknown_error_code_in_rst_stream_is_accepted() -> None:
    async with open_peer() as peer:
        await peer.request(1, end_stream=False)
        await peer.send(RstStreamFrame(1, error_code=0xFF))
        await peer.assert_alive()


# -------------------------------------------------------------- §6.5 SETTINGS


async def test_settings_ack_with_payload_is_frame_size_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x4, 0x1, 0, b"\x00\x01\x00\x00\x10\x00"))
        await peer.expect_goaway(FRAME_SIZE_ERROR)


async def test_settings_on_a_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x4, 0, 1, b"\x00\x01\x00\x00\x10\x00"))
        await peer.expect_goaway(PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [3, 7])
async def test_settings_of_wrong_length_is_frame_size_error(length: int) -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x4, 0, 0, b"\x00" * length))
        await peer.expect_goaway(FRAME_SIZE_ERROR)


async def test_settings_are_acknowledged_and_unknown_ones_ignored() -> None:
    async with open_peer() as peer:
        # An unknown setting, and the same one twice (the last value wins).
        payload = b"\x00\xff\x00\x00\x00\x01" + b"\x00\x03\x00\x00\x00\x01" * 2
        await peer.send(raw_frame(0x4, 0, 0, payload))
        ack = await peer.expect_frame(SettingsFrame)
        assert "ACK" in ack.flags
        await peer.assert_alive()


@pytest.mark.parametrize(
    ("setting", "value", "code"),
    [
        (SettingsFrame.ENABLE_PUSH, 2, PROTOCOL_ERROR),
        (SettingsFrame.INITIAL_WINDOW_SIZE, 2**31, FLOW_CONTROL_ERROR),
        (SettingsFrame.MAX_FRAME_SIZE, 16_383, PROTOCOL_ERROR),
        (SettingsFrame.MAX_FRAME_SIZE, 2**24, PROTOCOL_ERROR),
    ],
)
async def test_setting_out_of_bounds_is_connection_error(
    setting: int, value: int, code: ErrorCodes
) -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x4, 0, 0, struct.pack(">HL", setting, value)))
        await peer.expect_goaway(code)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (SettingsFrame.ENABLE_PUSH, 0),
        (SettingsFrame.ENABLE_PUSH, 1),
        (SettingsFrame.INITIAL_WINDOW_SIZE, 2**31 - 1),
        (SettingsFrame.MAX_FRAME_SIZE, 16_384),
        (SettingsFrame.MAX_FRAME_SIZE, 2**24 - 1),
        (SettingsFrame.HEADER_TABLE_SIZE, 0),
        (SettingsFrame.MAX_CONCURRENT_STREAMS, 0),
    ],
)
async def test_setting_at_its_bounds_is_accepted(setting: int, value: int) -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x4, 0, 0, struct.pack(">HL", setting, value)))
        ack = await peer.expect_frame(SettingsFrame)
        assert "ACK" in ack.flags
        await peer.assert_alive()


# ------------------------------------------------------------- §6.6 PUSH_PROMISE


async def test_push_promise_from_client_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, end_stream=False)
        block = peer.encode(GET)
        await peer.send(raw_frame(0x5, 0x4, 1, b"\x00\x00\x00\x02" + block))
        await peer.expect_goaway(PROTOCOL_ERROR)


# ------------------------------------------------------------------ §6.7 PING


async def test_ping_is_answered_with_the_same_payload() -> None:
    async with open_peer() as peer:
        await peer.send(PingFrame(0, opaque_data=b"\x00\x01\x02\x03\x04\x05\x06\x07"))
        ack = await peer.expect_frame(PingFrame)
        assert "ACK" in ack.flags
        assert ack.opaque_data == b"\x00\x01\x02\x03\x04\x05\x06\x07"


async def test_ping_ack_is_not_answered() -> None:
    async with open_peer() as peer:
        await peer.send(PingFrame(0, opaque_data=b"unasked!", flags=["ACK"]))
        await peer.send(PingFrame(0, opaque_data=b"asked!!!"))
        ack = await peer.expect_frame(PingFrame)
        assert ack.opaque_data == b"asked!!!"


async def test_ping_on_a_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x6, 0, 3, b"12345678"))
        await peer.expect_goaway(PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [0, 7, 9])
async def test_ping_of_wrong_length_is_frame_size_error(length: int) -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x6, 0, 0, b"x" * length))
        await peer.expect_goaway(FRAME_SIZE_ERROR)


# ---------------------------------------------------------------- §6.8 GOAWAY


async def test_goaway_on_a_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x7, 0, 1, b"\x00\x00\x00\x00\x00\x00\x00\x00"))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_goaway_from_client_lets_open_requests_finish() -> None:
    import trio

    release = trio.Event()

    async def handler(stream: object) -> None:
        await release.wait()
        await stream.respond(200, body=b"late")  # type: ignore[attr-defined]

    async with open_peer(handler) as peer:
        await peer.request(1)
        await peer.send(GoAwayFrame(0, last_stream_id=0, error_code=NO_ERROR))
        await peer.ping()
        release.set()
        response = await peer.expect_response(1)
        assert response.body == b"late"
        await peer.expect_close()


async def test_goaway_with_unknown_error_code_is_accepted() -> None:
    async with open_peer() as peer:
        await peer.send(GoAwayFrame(0, last_stream_id=0, error_code=0xFF))
        await peer.expect_close()


# ---------------------------------------------------------- §6.9 WINDOW_UPDATE


async def test_zero_window_increment_on_connection_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x8, 0, 0, b"\x00\x00\x00\x00"))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_zero_window_increment_on_stream_is_stream_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(raw_frame(0x8, 0, 1, b"\x00\x00\x00\x00"))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.assert_alive()


async def test_zero_window_increment_on_idle_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x8, 0, 1, b"\x00\x00\x00\x00"))
        await peer.expect_goaway(PROTOCOL_ERROR)


@pytest.mark.parametrize("length", [3, 5])
async def test_window_update_of_wrong_length_is_frame_size_error(length: int) -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x8, 0, 0, b"\x00\x00\x00\x01\x00"[:length]))
        await peer.expect_goaway(FRAME_SIZE_ERROR)


async def test_connection_window_overflow_is_flow_control_error() -> None:
    async with open_peer() as peer:
        await peer.send(
            WindowUpdateFrame(0, window_increment=2**31 - 1),
            WindowUpdateFrame(0, window_increment=2**31 - 1),
        )
        await peer.expect_goaway(FLOW_CONTROL_ERROR)


async def test_stream_window_overflow_is_stream_flow_control_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(
            WindowUpdateFrame(1, window_increment=2**31 - 1),
            WindowUpdateFrame(1, window_increment=2**31 - 1),
        )
        await peer.expect_rst(1, FLOW_CONTROL_ERROR)
        await peer.assert_alive()


async def test_initial_window_size_change_overflowing_a_window_is_flow_control_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(WindowUpdateFrame(1, window_increment=2**31 - 65_536))
        await peer.send(SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 65_537}))
        await peer.expect_goaway(FLOW_CONTROL_ERROR)


# ---------------------------------------------------------- §6.10 CONTINUATION


async def test_continuation_after_end_headers_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(peer.headers(1, end_stream=False))
        await peer.send(ContinuationFrame(1, peer.encode([("x-a", "b")]), flags=["END_HEADERS"]))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_continuation_on_stream_zero_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x1, 0x0, 1, peer.encode(GET)))
        await peer.send(raw_frame(0x9, 0x4, 0, b""))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_continuation_after_data_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(DataFrame(1, b"x"))
        await peer.send(raw_frame(0x9, 0x4, 1, b""))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_continuation_on_idle_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(raw_frame(0x9, 0x4, 1, peer.encode(GET)))
        await peer.expect_goaway(PROTOCOL_ERROR)
