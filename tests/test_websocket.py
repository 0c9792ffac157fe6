"""WebSockets over HTTP/2 (RFC 8441), in memory: the handshake, RFC 6455's rules, lifetime.

The client is the test client (h2 as released) opening an extended CONNECT; the
frames it sends are made by hand here, byte by byte, so that broken ones can be sent
too, and what the server sends back is compared byte for byte.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import h11
import pytest
import trio
import trio.testing
import trio_websocket
from hyperframe.frame import DataFrame

import trio_h2
from trio_h2 import websocket as ws_module
from trio_h2.proto.state import StreamState
from trio_h2.server.listen import Server
from trio_h2.server.stream import Stream
from trio_h2.testing import ClientWebSocket, connect, open_client

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MASK = b"\x37\xfa\x21\x3d"


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bytes | None = MASK
) -> bytes:
    """A frame made by hand (RFC 6455 §5.2): masked, as a client's must be, by default."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if mask is not None else 0
    length = len(payload)
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + length.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def server_frame(opcode: int, payload: bytes = b"") -> bytes:
    """What the server sends: never masked."""
    return frame(opcode, payload, mask=None)


def close(code: int, reason: str = "") -> bytes:
    """A Close frame's payload."""
    return code.to_bytes(2, "big") + reason.encode()


async def read_to_end(ws: ClientWebSocket) -> bytes:
    """Everything the server sends until it ends the stream."""
    data = b""
    while chunk := await ws.receive_raw():
        data += chunk
    return data


async def read_exactly(ws: ClientWebSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await ws.receive_raw()
        assert chunk, f"the stream ended after {data!r}"
        data += chunk
    assert len(data) == size, data
    return data


Handler = Callable[[trio_h2.Stream], Awaitable[None]]


def echo(closed: list[trio_websocket.CloseReason | None] | None = None) -> Handler:
    """A handler echoing every message; it records how the WebSocket closed.

    Other requests get a 204.
    """

    async def handler(stream: trio_h2.Stream) -> None:
        if not stream.is_websocket:
            await stream.respond(204)
            return
        ws = await stream.accept_websocket()
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                if closed is not None:
                    closed.append(exc.reason)
                return
            await ws.send_message(message)

    return handler


def codes(reasons: list[trio_websocket.CloseReason | None]) -> list[int | None]:
    return [reason.code if reason is not None else None for reason in reasons]


# ----------------------------------------------------------------- the handshake


async def test_the_server_advertises_extended_connect() -> None:
    async with connect(echo()) as client:
        await client.settings_received.wait()
        # RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
        assert client.h2.remote_settings.enable_connect_protocol == 1


async def test_a_websocket_request_is_a_request() -> None:
    seen: list[tuple[object, ...]] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append((stream.method, stream.path, stream.protocol, stream.is_websocket))
        if stream.is_websocket:
            ws = await stream.accept_websocket()
            seen.append((ws.path, ws.subprotocol, ws.is_server, ws.remote))
            seen.append(ws.handshake_headers)
            await ws.aclose()
        else:
            await stream.respond(204)

    async with connect(handler, client_address=("10.0.0.7", 4242)) as client:
        async with client.websocket("/chat?room=1", [("origin", "http://a.test")]) as ws:
            assert await ws.close() == 1000
        assert (await client.get("/plain")).status == 204
    assert seen[0] == ("CONNECT", "/chat?room=1", "websocket", True)
    path, subprotocol, is_server, remote = seen[1]
    assert (path, subprotocol, is_server) == ("/chat?room=1", None, True)
    assert isinstance(remote, trio_websocket.Endpoint)
    assert (str(remote.address), remote.port, remote.is_ssl) == ("10.0.0.7", 4242, False)
    assert seen[2] == ((b"sec-websocket-version", b"13"), (b"origin", b"http://a.test"))
    assert seen[3] == ("GET", "/plain", None, False)


async def test_accepted_is_200_with_the_subprotocol_and_extra_headers() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        ws = await stream.accept_websocket("chat", [("x-room", "1"), (b"set-cookie", b"a=b")])
        assert ws.subprotocol == "chat"
        await ws.send_message("welcome")
        await ws.get_message()

    async with connect(handler) as client:
        async with client.websocket("/", subprotocols=["superchat", "chat"]) as ws:
            assert ws.response.status == 200
            headers = [(n, v) for n, v in ws.response.headers if n not in ("date", "server")]
            # RFC 8441 §5: no Upgrade, Connection or Sec-WebSocket-Accept; no extension.
            assert headers == [
                ("sec-websocket-protocol", "chat"),
                ("x-room", "1"),
                ("set-cookie", "a=b"),
            ]
            assert await ws.receive_raw() == server_frame(TEXT, b"welcome")


async def test_a_subprotocol_the_client_did_not_offer_is_refused_before_anything_is_sent() -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.accept_websocket("mqtt")
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))
        await stream.respond(400, [], b"no mqtt\n")

    async with connect(handler) as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with client.websocket("/", subprotocols=["chat"]):
                pass
    assert rejected.value.status_code == 400
    assert rejected.value.body == b"no mqtt\n"
    assert errors == ["subprotocol 'mqtt' was not offered by the client (it offered ['chat'])"]


