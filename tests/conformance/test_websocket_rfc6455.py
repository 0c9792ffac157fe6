"""RFC 6455 server rules, byte for byte: an echo WebSocket over HTTP/1.1, fed frames built
by hand, and the frames it answers read by hand (in memory and over a socket pair).

The cases follow the areas an independent conformance suite probes: framing and
lengths, pings and pongs, reserved bits and opcodes, fragmentation, UTF-8, and the
closing handshake.  Every protocol error must be answered with a Close frame carrying
the right code (§7.1.7, §7.4.1) before the server closes the connection.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
import trio_websocket

import trio_h2
from trio_h2.server.listen import Server

from . import rawpeer

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def echo(stream: trio_h2.Stream) -> None:
    ws = await stream.accept_websocket()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except trio_websocket.ConnectionClosed:
        pass


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A masked client frame (§5.2), its length in the shortest form."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 65_536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class Peer:
    """The client's end of one WebSocket, after a raw handshake."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        #: Whether a Close went out: the server's Close then ends the handshake.
        self.sent_close = False

    async def _fill(self, size: int) -> bool:
        while len(self.buffer) < size:
            data = await self.stream.receive_some()
            if not data:
                return False
            self.buffer += data
        return True

    async def handshake(self) -> bytes:
        key = base64.b64encode(os.urandom(16))
        await self.stream.send_all(
            b"GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\n\r\n"
        )
        while b"\r\n\r\n" not in self.buffer:
            assert await self._fill(len(self.buffer) + 1), "closed during the handshake"
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.buffer = bytearray(rest)
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 101 Switching Protocols"
        fields = {
            n.strip().lower(): v.strip() for n, _, v in (x.partition(b":") for x in lines[1:])
        }
        assert fields[b"sec-websocket-accept"] == accept
        assert fields[b"upgrade"].lower() == b"websocket"
        return head

    async def send(self, *frames: bytes) -> None:
        self.sent_close |= any(f[0] & 0x0F == CLOSE for f in frames)
        await self.stream.send_all(b"".join(frames))

    async def receive(self) -> tuple[bool, int, int, bytes] | None:
        """The server's next frame: (fin, rsv, opcode, payload); None at end of stream."""
        if not await self._fill(2):
            assert not self.buffer, "the stream ended inside a frame"
            return None
        first, second = self.buffer[0], self.buffer[1]
        assert not second & 0x80, "a server must not mask its frames (§5.1)"
        length, offset = second & 0x7F, 2
        if length == 126:
            assert await self._fill(4)
            (length,) = struct.unpack("!H", self.buffer[2:4])
            assert length >= 126, "§5.2: the length in the fewest bytes"
            offset = 4
        elif length == 127:
            assert await self._fill(10)
            (length,) = struct.unpack("!Q", self.buffer[2:10])
            assert length >= 65_536, "§5.2: the length in the fewest bytes"
            offset = 10
        assert await self._fill(offset + length)
        payload = bytes(self.buffer[offset : offset + length])
        del self.buffer[: offset + length]
        return bool(first & 0x80), (first >> 4) & 0x7, first & 0x0F, payload

    async def message(self) -> tuple[int, bytes]:
        """The next whole data message, control frames skipped; (opcode, payload)."""
        parts: list[bytes] = []
        opcode = None
        while True:
            got = await self.receive()
            assert got is not None, "the stream ended before a message"
            fin, rsv, op, payload = got
            assert rsv == 0
            if op in (PING, PONG):
                continue
            assert op != CLOSE, f"closed: {payload!r}"
            if opcode is None:
                opcode = op
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    async def expect_close(self, code: int | None) -> None:
        """The server's Close, with ``code``, then the end of the stream (§7.1.1)."""
        while True:
            got = await self.receive()
            assert got is not None, "no Close frame before the end of the stream"
            fin, rsv, op, payload = got
            if op == CLOSE:
                break
            assert op in (PING, PONG, TEXT, BINARY, CONTINUATION)
        assert fin
        assert rsv == 0
        if code is None:
            assert payload == b""
        else:
            assert len(payload) >= 2
            assert struct.unpack("!H", payload[:2])[0] == code, payload
            payload[2:].decode("utf-8")
        # Then the server ends the connection.  After a protocol error it need not
        # wait for our Close (§7.1.7); otherwise ours answers theirs (§5.5.1).
        try:
            if not self.sent_close:
                await self.send(frame(CLOSE, payload[:2]))
            with trio.fail_after(10):
                while await self.receive() is not None:
                    pass
        except trio.BrokenResourceError:
            assert code not in (None, 1000), "a clean close must be a whole handshake"


