"""WebSockets over real sockets (RFC 8441), against a WebSocket client apart from the server's.

The common WebSocket clients (browsers aside) speak WebSockets over HTTP/1.1 only, so
the client here is put together from two independent parts: the test client's h2 (as
released) opens the extended CONNECT and carries the stream, and the ``websockets``
package's own sans-IO protocol makes and checks the frames (its masking, UTF-8 checks,
fragments, control frames and close handshake), nothing of wsproto or trio-websocket.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio_websocket
import trustme
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

import trio_h2
from tests.support import running_server
from trio_h2.testing import Client, ClientWebSocket, open_client

pytestmark = pytest.mark.interop

BIG = bytes(range(256)) * 4096  # 1 MiB, the message limit these tests set
LIMITED = trio_h2.Config(websocket_max_message_size=len(BIG))


class Peer:
    """The ``websockets`` client protocol on a WebSocket stream of the test client."""

    def __init__(self, stream: ClientWebSocket) -> None:
        self.stream = stream
        self.protocol = Protocol(Side.CLIENT, max_size=None)
        self._frames: list[Frame] = []

    async def flush(self) -> None:
        data = b"".join(self.protocol.data_to_send())
        if data:
            await self.stream.send_raw(data)

    async def next_frame(self) -> Frame:
        """The server's next frame (Pings and a Close are answered by the protocol)."""
        while not self._frames:
            data = await self.stream.receive_raw()
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            self._frames += self.protocol.events_received()
            await self.flush()
            if not data and not self._frames:
                raise EOFError("the server ended the stream")
        return self._frames.pop(0)

    async def message(self) -> str | bytes:
        frame = await self.next_frame()
        opcode, parts = frame.opcode, [frame.data]
        while not frame.fin:
            frame = await self.next_frame()
            parts.append(frame.data)
        data = b"".join(parts)
        return data.decode() if opcode is Opcode.TEXT else data

    async def closed(self) -> tuple[int, str]:
        """Read until the server's Close; its code and reason."""
        while self.protocol.close_rcvd is None:
            await self.next_frame()
        return self.protocol.close_rcvd.code, self.protocol.close_rcvd.reason

    async def ended(self) -> None:
        """The server ended the stream after the close handshake."""
        assert await self.stream.receive_raw() == b""
        self.protocol.receive_eof()
        assert self.protocol.state is State.CLOSED


async def app(stream: trio_h2.Stream) -> None:
    if not stream.is_websocket:
        await stream.respond(200, [("content-type", "text/plain")], stream.path)
        return
    if stream.path == "/refuse":
        await stream.respond(403)
        return
    ws = await stream.accept_websocket(
        "chat" if "chat" in stream.header("sec-websocket-protocol", "") else None
    )
    if stream.path == "/fail":
        raise RuntimeError("handler failure")
    while True:
        try:
            message = await ws.get_message()
        except trio_websocket.ConnectionClosed:
            return
        if isinstance(message, str) and message == "bye":
            return
        await ws.send_message(message)


@asynccontextmanager
async def connected(**kwargs: object) -> AsyncIterator[Client]:
    async with running_server(app, **kwargs) as address:
        tcp = await trio.open_tcp_stream("127.0.0.1", address.port)
        async with open_client(tcp) as client:
            yield client


@asynccontextmanager
async def peer(client: Client, path: str = "/echo", **kwargs: object) -> AsyncIterator[Peer]:
    async with client.websocket(path, **kwargs) as stream:  # type: ignore[arg-type]
        yield Peer(stream)