async def test_respond_instead_rejects_the_websocket() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(403, [("content-type", "text/plain")], b"forbidden\n")

    async with connect(handler) as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with client.websocket("/"):
                pass
        # A stream error at most: the connection goes on.
        assert (await client.get("/after")).body == b"forbidden\n"
    assert rejected.value.status_code == 403
    assert dict(rejected.value.headers)[b"content-type"] == b"text/plain"
    assert rejected.value.body == b"forbidden\n"


async def test_a_handler_that_neither_accepts_nor_responds_gives_405() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        pass

    async with connect(handler) as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with client.websocket("/"):
                pass
    assert rejected.value.status_code == 405


@pytest.mark.parametrize(
    ("version", "status"), [(None, 400), ("8", 426), ("13, 8", 426), ("14", 426)]
)
async def test_a_version_other_than_13_is_answered_and_the_handler_told(
    version: str | None, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    raised: list[trio_h2.RemoteProtocolError] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.accept_websocket()
        except trio_h2.RemoteProtocolError as exc:
            raised.append(exc)
            raise

    headers = [(":protocol", "websocket")]
    if version is not None:
        headers.append(("sec-websocket-version", version))
    async with connect(handler) as client:
        response = await client.request("CONNECT", "/", headers)
    # RFC 6455 §4.2.2: the versions the server speaks.
    assert response.status == status
    assert response.header("sec-websocket-version") == "13"
    assert response.body == b"WebSocket version 13 only\n"
    assert raised[0].error_code == trio_h2.ErrorCode.NO_ERROR
    # The peer's fault: the server lets it pass without an error in the log.
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_misuse_is_a_local_protocol_error() -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        if not stream.is_websocket:
            try:
                await stream.accept_websocket()
            except trio_h2.LocalProtocolError as exc:
                errors.append(str(exc))
            await stream.respond(204)
            return
        ws = await stream.accept_websocket()
        for again in (stream.accept_websocket(), stream.respond(200)):
            try:
                await again
            except trio_h2.LocalProtocolError as exc:
                errors.append(str(exc))
        await ws.aclose()

    async with connect(handler) as client:
        assert (await client.get("/")).status == 204
        async with client.websocket("/ws") as ws:
            assert await ws.receive_raw() == server_frame(CLOSE, close(1000))
            await ws.send_raw(frame(CLOSE, close(1000)))
            assert await read_to_end(ws) == b""
    assert errors == [
        "<Stream 1 GET /> is not a WebSocket request",
        "<Stream 3 CONNECT /ws>: the response has already started",
        "<Stream 3 CONNECT /ws>: the response has already started",
    ]


# ---------------------------------------------------------------------- messages


async def test_text_and_binary_messages_both_ways() -> None:
    async with connect(echo()) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(TEXT, b"hello"))
            assert await ws.receive_raw() == server_frame(TEXT, b"hello")
            await ws.send_raw(frame(BINARY, b"\x00\xff" * 100))
            assert await read_exactly(ws, 204) == server_frame(BINARY, b"\x00\xff" * 100)
            await ws.send_raw(frame(TEXT, "Zoë ☃".encode()))
            assert await ws.receive_raw() == server_frame(TEXT, "Zoë ☃".encode())
            await ws.send_raw(frame(TEXT, b""))
            assert await ws.receive_raw() == b"\x81\x00"
            # The client's own helpers, on wsproto's client side.
            await ws.send_message("a" * 70_000)
            assert await ws.get_message() == "a" * 70_000
            await ws.send_message(b"bytes")
            assert await ws.get_message() == b"bytes"


