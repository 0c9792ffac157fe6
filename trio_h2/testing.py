"""An in-memory HTTP/2 (or HTTP/1.1) client for testing handlers, with no sockets.

::

    async def test_hello():
        async with trio_h2.testing.connect(hello) as client:
            response = await client.get("/")
        assert response.status == 200

The client is a real HTTP/2 peer (h2, client side) talking to a real server connection
over ``trio.testing.memory_stream_pair``: flow control, pushes, trailers, 1xx responses
and resets all happen as they would on the network.  ``connect(hello,
http_version="1.1")`` gives an HTTP/1.1 client instead (:class:`H1Client`, on h11's
client side), with the same calls and the same :class:`Response` where HTTP/1.1
has the thing, so that one test can run over both protocols.

The client runs on h2 as released, so it is a peer independent of the server's own
protocol code.  h2 stops sending and receiving once it has seen a GOAWAY, while
RFC 9113 §6.8 lets the streams up to the GOAWAY's last-stream-id finish; so the
client reads the server's GOAWAY frames itself and does not pass them to h2.  It
then opens no new streams (:class:`trio_h2.ConnectionClosed`), gives up on those
above the last-stream-id, and lets the others run to their end.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Literal, overload

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import trio
import trio.testing
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from ._config import Config
from ._errors import ConnectionClosed, StreamReset, single_exception
from ._headers import decode
from ._testing_base import (
    SEND_TIMEOUT as _SEND_TIMEOUT,
    HeaderPairs as HeaderPairs,
    Response as Response,
    WebSocketMessages,
    encode_headers,
    to_str,
)
from ._testing_h1 import (
    H1Client as H1Client,
    H1ClientWebSocket as H1ClientWebSocket,
    H1StreamingResponse as H1StreamingResponse,
    open_h1_client,
)
from .asgi._types import ASGIApp
from .server.listen import Server
from .server.stream import Handler

__all__ = [
    "Client",
    "ClientWebSocket",
    "H1Client",
    "H1ClientWebSocket",
    "H1StreamingResponse",
    "Response",
    "StreamingResponse",
    "connect",
    "open_client",
]

# RFC 9113 §4.1 and §6: what the client needs to find the GOAWAY frames in what it reads.
_FRAME_HEADER_LENGTH = 9
_GOAWAY = 0x7
_HEADER_BLOCK_FRAMES = (0x1, 0x5, 0x9)  # HEADERS, PUSH_PROMISE, CONTINUATION
_END_HEADERS = 0x4


def _goaway_event(payload: bytes) -> h2.events.ConnectionTerminated:
    frame = GoAwayFrame(0)
    frame.parse_body(memoryview(payload))
    event = h2.events.ConnectionTerminated()
    try:
        event.error_code = ErrorCodes(frame.error_code)
    except ValueError:
        event.error_code = frame.error_code
    event.last_stream_id = frame.last_stream_id
    event.additional_data = frame.additional_data or None
    return event


class _ClientStream:
    def __init__(self, response: Response) -> None:
        self.response = response
        self.chunks: list[tuple[bytes, int]] = []
        self.headers_received = trio.Event()
        self.done = trio.Event()
        self.changed = trio.Event()
        self.auto_ack = True

    def touch(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


class StreamingResponse:
    """A response whose body is read as it arrives; credit goes back as it is read."""

    def __init__(self, client: Client, state: _ClientStream) -> None:
        self._client = client
        self._state = state

    @property
    def response(self) -> Response:
        return self._state.response

    @property
    def status(self) -> int | None:
        return self._state.response.status

    def __aiter__(self) -> StreamingResponse:
        """``async for chunk in response``: the body, chunk by chunk (see :meth:`__anext__`)."""
        return self

    async def __anext__(self) -> bytes:
        """The next body chunk as it arrives, acknowledged once it is taken.

        A cancelled call takes no chunk.  Raises :class:`trio_h2.StreamReset` if the
        stream is reset before its end.
        """
        state = self._state
        while True:
            # Nothing is taken until the chunk is handed over: a cancelled read
            # leaves it for the next one.
            await trio.lowlevel.checkpoint_if_cancelled()
            if state.chunks:
                data, length = state.chunks.pop(0)
                self._client._acknowledge(state.response.stream_id, length)
                await self._client._send()  # shielded
                state.response.body += data
                if data:
                    return data
                continue
            if state.done.is_set():
                if state.response.reset_code is not None:
                    raise StreamReset(state.response.reset_code)
                raise StopAsyncIteration
            await state.changed.wait()

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Yield body chunks as they arrive (as ``async for chunk in response`` does)."""
        async for chunk in self:
            yield chunk