@asynccontextmanager
async def websocket(config: trio_h2.Config | None = None) -> AsyncIterator[Peer]:
    if rawpeer.TRANSPORT == "socket":
        ours, theirs = trio.socket.socketpair()
        client: trio.abc.Stream = trio.SocketStream(ours)
        server_side: trio.abc.Stream = trio.SocketStream(theirs)
    else:
        client, server_side = trio.testing.memory_stream_pair()
    server = Server(echo, config or trio_h2.Config(), None)
    async with client, trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        peer = Peer(client)
        with trio.fail_after(20):
            await peer.handshake()
            yield peer
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------ §5.2 framing


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 128, 65_535, 65_536, 1_000_000])
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
async def test_a_message_of_any_length_is_echoed_in_the_shortest_form(
    opcode: int, size: int
) -> None:
    payload = (b"*" * size) if opcode == TEXT else os.urandom(size)
    async with websocket() as peer:
        await peer.send(frame(opcode, payload))
        assert await peer.message() == (opcode, payload)
        await peer.send(frame(CLOSE, close_payload(1000)))
        await peer.expect_close(1000)


async def test_many_messages_sent_at_once_are_echoed_in_order() -> None:
    messages = [b"message %d" % i for i in range(200)]
    async with websocket() as peer:
        await peer.send(*(frame(TEXT, m) for m in messages))
        assert [await peer.message() for _ in messages] == [(TEXT, m) for m in messages]


async def test_a_message_fed_byte_by_byte_is_echoed() -> None:
    async with websocket() as peer:
        for byte in frame(TEXT, b"Hello, byte by byte"):
            await peer.send(bytes([byte]))
        assert await peer.message() == (TEXT, b"Hello, byte by byte")


async def test_an_unmasked_client_frame_fails_the_connection_with_1002() -> None:
    async with websocket() as peer:
        await peer.send(b"\x81\x05hello")  # §5.1: the server MUST close
        await peer.expect_close(1002)


async def test_a_message_over_the_limit_fails_with_1009_and_one_at_it_is_echoed() -> None:
    config = trio_h2.Config(websocket_max_message_size=1000)
    async with websocket(config) as peer:
        await peer.send(frame(BINARY, b"x" * 1000))
        assert await peer.message() == (BINARY, b"x" * 1000)
        await peer.send(frame(BINARY, b"x" * 600, fin=False), frame(CONTINUATION, b"x" * 401))
        await peer.expect_close(1009)


async def test_a_message_of_16_mib_is_within_the_default_limit() -> None:
    payload = os.urandom(16 * 1_048_576)
    async with websocket() as peer:
        head = struct.pack("!BBQ", 0x82, 0x80 | 127, len(payload))
        # Unmasked by a zero key: the bytes stay as they are, cheaply.
        await peer.send(head + b"\x00\x00\x00\x00" + payload)
        assert await peer.message() == (BINARY, payload)


# ------------------------------------------------------ §5.5.2, §5.5.3 pings


@pytest.mark.parametrize("payload", [b"", b"ping!", bytes(range(125))])
async def test_a_ping_is_answered_with_a_pong_carrying_its_payload(payload: bytes) -> None:
    async with websocket() as peer:
        await peer.send(frame(PING, payload))
        assert await peer.receive() == (True, 0, PONG, payload)