async def test_a_fragmented_message_with_control_frames_between_its_fragments() -> None:
    # RFC 6455 §5.4: control frames may come between the fragments of a message; a
    # character may be split between two fragments.
    snowman = "☃".encode()
    async with connect(echo()) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(
                frame(TEXT, b"Hel" + snowman[:1], fin=False)
                + frame(PING, b"p1")
                + frame(CONT, snowman[1:] + b"lo ", fin=False)
                + frame(PONG, b"unsolicited")
                + frame(PING, b"")
                + frame(CONT, b"world", fin=True)
            )
            expected = (
                server_frame(PONG, b"p1")
                + server_frame(PONG, b"")
                + server_frame(TEXT, "Hel☃lo world".encode())
            )
            assert await read_exactly(ws, len(expected)) == expected


async def test_pings_from_the_server_wait_for_the_pong() -> None:
    events: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        ws = await stream.accept_websocket()
        await ws.ping(b"abc")
        events.append("pong")
        await ws.send_message("after")
        await ws.get_message()

    async with connect(handler) as client:
        async with client.websocket("/") as ws:
            assert await ws.receive_raw() == server_frame(PING, b"abc")
            await trio.testing.wait_all_tasks_blocked()
            assert events == []
            await ws.send_raw(frame(PONG, b"abc"))
            assert await ws.receive_raw() == server_frame(TEXT, b"after")
    assert events == ["pong"]


# -------------------------------------------------------------------- the close


@pytest.mark.parametrize("reads_first", [False, True])
async def test_the_handler_returning_closes_with_1000_then_the_stream_ends(
    reads_first: bool, autojump_clock: trio.testing.MockClock
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        ws = await stream.accept_websocket()
        if reads_first:
            await ws.get_message()
        await ws.send_message("bye")

    async with connect(handler) as client:
        async with client.websocket("/") as ws:
            if reads_first:
                await ws.send_raw(frame(TEXT, b"last"))
            expected = server_frame(TEXT, b"bye") + server_frame(CLOSE, close(1000))
            assert await read_exactly(ws, len(expected)) == expected
            # The server waits for the client's Close before it ends the stream.
            with trio.move_on_after(1.0) as waited:
                await ws.receive_raw()
            assert waited.cancelled_caught
            await ws.send_raw(frame(CLOSE, close(1000)))
            assert await read_to_end(ws) == b""
            assert ws.response.reset_code is None
        assert (await client.get("/next")).status == 500  # the connection goes on


async def test_the_handler_raising_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.accept_websocket()
        raise ValueError("boom")

    async with connect(handler) as client:
        async with client.websocket("/") as ws:
            assert await ws.receive_raw() == server_frame(CLOSE, close(1011))
            await ws.send_raw(frame(CLOSE, close(1011)))
            assert await read_to_end(ws) == b""
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert (
        record.getMessage() == "handler for <Stream 1 CONNECT /> failed after the response started"
    )
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


async def test_the_websocket_s_own_connection_closed_ending_the_handler_is_no_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        ws = await stream.accept_websocket()
        while True:
            await ws.send_message(await ws.get_message())  # ConnectionClosed ends it

    async with connect(handler) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(TEXT, b"x"))
            assert await ws.receive_raw() == server_frame(TEXT, b"x")
            await ws.send_raw(frame(CLOSE, close(1000, "done")))
            assert await read_to_end(ws) == server_frame(CLOSE, close(1000, "done"))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_after_the_close_every_call_raises_connection_closed() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        ws = await stream.accept_websocket()
        with pytest.raises(trio_websocket.ConnectionClosed) as got:
            await ws.get_message()
        seen.append(got.value.reason)
        for call in (ws.send_message("late"), ws.ping(b"late"), ws.get_message()):
            with pytest.raises(trio_websocket.ConnectionClosed) as late:
                await call
            seen.append(late.value.reason)
        await ws.aclose()  # idempotent
        seen.append(ws.closed)

    async with connect(handler) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(CLOSE, close(4321, "gone")))
            assert await read_to_end(ws) == server_frame(CLOSE, close(4321, "gone"))
    assert len(seen) == 5
    assert all(isinstance(r, trio_websocket.CloseReason) for r in seen)
    assert {(r.code, r.reason) for r in seen} == {(4321, "gone")}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "payload",
    [
        close(1000),
        close(1001, "going"),
        close(1003),
        close(1007),
        close(1011, "x"),
        close(1012),
        close(3000),
        close(4999, "private"),
        close(1000, "é" * 61),  # the longest reason: 125 bytes in all
    ],
)
async def test_a_close_from_the_client_is_echoed(payload: bytes) -> None:
    closed: list[trio_websocket.CloseReason | None] = []
    async with connect(echo(closed)) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(CLOSE, payload))
            assert await read_to_end(ws) == server_frame(CLOSE, payload)
    assert codes(closed) == [int.from_bytes(payload[:2], "big")]


