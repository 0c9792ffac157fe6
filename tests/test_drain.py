"""Draining, byte for byte: what each kind of connection sees when the server shuts down.

HTTP/1.1: the response in flight says ``connection: close`` and is the last; an idle
keep-alive connection is closed at once; a request past the grace period is cancelled.
A connection accepted before the shutdown but not started gets a second to make its
first request, which is then served (over TLS too, its handshake first); one that says
nothing is closed after it.  Over real sockets: a ``serve()`` cancelled with every kind
of connection open stops accepting at once and returns as soon as the last one is
done, well inside the grace period.  (HTTP/2's two GOAWAYs are checked in
test_connection.py and test_server.py, and its health answer while draining in
test_health.py.)
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import trio
import trio.testing
import trustme
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame, PingFrame, SettingsFrame

import trio_h2
from tests.conformance.rawpeer import PREFACE, RawPeer
from tests.support import MemoryListener
from tests.test_h1_server import Peer
from trio_h2.server.listen import FIRST_REQUEST_TIME, Server
from trio_h2.testing import open_client

GRACE = 30.0
CONFIG = trio_h2.Config(
    date_header=False,
    server_header=None,
    graceful_shutdown_timeout=GRACE,
    keep_alive_timeout=1000,
    handshake_timeout=1000,
    health_path="/healthz",
)
GET_A = [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/a")]
SLOW = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
SLOW_ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
    b"connection: close\r\n\r\n/slow"
)


class Gate:
    """A handler that answers ``/slow`` only once released."""

    def __init__(self) -> None:
        self.started = trio.Event()
        self.release = trio.Event()
        self.cancelled = False

    async def __call__(self, stream: trio_h2.Stream) -> None:
        if stream.path == "/slow":
            self.started.set()
            try:
                await self.release.wait()
            except trio.Cancelled:
                self.cancelled = True
                raise
        await stream.respond(200, [("content-type", "text/plain")], stream.path)


@dataclass
class Served:
    server: Server
    peer: Peer
    shutdown_done: trio.Event

    async def start_shutdown(self, nursery: trio.Nursery) -> float:
        """Begin the server's shutdown in the background; the time it began."""

        async def shut_down() -> None:
            await self.server.shutdown()
            self.shutdown_done.set()

        nursery.start_soon(shut_down)
        return trio.current_time()


