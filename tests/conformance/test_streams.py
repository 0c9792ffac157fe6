"""RFC 9113 §5: stream states, identifiers, concurrency, flow control, error handling."""

from __future__ import annotations

import trio
from h2.errors import ErrorCodes
from hyperframe.frame import (
    DataFrame,
    HeadersFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

import trio_h2

from .rawpeer import POST, open_peer, open_served_peer, raw_frame

PROTOCOL_ERROR = ErrorCodes.PROTOCOL_ERROR
STREAM_CLOSED = ErrorCodes.STREAM_CLOSED


async def hang(stream: trio_h2.Stream) -> None:
    await trio.sleep_forever()


async def big(stream: trio_h2.Stream) -> None:
    await stream.respond(200, body=b"0123456789" * 10)


# ----------------------------------------------------------------- §5.1 idle


async def test_data_on_idle_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(DataFrame(1, b"test", flags=["END_STREAM"]))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_window_update_on_idle_stream_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.send(WindowUpdateFrame(1, window_increment=100))
        await peer.expect_goaway(PROTOCOL_ERROR)


async def test_priority_on_idle_stream_leaves_it_usable() -> None:
    async with open_peer() as peer:
        await peer.send(PriorityFrame(1, depends_on=0, stream_weight=1))
        await peer.request(1)
        assert (await peer.expect_response(1)).status == 200


# ----------------------------------------------------- §5.1 half-closed (remote)


async def test_headers_on_half_closed_remote_stream_is_stream_closed() -> None:
    async with open_peer(hang) as peer:
        await peer.request(1)
        await peer.request(1)
        await peer.expect_rst(1, STREAM_CLOSED)
        await peer.send(peer.headers(3))  # the HPACK state is still shared
        await peer.send(RstStreamFrame(3, error_code=ErrorCodes.CANCEL))
        await peer.ping()


async def test_half_closed_remote_accepts_window_update_priority_and_rst() -> None:
    async with open_peer(hang) as peer:
        await peer.request(1)
        await peer.send(
            WindowUpdateFrame(1, window_increment=10),
            PriorityFrame(1, depends_on=0, stream_weight=5),
            RstStreamFrame(1, error_code=ErrorCodes.CANCEL),
        )
        await peer.assert_alive()
        assert not [f for f in peer.received if isinstance(f, RstStreamFrame)]


# ---------------------------------------------------------------- §5.1 closed


async def test_data_after_rst_stream_is_stream_closed() -> None:
    async with open_peer(hang) as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(RstStreamFrame(1, error_code=ErrorCodes.CANCEL))
        await peer.send(DataFrame(1, b"test", flags=["END_STREAM"]))
        await peer.expect_rst(1, STREAM_CLOSED)
        await peer.assert_alive()


async def test_headers_after_rst_stream_is_stream_closed() -> None:
    async with open_peer(hang) as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(RstStreamFrame(1, error_code=ErrorCodes.CANCEL))
        await peer.request(1)
        await peer.expect_rst(1, STREAM_CLOSED)


async def test_priority_after_rst_stream_is_accepted() -> None:
    async with open_peer(hang) as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(RstStreamFrame(1, error_code=ErrorCodes.CANCEL))
        await peer.send(PriorityFrame(1, depends_on=0, stream_weight=5))
        await peer.assert_alive()


async def test_data_after_end_stream_both_ways_is_connection_stream_closed() -> None:
    async with open_peer() as peer:
        await peer.request(1)
        await peer.expect_response(1)
        await peer.send(DataFrame(1, b"test", flags=["END_STREAM"]))
        frame = await peer.expect_goaway(STREAM_CLOSED)
        assert frame.last_stream_id == 1


async def test_headers_after_end_stream_both_ways_is_connection_stream_closed() -> None:
    async with open_peer() as peer:
        await peer.request(1)
        await peer.expect_response(1)
        await peer.request(1)
        await peer.expect_goaway(STREAM_CLOSED)


async def test_frames_on_a_stream_the_server_reset_are_ignored() -> None:
    async with open_peer(hang) as peer:
        # content-length 1 and 4 octets: the server resets the stream...
        await peer.request(1, [*POST, ("content-length", "1")], end_stream=False)
        await peer.send(DataFrame(1, b"test"))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        # ...and what the peer had in flight draws no further answer (§5.1 closed).
        await peer.send(DataFrame(1, b"more"), DataFrame(1, b"end", flags=["END_STREAM"]))
        await peer.ping()
        rsts = [f for f in peer.received if isinstance(f, RstStreamFrame)]
        assert len(rsts) == 1
        # The discarded DATA still returned its connection credit.
        await peer.assert_alive()


# ------------------------------------------------------- §5.1.1 identifiers


async def test_even_stream_id_from_client_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.request(2)
        frame = await peer.expect_goaway(PROTOCOL_ERROR)
        assert frame.last_stream_id == 0


async def test_stream_id_lower_than_previous_is_protocol_error() -> None:
    async with open_peer() as peer:
        await peer.request(5)
        await peer.request(3)
        frame = await peer.expect_goaway(PROTOCOL_ERROR)
        assert frame.last_stream_id == 5


async def test_stream_ids_may_skip() -> None:
    async with open_peer() as peer:
        await peer.request(1)
        await peer.request(11)
        assert (await peer.expect_response(1)).status == 200
        assert (await peer.expect_response(11)).status == 200


# ------------------------------------------------------- §5.1.2 concurrency


async def test_streams_over_max_concurrent_streams_are_refused() -> None:
    config = trio_h2.Config(max_concurrent_streams=2)
    async with open_peer(hang, config) as peer:
        assert peer.server_settings[SettingsFrame.MAX_CONCURRENT_STREAMS] == 2
        await peer.request(1)
        await peer.request(3)
        await peer.request(5)
        await peer.expect_rst(5, ErrorCodes.REFUSED_STREAM)
        # Closing one makes room for the next.
        await peer.send(RstStreamFrame(1, error_code=ErrorCodes.CANCEL))
        await peer.request(7)
        await peer.send(RstStreamFrame(7, error_code=ErrorCodes.CANCEL))
        await peer.ping()
        refused = [f.stream_id for f in peer.received if isinstance(f, RstStreamFrame)]
        assert refused == [5]


async def test_goaway_does_not_count_a_refused_stream_as_acted_on() -> None:
    # RFC 9113 §6.8 / §8.7: last-stream-id names the highest stream the server acted
    # on; a stream refused for concurrency was not, so the client may retry it.
    config = trio_h2.Config(max_concurrent_streams=1)
    async with open_served_peer(hang, config) as served:
        peer = served.peer
        await peer.request(1)
        await peer.request(3)
        await peer.expect_rst(3, ErrorCodes.REFUSED_STREAM)
        for connection in served.server.connections:
            connection.shutdown()
        goaway = await peer.expect_graceful_goaway()
        assert goaway.last_stream_id == 1


async def test_connection_error_goaway_skips_refused_streams() -> None:
    config = trio_h2.Config(max_concurrent_streams=1)
    async with open_peer(hang, config) as peer:
        await peer.request(1)
        await peer.request(3)
        await peer.expect_rst(3, ErrorCodes.REFUSED_STREAM)
        # A frame over SETTINGS_MAX_FRAME_SIZE: a connection error found by the gate.
        await peer.send(raw_frame(0x0, 0, 1, b"x" * 20_000))
        goaway = await peer.expect_goaway(ErrorCodes.FRAME_SIZE_ERROR, after_resets=True)
        assert goaway.last_stream_id == 1


# ------------------------------------------------------------ §5.4 errors


async def test_connection_error_goaway_names_last_processed_stream_and_closes() -> None:
    async with open_peer() as peer:
        await peer.request(1)
        await peer.expect_response(1)
        await peer.request(3)
        await peer.expect_response(3)
        # PING with a stream id: a connection error.
        await peer.send(raw_frame(0x6, 0, 3, b"12345678"))
        frame = await peer.expect_goaway(PROTOCOL_ERROR)
        assert frame.last_stream_id == 3
        assert peer.closed


async def test_connection_error_cancels_open_handlers() -> None:
    cancelled: list[bool] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.append(True)

    async with open_peer(handler) as peer:
        await peer.request(1)
        await peer.request(3)
        await peer.ping()
        await peer.send(raw_frame(0x6, 0, 1, b"12345678"))
        await peer.expect_goaway(PROTOCOL_ERROR, last_stream_id=3)
    assert cancelled == [True, True]


# --------------------------------------------------------- §6.9 flow control


async def test_server_respects_a_stream_window_of_one() -> None:
    async with open_peer(big, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 1}) as peer:
        await peer.request(1)
        await peer.expect_frame(HeadersFrame, 1)
        data = await peer.expect_frame(DataFrame, 1)
        assert len(data.data) == 1
        await peer.send(WindowUpdateFrame(1, window_increment=99))
        rest = b""
        while len(rest) < 99:
            rest += (await peer.expect_frame(DataFrame, 1)).data
        assert data.data + rest == b"0123456789" * 10