async def test_a_close_with_no_code_is_answered_with_none() -> None:
    closed: list[trio_websocket.CloseReason | None] = []
    async with connect(echo(closed)) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(CLOSE))
            # RFC 6455 §7.1.5: no code is 1005 to the application; none goes back.
            assert await read_to_end(ws) == b"\x88\x00"
    assert codes(closed) == [1005]


LOCAL_ONLY = "remote CLOSE with local-only reason"
INVALID_CODE = "CLOSE with invalid code"
RESERVED_CODE = "CLOSE with unknown reserved code"


@pytest.mark.parametrize(
    ("payload", "code", "reason"),
    [
        # RFC 6455 §7.4.1, §7.4.2: codes an endpoint may not send.
        pytest.param(close(1005), 1002, LOCAL_ONLY, id="1005"),
        pytest.param(close(1006), 1002, LOCAL_ONLY, id="1006"),
        pytest.param(close(1015), 1002, LOCAL_ONLY, id="1015"),
        pytest.param(close(999), 1002, INVALID_CODE, id="999"),
        pytest.param(close(0), 1002, INVALID_CODE, id="0"),
        pytest.param(close(5000), 1002, INVALID_CODE, id="5000"),
        pytest.param(close(1004), 1002, RESERVED_CODE, id="1004"),
        pytest.param(close(1016), 1002, RESERVED_CODE, id="1016"),
        pytest.param(close(2999), 1002, RESERVED_CODE, id="2999"),
        pytest.param(b"\x03", 1002, "CLOSE with 1 byte payload", id="one byte"),
        # §5.5.1: the reason is UTF-8.
        pytest.param(
            close(1000) + b"\xff",
            1007,
            "Error decoding CLOSE reason: 'utf-8' codec can't decode byte 0xff in position 0:"
            " invalid start byte",
            id="reason not UTF-8",
        ),
    ],
)
async def test_an_invalid_close_is_refused(payload: bytes, code: int, reason: str) -> None:
    closed: list[trio_websocket.CloseReason | None] = []
    async with connect(echo(closed)) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(CLOSE, payload))
            assert await read_to_end(ws) == server_frame(CLOSE, close(code, reason))
            assert ws.response.reset_code is None
        assert (await client.get("/")).status == 204
    assert codes(closed) == [code]


