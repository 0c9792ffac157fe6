"""A raw HTTP/2 peer: frames built by hand (hyperframe, or bytes), no h2 in between.

Conformance and hostile-peer tests speak to a real server connection with it, so
they can send what no well-behaved client would, and check the exact answer.
"""

from __future__ import annotations

import math
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import hpack
import trio
import trio.testing
from h2.errors import ErrorCodes
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

import trio_h2
from trio_h2._errors import single_exception
from trio_h2.server.listen import Server

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
GET = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "example.test")]
POST = [(":method", "POST"), *GET[1:]]
#: A request every served handler answers at once (see :func:`open_served_peer`).
ALIVE = [*GET[:2], (":path", "/__alive__"), GET[3]]

#: How open_peer() connects when a test does not say: "memory" (trio.testing's stream
#: pair) or "socket" (a connected socket pair, which the server reads and writes through
#: its direct socket path).  The conformance and hostile suites run under both.
TRANSPORT = "memory"

Headers = Sequence[tuple[str | bytes, str | bytes]]
Handler = Callable[[trio_h2.Stream], Awaitable[None]]


def raw_frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """A frame as bytes, with any type, flags, stream id and payload."""
    length = len(payload)
    return struct.pack(">HBBBL", length >> 8, length & 0xFF, ftype, flags, stream_id) + payload


async def echo(stream: trio_h2.Stream) -> None:
    """Reads the whole body, answers 200 with ``ok:`` and the body."""
    body = await stream.read()
    await stream.respond(200, [("content-type", "text/plain")], b"ok:" + body)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    trailers: list[tuple[str, str]] | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class PeerError(AssertionError):
    pass


