"""The direct socket path (``_sockio.py``) and the writer's synchronous writes through it."""

from __future__ import annotations

import hashlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

import trio_h2
from tests.conformance import rawpeer
from tests.conformance.rawpeer import GET, open_served_peer, raw_frame
from trio_h2.server.listen import Server
from trio_h2.server.sockio import DirectSocket, socket_fd


@asynccontextmanager
async def socket_pair() -> AsyncIterator[tuple[DirectSocket, trio.SocketStream]]:
    """A DirectSocket on one end of a connected pair, a SocketStream on the other."""
    ours, theirs = trio.socket.socketpair()
    with ours, theirs:
        yield DirectSocket(ours.fileno()), trio.SocketStream(theirs)


def test_socket_fd_only_for_plain_sockets() -> None:
    a, b = trio.socket.socketpair()
    with a, b:
        assert socket_fd(trio.SocketStream(a)) == a.fileno()
        memory, _ = trio.testing.memory_stream_pair()
        assert socket_fd(memory) is None
        tls = trio.SSLStream(trio.SocketStream(b), ssl.create_default_context())
        assert socket_fd(tls) is None


async def test_receive_some_reads_what_is_there_and_eof() -> None:
    async with socket_pair() as (direct, peer):
        await peer.send_all(b"hello")
        assert await direct.receive_some(100) == b"hello"
        await peer.send_all(b"abcdef")
        assert await direct.receive_some(4) == b"abcd"
        assert await direct.receive_some(4) == b"ef"
        await peer.send_eof()
        assert await direct.receive_some(4) == b""


async def test_receive_some_waits_for_data() -> None:
    async with socket_pair() as (direct, peer):
        got: list[bytes] = []

        async def read() -> None:
            got.append(await direct.receive_some(100))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            await peer.send_all(b"late")
        assert got == [b"late"]


async def test_a_cancelled_receive_reads_nothing() -> None:
    async with socket_pair() as (direct, peer):
        await peer.send_all(b"kept")
        with trio.CancelScope() as scope:
            scope.cancel()
            await direct.receive_some(100)
        assert scope.cancelled_caught
        assert await direct.receive_some(100) == b"kept"


async def test_back_to_back_reads_let_other_tasks_run() -> None:
    async with socket_pair() as (direct, peer):
        await peer.send_all(b"x" * 200)
        turns = 0
        reads = 0

        async def other() -> None:
            nonlocal turns
            while True:
                turns += 1
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)
            start = turns
            while reads < 200:
                assert await direct.receive_some(1) == b"x"
                reads += 1
            nursery.cancel_scope.cancel()
        # Never more than two reads in a row without a schedule point.
        assert turns - start >= reads // 2 - 1


async def test_try_send_takes_what_the_kernel_takes() -> None:
    async with socket_pair() as (direct, peer):
        assert direct.try_send(b"now") == 3
        assert await peer.receive_some(10) == b"now"
        big = b"y" * 4_000_000
        sent = direct.try_send(big)
        assert 0 < sent < len(big)
        assert direct.try_send(b"more") == 0  # full: nothing taken, nothing raised


async def test_send_all_waits_for_the_peer_and_delivers_every_byte() -> None:
    async with socket_pair() as (direct, peer):
        payload = bytes(range(256)) * 16_000  # 4 MB, far more than a socket buffer
        done = trio.Event()

        async def send() -> None:
            await direct.send_all(payload)
            done.set()

        received = bytearray()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()  # blocked on a full socket
            while len(received) < len(payload):
                received += await peer.receive_some(1 << 20)
        assert done.is_set()
        assert received == payload


async def test_a_cancelled_send_all_sends_nothing() -> None:
    async with socket_pair() as (direct, peer):
        with trio.CancelScope() as scope:
            scope.cancel()
            await direct.send_all(b"never")
        assert scope.cancelled_caught
        await direct.send_all(b"after")
        assert await peer.receive_some(10) == b"after"


async def test_detached_socket_refuses_calls() -> None:
    async with socket_pair() as (direct, _peer):
        direct.detach()
        with pytest.raises(trio.ClosedResourceError):
            await direct.receive_some(10)
        with pytest.raises(trio.ClosedResourceError):
            direct.try_send(b"x")
        with pytest.raises(trio.ClosedResourceError):
            await direct.send_all(b"x")