@pytest.mark.parametrize(
    ("frames", "code", "reason"),
    [
        pytest.param(
            frame(TEXT, b"hi", mask=None),
            1002,
            "server received unexpected unmasked frame",
            id="unmasked",
        ),
        pytest.param(frame(TEXT, b"hi", rsv=4), 1002, "Reserved bit set unexpectedly", id="rsv1"),
        pytest.param(frame(TEXT, b"hi", rsv=2), 1002, "Reserved bit set unexpectedly", id="rsv2"),
        pytest.param(frame(BINARY, b"", rsv=1), 1002, "Reserved bit set unexpectedly", id="rsv3"),
        pytest.param(frame(0x3, b"hi"), 1002, "Invalid opcode 0x3", id="opcode 3"),
        pytest.param(frame(0x7, b""), 1002, "Invalid opcode 0x7", id="opcode 7"),
        pytest.param(frame(0xB, b"hi"), 1002, "Invalid opcode 0xb", id="opcode B"),
        pytest.param(frame(0xF, b""), 1002, "Invalid opcode 0xf", id="opcode F"),
        pytest.param(
            frame(PING, b"p", fin=False),
            1002,
            "Invalid attempt to fragment control frame",
            id="fragmented ping",
        ),
        pytest.param(
            frame(PING, b"p" * 126), 1002, "Control frame with payload len > 125", id="long ping"
        ),
        pytest.param(
            frame(CONT, b"lost"), 1002, "unexpected CONTINUATION", id="lone continuation"
        ),
        pytest.param(
            frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),
            1002,
            "expected CONTINUATION, got <Opcode.TEXT: 1>",
            id="message inside a message",
        ),
        pytest.param(
            b"\x81\xfe\x00\x05" + MASK + b"hello",
            1002,
            "Payload length used 2 bytes when 1 would have sufficed",
            id="long length for a short frame",
        ),
        pytest.param(
            frame(TEXT, b"\xff\xfe"),
            1007,
            "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
            id="invalid UTF-8",
        ),
        pytest.param(
            frame(TEXT, b"\xed\xa0\x80"),
            1007,
            "'utf-8' codec can't decode byte 0xed in position 0: invalid continuation byte",
            id="a surrogate in UTF-8",
        ),
        pytest.param(
            frame(TEXT, "☃".encode()[:2], fin=False) + frame(CONT, b"x"),
            1007,
            "'utf-8' codec can't decode bytes in position 0-1: invalid continuation byte",
            id="a character cut between fragments",
        ),
        pytest.param(
            frame(TEXT, "☃".encode()[:2]),
            1007,
            "'utf-8' codec can't decode bytes in position 0-1: unexpected end of data",
            id="a character cut at the end",
        ),
    ],
)
async def test_a_broken_frame_fails_the_websocket_with_a_close_frame(
    frames: bytes, code: int, reason: str
) -> None:
    # RFC 6455 §7.1.7: _Fail the WebSocket Connection_: a Close with the code, then
    # the transport closes (here: END_STREAM).
    closed: list[trio_websocket.CloseReason | None] = []
    async with connect(echo(closed)) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(TEXT, b"ok"))
            assert await ws.receive_raw() == server_frame(TEXT, b"ok")
            await ws.send_raw(frames)
            assert await read_to_end(ws) == server_frame(CLOSE, close(code, reason))
            assert ws.response.reset_code is None
        assert (await client.get("/")).status == 204  # the connection is unharmed
    assert codes(closed) == [code]


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(frame(BINARY, b"x" * 11), id="one frame"),
        pytest.param(frame(TEXT, b"x" * 6, fin=False) + frame(CONT, b"x" * 5), id="fragments"),
        # More in the same read: trio-websocket alone would try a second Close (which
        # wsproto refuses) or a Pong after its Close (refused too).
        pytest.param(frame(BINARY, b"x" * 11) + frame(BINARY, b"y" * 11), id="twice"),
        pytest.param(frame(BINARY, b"x" * 11) + frame(PING, b"after"), id="then a ping"),
    ],
)
async def test_a_message_too_big_fails_the_websocket_with_1009(frames: bytes) -> None:
    closed: list[trio_websocket.CloseReason | None] = []
    config = trio_h2.Config(websocket_max_message_size=10)
    async with connect(echo(closed), config=config) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(BINARY, b"x" * 10))
            assert await ws.receive_raw() == server_frame(BINARY, b"x" * 10)
            await ws.send_raw(frames)
            reason = "Exceeded maximum message size: 10 bytes"
            assert await read_to_end(ws) == server_frame(CLOSE, close(1009, reason))
    assert codes(closed) == [1009]


async def test_data_after_the_close_costs_the_connection_nothing() -> None:
    # Small windows: junk the server did not give back the credit for would stall
    # (or break) the connection's next upload.
    config = trio_h2.Config(initial_window_size=65_535, initial_connection_window_size=65_535)
    junk = frame(BINARY, b"j" * 10_000)

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.method == "POST":
            await stream.respond(200, [], str(len(await stream.read())))
        else:
            await echo()(stream)

    async with connect(handler, config=config) as client:
        async with client.websocket("/") as ws:
            # Junk in the same DATA frame as the broken frame, then more after it.
            await ws.send_raw(frame(TEXT, b"hi", mask=None) + junk)
            data = await read_to_end(ws)
            stream_id = ws.stream_id
        assert data == server_frame(
            CLOSE, close(1002, "server received unexpected unmasked frame")
        )
        for _ in range(6):
            await client.send_raw(DataFrame(stream_id, junk).serialize())
        response = await client.post("/upload", b"u" * 65_535)
        assert (response.status, response.body) == (200, b"65535")
        assert not client.connection_closed.is_set()


