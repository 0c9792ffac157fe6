"""Hostile peers that stall or hoard: slow handshakes, closed windows, unread sockets,
too many streams or connections.  Timeouts run on trio's autojump clock."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes
from hyperframe.frame import Frame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame

import trio_h2
from tests.conformance.rawpeer import GET, PREFACE, RawPeer, open_served_peer, raw_frame
from trio_h2.server.listen import Server

from .test_floods import Counting, attack, hang, polite_request

FOREVER = 1e9  # RawPeer timeouts are virtual seconds here


async def test_zero_window_stream_is_reset_after_send_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(send_timeout=20)
    handler = Counting()
    server = Server(handler, config, None)
    zero = {SettingsFrame.INITIAL_WINDOW_SIZE: 0}
    async with (
        open_served_peer(server=server, timeout=FOREVER) as polite,
        open_served_peer(server=server, settings=zero, timeout=FOREVER) as attacker,
    ):
        await attacker.peer.request(1)
        await attacker.peer.expect_frame(HeadersFrame, 1)
        assert handler.running == 1  # stuck on the closed window
        await polite_request(polite.peer)
        start = trio.current_time()
        await attacker.peer.expect_rst(1, ErrorCodes.CANCEL)
        assert trio.current_time() - start <= 20 + 1
        await trio.testing.wait_all_tasks_blocked()
        assert handler.running == 0
        await attacker.peer.ping()  # the connection itself is still fine
        await polite_request(polite.peer)


async def test_peer_that_never_reads_is_bounded_then_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(send_timeout=30, max_outbound_buffer=65_536)

    async def large(stream: trio_h2.Stream) -> None:
        if stream.path == "/":
            await stream.respond(200, body=b"polite")
        else:
            await stream.respond(200, body=b"x" * 200_000)

    server = Server(large, config, None)
    big_window = {SettingsFrame.INITIAL_WINDOW_SIZE: 2**31 - 1}
    async with (
        open_served_peer(server=server, timeout=FOREVER) as polite,
        open_served_peer(
            server=server, settings=big_window, timeout=FOREVER, lockstep=True
        ) as attacker,
    ):
        peer = attacker.peer
        await peer.send(raw_frame(0x8, 0, 0, (2**31 - 1 - 65_535).to_bytes(4, "big")))
        sent: list[int] = []

        async def requests() -> None:
            # With nothing read on its side, the server stops reading this peer
            # too: the sends block, and break when the server gives up.
            try:
                for stream_id in range(1, 400, 2):
                    await peer.request(stream_id, [*GET[:2], (":path", "/big"), GET[3]])
                    sent.append(stream_id)
            except trio.BrokenResourceError:
                pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(requests)
            await trio.testing.wait_all_tasks_blocked()
            (connection,) = [c for c in server.connections if c.active_streams]
            assert connection._writer.pending <= 2 * 65_536 + 16_384
            assert len(sent) < 199
            await polite_request(polite.peer)
            # It never reads: after send_timeout the server gives up on it.
            with trio.fail_after(31):
                await attacker.finished.wait()
        await polite_request(polite.peer)


async def test_slow_preface_is_cut_at_handshake_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(handshake_timeout=5)
    server = Server(Counting(), config, None)
    async with (
        open_served_peer(server=server, timeout=FOREVER) as polite,
        open_served_peer(server=server, handshake=False, timeout=FOREVER) as served,
    ):
        sent = 0
        with trio.move_on_after(100):
            while not served.finished.is_set() and sent < len(PREFACE):
                try:
                    await served.peer.send(PREFACE[sent : sent + 1])
                except trio.BrokenResourceError:
                    break  # over a socket: the server has closed its end
                sent += 1
                await trio.sleep(1)
                await polite_request(polite.peer)
        with trio.fail_after(1):
            await served.finished.wait()
        assert sent <= 6
        await served.peer.expect_close()


async def test_slow_header_block_is_cut_at_header_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(header_timeout=5, idle_timeout=1_000)
    async with attack(config) as (attacker, polite, handler, _):
        attacker.timeout = polite.timeout = FOREVER
        await attacker.request(1, hang())  # an open stream: no idle timeout now
        block = attacker.encode(GET)
        frame = raw_frame(0x1, 0x5, 3, block)
        start = trio.current_time()
        sent = 0
        with trio.move_on_after(100):
            while not attacker.closed and sent < len(frame):
                try:
                    await attacker.send(frame[sent : sent + 1])
                except trio.BrokenResourceError:
                    break
                sent += 1
                await trio.sleep(1)
                if sent % 3 == 0:
                    await polite_request(polite)
        assert sent < len(frame)
        frames = [f async for f in _rest(attacker)]
        goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
        assert [(f.error_code, f.last_stream_id) for f in goaway] == [(ErrorCodes.NO_ERROR, 1)]
        assert trio.current_time() - start <= 5 + 2
        await polite_request(polite)
    assert handler.running == 0


async def test_endless_slow_continuations_are_cut_at_header_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(header_timeout=5)
    async with attack(config) as (attacker, polite, _, _):
        attacker.timeout = polite.timeout = FOREVER
        await attacker.send(raw_frame(0x1, 0x0, 1, attacker.encode(GET)))
        with trio.move_on_after(100):
            while not attacker.closed:
                try:
                    await attacker.send(raw_frame(0x9, 0x0, 1, b""))
                except trio.BrokenResourceError:
                    break
                await trio.sleep(1)
                await polite_request(polite)
        await attacker.expect_goaway(ErrorCodes.NO_ERROR)
        await attacker.expect_close()


async def test_idle_connection_gets_goaway(autojump_clock: trio.testing.MockClock) -> None:
    config = trio_h2.Config(idle_timeout=30)
    async with open_served_peer(config=config, timeout=FOREVER) as served:
        await served.peer.assert_alive()
        start = trio.current_time()
        await served.peer.expect_graceful_goaway(last_stream_id=1)
        await served.peer.expect_close()
        assert 30 <= trio.current_time() - start <= 31


async def test_a_peer_that_does_not_answer_the_drain_ping_gets_the_goaway_anyway(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(idle_timeout=30)
    async with open_served_peer(config=config, timeout=FOREVER) as served:
        await served.peer.assert_alive()
        start = trio.current_time()
        await served.peer.expect_graceful_goaway(last_stream_id=1, acknowledge=False)
        assert trio.current_time() - start == pytest.approx(31)
        await served.peer.expect_close()


async def test_tls_handshake_never_finished_times_out(
    autojump_clock: trio.testing.MockClock, server_ssl_context: ssl.SSLContext
) -> None:
    config = trio_h2.Config(handshake_timeout=7)
    server = Server(Counting(), config, server_ssl_context)
    server_sock, client_sock = trio.socket.socketpair()
    client = trio.SocketStream(client_sock)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.handle_stream, trio.SocketStream(server_sock))
        await client.send_all(b"\x16\x03\x01")  # the start of a ClientHello, no more
        start = trio.current_time()
        while True:
            try:
                data = await client.receive_some(1024)
            except trio.BrokenResourceError:
                data = b""
            if not data:
                break
        assert 7 <= trio.current_time() - start <= 8
        assert not server.connections
    await client.aclose()


# ------------------------------------------------------------- exhaustion


async def test_streams_past_max_concurrent_streams_are_refused() -> None:
    config = trio_h2.Config(max_concurrent_streams=10)
    async with attack(config) as (attacker, polite, handler, _):
        await attacker.send(*(attacker.headers(i, hang()) for i in range(1, 61, 2)))
        await polite_request(polite)
        await attacker.ping()
        refused = [f for f in attacker.received if isinstance(f, RstStreamFrame)]
        assert [f.error_code for f in refused] == [ErrorCodes.REFUSED_STREAM] * 20
        assert handler.hung == 10
        await trio.testing.wait_all_tasks_blocked()
        assert handler.running == 10


async def test_connections_past_max_connections_are_refused_early() -> None:
    config = trio_h2.Config(max_connections=2)
    handler = Counting()
    async with trio.open_nursery() as nursery:
        address = await nursery.start(
            lambda task_status: trio_h2.serve(
                handler, "127.0.0.1", 0, config=config, task_status=task_status
            )
        )
        peers = []
        for _ in range(2):
            stream = await trio.open_tcp_stream("127.0.0.1", address.port)
            peer = RawPeer(stream)
            await peer.handshake()
            # Busy (an idle connection would be reclaimed for the new one); the
            # answer to the request after it shows the stream is open.
            await peer.request(1, hang())
            await polite_request(peer)
            peers.append(peer)
        for _ in range(3):
            extra = RawPeer(await trio.open_tcp_stream("127.0.0.1", address.port))
            try:
                await extra.send(PREFACE, SettingsFrame(0))
            except trio.BrokenResourceError:
                pass
            # Closed before a single frame: no SETTINGS, no work.
            assert await extra.receive_frame() is None
            await extra.stream.aclose()
        for peer in peers:
            await polite_request(peer)
            await peer.stream.aclose()
        nursery.cancel_scope.cancel()
    assert handler.started == 2 * 3


async def _rest(peer: RawPeer) -> AsyncIterator[Frame]:
    while True:
        frame = await peer.receive_frame()
        if frame is None:
            return
        yield frame