class ClientWebSocket(WebSocketMessages):
    """A WebSocket the test client opened with an extended CONNECT (RFC 8441).

    Messages: :meth:`send_message`, :meth:`get_message` (Pings are answered, the
    server's Close is answered and ends it with ``trio_websocket.ConnectionClosed``),
    :meth:`close`.  The frames are made and read by wsproto's client side.  Raw, for
    protocol tests: :meth:`send_raw` writes bytes as the stream's DATA and
    :meth:`receive_raw` reads the server's bytes as they come; do not mix them with
    messages.  Credit goes back to the server only as its bytes are read.
    """

    def __init__(self, client: Client, state: _ClientStream) -> None:
        super().__init__()
        self._client = client
        self._body = StreamingResponse(client, state)

    @property
    def response(self) -> Response:
        """The server's answer (``status`` 200, its ``headers``)."""
        return self._body.response

    @property
    def stream_id(self) -> int:
        return self._body.response.stream_id

    async def send_raw(self, data: bytes, *, end_stream: bool = False) -> None:
        """Send ``data`` as DATA on the WebSocket's stream, as it is."""
        await self._client.send_data(self.stream_id, data, end_stream=end_stream)

    async def _send_bytes(self, data: bytes) -> None:
        await self.send_raw(data)

    async def receive_raw(self) -> bytes:
        """The server's next bytes on the stream; ``b""`` once it has ended it.

        Raises :class:`trio_h2.StreamReset` if the stream was reset first.
        """
        try:
            return await self._body.__anext__()
        except StopAsyncIteration:
            return b""