async def test_ten_pings_get_ten_pongs_in_order() -> None:
    async with websocket() as peer:
        await peer.send(*(frame(PING, b"%d" % i) for i in range(10)))
        for i in range(10):
            assert await peer.receive() == (True, 0, PONG, b"%d" % i)


async def test_an_unsolicited_pong_is_ignored() -> None:
    async with websocket() as peer:
        await peer.send(frame(PONG, b"unasked"), frame(TEXT, b"after"))
        assert await peer.receive() == (True, 0, TEXT, b"after")


@pytest.mark.parametrize(
    "bad",
    [
        frame(PING, b"x" * 126),  # §5.5: control payloads are at most 125 bytes
        frame(CLOSE, b"\x03\xe8" + b"x" * 124),
        frame(PING, b"fragmented", fin=False),  # §5.5: control frames are not fragmented
        frame(PONG, b"fragmented", fin=False),
    ],
    ids=["long ping", "long close", "fragmented ping", "fragmented pong"],
)
async def test_a_bad_control_frame_fails_the_connection_with_1002(bad: bytes) -> None:
    async with websocket() as peer:
        await peer.send(bad)
        await peer.expect_close(1002)


# ----------------------------------------------- §5.2 reserved bits and opcodes


@pytest.mark.parametrize("rsv", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING])
async def test_a_reserved_bit_fails_the_connection_with_1002(opcode: int, rsv: int) -> None:
    async with websocket() as peer:
        await peer.send(frame(TEXT, b"first"))
        assert await peer.receive() == (True, 0, TEXT, b"first")
        await peer.send(frame(opcode, b"bad", rsv=rsv))
        await peer.expect_close(1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
async def test_a_reserved_opcode_fails_the_connection_with_1002(opcode: int) -> None:
    async with websocket() as peer:
        await peer.send(frame(TEXT, b"first"))
        assert await peer.receive() == (True, 0, TEXT, b"first")
        await peer.send(frame(opcode, b""))
        await peer.expect_close(1002)


# ------------------------------------------------------ §5.4 fragmentation


async def test_a_fragmented_message_is_echoed_whole() -> None:
    async with websocket() as peer:
        await peer.send(
            frame(TEXT, b"frag", fin=False),
            frame(CONTINUATION, b"men", fin=False),
            frame(CONTINUATION, b""),  # an empty final fragment is legal
        )
        assert await peer.message() == (TEXT, b"fragmen")


async def test_control_frames_between_fragments_are_answered_at_once() -> None:
    async with websocket() as peer:
        await peer.send(
            frame(BINARY, b"one", fin=False),
            frame(PING, b"between"),
            frame(CONTINUATION, b"two", fin=False),
            frame(PONG, b"also between"),
            frame(CONTINUATION, b"three"),
        )
        assert await peer.receive() == (True, 0, PONG, b"between")
        assert await peer.message() == (BINARY, b"onetwothree")


@pytest.mark.parametrize(
    "frames",
    [
        [frame(CONTINUATION, b"no start")],
        [frame(CONTINUATION, b"no start", fin=False), frame(CONTINUATION, b"end")],
        [frame(TEXT, b"one", fin=False), frame(TEXT, b"two")],
        [frame(TEXT, b"one", fin=False), frame(BINARY, b"two", fin=False)],
    ],
    ids=["lone continuation", "continuations without start", "text in text", "binary in text"],
)
async def test_broken_fragmentation_fails_the_connection_with_1002(frames: list[bytes]) -> None:
    async with websocket() as peer:
        await peer.send(*frames)
        await peer.expect_close(1002)


# ------------------------------------------------------------ §8.1 UTF-8

VALID_UTF8 = "κόσμε, Hello-µ@ßöäüàá-UTF-8!! \U0001f600".encode()
INVALID_UTF8 = [
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",  # a surrogate
    b"\xff",
    b"\xc0\xaf",  # overlong "/"
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\x80",  # a lone continuation byte
    b"\xe0\x80\xaf",
    b"\xce",  # truncated at the end of the message
]


async def test_valid_utf8_is_echoed_even_split_inside_a_code_point() -> None:
    async with websocket() as peer:
        await peer.send(frame(TEXT, VALID_UTF8))
        assert await peer.message() == (TEXT, VALID_UTF8)
        pieces = [VALID_UTF8[i : i + 1] for i in range(len(VALID_UTF8))]
        await peer.send(
            frame(TEXT, pieces[0], fin=False),
            *(frame(CONTINUATION, p, fin=False) for p in pieces[1:-1]),
            frame(CONTINUATION, pieces[-1]),
        )
        assert await peer.message() == (TEXT, VALID_UTF8)


@pytest.mark.parametrize("payload", INVALID_UTF8)
async def test_invalid_utf8_fails_the_connection_with_1007(payload: bytes) -> None:
    async with websocket() as peer:
        await peer.send(frame(TEXT, payload))
        await peer.expect_close(1007)


async def test_invalid_utf8_fails_fast_before_the_message_ends() -> None:
    # The first fragment is already invalid: the server must not wait for the rest.
    async with websocket() as peer:
        await peer.send(frame(TEXT, b"ok \xed\xa0\x80 no", fin=False))
        await peer.expect_close(1007)


async def test_binary_messages_are_not_checked_as_utf8() -> None:
    async with websocket() as peer:
        await peer.send(frame(BINARY, INVALID_UTF8[0]))
        assert await peer.message() == (BINARY, INVALID_UTF8[0])


# --------------------------------------------------- §5.5.1, §7.4 closing

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013]
VALID_CODES += [3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


async def test_a_close_without_a_code_is_answered_without_one() -> None:
    async with websocket() as peer:
        await peer.send(frame(CLOSE))
        await peer.expect_close(None)


@pytest.mark.parametrize("code", VALID_CODES)
async def test_a_valid_close_code_is_echoed(code: int) -> None:
    async with websocket() as peer:
        await peer.send(frame(CLOSE, close_payload(code, b"bye")))
        await peer.expect_close(code)


@pytest.mark.parametrize("code", INVALID_CODES)
async def test_an_invalid_close_code_fails_the_connection_with_1002(code: int) -> None:
    async with websocket() as peer:
        await peer.send(frame(CLOSE, close_payload(code)))
        await peer.expect_close(1002)


async def test_a_close_payload_of_one_byte_is_1002() -> None:
    async with websocket() as peer:
        await peer.send(frame(CLOSE, b"\x03"))
        await peer.expect_close(1002)


async def test_a_close_reason_of_invalid_utf8_is_1007() -> None:
    async with websocket() as peer:
        await peer.send(frame(CLOSE, close_payload(1000, b"\xce\xba\xed\xa0\x80")))
        await peer.expect_close(1007)


async def test_a_close_reason_of_123_bytes_is_echoed() -> None:
    async with websocket() as peer:
        await peer.send(frame(CLOSE, close_payload(1000, b"r" * 123)))
        await peer.expect_close(1000)


async def test_frames_after_the_close_are_ignored() -> None:
    async with websocket() as peer:
        await peer.send(
            frame(CLOSE, close_payload(1000)), frame(TEXT, b"too late"), frame(PING, b"late")
        )
        got = await peer.receive()
        assert got is not None
        assert got[2] == CLOSE
        assert got[3][:2] == close_payload(1000)
        # Nothing answers the late frames: the next thing is the end of the stream.
        with trio.fail_after(10):
            assert await peer.receive() is None


async def test_a_close_in_the_middle_of_a_fragmented_message_is_answered() -> None:
    async with websocket() as peer:
        await peer.send(frame(TEXT, b"half", fin=False), frame(CLOSE, close_payload(1000)))
        await peer.expect_close(1000)