# ----------------------------------------------------- one connection, many streams


async def test_websockets_and_ordinary_requests_share_a_connection() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        if stream.is_websocket:
            await echo()(stream)
        else:
            await stream.respond(200, [], stream.path)

    async with connect(handler) as client:
        async with client.websocket("/a") as a, client.websocket("/b") as b:
            assert (a.stream_id, b.stream_id) == (1, 3)
            await a.send_raw(frame(TEXT, b"to a"))
            await b.send_raw(frame(TEXT, b"to b"))
            assert (await client.get("/plain")).body == b"/plain"
            assert await b.receive_raw() == server_frame(TEXT, b"to b")
            assert await a.receive_raw() == server_frame(TEXT, b"to a")
            assert await b.close() == 1000
            assert (await client.get("/again")).body == b"/again"
            await a.send_message("still")
            assert await a.get_message() == "still"


async def test_a_client_that_does_not_read_stalls_only_its_own_stream() -> None:
    sent: list[int] = []

    async def handler(stream: trio_h2.Stream) -> None:
        if not stream.is_websocket:
            await stream.respond(200, [], b"x" * 1000)
            return
        ws = await stream.accept_websocket()
        for i in range(20):
            await ws.send_message(bytes([i]) * 10_000)
            sent.append(i)
        await ws.get_message()

    async with connect(handler) as client:
        # Connection credit to spare: what holds the WebSocket back is its stream's window.
        client.h2.increment_flow_control_window(1 << 20)
        await client.ping()
        async with client.websocket("/") as ws:
            await trio.testing.wait_all_tasks_blocked()
            # 65,535 bytes of stream window: six 10,004-byte frames, the seventh waits.
            assert sent == [0, 1, 2, 3, 4, 5]
            response = await client.get("/other")
            assert (response.status, response.body) == (200, b"x" * 1000)
            assert sent == [0, 1, 2, 3, 4, 5]
            expected = b"".join(server_frame(BINARY, bytes([i]) * 10_000) for i in range(20))
            assert await read_exactly(ws, len(expected)) == expected
            assert sent == list(range(20))


async def test_a_handler_that_does_not_read_stalls_only_its_own_stream() -> None:
    config = trio_h2.Config(initial_window_size=65_535)
    release = trio.Event()
    received: list[bytes | str] = []
    streams: list[trio_h2.Stream] = []

    async def handler(stream: trio_h2.Stream) -> None:
        if not stream.is_websocket:
            await stream.respond(200, [], b"served")
            return
        streams.append(stream)
        ws = await stream.accept_websocket()
        await release.wait()
        for _ in range(30):
            received.append(await ws.get_message())
        await ws.send_message("done")

    messages = b"".join(frame(BINARY, bytes([i]) * 10_000) for i in range(30))
    async with connect(handler, config=config) as client:
        async with client.websocket("/") as ws, trio.open_nursery() as nursery:
            uploaded = trio.Event()

            async def upload() -> None:
                await ws.send_raw(messages)
                uploaded.set()

            nursery.start_soon(upload)
            await trio.testing.wait_all_tasks_blocked()
            assert not uploaded.is_set()
            assert client.h2.local_flow_control_window(ws.stream_id) == 0
            # Unread, and no credit for it: at most the stream's window.
            assert 0 < streams[0].inbound.buffered <= 65_535
            assert (await client.get("/other")).body == b"served"
            release.set()
            assert await ws.receive_raw() == server_frame(TEXT, b"done")
            assert uploaded.is_set()
    assert received == [bytes([i]) * 10_000 for i in range(30)]


# ------------------------------------------------------------ the stream and the server