class Client:
    """An HTTP/2 client connected in memory to a server (see :func:`connect`)."""

    def __init__(
        self,
        transport: trio.abc.Stream,
        *,
        enable_push: bool = True,
        initial_window_size: int = 65_535,
        max_frame_size: int = 16_384,
    ) -> None:
        self.transport = transport
        #: ``"2"``: what the client speaks (an :class:`H1Client` says ``"1.1"`` or ``"1.0"``).
        self.http_version = "2"
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: int(enable_push),
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window_size,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: max_frame_size,
            },
        )
        self.h2.max_inbound_frame_size = max_frame_size
        self._streams: dict[int, _ClientStream] = {}
        self._window_changed = trio.Event()
        self._send_lock = trio.Lock()
        self._closed: BaseException | None = None
        # What was read but not yet passed to h2, and whether it ends inside a header
        # block (where a GOAWAY is h2's to reject).
        self._inbound = bytearray()
        self._in_header_block = False
        #: The last GOAWAY the server sent, as an h2 event, once one came.
        self.goaway: h2.events.ConnectionTerminated | None = None
        #: Set when a GOAWAY arrives (or the connection closes).
        self.goaway_received = trio.Event()
        #: Set when a GOAWAY with a real last-stream-id arrives (or the connection
        #: closes): a graceful close first says 2^31-1 (RFC 9113 §6.8), and this is the
        #: one after it.
        self.final_goaway_received = trio.Event()
        #: Set when the server closed the connection.
        self.connection_closed = trio.Event()
        #: The server's SETTINGS, once received.
        self.settings_received = trio.Event()
        #: Payloads of the PING acknowledgements received, in order.
        self.ping_acks: list[bytes] = []
        self._ping_acked = trio.Event()

    # ----------------------------------------------------------------- plumbing

    async def _start(self, nursery: trio.Nursery) -> None:
        self.h2.initiate_connection()
        await self._send()
        nursery.start_soon(self._reader)

    async def _send(self) -> None:
        # What h2 has queued goes out whole: a frame cut by a cancellation would
        # leave the connection unusable, and the call that queued it would have had
        # half an effect.  The shield is bounded: a server that stops reading
        # fails the call instead of hanging it.
        with trio.CancelScope(shield=True):
            async with self._send_lock:
                data = self.h2.data_to_send()
                if data:
                    await self._send_all(data)

    async def _send_all(self, data: bytes | bytearray) -> None:
        with trio.move_on_after(_SEND_TIMEOUT) as waited:
            try:
                await self.transport.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionClosed("the server closed the connection") from exc
        if waited.cancelled_caught:
            raise ConnectionClosed(f"the server read nothing for {_SEND_TIMEOUT} s")

    async def send_raw(self, data: bytes) -> None:
        """Write bytes on the connection as they are (for protocol-level tests)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        with trio.CancelScope(shield=True):
            async with self._send_lock:
                await self._send_all(data)

    async def _abandon(self, state: _ClientStream) -> None:
        """Reset a stream whose caller was cancelled, as a real client would."""
        stream = self.h2.streams.get(state.response.stream_id)
        if self._closed is None and stream is not None and not stream.closed:
            self.h2.reset_stream(state.response.stream_id, ErrorCodes.CANCEL)
            await self._send()

    def _acknowledge(self, stream_id: int, length: int) -> None:
        if length and self._closed is None:
            self.h2.acknowledge_received_data(length, stream_id)

    async def _reader(self) -> None:
        try:
            while True:
                try:
                    data = await self.transport.receive_some(65_536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    break
                for event in self._receive(data):
                    self._dispatch(event)
                await self._send()
        except (h2.exceptions.ProtocolError, ConnectionClosed) as exc:
            self._closed = exc
        finally:
            self._closed = self._closed or ConnectionClosed("the server closed the connection")
            for state in self._streams.values():
                state.headers_received.set()
                state.done.set()
                state.touch()
            self._window_changed.set()
            self._ping_acked.set()
            self.goaway_received.set()
            self.final_goaway_received.set()
            self.connection_closed.set()

    def _receive(self, data: bytes | bytearray) -> list[h2.events.Event]:
        """The events in ``data``: h2's for every frame but GOAWAY, and the GOAWAYs'.

        Only whole frames go to h2, so that each GOAWAY can be taken out; h2, told
        nothing of it, lets the streams the server still serves finish.
        """
        buffer = self._inbound
        buffer += data
        events: list[h2.events.Event] = []
        start = position = 0  # what is before ``start`` went to h2, or was a GOAWAY
        while len(buffer) - position >= _FRAME_HEADER_LENGTH:
            length = int.from_bytes(buffer[position : position + 3], "big")
            if length > self.h2.max_inbound_frame_size:
                position = len(buffer)  # h2 answers that with FRAME_SIZE_ERROR
                break
            end = position + _FRAME_HEADER_LENGTH + length
            if len(buffer) < end:
                break
            kind, flags = buffer[position + 3], buffer[position + 4]
            stream_id = int.from_bytes(buffer[position + 5 : position + 9], "big") & 0x7FFF_FFFF
            if kind == _GOAWAY and stream_id == 0 and length >= 8 and not self._in_header_block:
                if position > start:
                    events.extend(self.h2.receive_data(bytes(buffer[start:position])))
                events.append(_goaway_event(bytes(buffer[position + _FRAME_HEADER_LENGTH : end])))
                start = end
            elif kind in _HEADER_BLOCK_FRAMES:
                self._in_header_block = not flags & _END_HEADERS
            position = end
        if position > start:
            events.extend(self.h2.receive_data(bytes(buffer[start:position])))
        del buffer[:position]
        return events

    def _dispatch(self, event: h2.events.Event) -> None:
        stream_id = getattr(event, "stream_id", None)
        state = self._streams.get(stream_id) if stream_id else None
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_received.set()
            self._wake_senders()
        elif isinstance(event, h2.events.WindowUpdated):
            self._wake_senders()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
            self.goaway_received.set()
            if (event.last_stream_id or 0) < 2**31 - 1:
                self.final_goaway_received.set()
            # RFC 9113 §6.8: the server will not process the client's streams above
            # last-stream-id; they end with neither response nor reset.
            last = event.last_stream_id or 0
            for stream_id, state in self._streams.items():
                if stream_id % 2 and stream_id > last and not state.done.is_set():
                    state.done.set()
                    state.headers_received.set()
                    state.touch()
            self._wake_senders()
        elif isinstance(event, h2.events.PingAckReceived):
            self.ping_acks.append(event.ping_data or b"")
            self._ping_acked.set()
            self._ping_acked = trio.Event()
        elif isinstance(event, h2.events.PushedStreamReceived):
            parent = self._streams.get(event.parent_stream_id or 0)
            pushed = Response(
                event.pushed_stream_id or 0,
                request_headers=[(decode(n), decode(v)) for n, v in event.headers or []],
            )
            self._streams[pushed.stream_id] = _ClientStream(pushed)
            if parent is not None:
                parent.response.pushed.append(pushed)
                parent.response.arrival.append("push")
        elif state is None:
            return
        elif isinstance(event, h2.events.InformationalResponseReceived):
            headers = [(decode(n), decode(v)) for n, v in event.headers or []]
            status = int(dict(headers)[":status"])
            state.response.informational.append(
                (status, [h for h in headers if not h[0].startswith(":")])
            )
            state.response.arrival.append("informational")
        elif isinstance(event, h2.events.ResponseReceived):
            headers = [(decode(n), decode(v)) for n, v in event.headers or []]
            state.response.status = int(dict(headers)[":status"])
            state.response.headers = [h for h in headers if not h[0].startswith(":")]
            state.response.arrival.append("headers")
            state.headers_received.set()
        elif isinstance(event, h2.events.DataReceived):
            state.response.arrival.append("data")
            length = event.flow_controlled_length or 0
            if state.auto_ack:
                state.response.body += event.data or b""
                self._acknowledge(state.response.stream_id, length)
            else:
                state.chunks.append((event.data or b"", length))
            state.touch()
        elif isinstance(event, h2.events.TrailersReceived):
            state.response.trailers = [(decode(n), decode(v)) for n, v in event.headers or []]
            state.response.arrival.append("trailers")
        elif isinstance(event, h2.events.StreamEnded):
            state.done.set()
            state.headers_received.set()
            state.touch()
        elif isinstance(event, h2.events.StreamReset):
            if state.done.is_set() and event.error_code == ErrorCodes.NO_ERROR:
                # RFC 9113 §8.1: the response was complete; the server only stops
                # the rest of the upload.
                state.touch()
                self._wake_senders()
                return
            state.response.reset_code = event.error_code
            state.done.set()
            state.headers_received.set()
            state.touch()
            self._wake_senders()

    def _wake_senders(self) -> None:
        self._window_changed.set()
        self._window_changed = trio.Event()

    # ---------------------------------------------------------------- requests

    async def _open(
        self,
        method: str,
        path: str,
        headers: HeaderPairs,
        body: bytes | str | AsyncIterable[bytes] | None,
        authority: str,
        end_stream_with_headers: bool,
        *,
        auto_ack: bool = True,
        trailers: HeaderPairs | None = None,
    ) -> _ClientStream:
        if self._closed is not None:
            raise ConnectionClosed("the connection is closed")
        if self.goaway is not None:
            raise ConnectionClosed("the server sent GOAWAY: it takes no new streams")
        stream_id = self.h2.get_next_available_stream_id()
        request_headers = [
            (":method", method),
            (":scheme", "http"),
            (":authority", authority),
            (":path", path),
            *((to_str(n), to_str(v)) for n, v in headers),
        ]
        if isinstance(body, str):
            body = body.encode("utf-8")
        state = _ClientStream(Response(stream_id, request_headers=request_headers))
        # Set before the request goes out: the response may arrive while it is sent.
        state.auto_ack = auto_ack
        self._streams[stream_id] = state
        self.h2.send_headers(
            stream_id,
            encode_headers(request_headers),
            end_stream=end_stream_with_headers and not body and trailers is None,
        )
        await self._send()
        return state

    async def _send_body(
        self,
        state: _ClientStream,
        body: bytes | str | AsyncIterable[bytes] | None,
        trailers: HeaderPairs | None = None,
    ) -> None:
        stream_id = state.response.stream_id
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(body, bytes):
            if body:
                await self.send_data(stream_id, body, end_stream=trailers is None)
        elif body is not None:
            async for chunk in body:
                await self.send_data(stream_id, chunk, end_stream=False)
            if trailers is None and not state.done.is_set():
                self.h2.end_stream(stream_id)
                await self._send()
        if trailers is not None and not state.done.is_set():
            self.h2.send_headers(stream_id, encode_headers(trailers), end_stream=True)
            await self._send()

    async def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = True) -> None:
        """Send request body bytes on a stream, honouring the server's windows.

        Cancelled before any byte went out, it has sent nothing; cancelled while
        waiting for credit part-way, the stream is reset (CANCEL), so the server
        never takes a cut body for a whole one.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        view = memoryview(data)
        sent = 0
        try:
            while True:
                state = self._streams.get(stream_id)
                if state is not None and state.done.is_set():
                    return  # the server answered (or reset) already; stop uploading
                if self._closed is not None:
                    raise ConnectionClosed("the connection is closed")
                window = self.h2.local_flow_control_window(stream_id)
                if window <= 0 and len(view):
                    await self._window_changed.wait()
                    continue
                size = min(window, len(view), self.h2.max_outbound_frame_size)
                last = size == len(view)
                self.h2.send_data(stream_id, bytes(view[:size]), end_stream=end_stream and last)
                view = view[size:]
                sent += size
                await self._send()
                if last:
                    return
        except trio.Cancelled:
            state = self._streams.get(stream_id)
            if sent and state is not None:
                await self._abandon(state)
            raise

    async def request(
        self,
        method: str,
        path: str,
        headers: HeaderPairs = (),
        body: bytes | str | AsyncIterable[bytes] | None = None,
        *,
        authority: str = "example.test",
        raise_on_reset: bool = True,
        trailers: HeaderPairs | None = None,
    ) -> Response:
        """Send a request and wait for the whole response (and the pushes it brought).

        Cancelled before the request went out, it has sent nothing; cancelled after,
        the stream is reset (CANCEL) before ``Cancelled`` is raised; a response that
        was complete is returned.

        ``body`` may be bytes, str or an async iterable of bytes (streamed, with flow
        control).  ``trailers``, if given, follow the body in a HEADERS frame that
        ends the request stream.

        ``raise_on_reset``: if true (the default), a stream the server reset raises
        :class:`trio_h2.StreamReset` with the RST_STREAM code; if false, the partial
        response is returned with that code in :attr:`Response.reset_code`.  A
        connection that closes (or a GOAWAY that leaves the stream out) before the
        response raises :class:`trio_h2.ConnectionClosed` either way.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        state = await self._open(method, path, headers, body, authority, True, trailers=trailers)
        response = state.response
        try:
            await self._send_body(state, body, trailers)
            await state.done.wait()
            for pushed in response.pushed:
                pushed_state = self._streams[pushed.stream_id]
                await pushed_state.done.wait()
        except trio.Cancelled:
            if not state.done.is_set():
                # The request went out: the stream is reset, so the server sees it
                # abandoned rather than waiting for a reader that is gone.
                await self._abandon(state)
                raise
            # The response is complete: it is returned, and the cancellation is
            # delivered at the caller's next checkpoint.
        if response.reset_code is not None and raise_on_reset:
            raise StreamReset(response.reset_code)
        if response.status is None and response.reset_code is None:
            if self._closed is None and self.goaway is not None:
                raise ConnectionClosed("the server sent GOAWAY without processing the request")
            raise ConnectionClosed("the connection closed before the response") from self._closed
        return response

    async def get(self, path: str, headers: HeaderPairs = (), **kwargs: Any) -> Response:
        """``request("GET", path, headers)``."""
        return await self.request("GET", path, headers, **kwargs)

    async def post(
        self,
        path: str,
        body: bytes | str | AsyncIterable[bytes] | None = None,
        headers: HeaderPairs = (),
        **kwargs: Any,
    ) -> Response:
        """``request("POST", path, headers, body)``; keywords (``trailers``...) as for it."""
        return await self.request("POST", path, headers, body, **kwargs)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        headers: HeaderPairs = (),
        body: bytes | str | AsyncIterable[bytes] | None = None,
        *,
        authority: str = "example.test",
        trailers: HeaderPairs | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """Send a request and read the response body chunk by chunk as it arrives.

        ``async for chunk in response`` (or :meth:`StreamingResponse.aiter_bytes`)
        reads it.  Flow-control credit goes back only as chunks are taken, so a test
        can hold the server at a closed window.  ``body`` and ``trailers`` are as for
        :meth:`request`, and are sent while the response is read.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        state = await self._open(
            method, path, headers, body, authority, True, auto_ack=False, trailers=trailers
        )
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_body, state, body, trailers)
                await state.headers_received.wait()
                yield StreamingResponse(self, state)
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            single = single_exception(group)
            raise single from single.__cause__

    @asynccontextmanager
    async def websocket(
        self,
        path: str,
        headers: HeaderPairs = (),
        *,
        subprotocols: Iterable[str] = (),
        authority: str = "example.test",
    ) -> AsyncIterator[ClientWebSocket]:
        """Open a WebSocket with an extended CONNECT (RFC 8441): ``async with``.

        The request carries ``:protocol websocket``, ``sec-websocket-version: 13``,
        the ``subprotocols`` offered and ``headers``.  A server that answers other than
        200 raises ``trio_websocket.ConnectionRejected`` (with its status, headers and
        body).  Leaving the block resets the stream if it is still open.
        """
        import trio_websocket

        await trio.lowlevel.checkpoint_if_cancelled()
        offered = ", ".join(subprotocols)
        request_headers = [
            (":protocol", "websocket"),
            ("sec-websocket-version", "13"),
            *([("sec-websocket-protocol", offered)] if offered else []),
            *((to_str(n), to_str(v)) for n, v in headers),
        ]
        state = await self._open(
            "CONNECT", path, request_headers, None, authority, False, auto_ack=False
        )
        try:
            await state.headers_received.wait()
            websocket = ClientWebSocket(self, state)
            response = state.response
            if response.status is None:
                if response.reset_code is not None:
                    raise StreamReset(response.reset_code)
                raise ConnectionClosed("the connection closed before the response")
            if response.status != 200:
                body = b"".join([chunk async for chunk in StreamingResponse(self, state)])
                raise trio_websocket.ConnectionRejected(
                    response.status,
                    tuple((n.encode(), v.encode()) for n, v in response.headers),
                    body,
                )
            yield websocket
        finally:
            with trio.CancelScope(shield=True):
                await self._abandon(state)

    async def reset(self, stream_id: int, error_code: int = ErrorCodes.CANCEL) -> None:
        """Send RST_STREAM for a stream."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self.h2.reset_stream(stream_id, error_code)
        await self._send()

    async def start_request(
        self,
        method: str,
        path: str,
        headers: HeaderPairs = (),
        *,
        end_stream: bool = False,
        authority: str = "example.test",
    ) -> int:
        """Send only the request HEADERS; returns the stream id (for step-by-step tests)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        state = await self._open(method, path, headers, None, authority, end_stream)
        return state.response.stream_id

    async def wait_response(self, stream_id: int) -> Response:
        """Wait until the response on ``stream_id`` has ended (or was reset)."""
        state = self._streams[stream_id]
        await state.done.wait()
        return state.response

    async def ping(self, data: bytes = b"trio_h2!") -> bytes:
        """Send a PING and wait for its acknowledgement; returns the echoed payload.

        Cancelled while waiting, the PING has gone out; its acknowledgement is still
        recorded in :attr:`ping_acks` when it comes.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        acked = self._ping_acked
        self.h2.ping(data)
        await self._send()
        await acked.wait()
        if self._closed is not None and not self.ping_acks:
            raise ConnectionClosed("the connection closed before the PING was answered")
        return self.ping_acks[-1]

    async def aclose(self) -> None:
        """Say GOAWAY and close the connection."""
        if self._closed is None:
            try:
                self.h2.close_connection()
                await self._send()
            except (ConnectionClosed, h2.exceptions.ProtocolError):
                pass
        await self.transport.aclose()


@overload
def open_client(
    transport: trio.abc.Stream, *, http_version: Literal["2"] = "2", **settings: Any
) -> AbstractAsyncContextManager[Client]: ...
@overload
def open_client(
    transport: trio.abc.Stream, *, http_version: Literal["1.1", "1.0"], **settings: Any
) -> AbstractAsyncContextManager[H1Client]: ...
@overload
def open_client(
    transport: trio.abc.Stream, *, http_version: str, **settings: Any
) -> AbstractAsyncContextManager[Client | H1Client]: ...
def open_client(
    transport: trio.abc.Stream, *, http_version: str = "2", **settings: Any
) -> AbstractAsyncContextManager[Client | H1Client]:
    """A client on an established transport, e.g. ``trio.open_tcp_stream(...)``.

    ``http_version`` ``"2"`` (the default) gives a :class:`Client`, whose
    ``settings`` are its keyword arguments (``enable_push``,
    ``initial_window_size``, ``max_frame_size``); ``"1.1"`` or ``"1.0"`` gives an
    :class:`H1Client`, whose one setting is ``te_trailers``.
    """
    if http_version == "2":
        return _open_h2_client(transport, **settings)
    if http_version in ("1.1", "1.0"):
        return open_h1_client(transport, http_version=http_version, **settings)
    raise ValueError(f"http_version is '2', '1.1' or '1.0', not {http_version!r}")


@asynccontextmanager
async def _open_h2_client(transport: trio.abc.Stream, **settings: Any) -> AsyncIterator[Client]:
    try:
        async with trio.open_nursery() as nursery:
            client = Client(transport, **settings)
            await client._start(nursery)
            try:
                yield client
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        single = single_exception(group)
        raise single from single.__cause__


@overload
def connect(
    handler: Handler | ASGIApp,
    *,
    http_version: Literal["2"] = "2",
    config: Config | None = None,
    client_address: Any = ("127.0.0.1", 50000),
    enable_push: bool = True,
    initial_window_size: int = 65_535,
    max_frame_size: int = 16_384,
    te_trailers: bool = True,
) -> AbstractAsyncContextManager[Client]: ...
@overload
def connect(
    handler: Handler | ASGIApp,
    *,
    http_version: Literal["1.1", "1.0"],
    config: Config | None = None,
    client_address: Any = ("127.0.0.1", 50000),
    enable_push: bool = True,
    initial_window_size: int = 65_535,
    max_frame_size: int = 16_384,
    te_trailers: bool = True,
) -> AbstractAsyncContextManager[H1Client]: ...
@overload
def connect(
    handler: Handler | ASGIApp,
    *,
    http_version: str,
    config: Config | None = None,
    client_address: Any = ("127.0.0.1", 50000),
    enable_push: bool = True,
    initial_window_size: int = 65_535,
    max_frame_size: int = 16_384,
    te_trailers: bool = True,
) -> AbstractAsyncContextManager[Client | H1Client]: ...
def connect(
    handler: Handler | ASGIApp,
    *,
    http_version: str = "2",
    config: Config | None = None,
    client_address: Any = ("127.0.0.1", 50000),
    enable_push: bool = True,
    initial_window_size: int = 65_535,
    max_frame_size: int = 16_384,
    te_trailers: bool = True,
) -> AbstractAsyncContextManager[Client | H1Client]:
    """Serve ``handler`` on an in-memory connection and yield a client for it.

    ``handler`` is a native handler or an ASGI 3 application (told by its signature,
    ``(scope, receive, send)``), whose lifespan then runs around the connection:
    startup before the client is yielded, shutdown after the connection is closed.

    ``http_version`` says what the client speaks: ``"2"`` (the default) gives a
    :class:`Client` (HTTP/2 with prior knowledge); ``"1.1"`` or ``"1.0"`` an
    :class:`H1Client` (h11's client side), with the same ``request``, ``get``,
    ``post``, ``stream`` and ``websocket`` and the same :class:`Response`, so that
    one test can run over both (``client.http_version`` tells which).  The server
    is the same either way: it tells the protocol by the first bytes.

    ``enable_push``, ``initial_window_size`` and ``max_frame_size`` are HTTP/2's
    settings, and ``te_trailers`` (send ``te: trailers``, so that the server sends
    a chunked response's trailers) is HTTP/1.1's; each is ignored by the other
    protocol, so a parametrised test may pass them to both.

    Leaving the block closes the connection and waits for the server side to finish.
    """
    if http_version == "2":
        return _connect(
            handler,
            config,
            client_address,
            _open_h2_client,
            {
                "enable_push": enable_push,
                "initial_window_size": initial_window_size,
                "max_frame_size": max_frame_size,
            },
        )
    if http_version in ("1.1", "1.0"):
        return _connect(
            handler,
            config,
            client_address,
            open_h1_client,
            {"http_version": http_version, "te_trailers": te_trailers},
        )
    raise ValueError(f"http_version is '2', '1.1' or '1.0', not {http_version!r}")


def _is_asgi(handler: object) -> bool:
    from .asgi._detect import is_asgi_application

    return callable(handler) and is_asgi_application(handler)


@asynccontextmanager
async def _connect(
    handler: Handler | ASGIApp,
    config: Config | None,
    client_address: Any,
    open_one: Callable[..., AbstractAsyncContextManager[Client | H1Client]],
    settings: dict[str, Any],
) -> AsyncIterator[Client | H1Client]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    try:
        async with AsyncExitStack() as stack:
            native: Any = handler
            if _is_asgi(handler):
                # An ASGI application: its lifespan around the connection, as serve() has.
                from .asgi import ASGIHandler, lifespan

                state = await stack.enter_async_context(lifespan(native))
                native = ASGIHandler(native, state=state)
            server = Server(native, config or Config(), None)
            nursery = await stack.enter_async_context(trio.open_nursery())
            nursery.start_soon(server.serve_transport, server_stream, client_address)
            async with open_one(client_stream, **settings) as client:
                yield client
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        single = single_exception(group)
        raise single from single.__cause__
