"""The accept loop: errors from accept(), and max_connections with idle ones reclaimed."""

from __future__ import annotations

import errno
import logging
import math
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes
from hyperframe.frame import Frame, GoAwayFrame, SettingsFrame

import trio_h2
from tests.conformance.rawpeer import GET, PREFACE, RawPeer
from tests.support import MemoryListener
from trio_h2.server.listen import Server
from trio_h2.server.stream import Handler
from trio_h2.testing import Client, open_client


async def hello(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], b"hello\n")


# ---------------------------------------------------------------- accept() errors


class FlakyListener(MemoryListener):
    """accept() fails with the scripted errnos first (None: a normal accept)."""

    def __init__(self, script: list[int | None]) -> None:
        super().__init__()
        self.script = script
        self.calls: list[float] = []

    async def accept(self) -> trio.abc.Stream:
        self.calls.append(trio.current_time())
        if self.script:
            code = self.script.pop(0)
            if code is not None:
                await trio.lowlevel.checkpoint()
                raise OSError(code, os.strerror(code))
        return await super().accept()


async def test_accept_backs_off_on_capacity_errors_and_recovers(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2")
    capacity = [errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS]
    first_run = [capacity[i % 4] for i in range(14)]
    listener = FlakyListener([*first_run, None, errno.EMFILE, errno.EMFILE, None])
    server = Server(hello, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server._accept_loop, listener, nursery)
        for _ in range(2):
            async with open_client(await listener.connect()) as client:
                assert (await client.get("/")).body == b"hello\n"
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 6) for a, b in zip(listener.calls, listener.calls[1:], strict=False)]
    # 100 ms at first (as trio.serve_listeners), doubling up to 1 s while the errors
    # go on; after a success (the first client, served at once) from 100 ms again.
    assert gaps[:14] == [0.1, 0.2, 0.4, 0.8, *[1.0] * 10]
    assert gaps[14:17] == [0.0, 0.1, 0.2]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # Rate-limited: one warning when the errors start, one more 10 s later.
    assert len(warnings) == 2
    assert warnings[0].startswith("accept() failed: EMFILE (Too many open files), 1 time(s)")
    assert warnings[1].startswith("accept() failed: ENFILE (Too many open files in system), 14")
    infos = [r.getMessage() for r in caplog.records if "works again" in r.getMessage()]
    assert infos == [
        "accept() works again, after 14 failure(s)",
        "accept() works again, after 2 failure(s)",
    ]