async def test_a_reset_from_the_client_cancels_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cancelled: list[bool] = []

    async def handler(stream: trio_h2.Stream) -> None:
        if not stream.is_websocket:
            await stream.respond(204)
            return
        ws = await stream.accept_websocket()
        try:
            await ws.get_message()
        except trio.Cancelled:
            cancelled.append(True)
            raise

    async with connect(handler) as client:
        async with client.websocket("/") as ws:
            await trio.testing.wait_all_tasks_blocked()
            await client.reset(ws.stream_id, trio_h2.ErrorCode.CANCEL)
            await trio.testing.wait_all_tasks_blocked()
        assert (await client.get("/")).status == 204
    assert cancelled == [True]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_the_client_ending_its_stream_without_a_close_is_1006() -> None:
    closed: list[trio_websocket.CloseReason | None] = []
    async with connect(echo(closed)) as client:
        async with client.websocket("/") as ws:
            await ws.send_raw(frame(TEXT, b"last"), end_stream=True)
            # The server answers what came, then ends its side too.
            assert await read_to_end(ws) == server_frame(TEXT, b"last")
    assert codes(closed) == [1006]


async def test_a_close_unanswered_ends_the_stream_after_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        ws = await stream.accept_websocket()
        await ws.aclose(4000, "bye")

    config = trio_h2.Config(websocket_close_timeout=3.0)
    async with connect(handler, config=config) as client:
        async with client.websocket("/") as ws:
            start = trio.current_time()
            assert await read_to_end(ws) == server_frame(CLOSE, close(4000, "bye"))
            assert trio.current_time() - start == pytest.approx(3.0)


async def test_a_graceful_shutdown_closes_websockets_with_1001() -> None:
    closed: list[trio_websocket.CloseReason | None] = []
    server = Server(echo(closed), trio_h2.Config(), None)
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_end, ("127.0.0.1", 1))
        async with open_client(client_end) as client:
            async with client.websocket("/") as ws:
                await ws.send_message("hi")
                assert await ws.get_message() == "hi"
                nursery.start_soon(server.shutdown)
                assert await ws.receive_raw() == server_frame(CLOSE, close(1001))
                await client.goaway_received.wait()
                await ws.send_raw(frame(CLOSE, close(1001)))
                assert await read_to_end(ws) == b""
            await client.connection_closed.wait()
    assert codes(closed) == [1001]
    assert not server.connections


# ------------------------------------------------------------------------ HTTP/1.1


class _NoIO:
    """The StreamIO of a request whose WebSocket runs on the socket: never used."""

    def acknowledge(self, stream_id: int, size: int) -> None:
        raise AssertionError("the request body is the socket's")

    def reading(self, stream_id: int) -> None:
        raise AssertionError("the request body is the socket's")


async def serve_upgrade(
    transport: trio.abc.Stream, handler: Callable[[Stream, ws_module.Switch], Awaitable[None]]
) -> None:
    """What the HTTP/1.1 driver does with an Upgrade: h11 reads the head, the request
    carries ``:protocol websocket``, and the switch answers 101 with h11."""
    h1 = h11.Connection(h11.SERVER)
    event = h1.next_event()
    while event is h11.NEED_DATA:
        h1.receive_data(await transport.receive_some())
        event = h1.next_event()
    assert isinstance(event, h11.Request)
    headers = list(event.headers)
    pseudo = {
        b":method": event.method,
        b":scheme": b"http",
        b":authority": dict(headers)[b"host"],
        b":path": event.target,
        b":protocol": b"websocket",
    }
    stream = Stream(
        _NoIO(),  # type: ignore[arg-type]
        1,
        pseudo,
        headers,
        state=StreamState("<h1>"),
        client_address=("127.0.0.1", 5555),
        max_body_size=0,
    )

    async def switch(fields: list[tuple[bytes, bytes]]) -> tuple[trio.abc.Stream, bytes]:
        upgrade = [*fields, (b"upgrade", b"websocket"), (b"connection", b"Upgrade")]
        response = h11.InformationalResponse(status_code=101, headers=upgrade)
        await transport.send_all(h1.send(response) or b"")
        return transport, h1.trailing_data[0]

    async def run(stream: trio_h2.Stream) -> None:
        await handler(stream, switch)

    await stream.run_handler(run)


async def test_over_http1_with_trio_websocket_s_own_client() -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    seen: list[object] = []

    async def handler(stream: Stream, switch: ws_module.Switch) -> None:
        ws = await ws_module.accept_http1(stream, switch, "chat", [("x-a", "1")])
        seen.append((ws.path, ws.subprotocol, stream.header("host")))
        await ws.send_message(await ws.get_message())
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            seen.append(exc.reason.code if exc.reason else None)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_upgrade, server_end, handler)
        client = await trio_websocket.wrap_client_stream(
            nursery, client_end, "example.test", "/chat", subprotocols=["x", "chat"]
        )
        assert client.subprotocol == "chat"
        assert dict(client.handshake_headers)[b"x-a"] == b"1"
        await client.send_message("hello")
        assert await client.get_message() == "hello"
        await client.aclose(4001, "client done")
        assert client.closed is not None
        assert client.closed.code == 4001
    assert seen == [("/chat", "chat", "example.test"), 4001]


