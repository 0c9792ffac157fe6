"""Hostile peers that flood: each attack is bounded, answered, and spares other peers.

Every test runs the attack on one connection of a Server while a second, polite
connection to the same Server keeps being answered, and checks (a) a bound on what
the attack made the server do or hold, (b) that the polite peer is served during
the attack, and (c) the server's answer to the attacker.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from h2.errors import ErrorCodes
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

import trio_h2
from tests.conformance.rawpeer import GET, POST, RawPeer, open_served_peer, raw_frame
from trio_h2.server.listen import Server

CALM = ErrorCodes.ENHANCE_YOUR_CALM


class Counting:
    """A handler that counts the tasks started for it, and waits when asked to."""

    def __init__(self) -> None:
        self.started = 0
        self.running = 0
        self.hung = 0

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.started += 1
        self.running += 1
        try:
            if stream.path == "/hang":
                self.hung += 1
                await trio.sleep_forever()
            body = await stream.read()
            await stream.respond(200, body=b"ok:" + body)
        finally:
            self.running -= 1


@asynccontextmanager
async def attack(
    config: trio_h2.Config, handler: Counting | None = None
) -> AsyncIterator[tuple[RawPeer, RawPeer, Counting, Server]]:
    """An attacker and a polite peer, two connections of one Server."""
    counting = handler or Counting()
    server = Server(counting, config, None)
    async with (
        open_served_peer(server=server) as polite,
        open_served_peer(server=server) as attacker,
    ):
        yield attacker.peer, polite.peer, counting, server


async def polite_request(peer: RawPeer) -> None:
    stream_id = peer.next_stream_id
    await peer.request(stream_id)
    response = await peer.expect_response(stream_id)
    assert response.status == 200


def hang() -> list[tuple[str, str]]:
    return [*GET[:2], (":path", "/hang"), GET[3]]


# ------------------------------------------------------------- rapid reset


async def test_rapid_reset_in_one_burst_starts_no_handler_and_gets_goaway() -> None:
    config = trio_h2.Config(max_resets_per_window=50)
    async with attack(config) as (attacker, polite, handler, _):
        burst = []
        for stream_id in range(1, 2 * 100, 2):
            burst += [attacker.headers(stream_id, hang()), RstStreamFrame(stream_id, error_code=8)]
        await attacker.send(*burst[:60])
        await polite_request(polite)
        await attacker.send(*burst[60:])
        await attacker.expect_goaway(CALM, after_resets=True)
        await polite_request(polite)
    # Each request was reset in the same read: no handler task was ever started.
    assert handler.started == 2


async def test_rapid_reset_one_by_one_is_bounded_by_the_reset_limit() -> None:
    config = trio_h2.Config(max_resets_per_window=20)
    async with attack(config) as (attacker, polite, handler, _):
        stream_id = 1
        while not attacker.closed:
            try:
                await attacker.request(stream_id, hang())
                await attacker.ping()  # the server has seen the request on its own
                await attacker.send(RstStreamFrame(stream_id, error_code=8))
            except (trio.BrokenResourceError, AssertionError):
                break
            if stream_id % 10 == 1:
                await polite_request(polite)
            stream_id += 2
            if stream_id > 100:
                break
        await attacker.expect_close()
        goaway = [f for f in attacker.received if isinstance(f, GoAwayFrame)]
        assert [f.error_code for f in goaway] == [CALM]
        assert goaway[0].last_stream_id <= 43
        await polite_request(polite)
    # Handler tasks started for the attack: at most one per reset allowed, all gone.
    assert handler.hung <= 21
    assert handler.running == 0


async def test_refused_streams_count_as_resets() -> None:
    config = trio_h2.Config(max_concurrent_streams=1, max_resets_per_window=10)
    async with attack(config) as (attacker, polite, _handler, _):
        await attacker.request(1, hang())
        await attacker.send(*(attacker.headers(i, hang()) for i in range(3, 3 + 2 * 30, 2)))
        await attacker.expect_goaway(CALM, after_resets=True)
        refused = [f for f in attacker.received if isinstance(f, RstStreamFrame)]
        assert 1 <= len(refused) <= 10
        await polite_request(polite)


async def test_malformed_requests_count_as_resets() -> None:
    # Each empty HEADERS block is a malformed request the server resets.
    config = trio_h2.Config(max_resets_per_window=10)
    async with attack(config) as (attacker, polite, handler, _):
        await attacker.send(*(attacker.headers(i, block=b"") for i in range(1, 80, 2)))
        await polite_request(polite)
        await attacker.expect_goaway(CALM, after_resets=True)
        rsts = [f for f in attacker.received if isinstance(f, RstStreamFrame)]
        assert len(rsts) <= 10
    assert handler.started == 1


# ------------------------------------------------------------ control frames


async def flood_until_goaway(attacker: RawPeer, polite: RawPeer, frames: list[object]) -> None:
    for start in range(0, len(frames), 50):
        if attacker.closed:
            break
        try:
            await attacker.send(*frames[start : start + 50])  # type: ignore[arg-type]
        except trio.BrokenResourceError:
            break
        if start % 200 == 0:
            await polite_request(polite)
    await attacker.expect_goaway(CALM, after_resets=True)
    await polite_request(polite)


async def test_ping_flood_answers_a_bounded_number_then_goaway() -> None:
    config = trio_h2.Config(max_control_frames_per_window=100)
    async with attack(config) as (attacker, polite, _, _):
        pings = [PingFrame(0, opaque_data=b"%08d" % i) for i in range(1_000)]
        await flood_until_goaway(attacker, polite, pings)
        acks = [f for f in attacker.received if isinstance(f, PingFrame)]
        assert len(acks) <= 100


async def test_settings_flood() -> None:
    config = trio_h2.Config(max_control_frames_per_window=100)
    async with attack(config) as (attacker, polite, _, _):
        settings = [SettingsFrame(0, settings={SettingsFrame.HEADER_TABLE_SIZE: 0})] * 1_000
        await flood_until_goaway(attacker, polite, settings)  # type: ignore[arg-type]
        acks = [f for f in attacker.received if isinstance(f, SettingsFrame)]
        assert len(acks) <= 1 + 100


async def test_empty_data_flood() -> None:
    config = trio_h2.Config(max_control_frames_per_window=100)
    async with attack(config) as (attacker, polite, handler, _):
        await attacker.request(1, POST, end_stream=False)
        await flood_until_goaway(attacker, polite, [DataFrame(1, b"")] * 1_000)
    assert handler.running == 0


async def test_window_update_flood() -> None:
    config = trio_h2.Config(max_control_frames_per_window=100)
    async with attack(config) as (attacker, polite, _, _):
        updates = [WindowUpdateFrame(0, window_increment=1)] * 1_000
        await flood_until_goaway(attacker, polite, updates)  # type: ignore[arg-type]


async def test_priority_flood() -> None:
    config = trio_h2.Config(max_control_frames_per_window=100)
    async with attack(config) as (attacker, polite, _, _):
        priorities = [PriorityFrame(i, depends_on=0, stream_weight=1) for i in range(1, 2_000, 2)]
        await flood_until_goaway(attacker, polite, priorities)  # type: ignore[arg-type]


async def test_unknown_frame_flood() -> None:
    config = trio_h2.Config(max_control_frames_per_window=100)
    async with attack(config) as (attacker, polite, _, _):
        await flood_until_goaway(attacker, polite, [raw_frame(0xEE, 0, 0, b"x" * 10)] * 1_000)


async def test_window_updates_earned_by_a_large_download_are_not_a_flood() -> None:
    # A well-behaved client acknowledges each DATA frame on the stream and the
    # connection: twice as many WINDOW_UPDATEs as DATA frames, many more than the limit.
    config = trio_h2.Config(max_control_frames_per_window=20)

    async def large(stream: trio_h2.Stream) -> None:
        await stream.respond(200, body=b"x" * 16_384 * 100)

    async with open_served_peer(large, config) as served:
        peer = served.peer
        await peer.request(1)
        received = 0
        while received < 16_384 * 100:
            frame = await peer.expect_frame(DataFrame, 1)
            received += len(frame.data)
            await peer.send(
                WindowUpdateFrame(1, window_increment=len(frame.data)),
                WindowUpdateFrame(0, window_increment=len(frame.data)),
            )
        await peer.assert_alive()


# ---------------------------------------------------------- header blocks


async def test_continuation_flood_is_bounded_by_the_header_list_size() -> None:
    config = trio_h2.Config(max_header_list_size=16_384)
    async with attack(config) as (attacker, polite, handler, server):
        await attacker.send(raw_frame(0x1, 0x0, 1, attacker.encode(GET)))
        sent = 0
        try:
            while sent < 30 and len(server.connections) == 2:
                await attacker.send(ContinuationFrame(1, b"\x00" * 16_000))
                sent += 1
                await trio.testing.wait_all_tasks_blocked()
        except trio.BrokenResourceError:
            pass
        await attacker.expect_close()
        # Refused once twice the limit (32 KiB) is buffered, not after 30 frames.
        assert sent <= 3
        goaway = [f for f in attacker.received if isinstance(f, GoAwayFrame)]
        assert [f.error_code for f in goaway] == [CALM]
        assert goaway[0].additional_data == b"header block too large"
        await polite_request(polite)
    assert handler.started == 1


async def test_empty_continuation_flood_is_bounded_in_frames() -> None:
    async with attack(trio_h2.Config()) as (attacker, polite, _, _):
        await attacker.send(raw_frame(0x1, 0x0, 1, attacker.encode(GET)))
        await attacker.send(*[ContinuationFrame(1, b"")] * 40)
        await polite_request(polite)
        await attacker.expect_goaway(CALM, after_resets=True)


async def test_hpack_bomb_is_bounded_by_the_header_list_size() -> None:
    config = trio_h2.Config(max_header_list_size=16_384)
    async with attack(config) as (attacker, polite, handler, _):
        # One 4000-octet entry in the dynamic table...
        await attacker.request(1, [*GET, ("x-bomb", "b" * 4_000)])
        assert (await attacker.expect_response(1)).status == 200
        # ...then a 16 KiB block that names it 16,000 times: 64 MB if decoded whole.
        tracemalloc.start()
        try:
            bomb = attacker.encode(GET) + b"\xbe" * 16_000
            await attacker.send(attacker.headers(3, block=bomb))
            await attacker.expect_goaway(CALM, after_resets=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 2_000_000
        await polite_request(polite)
    assert handler.started == 2


async def test_small_hpack_bomb_gets_431_and_the_connection_stays() -> None:
    config = trio_h2.Config(max_header_list_size=16_384)
    async with attack(config) as (attacker, polite, handler, _):
        await attacker.request(1, [*GET, ("x-bomb", "b" * 4_000)])
        await attacker.expect_response(1)
        await attacker.send(attacker.headers(3, block=attacker.encode(GET) + b"\xbe" * 5))
        assert (await attacker.expect_response(3)).status == 431
        await polite_request(polite)
        await attacker.assert_alive()
    assert handler.started == 3