@asynccontextmanager
async def h1_served(gate: Gate) -> AsyncIterator[tuple[Served, trio.Nursery]]:
    client, server_side = trio.testing.memory_stream_pair()
    server = Server(gate, CONFIG, None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        peer = Peer(client)
        nursery.start_soon(peer._read)
        yield Served(server, peer, trio.Event()), nursery
        nursery.cancel_scope.cancel()


async def test_http1_response_in_flight_says_close_and_is_the_last(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = Gate()
    async with h1_served(gate) as (served, nursery):
        # A pipelined request behind the one in flight is not served (RFC 9112 §9.6).
        await served.peer.send_all(SLOW + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        await gate.started.wait()
        start = await served.start_shutdown(nursery)
        assert await served.peer.take() == b""  # nothing is cut short
        await trio.sleep(5)
        gate.release.set()
        await served.peer.closed.wait()
        await served.shutdown_done.wait()
        # Done as soon as the response was, not at the end of the grace period.
        assert trio.current_time() - start == pytest.approx(5)
        assert bytes(served.peer.received) == SLOW_ANSWER
        assert not served.server.connections


async def test_http1_idle_keep_alive_is_closed_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with h1_served(Gate()) as (served, nursery):
        await served.peer.send_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await served.peer.take()
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"connection: close" not in first
        start = await served.start_shutdown(nursery)
        await served.peer.closed.wait()
        await served.shutdown_done.wait()
        assert trio.current_time() == start  # not after the keep-alive timeout
        assert await served.peer.take() == b""  # the end of file, and nothing before it


async def test_http1_request_past_the_grace_period_is_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = Gate()
    async with h1_served(gate) as (served, nursery):
        await served.peer.send_all(SLOW)
        await gate.started.wait()
        start = await served.start_shutdown(nursery)
        await served.shutdown_done.wait()
        assert trio.current_time() - start == pytest.approx(GRACE)
        await served.peer.closed.wait()
        assert gate.cancelled
        assert await served.peer.take() == b""  # closed, with no half answer


@asynccontextmanager
async def accepting(gate: Gate) -> AsyncIterator[tuple[Server, MemoryListener]]:
    server = Server(gate, CONFIG, None)
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server._accept_loop, listener, nursery)
        yield server, listener
        nursery.cancel_scope.cancel()


async def test_a_connection_that_says_nothing_holds_the_shutdown_for_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Accepted (it has a slot) but silent, as a browser's preconnect is: it gets
    # FIRST_REQUEST_TIME to start, not its handshake timeout (1000 s here).
    async with accepting(Gate()) as (server, listener):
        silent = await listener.connect()
        await trio.testing.wait_all_tasks_blocked()
        assert len(server._slots) == 1
        start = trio.current_time()
        await server.shutdown()
        assert trio.current_time() - start == pytest.approx(FIRST_REQUEST_TIME)
        assert await silent.receive_some() == b""
        await trio.testing.wait_all_tasks_blocked()
        assert not server._slots


async def test_http1_first_request_after_the_shutdown_began_is_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Accepted just before the shutdown, its request on the way: it is served, the
    # last on its connection.
    async with accepting(Gate()) as (server, listener), trio.open_nursery() as nursery:
        client = await listener.connect()
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(server.shutdown)
        await trio.sleep(FIRST_REQUEST_TIME / 2)
        await client.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        peer = Peer(client)
        await peer._read()
        assert bytes(peer.received) == (
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
            b"cache-control: no-store\r\ncontent-length: 9\r\nconnection: close\r\n\r\n"
            b"draining\n"
        )


async def test_http2_first_request_after_the_shutdown_began_is_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Its preface, SETTINGS and first request leave together, as a client's do, and
    # reach the server after the shutdown began.
    async with accepting(Gate()) as (server, listener), trio.open_nursery() as nursery:
        peer = RawPeer(await listener.connect())
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(server.shutdown)
        await trio.sleep(FIRST_REQUEST_TIME / 2)
        await peer.send(PREFACE, SettingsFrame(0), peer.headers(1, GET_A))
        ping: PingFrame | None = None
        while True:
            frame = await peer.receive_frame()
            assert frame is not None
            if isinstance(frame, PingFrame) and "ACK" not in frame.flags:
                ping = frame
            elif isinstance(frame, GoAwayFrame):
                assert frame.last_stream_id == 2**31 - 1
                break
        assert ping is not None
        response = await peer.expect_response(1)
        assert (response.status, response.body) == (200, b"/a")
        await peer.send(PingFrame(0, flags=["ACK"], opaque_data=ping.opaque_data))
        await peer.expect_goaway(ErrorCodes.NO_ERROR, last_stream_id=1)
        await peer.expect_close()
        await peer.stream.aclose()


@pytest.mark.parametrize(("alpn", "http_version"), [("h2", "2"), ("http/1.1", "1.1")])
async def test_tls_handshake_finished_after_the_shutdown_began_is_served(
    alpn: str, http_version: str, ca: trustme.CA, server_ssl_context: ssl.SSLContext
) -> None:
    # Over real TLS: the client has connected, and the server waits in the handshake
    # when the shutdown begins; the handshake and the first request that follow it
    # are served, as on cleartext.
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    client_context.set_alpn_protocols([alpn])
    async with trio.open_nursery() as nursery:
        serving = trio.CancelScope()

        async def serve(task_status: trio.TaskStatus[trio_h2.ServerAddress]) -> None:
            with serving:
                await trio_h2.serve(
                    Gate(), "127.0.0.1", 0, ssl_context=server_ssl_context, task_status=task_status
                )

        address = await nursery.start(serve)
        tcp = await trio.open_tcp_stream(address.host, address.port)
        await trio.testing.wait_all_tasks_blocked()  # the server waits for a ClientHello
        serving.cancel()
        await trio.testing.wait_all_tasks_blocked()  # and has begun its shutdown
        tls = trio.SSLStream(tcp, client_context, server_hostname="localhost")
        await tls.do_handshake()
        assert tls.selected_alpn_protocol() == alpn
        async with open_client(tls, http_version=http_version) as client:
            response = await client.get("/a")
        assert (response.status, response.body) == (200, b"/a")


async def test_cancelled_serve_drains_every_kind_of_connection() -> None:
    """Over real sockets: an idle HTTP/1.1 keep-alive, an HTTP/1.1 request in flight
    and an HTTP/2 request in flight when serve() is cancelled."""
    gate = Gate()
    h2_started = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/slow2":
            h2_started.set()
            await gate.release.wait()
            await stream.respond(200, body=b"finished")
        else:
            await gate(stream)

    async with trio.open_nursery() as outer:
        scope = trio.CancelScope()
        stopped = trio.Event()

        async def run(task_status: trio.TaskStatus[trio_h2.ServerAddress]) -> None:
            with scope:
                await trio_h2.serve(
                    handler, "127.0.0.1", 0, config=CONFIG, task_status=task_status
                )
            stopped.set()

        address = await outer.start(run)
        port = address.port
        idle = Peer(await trio.open_tcp_stream("127.0.0.1", port))
        busy = Peer(await trio.open_tcp_stream("127.0.0.1", port))
        outer.start_soon(idle._read)
        outer.start_soon(busy._read)
        await idle.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"\r\n\r\nok\n" not in idle.received:
            await trio.sleep(0.01)
        await busy.send_all(SLOW)
        await gate.started.wait()
        async with open_client(await trio.open_tcp_stream("127.0.0.1", port)) as h2client:
            stream_id = await h2client.start_request("GET", "/slow2", end_stream=True)
            await h2_started.wait()
            with trio.fail_after(10):
                scope.cancel()
                await idle.closed.wait()  # at once, with nothing more said
                assert idle.received.endswith(b"\r\n\r\nok\n")
                await h2client.goaway_received.wait()
                with pytest.raises(OSError, match="connect"):
                    await trio.open_tcp_stream("127.0.0.1", port)  # no longer listening
                gate.release.set()
                await busy.closed.wait()
                assert bytes(busy.received) == SLOW_ANSWER
                response = await h2client.wait_response(stream_id)
                assert response.body == b"finished"
                await h2client.final_goaway_received.wait()
                assert h2client.goaway is not None
                assert h2client.goaway.error_code == ErrorCodes.NO_ERROR
                assert h2client.goaway.last_stream_id == stream_id
                await stopped.wait()  # far inside the 30 s grace period
        await idle.stream.aclose()
        await busy.stream.aclose()