async def test_over_http1_what_came_after_the_request_is_not_lost() -> None:
    client_end, server_end = trio.testing.memory_stream_pair()

    async def handler(stream: Stream, switch: ws_module.Switch) -> None:
        ws = await ws_module.accept_http1(stream, switch)
        await ws.send_message(await ws.get_message())

    request = (
        b"GET /early HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_upgrade, server_end, handler)
        # The request and a frame in one write: the frame is read with the head.
        await client_end.send_all(request + frame(TEXT, b"early"))
        data = b""
        while not data.endswith(server_frame(CLOSE, close(1000))):
            data += await client_end.receive_some()
        await client_end.send_all(frame(CLOSE, close(1000)))
        assert await client_end.receive_some() == b""  # the server closed the socket
    head, _, frames = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 101 ",
        # RFC 6455 §1.3's example key and its accept token.
        b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        b"upgrade: websocket",
        b"connection: Upgrade",
    ]
    assert frames == server_frame(TEXT, b"early") + server_frame(CLOSE, close(1000))


# ------------------------------------------ what trio-websocket alone does (the faults)

_UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def _unmodified(
    frames: bytes, *, max_message_size: int = 1 << 20, close_first: bool = False
) -> tuple[bytes, bool, BaseException | None]:
    """What trio-websocket's own server connection sends for ``frames``: the bytes
    after its 101, whether it closed the transport, and what its reader raised."""
    client_end, server_end = trio.testing.memory_stream_pair()
    crashed: BaseException | None = None
    data = b""
    ended = False
    try:
        async with trio.open_nursery() as nursery:

            async def serve() -> None:
                request = await trio_websocket.wrap_server_stream(
                    nursery, server_end, max_message_size=max_message_size
                )
                ws = await request.accept()
                if close_first:
                    await ws.aclose()
                else:
                    with pytest.raises(trio_websocket.ConnectionClosed):
                        await ws.get_message()

            nursery.start_soon(serve)
            await client_end.send_all(_UPGRADE)
            while b"\r\n\r\n" not in data:
                data += await client_end.receive_some()
            await trio.testing.wait_all_tasks_blocked()
            await client_end.send_all(frames)
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(1):
                while chunk := await client_end.receive_some():
                    data += chunk
                ended = True
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        crashed = group.exceptions[0]
    return data.partition(b"\r\n\r\n")[2], ended, crashed


async def test_unmodified_trio_websocket_fails_a_connection_without_a_close_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Why WebSocket overrides _handle_close_connection_event.
    sent, ended, crashed = await _unmodified(frame(TEXT, b"hi", mask=None))
    assert (sent, ended, crashed) == (b"", True, None)


async def test_unmodified_trio_websocket_leaves_the_transport_open_after_1009(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Why WebSocket overrides _handle_message_event (first case).
    reason = b"Exceeded maximum message size: 10 bytes"
    sent, ended, crashed = await _unmodified(frame(BINARY, b"x" * 11), max_message_size=10)
    assert (sent, ended, crashed) == (server_frame(CLOSE, b"\x03\xf1" + reason), False, None)


async def test_unmodified_trio_websocket_dies_on_a_second_message_too_big(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Why WebSocket overrides _handle_message_event (second case).
    big = frame(BINARY, b"x" * 11)
    _, _, crashed = await _unmodified(big + big, max_message_size=10)
    assert type(crashed).__name__ == "LocalProtocolError"
    assert "cannot be sent in state ConnectionState.LOCAL_CLOSING" in str(crashed)


async def test_unmodified_trio_websocket_dies_on_a_ping_after_its_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Why WebSocket overrides _handle_ping_event.
    _, _, crashed = await _unmodified(frame(PING, b"p"), close_first=True)
    assert type(crashed).__name__ == "LocalProtocolError"
    assert str(crashed).startswith("Event Pong(payload=b'p') cannot be sent")