async def test_a_reset_connection_is_a_broken_resource() -> None:
    listener = trio.socket.socket()
    with listener:
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = trio.socket.socket()
        with client:
            await client.connect(listener.getsockname())
            server, _ = await listener.accept()
            with server:
                # SO_LINGER 0: close() sends RST instead of FIN.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                direct = DirectSocket(server.fileno())
                with pytest.raises(trio.BrokenResourceError):
                    await direct.receive_some(10)
                with pytest.raises(trio.BrokenResourceError):
                    direct.try_send(b"x")


# ------------------------------------------------------------ the writer over a socket


@pytest.fixture
def socket_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    """open_served_peer() connects over a socket pair in this test."""
    monkeypatch.setattr(rawpeer, "TRANSPORT", "socket")


async def test_a_response_larger_than_the_socket_buffer_arrives_whole(
    socket_peers: None,
) -> None:
    # The lone stream's frames are written at once; what the kernel does not take is
    # left to the writer task, which must send it in order once the peer reads.
    body = hashlib.sha256(b"seed").digest() * 200_000  # 6.4 MB

    async def big(stream: trio_h2.Stream) -> None:
        await stream.respond(200, body=body)

    window = {SettingsFrame.INITIAL_WINDOW_SIZE: 2**31 - 1}
    async with open_served_peer(big, settings=window) as served:
        peer = served.peer
        await peer.send(raw_frame(0x8, 0, 0, (2**31 - 1 - 65_535).to_bytes(4, "big")))
        await peer.request(1)
        await trio.testing.wait_all_tasks_blocked()
        (connection,) = served.server.connections
        assert connection._writer.pending > 0  # the rest waits for the peer
        # Read frame by frame: this peer gives no credit back (it has plenty), so it
        # never blocks on a send while the server waits for it to read.
        received = bytearray()
        while True:
            frame = await peer.receive_frame()
            assert frame is not None
            if isinstance(frame, DataFrame) and frame.stream_id == 1:
                received += frame.data
                if "END_STREAM" in frame.flags:
                    break
        assert received == body
        await peer.assert_alive()


async def test_frames_of_several_streams_go_through_the_writer_in_order(
    socket_peers: None,
) -> None:
    async def echo_path(stream: trio_h2.Stream) -> None:
        await stream.respond(200, body=stream.path.encode())

    async with open_served_peer(echo_path) as served:
        peer = served.peer
        ids = list(range(1, 40, 2))
        await peer.send(*[peer.headers(i, [*GET[:2], (":path", f"/{i}"), GET[3]]) for i in ids])
        responses = await peer.expect_responses(*ids)
        assert {i: r.body for i, r in responses.items()} == {i: f"/{i}".encode() for i in ids}
        kinds = [(type(f), f.stream_id) for f in peer.received if f.stream_id in ids]
        for i in ids:  # each stream's HEADERS before its DATA
            assert kinds.index((HeadersFrame, i)) < kinds.index((DataFrame, i))


async def test_a_socket_peer_that_never_reads_is_dropped_after_send_timeout(
    autojump_clock: trio.testing.MockClock, socket_peers: None
) -> None:
    config = trio_h2.Config(send_timeout=30, max_outbound_buffer=65_536)

    async def large(stream: trio_h2.Stream) -> None:
        await stream.respond(200, body=b"x" * 2_000_000)

    server = Server(large, config, None)
    window = {SettingsFrame.INITIAL_WINDOW_SIZE: 2**31 - 1}
    async with open_served_peer(server=server, settings=window, timeout=1e9) as served:
        peer = served.peer
        await peer.send(raw_frame(0x8, 0, 0, (2**31 - 1 - 65_535).to_bytes(4, "big")))
        await peer.request(1)
        await trio.testing.wait_all_tasks_blocked()
        (connection,) = server.connections
        assert 0 < connection._writer.pending <= 2 * 65_536 + 16_384
        start = trio.current_time()
        with trio.fail_after(31):
            await served.finished.wait()
        assert trio.current_time() - start >= 29