@pytest.mark.parametrize("code", [errno.ENOTSOCK, errno.EINVAL, errno.EBADF])
async def test_other_accept_errors_end_serve(code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    async def failing_accept(self: trio.SocketListener) -> trio.SocketStream:
        nonlocal calls
        calls += 1
        await trio.lowlevel.checkpoint()
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(trio.SocketListener, "accept", failing_accept)
    with trio.fail_after(5), pytest.raises(OSError, match=os.strerror(code)) as raised:
        await trio_h2.serve(hello, "127.0.0.1", 0)
    assert type(raised.value) is OSError  # itself, not in an exception group
    assert raised.value.errno == code
    assert calls == 1  # not retried


# ------------------------------------------- max_connections: idle ones reclaimed


async def test_longest_idle_connection_is_reclaimed_first(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2")
    server = Server(hello, trio_h2.Config(max_connections=3), None)
    listener = MemoryListener()
    async with trio.open_nursery() as nursery, AsyncExitStack() as stack:
        nursery.start_soon(server._accept_loop, listener, nursery)
        clients: list[Client] = []
        for _ in range(3):
            clients.append(await stack.enter_async_context(open_client(await listener.connect())))
        # Idle since: b at 1 s, a at 2 s, c at 3 s.
        a, b, c = clients
        for client in (b, a, c):
            await trio.sleep(1)
            assert (await client.get("/")).status == 200
        await trio.sleep(1)
        d = await stack.enter_async_context(open_client(await listener.connect()))
        assert (await d.get("/")).status == 200
        await b.connection_closed.wait()
        assert b.goaway is not None
        assert b.goaway.error_code == ErrorCodes.NO_ERROR
        assert b.goaway.last_stream_id == 1  # its one request
        e = await stack.enter_async_context(open_client(await listener.connect()))
        assert (await e.get("/")).status == 200
        await a.connection_closed.wait()
        assert a.goaway is not None
        # The others are unharmed.
        assert (await c.get("/")).status == 200
        assert (await d.get("/")).status == 200
        assert c.goaway is None
        assert d.goaway is None
        assert e.goaway is None
        assert len(server._slots) == 3
        nursery.cancel_scope.cancel()
    reclaimed = [r.getMessage() for r in caplog.records if "to make room" in r.getMessage()]
    assert reclaimed == [
        "closing the connection from None (idle for 3.0 s) to make room for a new one",
        "closing the connection from None (idle for 2.0 s) to make room for a new one",
    ]


async def test_connection_without_preface_is_reclaimed_before_a_younger_idle_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = Server(hello, trio_h2.Config(max_connections=2, handshake_timeout=10), None)
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server._accept_loop, listener, nursery)
        silent = RawPeer(await listener.connect(), timeout=100)  # never sends its preface
        async with open_client(await listener.connect()) as idle:
            await trio.sleep(5)
            assert (await idle.get("/")).status == 200  # idle since 5 s
            await trio.sleep(1)
            async with open_client(await listener.connect()) as new:
                assert (await new.get("/")).status == 200
            # The silent one, there for 6 s without a byte, made room: it was closed
            # without a word (its protocol was not known yet).
            assert await frames_until_close(silent) == []
            assert trio.current_time() == pytest.approx(6)
            assert idle.goaway is None
            assert (await idle.get("/")).status == 200
        nursery.cancel_scope.cancel()


async def frames_until_close(peer: RawPeer) -> list[Frame]:
    frames = []
    while (frame := await peer.receive_frame()) is not None:
        frames.append(frame)
    return frames


@asynccontextmanager
async def served(handler: Handler, config: trio_h2.Config) -> AsyncIterator[tuple[int, Server]]:
    """A Server on a loopback port (its port and the Server, to look into)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    server = Server(handler, config, None)
    async with trio.open_nursery() as nursery:
        address = await nursery.start(server.serve_listeners, listeners)
        try:
            yield address.port, server
        finally:
            nursery.cancel_scope.cancel()


def drain(sock: socket.socket) -> tuple[bytes, bool]:
    """What has arrived on a non-blocking socket, and whether the peer has closed."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65_536)
        except BlockingIOError:
            return data, False
        if not chunk:
            return data, True
        data += chunk


def parse_frames(data: bytes) -> list[Frame]:
    frames = []
    view = memoryview(data)
    while view:
        frame, length = Frame.parse_frame_header(view[:9])
        frame.parse_body(view[9 : 9 + length])
        frames.append(frame)
        view = view[9 + length :]
    return frames


async def new_client(port: int, done: trio.Event, task_status: trio.TaskStatus[None]) -> None:
    """A client answered within a second, then held open until ``done``."""
    with trio.fail_after(1) as bound:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with open_client(stream) as client:
            assert (await client.get("/")).body == b"hello\n"
            bound.deadline = math.inf
            task_status.started()
            await done.wait()


async def test_a_crowd_of_idle_connections_does_not_lock_new_clients_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2")
    async with served(hello, trio_h2.Config(max_connections=100)) as (port, server):
        idle: list[socket.socket] = []
        try:
            # Each sends the preface and SETTINGS, then nothing, and reads nothing.
            for _ in range(100):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(PREFACE + SettingsFrame(0).serialize())
                sock.setblocking(False)
                idle.append(sock)
            done = trio.Event()
            async with trio.open_nursery() as clients:
                for _ in range(3):
                    await clients.start(new_client, port, done)
                assert len(server._slots) == 100
                # One idle connection made room for each new client: on loopback the
                # reclaimed one's GOAWAY and FIN are there by now (its slot was free
                # before the new client was served).
                reclaimed = []
                for sock in idle:
                    data, eof = drain(sock)
                    frames = parse_frames(data)
                    if any(isinstance(f, GoAwayFrame) for f in frames):
                        reclaimed.append((frames, eof))
                    else:
                        assert not eof
                assert len(reclaimed) == 3
                for frames, eof in reclaimed:
                    assert eof  # GOAWAY, then the close
                    assert isinstance(frames[-1], GoAwayFrame)
                    assert frames[-1].error_code == ErrorCodes.NO_ERROR
                    assert frames[-1].last_stream_id == 0
                done.set()
        finally:
            for sock in idle:
                sock.close()
    assert sum("to make room" in r.getMessage() for r in caplog.records) == 3


async def test_new_connection_is_refused_when_every_connection_is_busy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2")
    all_busy = trio.Event()
    release = trio.Event()
    running = 0

    async def handler(stream: trio_h2.Stream) -> None:
        nonlocal running
        running += 1
        if running == 100:
            all_busy.set()
        await release.wait()
        await hello(stream)

    async with served(handler, trio_h2.Config(max_connections=100)) as (port, server):
        peers: list[RawPeer] = []
        try:
            with trio.fail_after(20):
                for _ in range(100):
                    peer = RawPeer(await trio.open_tcp_stream("127.0.0.1", port))
                    peers.append(peer)
                    await peer.handshake()
                    await peer.request(1, GET)
                await all_busy.wait()
            new = await trio.open_tcp_stream("127.0.0.1", port)
            with trio.fail_after(1):
                try:
                    data = await new.receive_some()
                except trio.BrokenResourceError:
                    data = b""
            assert data == b""  # closed at once, not a byte sent
            await new.aclose()
            assert len(server._slots) == 100
            assert running == 100  # no handler was cancelled
            release.set()
            with trio.fail_after(20):
                for peer in peers:
                    response = await peer.expect_response(1)
                    assert response.status == 200
            assert not any(isinstance(f, GoAwayFrame) for p in peers for f in p.received)
        finally:
            for peer in peers:
                await peer.stream.aclose()
    assert any("none idle" in r.getMessage() for r in caplog.records)