async def test_initial_window_size_change_applies_to_open_streams() -> None:
    async with open_peer(big, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}) as peer:
        await peer.request(1)
        await peer.expect_frame(HeadersFrame, 1)
        await peer.send(SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 1}))
        data = await peer.expect_frame(DataFrame, 1)
        assert len(data.data) == 1


async def test_negative_window_is_tracked() -> None:
    async with open_peer(big, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 3}) as peer:
        await peer.request(1)
        first = await peer.expect_frame(DataFrame, 1)
        assert len(first.data) == 3
        # Window 3 - 3 = 0; shrinking the initial size by 1 makes it -1.
        await peer.send(SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 2}))
        await peer.expect_frame(SettingsFrame)
        await peer.send(WindowUpdateFrame(1, window_increment=2))
        second = await peer.expect_frame(DataFrame, 1)
        assert len(second.data) == 1


async def test_server_respects_the_connection_window() -> None:
    async def large(stream: trio_h2.Stream) -> None:
        await stream.respond(200, body=b"x" * 100_000)

    async with open_peer(
        large, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 2**20}, timeout=2
    ) as peer:
        await peer.request(1)
        received = 0
        while received < 65_535:
            received += len((await peer.expect_frame(DataFrame, 1)).data)
        assert received == 65_535
        await peer.ping()  # nothing more came: the connection window is spent
        assert sum(len(f.data) for f in peer.received if isinstance(f, DataFrame)) == 65_535
        await peer.send(WindowUpdateFrame(0, window_increment=100_000 - 65_535))
        while received < 100_000:
            received += len((await peer.expect_frame(DataFrame, 1)).data)


