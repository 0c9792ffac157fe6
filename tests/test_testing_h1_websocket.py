"""The HTTP/1.1 test client's WebSockets: the Upgrade handshake, messages, closes, refusals.

The same calls as the HTTP/2 client's (an extended CONNECT there); the last tests run
one test body over both.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
import trio_websocket

import trio_h2
from tests.test_websocket import CLOSE, PING, PONG, TEXT, close, frame, server_frame
from trio_h2.testing import H1ClientWebSocket, connect, open_client


class Chat:
    """A handler: echoes messages, says why its WebSocket closed, and answers some paths."""

    def __init__(self) -> None:
        self.closed: list[int | None] = []
        self.seen: list[tuple[str, str, str | None]] = []

    async def __call__(self, stream: trio_h2.Stream) -> None:
        if not stream.is_websocket:
            await stream.respond(200, [], b"plain " + stream.http_version.encode())
            return
        if stream.path == "/forbidden":
            await stream.respond(403, [("content-type", "text/plain")], b"not you")
            return
        offered = [p.strip() for p in (stream.header("sec-websocket-protocol") or "").split(",")]
        chosen = "chat" if "chat" in offered else None
        ws = await stream.accept_websocket(chosen, [("x-extra", "1")])
        self.seen.append((stream.path, stream.http_version, chosen))
        if stream.path == "/ping":
            await ws.ping(b"are you there")  # waits for the pong
            await ws.send_message("ponged")
        if stream.path == "/goodbye":
            await ws.aclose(4001, "server done")
        try:
            while True:
                message = await ws.get_message()
                await ws.send_message(message)
        except trio_websocket.ConnectionClosed as exc:
            self.closed.append(exc.reason.code if exc.reason else None)


async def test_messages_echo_over_an_upgrade() -> None:
    chat = Chat()
    async with connect(chat, http_version="1.1") as client:
        async with client.websocket("/chat", subprotocols=["x", "chat"]) as ws:
            assert isinstance(ws, H1ClientWebSocket)
            assert ws.response.status == 101
            assert ws.response.header("upgrade") == "websocket"
            assert ws.response.header("sec-websocket-protocol") == "chat"
            assert ws.response.header("x-extra") == "1"
            await ws.send_message("text")
            assert await ws.get_message() == "text"
            await ws.send_message(b"\x00binary")
            assert await ws.get_message() == b"\x00binary"
            assert await ws.close(4000, "client done") == 4000
            assert (ws.close_code, ws.close_reason) == (4000, "client done")
            await trio.testing.wait_all_tasks_blocked()  # the handler has seen it
        # The connection was the WebSocket's: it carries no more requests.
        with pytest.raises(trio_h2.ConnectionClosed, match="became a WebSocket"):
            await client.get("/")
    assert chat.seen == [("/chat", "1.1", "chat")]
    assert chat.closed == [4000]


async def test_the_server_s_close_and_pings_are_answered() -> None:
    chat = Chat()
    async with connect(chat, http_version="1.1") as client:
        async with client.websocket("/goodbye") as ws:
            with pytest.raises(trio_websocket.ConnectionClosed) as caught:
                await ws.get_message()
            assert caught.value.reason is not None
            assert caught.value.reason.code == 4001
            assert (ws.close_code, ws.close_reason) == (4001, "server done")
            assert await ws.close() == 4001  # already over: it says how it ended
            await trio.testing.wait_all_tasks_blocked()
    async with connect(chat, http_version="1.1") as client:
        async with client.websocket("/ping") as ws:
            assert await ws.get_message() == "ponged"
            assert await ws.close() == 1000
            await trio.testing.wait_all_tasks_blocked()
    assert chat.closed == [4001, 1000]


async def test_a_refusal_raises_connection_rejected_and_the_connection_goes_on() -> None:
    chat = Chat()
    async with connect(chat, http_version="1.1") as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as caught:
            async with client.websocket("/forbidden"):
                pass  # pragma: no cover
        assert caught.value.status_code == 403
        assert caught.value.body == b"not you"
        assert (b"content-type", b"text/plain") in (caught.value.headers or ())
        assert (await client.get("/")).body == b"plain 1.1"


async def test_raw_bytes_both_ways() -> None:
    async with connect(Chat(), http_version="1.1") as client:
        async with client.websocket("/raw") as ws:
            await ws.send_raw(frame(TEXT, b"raw"))
            assert await ws.receive_raw() == server_frame(TEXT, b"raw")
            await ws.send_raw(frame(PING, b"p"))
            assert await ws.receive_raw() == server_frame(PONG, b"p")
            await ws.send_raw(frame(CLOSE, close(1000)))
            assert await ws.receive_raw() == server_frame(CLOSE, close(1000))
            assert await ws.receive_raw() == b""  # the server closed the connection


async def test_ending_the_client_s_side_without_a_close_is_1006() -> None:
    chat = Chat()
    async with connect(chat, http_version="1.1") as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(b"", end_stream=True)
            assert await ws.receive_raw() == b""
            await trio.testing.wait_all_tasks_blocked()
    assert chat.closed == [1006]


async def test_leaving_the_block_closes_the_connection() -> None:
    chat = Chat()
    async with connect(chat, http_version="1.1") as client:
        async with client.websocket("/") as ws:
            await ws.send_message("hi")
            assert await ws.get_message() == "hi"
        await trio.testing.wait_all_tasks_blocked()
        assert chat.closed == [1006]  # no Close came, only the end of the connection
        with pytest.raises(trio_h2.ConnectionClosed):
            await ws.send_message("after")


async def test_a_wrong_accept_token_fails_the_handshake() -> None:
    client_side, server_side = trio.testing.memory_stream_pair()

    async def scripted_server() -> None:
        request = b""
        while not request.endswith(b"\r\n\r\n"):
            request += await server_side.receive_some()
        await server_side.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
            b"connection: Upgrade\r\nsec-websocket-accept: bm90IGl0\r\n\r\n"
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(scripted_server)
        async with open_client(client_side, http_version="1.1") as client:
            with pytest.raises(trio_websocket.HandshakeError, match="sec-websocket-accept"):
                async with client.websocket("/"):
                    pass  # pragma: no cover
            with pytest.raises(trio_h2.ConnectionClosed):
                await client.get("/")


@pytest.mark.parametrize("http_version", ["2", "1.1"])
async def test_the_same_websocket_test_runs_over_both_protocols(http_version: str) -> None:
    chat = Chat()
    async with connect(chat, http_version=http_version) as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as caught:
            async with client.websocket("/forbidden"):
                pass  # pragma: no cover
        assert (caught.value.status_code, caught.value.body) == (403, b"not you")
        async with client.websocket("/chat", subprotocols=["chat"]) as ws:
            assert ws.response.header("sec-websocket-protocol") == "chat"
            await ws.send_message("over " + http_version)
            assert await ws.get_message() == "over " + http_version
            assert await ws.close(4000) == 4000
            await trio.testing.wait_all_tasks_blocked()
    # (Over HTTP/1.1 a WebSocket takes its connection: the next one needs another.)
    async with connect(chat, http_version=http_version) as client:
        async with client.websocket("/goodbye") as ws:
            with pytest.raises(trio_websocket.ConnectionClosed):
                await ws.get_message()
            assert ws.close_code == 4001
    assert chat.closed[0] == 4000
    assert chat.seen[0] == ("/chat", http_version, "chat")