async def test_messages_both_ways_with_an_independent_client() -> None:
    with trio.fail_after(30):
        async with connected() as client, peer(client, subprotocols=["chat"]) as ws:
            assert ws.stream.response.header("sec-websocket-protocol") == "chat"
            ws.protocol.send_text("héllo".encode())
            await ws.flush()
            assert await ws.message() == "héllo"
            ws.protocol.send_binary(b"")
            await ws.flush()
            assert await ws.message() == b""
            ws.protocol.send_binary(BIG)
            await ws.flush()
            assert await ws.message() == BIG
            # A fragmented message with a Ping between its fragments.
            ws.protocol.send_text(b"frag", fin=False)
            ws.protocol.send_ping(b"ping!")
            ws.protocol.send_continuation(b"mented", fin=True)
            await ws.flush()
            pong = await ws.next_frame()
            assert (pong.opcode, pong.data) == (Opcode.PONG, b"ping!")
            assert await ws.message() == "fragmented"
            # The client closes; the server echoes its code and ends the stream.
            ws.protocol.send_close(4000, "done")
            await ws.flush()
            assert await ws.closed() == (4000, "done")
            await ws.ended()


async def test_the_handler_returning_closes_with_1000_and_failing_with_1011() -> None:
    with trio.fail_after(30):
        async with connected() as client:
            async with peer(client) as ws:
                ws.protocol.send_text(b"bye")
                await ws.flush()
                assert await ws.closed() == (1000, "")
                await ws.ended()
            async with peer(client, "/fail") as ws:
                assert await ws.closed() == (1011, "")
                await ws.ended()


async def test_a_protocol_error_gets_a_close_frame_with_its_code() -> None:
    with trio.fail_after(30):
        async with connected(config=LIMITED) as client:
            async with peer(client) as ws:
                ws.protocol.send_text(b"caf\xe9")  # Latin-1, not UTF-8
                await ws.flush()
                reason = (
                    "'utf-8' codec can't decode byte 0xe9 in position 3: unexpected end of data"
                )
                assert await ws.closed() == (1007, reason)
                await ws.ended()
            async with peer(client) as ws:
                # A close code only for local use (RFC 6455 §7.4.1).
                ws.protocol.send_frame(Frame(Opcode.CLOSE, (1006).to_bytes(2, "big")))
                await ws.flush()
                assert await ws.closed() == (1002, "remote CLOSE with local-only reason")
                assert await ws.stream.receive_raw() == b""
            async with peer(client) as ws:
                ws.protocol.send_binary(BIG + b"!")
                await ws.flush()
                reason = "Exceeded maximum message size: 1048576 bytes"
                assert await ws.closed() == (1009, reason)
                await ws.ended()
            # The connection serves on.
            assert (await client.get("/after")).body == b"/after"


async def test_websockets_and_requests_on_one_connection() -> None:
    with trio.fail_after(30):
        async with connected() as client:
            with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
                async with client.websocket("/refuse"):
                    pass
            assert rejected.value.status_code == 403
            async with peer(client) as a, peer(client) as b, trio.open_nursery() as nursery:

                async def talk(ws: Peer, name: str) -> None:
                    for i in range(50):
                        ws.protocol.send_text(f"{name} {i}".encode())
                        await ws.flush()
                        assert await ws.message() == f"{name} {i}"

                nursery.start_soon(talk, a, "a")
                nursery.start_soon(talk, b, "b")
                for i in range(20):
                    assert (await client.get(f"/plain/{i}")).body == f"/plain/{i}".encode()


async def test_over_tls(ca: trustme.CA, server_ssl_context: ssl.SSLContext) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(["h2"])
    with trio.fail_after(30):
        async with running_server(app, ssl_context=server_ssl_context) as address:
            tcp = await trio.open_tcp_stream("127.0.0.1", address.port)
            tls = trio.SSLStream(tcp, context, server_hostname="127.0.0.1")
            await tls.do_handshake()
            assert tls.selected_alpn_protocol() == "h2"
            async with open_client(tls) as client, peer(client) as ws:
                ws.protocol.send_text(b"over TLS")
                await ws.flush()
                assert await ws.message() == "over TLS"
                ws.protocol.send_text(b"bye")
                await ws.flush()
                assert await ws.closed() == (1000, "")
                await ws.ended()