async def test_data_beyond_the_stream_window_is_flow_control_error() -> None:
    # §6.9.1 allows a stream or a connection error; h2 chooses the connection.
    config = trio_h2.Config(initial_window_size=65_535)
    async with open_peer(hang, config) as peer:
        await peer.request(1, POST, end_stream=False)
        frames = [DataFrame(1, b"x" * 16_384) for _ in range(3)]
        await peer.send(*frames, DataFrame(1, b"x" * (65_535 - 3 * 16_384)), DataFrame(1, b"x"))
        await peer.expect_goaway(ErrorCodes.FLOW_CONTROL_ERROR, last_stream_id=1)


async def test_data_beyond_the_connection_window_is_flow_control_error() -> None:
    config = trio_h2.Config(initial_connection_window_size=65_535)
    async with open_peer(hang, config) as peer:
        for stream_id in (1, 3, 5, 7, 9):
            await peer.request(stream_id, POST, end_stream=False)
            await peer.send(DataFrame(stream_id, b"x" * 16_384))
        await peer.expect_goaway(ErrorCodes.FLOW_CONTROL_ERROR)


async def reset_at_once(stream: trio_h2.Stream) -> None:
    if stream.path == "/reset":
        await stream.reset(ErrorCodes.CANCEL)
        return
    await stream.respond(200, [], b"ok")


async def test_frames_in_flight_after_our_reset_are_ignored() -> None:
    # §5.1: "An endpoint MUST ignore frames that it receives on closed streams after
    # it has sent a RST_STREAM frame."  The trailers still update the HPACK table.
    upload = [(":method", "POST"), (":scheme", "http"), (":authority", "a"), (":path", "/reset")]
    async with open_peer(reset_at_once) as peer:
        await peer.request(1, upload, end_stream=False)
        await peer.expect_rst(1, ErrorCodes.CANCEL)
        await peer.send(DataFrame(1, b"late body"))
        await peer.send(peer.headers(1, [("x-late-trailer", "indexed-now")], end_stream=True))
        get = [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/ok")]
        await peer.request(3, [*get, ("x-late-trailer", "indexed-now")])
        response = await peer.expect_response(3)
        assert response.status == 200
        resets = [f for f in peer.received if isinstance(f, RstStreamFrame)]
        assert [(f.stream_id, f.error_code) for f in resets] == [(1, ErrorCodes.CANCEL)]