@dataclass
class RawPeer:
    stream: trio.abc.Stream
    timeout: float = 10.0
    encoder: hpack.Encoder = field(default_factory=hpack.Encoder)
    decoder: hpack.Decoder = field(default_factory=hpack.Decoder)
    #: Every frame received so far, in order.
    received: list[Frame] = field(default_factory=list)
    server_settings: dict[int, int] = field(default_factory=dict)
    next_stream_id: int = 1
    closed: bool = False
    _buf: bytearray = field(default_factory=bytearray)
    _decoded: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    # Response frames expect_responses() read for streams it was not asked about.
    _held: list[Frame] = field(default_factory=list)

    # ------------------------------------------------------------------ sending

    async def send(self, *items: Frame | bytes) -> None:
        data = b"".join(item if isinstance(item, bytes) else item.serialize() for item in items)
        await self.stream.send_all(data)

    def encode(self, headers: Headers) -> bytes:
        return bytes(self.encoder.encode(list(headers)))

    def headers(
        self,
        stream_id: int,
        headers: Headers = GET,
        *,
        end_stream: bool = True,
        end_headers: bool = True,
        block: bytes | None = None,
    ) -> HeadersFrame:
        frame = HeadersFrame(stream_id)
        frame.data = self.encode(headers) if block is None else block
        if end_stream:
            frame.flags.add("END_STREAM")
        if end_headers:
            frame.flags.add("END_HEADERS")
        self.next_stream_id = max(self.next_stream_id, stream_id + 2)
        return frame

    async def request(
        self, stream_id: int, headers: Headers = GET, *, end_stream: bool = True
    ) -> None:
        await self.send(self.headers(stream_id, headers, end_stream=end_stream))

    async def handshake(self, settings: dict[int, int] | None = None) -> None:
        """Preface and SETTINGS both ways, each acknowledged."""
        await self.send(PREFACE, SettingsFrame(0, settings=settings or {}))
        acked = False
        got_settings = False
        while not (acked and got_settings):
            frame = await self.receive_frame()
            if frame is None:
                raise PeerError("connection closed during the handshake")
            if isinstance(frame, SettingsFrame):
                if "ACK" in frame.flags:
                    acked = True
                else:
                    got_settings = True
                    self.server_settings.update(frame.settings)
                    await self.send(SettingsFrame(0, flags=["ACK"]))

    # ---------------------------------------------------------------- receiving

    async def receive_frame(self) -> Frame | None:
        """The next frame from the server, or None once it closed the connection."""
        with trio.fail_after(self.timeout):
            while True:
                if len(self._buf) >= 9:
                    frame, length = Frame.parse_frame_header(memoryview(self._buf[:9]))
                    if len(self._buf) >= 9 + length:
                        frame.parse_body(memoryview(self._buf[9 : 9 + length]))
                        del self._buf[: 9 + length]
                        self._after_receive(frame)
                        self.received.append(frame)
                        return frame
                if self.closed:
                    return None
                try:
                    data = await self.stream.receive_some(65_536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    self.closed = True
                    if self._buf:
                        raise PeerError(f"connection closed inside a frame: {bytes(self._buf)!r}")
                    return None
                self._buf += data

    def _after_receive(self, frame: Frame) -> None:
        if isinstance(frame, HeadersFrame | PushPromiseFrame | ContinuationFrame):
            assert "END_HEADERS" in frame.flags, "the server split a header block"
            decoded = self.decoder.decode(frame.data, raw=False)
            self._decoded[id(frame)] = decoded
            frame.decoded = decoded  # type: ignore[attr-defined]

    async def expect_close(self) -> None:
        """Only a close may follow (frames in between are kept in ``received``)."""
        while await self.receive_frame() is not None:
            pass

    async def expect_goaway(
        self, code: ErrorCodes, *, last_stream_id: int | None = None, after_resets: bool = False
    ) -> GoAwayFrame:
        """A GOAWAY with ``code`` (no RST_STREAM before it, unless ``after_resets``),
        then the close."""
        while True:
            frame = await self.receive_frame()
            if frame is None:
                raise PeerError(f"closed without GOAWAY; received {self.received[-5:]!r}")
            if isinstance(frame, RstStreamFrame) and not after_resets:
                raise PeerError(f"expected GOAWAY({code!r}), got {frame!r}")
            if isinstance(frame, GoAwayFrame):
                break
        if frame.error_code != code:
            raise PeerError(
                f"expected GOAWAY({code!r}), got {ErrorCodes(frame.error_code)!r}: "
                f"{frame.additional_data!r}"
            )
        if last_stream_id is not None and frame.last_stream_id != last_stream_id:
            raise PeerError(f"GOAWAY last-stream-id {frame.last_stream_id}, not {last_stream_id}")
        if code != ErrorCodes.NO_ERROR:
            await self.expect_close()
        return frame

    async def expect_graceful_goaway(
        self, *, last_stream_id: int | None = None, acknowledge: bool = True
    ) -> GoAwayFrame:
        """A graceful close as RFC 9113 §6.8 advises: a PING and GOAWAY(2^31-1, NO_ERROR)
        first; the PING acknowledged (unless ``acknowledge`` is False); then the real
        GOAWAY, which is returned."""
        ping: PingFrame | None = None
        while True:
            frame = await self.receive_frame()
            if frame is None:
                raise PeerError(f"closed without GOAWAY; received {self.received[-5:]!r}")
            if isinstance(frame, PingFrame) and "ACK" not in frame.flags:
                ping = frame
            elif isinstance(frame, GoAwayFrame):
                break
        if (frame.error_code, frame.last_stream_id) != (ErrorCodes.NO_ERROR, 2**31 - 1):
            raise PeerError(f"expected the first GOAWAY of a graceful close, got {frame!r}")
        if ping is None:
            raise PeerError("no PING came before the first GOAWAY")
        if acknowledge:
            await self.send(PingFrame(0, flags=["ACK"], opaque_data=ping.opaque_data))
        return await self.expect_goaway(ErrorCodes.NO_ERROR, last_stream_id=last_stream_id)

    async def expect_rst(self, stream_id: int, code: ErrorCodes) -> RstStreamFrame:
        """A RST_STREAM on ``stream_id`` with ``code``; the connection stays up."""
        while True:
            frame = await self.receive_frame()
            if frame is None or isinstance(frame, GoAwayFrame):
                raise PeerError(f"expected RST_STREAM({code!r}) on {stream_id}, got {frame!r}")
            if isinstance(frame, RstStreamFrame) and frame.stream_id == stream_id:
                break
        if frame.error_code != code:
            raise PeerError(f"expected RST_STREAM({code!r}), got {ErrorCodes(frame.error_code)!r}")
        return frame

    async def expect_frame(self, kind: type[Frame], stream_id: int | None = None) -> Frame:
        """The next frame of type ``kind`` (on ``stream_id``), skipping others."""
        while True:
            frame = await self.receive_frame()
            if frame is None or (isinstance(frame, GoAwayFrame) and kind is not GoAwayFrame):
                raise PeerError(f"expected {kind.__name__}, got {frame!r}")
            if isinstance(frame, kind) and (stream_id is None or frame.stream_id == stream_id):
                return frame

    async def expect_response(self, stream_id: int) -> Response:
        """The whole response on ``stream_id``; fails on a reset or a GOAWAY."""
        return (await self.expect_responses(stream_id))[stream_id]

    async def expect_responses(self, *stream_ids: int) -> dict[int, Response]:
        """The whole responses on ``stream_ids``, however their frames interleave.

        Response frames of other streams read on the way are kept for a later call, so
        responses can be asked for in any order, whatever order they arrive in.
        """
        responses: dict[int, Response] = {}
        done: set[int] = set()
        held, self._held = self._held, []
        while len(done) < len(stream_ids):
            fresh = not held
            frame = await self.receive_frame() if fresh else held.pop(0)
            if frame is None or isinstance(frame, GoAwayFrame):
                raise PeerError(f"expected responses on {stream_ids}, got {frame!r}")
            stream_id = frame.stream_id
            if fresh and isinstance(frame, DataFrame) and frame.flow_controlled_length:
                await self.send(
                    WindowUpdateFrame(0, window_increment=frame.flow_controlled_length)
                )
            if stream_id not in stream_ids:
                if stream_id and isinstance(frame, HeadersFrame | DataFrame | RstStreamFrame):
                    self._held.append(frame)
                continue
            if isinstance(frame, RstStreamFrame):
                raise PeerError(f"stream {stream_id} reset: {ErrorCodes(frame.error_code)!r}")
            if isinstance(frame, HeadersFrame):
                fields = self._decoded.pop(id(frame))
                if stream_id not in responses:
                    status = int(dict(fields)[":status"])
                    if status < 200:
                        continue
                    responses[stream_id] = Response(status, [f for f in fields if f[0][0] != ":"])
                else:
                    responses[stream_id].trailers = fields
            elif isinstance(frame, DataFrame):
                assert stream_id in responses, "DATA before HEADERS"
                responses[stream_id].body += frame.data
            if "END_STREAM" in frame.flags:
                assert stream_id in responses
                done.add(stream_id)
        self._held = held + self._held
        return responses

    async def assert_alive(self) -> Response:
        """Prove the connection still serves: a new request is answered 200."""
        stream_id = self.next_stream_id
        await self.request(stream_id, ALIVE)
        response = await self.expect_response(stream_id)
        assert response.status == 200, response
        return response

    async def ping(self, data: bytes = b"12345678") -> None:
        """A PING round trip: every frame sent before it has been processed."""
        await self.send(PingFrame(0, opaque_data=data))
        while True:
            frame = await self.expect_frame(PingFrame)
            if "ACK" in frame.flags and frame.opaque_data == data:
                return


@dataclass
class ServedPeer:
    peer: RawPeer
    server: Server
    finished: trio.Event


@asynccontextmanager
async def open_peer(
    handler: Handler = echo,
    config: trio_h2.Config | None = None,
    *,
    handshake: bool = True,
    settings: dict[int, int] | None = None,
    timeout: float = 10.0,
    lockstep: bool = False,
) -> AsyncIterator[RawPeer]:
    """A RawPeer connected in memory to ``Server(handler, config).serve_transport``.

    Leaving the block closes the peer's side and requires the server's connection
    task (and with it every handler task) to finish.
    """
    async with open_served_peer(
        handler,
        config,
        handshake=handshake,
        settings=settings,
        timeout=timeout,
        lockstep=lockstep,
    ) as served:
        yield served.peer


@asynccontextmanager
async def open_served_peer(
    handler: Handler = echo,
    config: trio_h2.Config | None = None,
    *,
    handshake: bool = True,
    settings: dict[int, int] | None = None,
    timeout: float = 10.0,
    lockstep: bool = False,
    server: Server | None = None,
) -> AsyncIterator[ServedPeer]:
    """Like :func:`open_peer`, also giving the Server and when its connection ended."""
    client: trio.abc.Stream
    server_side: trio.abc.Stream
    if lockstep:
        client, server_side = trio.testing.lockstep_stream_pair()
    elif TRANSPORT == "socket":
        ours, theirs = trio.socket.socketpair()
        client, server_side = trio.SocketStream(ours), trio.SocketStream(theirs)
    else:
        client, server_side = trio.testing.memory_stream_pair()
    if server is None:
        server = Server(_with_alive(handler), config or trio_h2.Config(), None)
    finished = trio.Event()

    async def serve() -> None:
        try:
            await server.serve_transport(server_side, ("127.0.0.1", 40000))
        finally:
            finished.set()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            peer = RawPeer(client, timeout=timeout)
            if handshake:
                await peer.handshake(settings)
            yield ServedPeer(peer, server, finished)
            await client.aclose()
            with trio.fail_after(timeout if math.isfinite(timeout) else 10.0):
                await finished.wait()
    except BaseExceptionGroup as group:
        raise single_exception(group) from None
    finally:
        # A failed test leaves no socket open for the garbage collector to warn about.
        await trio.aclose_forcefully(client)


def _with_alive(handler: Handler) -> Handler:
    async def serve(stream: trio_h2.Stream) -> None:
        if stream.path == "/__alive__":
            await stream.respond(200, body=b"alive")
        else:
            await handler(stream)

    return serve


@asynccontextmanager
async def open_tls_peer(
    handler: Handler,
    server_context: ssl.SSLContext,
    ca_file: str,
    config: trio_h2.Config | None = None,
    *,
    handshake: bool = True,
) -> AsyncIterator[RawPeer]:
    """A RawPeer over a real TLS socket on loopback, h2 negotiated by ALPN."""
    client_context = ssl.create_default_context(cafile=ca_file)
    client_context.set_alpn_protocols(["h2"])
    async with trio.open_nursery() as nursery:
        address = await nursery.start(
            lambda task_status: trio_h2.serve(
                handler,
                "127.0.0.1",
                0,
                ssl_context=server_context,
                config=config,
                task_status=task_status,
            )
        )
        stream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", address.port, ssl_context=client_context, https_compatible=True
        )
        await stream.do_handshake()
        assert stream.selected_alpn_protocol() == "h2"
        peer = RawPeer(stream)
        try:
            if handshake:
                await peer.handshake()
            yield peer
        finally:
            await trio.aclose_forcefully(stream)
            nursery.cancel_scope.cancel()


def fields(frame: Frame) -> list[tuple[str, str]]:
    """The decoded header fields of a HEADERS frame received by a RawPeer."""
    return list(frame.decoded)  # type: ignore[attr-defined]
