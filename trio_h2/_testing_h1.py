"""The in-memory test client's HTTP/1.1 (and 1.0) side: ``connect(handler, http_version="1.1")``.

Theory of operation
-------------------
The client is h11's client side, as released, so it is a peer independent of the
server's own HTTP/1.1 code.  It has the HTTP/2 client's surface where HTTP/1.1 has
the thing (requests, streamed bodies both ways, trailers, 1xx responses,
WebSockets) and lacks what HTTP/1.1 lacks (PING, stream resets, pushes, several
requests at once).

One exchange at a time.  A lock, held from the request's first byte to the
response's last (a whole ``stream()`` or ``websocket()`` block), serialises the
requests of several tasks in the order they came; the client never pipelines.
There is no reader task: the server says nothing it was not asked, so the task
waiting for a response reads it, and a cancelled read takes nothing.

Every change to h11's state is synchronous, and the bytes it gives go out in one
shielded, bounded write, so nothing is ever half-written.  Once a request's head
has gone out, either the exchange completes or the connection is closed: HTTP/1.1
can neither skip the rest of a response nor end a request body early, so a
cancellation, a failure, or a ``stream()`` block left before its body's end
closes it (the server sees the client leave, as it sees an HTTP/2 stream reset),
and every later call raises :class:`trio_h2.ConnectionClosed` saying why.  The
same happens after the server's ``connection: close``: an in-memory client has
exactly one connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import h11
import trio
import wsproto.utilities

from ._errors import ConnectionClosed, LocalProtocolError, single_exception
from ._headers import decode
from ._testing_base import (
    SEND_TIMEOUT,
    HeaderPairs,
    Response,
    WebSocketMessages,
    encode_headers,
    to_str,
)

__all__ = ["H1Client", "H1ClientWebSocket", "H1StreamingResponse", "open_h1_client"]

Body = bytes | str | AsyncIterable[bytes] | None

_RECEIVE_SIZE = 65_536
# A bytes body goes out in pieces of this size, each one shielded write.
_PIECE = 65_536
# Response heads larger than h11's default (16 KiB) are still heads: a test client
# should report what the server sent, not refuse it.
_MAX_HEAD = 1_048_576
# RFC 9110 §8.6: a user agent sends content-length for these even with no body.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

_CANCELLED = (
    "a request was cancelled before its response ended, and HTTP/1.1 cannot skip the "
    "rest of a response: the connection was closed"
)
_LEFT_EARLY = (
    "a stream() block ended before its response did, and HTTP/1.1 cannot skip the rest "
    "of a response: the connection was closed"
)
_SWITCHED = (
    "the connection became a WebSocket (101 Switching Protocols): it carries no more HTTP requests"
)


class _ServerGone(ConnectionClosed):
    """The transport broke or closed under a write (the server may have answered first)."""


def _fields(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(decode(bytes(name)), decode(bytes(value))) for name, value in headers]


class _Exchange:
    """One request and its response, as far as they have gone."""

    def __init__(self, response: Response, head: bytes, *, sent: bool, wait: bool) -> None:
        self.response = response
        #: The request's head (and, when it has no body to send, its end).
        self.head = head
        #: Whether the whole request is in ``head``, or has gone out since.
        self.request_sent = sent
        #: Set once the body may go: at once, or on 100 Continue (or the final answer).
        self.go_ahead = trio.Event()
        if not wait:
            self.go_ahead.set()
        #: The final answer came while the client still waited for 100 Continue.
        self.refused = False
        #: The response's end has been read.
        self.ended = False
        self.raw_headers: list[tuple[bytes, bytes]] = []


class H1StreamingResponse:
    """A response whose body is read as it arrives (see :meth:`H1Client.stream`)."""

    def __init__(self, client: H1Client, exchange: _Exchange) -> None:
        self._client = client
        self._exchange = exchange

    @property
    def response(self) -> Response:
        return self._exchange.response

    @property
    def status(self) -> int | None:
        return self._exchange.response.status

    def __aiter__(self) -> H1StreamingResponse:
        """``async for chunk in response``: the body, chunk by chunk (see :meth:`__anext__`)."""
        return self

    async def __anext__(self) -> bytes:
        """The next body chunk as it arrives; the server's socket is read only for it.

        A cancelled call takes no chunk.  Raises :class:`trio_h2.ConnectionClosed` if
        the server closes the connection before the body's end (HTTP/1.1's way of
        saying what HTTP/2 says with a reset).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        client, exchange = self._client, self._exchange
        while not exchange.ended:
            if client._closed is not None:
                raise ConnectionClosed(client._closed)
            event, awaited = await client._next_event(exchange)
            data = client._take(exchange, event)
            if data:
                if not awaited:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return data
        raise StopAsyncIteration

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Yield body chunks as they arrive (as ``async for chunk in response`` does)."""
        async for chunk in self:
            yield chunk


class H1ClientWebSocket(WebSocketMessages):
    """A WebSocket the test client opened with an HTTP/1.1 Upgrade (RFC 6455 §4).

    The same calls as :class:`trio_h2.testing.ClientWebSocket`: messages with
    :meth:`send_message`, :meth:`get_message` and :meth:`close`; raw bytes on the
    upgraded connection with :meth:`send_raw` and :meth:`receive_raw` (do not mix
    them with messages).
    """

    def __init__(self, client: H1Client, response: Response, pending: bytes) -> None:
        super().__init__()
        self._client = client
        self._response = response
        self._pending = pending

    @property
    def response(self) -> Response:
        """The server's answer (``status`` 101, its ``headers``)."""
        return self._response

    async def send_raw(self, data: bytes, *, end_stream: bool = False) -> None:
        """Write ``data`` on the connection as it is; ``end_stream``: then end our side."""
        await trio.lowlevel.checkpoint_if_cancelled()
        await self._client._write(data)
        if end_stream:
            await self._client._send_eof()

    async def _send_bytes(self, data: bytes) -> None:
        await self._client._write(data)

    async def receive_raw(self) -> bytes:
        """The server's next bytes on the connection; ``b""`` once it has closed it.

        A cancelled call takes nothing.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._pending:
            # What came right after the 101, in the same read as its head.
            data, self._pending = self._pending, b""
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        return await self._client._receive()


class H1Client:
    """An HTTP/1.1 (or 1.0) client connected in memory to a server (see :func:`connect`).

    The surface of :class:`trio_h2.testing.Client` where HTTP/1.1 has the thing:
    :meth:`request`, :meth:`get`, :meth:`post`, :meth:`stream`, :meth:`websocket`
    and :meth:`aclose`; a :class:`~trio_h2.testing.Response` is read the same way.
    HTTP/2's own calls (``ping``, ``reset``, ``start_request``, ``send_data``...)
    are not here, as HTTP/1.1 has no such thing.

    Requests made by several tasks at once are served one after another, in the
    order they were made: HTTP/1.1 carries one exchange at a time (the client does
    not pipeline).  A request inside this task's own ``stream()`` or
    ``websocket()`` block raises :class:`trio_h2.LocalProtocolError`, as it could
    only wait for itself.

    ``te_trailers``: every HTTP/1.1 request without a ``te`` header of its own says
    ``te: trailers``, so the server sends a chunked response's trailers, as it does
    over HTTP/2.  HTTP/1.0 has neither chunked bodies nor trailers.
    """

    def __init__(
        self, transport: trio.abc.Stream, *, http_version: str = "1.1", te_trailers: bool = True
    ) -> None:
        if http_version not in ("1.1", "1.0"):
            raise ValueError(f"http_version is '1.1' or '1.0', not {http_version!r}")
        self.transport = transport
        #: ``"1.1"`` or ``"1.0"``: what the requests say.
        self.http_version = http_version
        self.te_trailers = te_trailers
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self._lock = trio.Lock()
        self._send_lock = trio.Lock()
        # Why the connection carries no more requests, once it does not.
        self._closed: str | None = None
        self._eof = False
        self._requests = 0

    # ----------------------------------------------------------------- plumbing

    def _check_usable(self) -> None:
        """Before waiting for the connection: fail now what could only fail later."""
        if self._lock.statistics().owner is trio.lowlevel.current_task():
            raise LocalProtocolError(
                "this task's stream() or websocket() block still holds the connection, "
                "and HTTP/1.1 carries one exchange at a time: leave the block first"
            )
        self._check_open()

    def _check_open(self) -> None:
        if self._closed is not None:
            raise ConnectionClosed(self._closed)

    async def _write(self, data: bytes) -> None:
        # Shielded, as the HTTP/2 client's writes are: a request cut by a
        # cancellation would be taken by the server for another one.  Bounded: a
        # server that stops reading fails the call instead of hanging it.
        if not data:
            return
        with trio.CancelScope(shield=True):
            async with self._send_lock:
                with trio.move_on_after(SEND_TIMEOUT) as waited:
                    try:
                        await self.transport.send_all(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        raise _ServerGone("the server closed the connection") from exc
                if waited.cancelled_caught:
                    raise ConnectionClosed(f"the server read nothing for {SEND_TIMEOUT} s")

    async def _send_eof(self) -> None:
        send_eof = getattr(self.transport, "send_eof", None)
        if send_eof is None:
            raise LocalProtocolError(f"{type(self.transport).__name__} cannot end one side")
        with trio.CancelScope(shield=True):
            try:
                await send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionClosed("the server closed the connection") from exc

    async def _receive(self) -> bytes:
        try:
            data = await self.transport.receive_some(_RECEIVE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self._eof = True
        return bytes(data)

    async def _next_event(self, exchange: _Exchange) -> tuple[Any, bool]:
        """h11's next event, reading as needed, and whether it had to wait for it."""
        awaited = False
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise ConnectionClosed(self._broke(exchange, str(exc))) from exc
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionClosed(self._broke(exchange, "end of file"))
            if event is not h11.NEED_DATA:
                return event, awaited
            awaited = True
            self.h11.receive_data(await self._receive())

    def _broke(self, exchange: _Exchange, detail: str) -> str:
        if not self._eof:
            return f"the server's response broke HTTP/1.1: {detail}"
        if exchange.response.status is None:
            return "the server closed the connection before answering"
        return f"the server closed the connection before the response ended ({detail})"

    async def _abandon(self, reason: str) -> None:
        """Close the connection: the exchange under way cannot go on (see the module)."""
        if self._closed is None:
            self._closed = reason
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.transport)

    async def _settle(self, exchange: _Exchange, unfinished: str = _CANCELLED) -> None:
        """After an exchange: ready for the next one, or closed (and why)."""
        if not exchange.ended:
            await self._abandon(unfinished)
        elif self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        elif self.h11.our_state is not h11.DONE and self.h11.our_state is not h11.MUST_CLOSE:
            await self._abandon(
                "the server answered before the request body was sent whole, so the "
                "connection was closed"
            )
        elif self.http_version == "1.0":
            await self._abandon(
                "HTTP/1.0: the server closes the connection after each response; "
                "connect again for another request"
            )
        else:
            await self._abandon(
                f"the server closed the connection after response {exchange.response.stream_id}"
                " (connection: close); connect again for another request"
            )

    def _why(self, exc: BaseException) -> str:
        if isinstance(exc, BaseExceptionGroup):
            exc = single_exception(exc)
        if isinstance(exc, trio.Cancelled):
            return _CANCELLED
        if isinstance(exc, ConnectionClosed):
            return str(exc)
        return f"a request failed half-way ({exc!r}), so the connection was closed"

    # ---------------------------------------------------------------- exchanges

    async def _prepare_body(self, body: Body, headers: HeaderPairs) -> tuple[Body, HeaderPairs]:
        headers = list(headers)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if (
            self.http_version == "1.0"
            and body is not None
            and not isinstance(body, bytes)
            and not any(to_str(name).lower() == "content-length" for name, _ in headers)
        ):
            # HTTP/1.0 has no chunked encoding: the body is read whole, for its length.
            body = b"".join([chunk async for chunk in body])
        return body, headers

    def _begin(
        self,
        method: str,
        path: str,
        headers: HeaderPairs,
        body: Body,
        trailers: HeaderPairs | None,
        authority: str,
        *,
        upgrade: list[tuple[str, str]] | None = None,
    ) -> _Exchange:
        """Make the request's head; h11's state changes only if nothing was wrong with it."""
        fields = [(to_str(name).lower(), to_str(value)) for name, value in headers]
        names = {name for name, _ in fields}
        host = next((value for name, value in fields if name == "host"), authority)
        wire = [] if "host" in names else [("host", authority)]
        wire += upgrade or []
        wire += fields
        http10 = self.http_version == "1.0"
        if self.te_trailers and not http10 and upgrade is None and "te" not in names:
            wire.append(("te", "trailers"))
        streamed = body is not None and not isinstance(body, bytes | str)
        chunked = "transfer-encoding" in names
        if http10 and (chunked or trailers is not None):
            raise LocalProtocolError("HTTP/1.0 has no chunked bodies, so no trailers either")
        if not chunked and "content-length" not in names:
            if trailers is not None or streamed:
                wire.append(("transfer-encoding", "chunked"))
                chunked = True
            elif isinstance(body, bytes) and (body or method.upper() in _BODY_METHODS):
                wire.append(("content-length", str(len(body))))
            elif body is None and method.upper() in _BODY_METHODS:
                wire.append(("content-length", "0"))
        if trailers is not None and not chunked:
            raise LocalProtocolError("trailers need a chunked body, not a content-length")
        expect = next((value for name, value in fields if name == "expect"), "")
        wait = "100-continue" in expect.lower() and (streamed or bool(body))
        if wait and http10:
            raise LocalProtocolError(
                "100 Continue is HTTP/1.1's: an HTTP/1.0 server never says it"
            )
        try:
            request = h11.Request(method=method, target=path, headers=encode_headers(wire))
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"not a request h11 can send: {exc}") from None
        try:
            head = self.h11.send(request) or b""
        except h11.LocalProtocolError as exc:
            self._closed = f"h11 refused a request, and its state with it: {exc}"
            raise LocalProtocolError(f"not a request h11 can send: {exc}") from None
        if http10:
            # h11 writes only HTTP/1.1; the request line is the one difference here.
            head = head.replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
        empty = not streamed and not body and trailers is None
        if empty:
            head += self.h11.send(h11.EndOfMessage()) or b""
        self._requests += 1
        pseudo = [(":method", method), (":scheme", "http"), (":authority", host), (":path", path)]
        response = Response(self._requests, request_headers=pseudo + wire)
        return _Exchange(response, head, sent=empty, wait=wait)

    async def _send_body(
        self, exchange: _Exchange, body: Body, trailers: HeaderPairs | None
    ) -> None:
        await exchange.go_ahead.wait()
        if exchange.refused:
            return  # RFC 9110 §10.1.1: the final answer came first; the body is not sent
        try:
            if isinstance(body, bytes | str):
                data = body.encode("utf-8") if isinstance(body, str) else body
                for start in range(0, len(data), _PIECE):
                    await self._write(self._send(h11.Data(data=data[start : start + _PIECE])))
            elif body is not None:
                async for chunk in body:
                    if exchange.ended:
                        return  # the server has answered: the rest is not wanted
                    if chunk:
                        await self._write(self._send(h11.Data(data=bytes(chunk))))
            await self._write(self._send(h11.EndOfMessage(headers=encode_headers(trailers or ()))))
        except _ServerGone:
            return  # the server closed its side; what it answered first is read next
        exchange.request_sent = True

    def _send(self, event: h11.Data | h11.EndOfMessage) -> bytes:
        try:
            return self.h11.send(event) or b""
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"the request body does not fit its head: {exc}") from None

    async def _read_head(self, exchange: _Exchange, *, until_continue: bool = False) -> None:
        response = exchange.response
        while response.status is None:
            event, _ = await self._next_event(exchange)
            if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                response.informational.append((event.status_code, _fields(event.headers)))
                response.arrival.append("informational")
                if event.status_code == 100:
                    exchange.go_ahead.set()
                    if until_continue:
                        return
            elif isinstance(event, h11.InformationalResponse | h11.Response):
                # A final answer, or the 101 that ends an Upgrade's HTTP.
                exchange.raw_headers = [(bytes(n), bytes(v)) for n, v in event.headers]
                response.status = event.status_code
                response.headers = _fields(exchange.raw_headers)
                response.arrival.append("headers")
                if not exchange.go_ahead.is_set():
                    exchange.refused = True
                    exchange.go_ahead.set()
                if event.status_code == 101:
                    exchange.ended = True
            else:
                raise ConnectionClosed(self._broke(exchange, f"{event!r} before the response"))

    def _take(self, exchange: _Exchange, event: Any) -> bytes:
        """Record a body event; returns the body bytes it carried."""
        response = exchange.response
        if isinstance(event, h11.Data):
            data = bytes(event.data)
            response.body += data
            response.arrival.append("data")
            return data
        if isinstance(event, h11.EndOfMessage):
            exchange.ended = True
            if event.headers:
                response.trailers = _fields(event.headers)
                response.arrival.append("trailers")
            return b""
        raise ConnectionClosed(self._broke(exchange, f"{event!r} inside the response"))

    async def _read_body(self, exchange: _Exchange) -> None:
        while not exchange.ended:
            event, _ = await self._next_event(exchange)
            self._take(exchange, event)

    # ----------------------------------------------------------------- requests

    async def request(
        self,
        method: str,
        path: str,
        headers: HeaderPairs = (),
        body: bytes | str | AsyncIterable[bytes] | None = None,
        *,
        authority: str = "example.test",
        trailers: HeaderPairs | None = None,
    ) -> Response:
        """Send a request and wait for the whole response.

        ``authority`` is sent as ``host`` (unless ``headers`` have one).  ``body`` may
        be bytes, str or an async iterable of bytes: bytes go with a content-length,
        an async iterable chunked (over HTTP/1.0 it is read whole first, for its
        length).  ``trailers``, if given, end a chunked body.  With an ``expect:
        100-continue`` header the body waits for the server's 100 Continue, or is not
        sent at all if the final answer comes first.  1xx responses are in
        :attr:`Response.informational`; a HEAD response has no body.

        Cancelled before the request went out, it has sent nothing and the connection
        goes on; cancelled after, the connection is closed (HTTP/1.1 cannot abandon a
        response) and later calls raise :class:`trio_h2.ConnectionClosed`.  A server
        that closes the connection before the response's end raises
        :class:`trio_h2.ConnectionClosed` (there is no reset, so no ``raise_on_reset``).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_usable()
        body, headers = await self._prepare_body(body, headers)
        async with self._lock:
            self._check_open()
            exchange = self._begin(method, path, headers, body, trailers, authority)
            try:
                await self._write(exchange.head)
                if not exchange.go_ahead.is_set():
                    await self._read_head(exchange, until_continue=True)
                if not exchange.request_sent:
                    await self._send_body(exchange, body, trailers)
                await self._read_head(exchange)
                await self._read_body(exchange)
            except BaseException as exc:
                await self._abandon(self._why(exc))
                raise
            await self._settle(exchange)
        return exchange.response

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
    ) -> AsyncIterator[H1StreamingResponse]:
        """Send a request and read the response body chunk by chunk as it arrives.

        The block is entered once the response's head has come; ``async for chunk in
        response`` reads the body, and the server's socket is read only as chunks are
        taken.  ``body`` and ``trailers`` are as for :meth:`request`, sent while the
        response is read.  Leaving the block before the body's end closes the
        connection (HTTP/1.1 cannot skip the rest).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_usable()
        body, headers = await self._prepare_body(body, headers)
        async with self._lock:
            self._check_open()
            exchange = self._begin(method, path, headers, body, trailers, authority)
            try:
                await self._write(exchange.head)
                async with trio.open_nursery() as nursery:
                    if not exchange.request_sent:
                        nursery.start_soon(self._send_body, exchange, body, trailers)
                    await self._read_head(exchange)
                    yield H1StreamingResponse(self, exchange)
                    nursery.cancel_scope.cancel()
            except BaseException as exc:
                await self._abandon(self._why(exc))
                if isinstance(exc, BaseExceptionGroup):
                    single = single_exception(exc)
                    raise single from single.__cause__
                raise
            await self._settle(exchange, _LEFT_EARLY)

    @asynccontextmanager
    async def websocket(
        self,
        path: str,
        headers: HeaderPairs = (),
        *,
        subprotocols: Iterable[str] = (),
        authority: str = "example.test",
    ) -> AsyncIterator[H1ClientWebSocket]:
        """Open a WebSocket with an HTTP/1.1 Upgrade (RFC 6455 §4): ``async with``.

        The request carries ``upgrade: websocket``, a fresh ``sec-websocket-key``,
        ``sec-websocket-version: 13``, the ``subprotocols`` offered and ``headers``;
        the server's ``sec-websocket-accept`` is checked.  A server that answers other
        than 101 raises ``trio_websocket.ConnectionRejected`` (with its status, headers
        and body), and the connection goes on.  After a 101 the connection is the
        WebSocket's: leaving the block closes it.
        """
        import trio_websocket

        await trio.lowlevel.checkpoint_if_cancelled()
        if self.http_version == "1.0":
            raise LocalProtocolError("a WebSocket needs HTTP/1.1's Upgrade, not HTTP/1.0")
        self._check_usable()
        async with self._lock:
            self._check_open()
            key = wsproto.utilities.generate_nonce().decode()
            offered = ", ".join(subprotocols)
            upgrade: list[tuple[str, str]] = [
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-key", key),
                ("sec-websocket-version", "13"),
                *([("sec-websocket-protocol", offered)] if offered else []),
            ]
            exchange = self._begin("GET", path, headers, None, None, authority, upgrade=upgrade)
            response = exchange.response
            try:
                await self._write(exchange.head)
                await self._read_head(exchange)
                if response.status == 101:
                    accept = response.header("sec-websocket-accept")
                    expected = wsproto.utilities.generate_accept_token(key.encode()).decode()
                    if accept != expected:
                        raise trio_websocket.HandshakeError(
                            f"sec-websocket-accept is {accept!r}, not {expected!r}"
                        )
                    self._closed = _SWITCHED
                    trailing, _ = self.h11.trailing_data
                    websocket = H1ClientWebSocket(self, response, bytes(trailing))
                else:
                    await self._read_body(exchange)
            except BaseException as exc:
                await self._abandon(self._why(exc))
                raise
            if response.status != 101:
                await self._settle(exchange)
                raise trio_websocket.ConnectionRejected(
                    response.status or 0, tuple(exchange.raw_headers), response.body
                )
            try:
                yield websocket
            finally:
                await self._abandon(_SWITCHED)

    async def aclose(self) -> None:
        """Close the connection; later calls raise :class:`trio_h2.ConnectionClosed`."""
        if self._closed is None:
            self._closed = "the client was closed"
        await self.transport.aclose()


@asynccontextmanager
async def open_h1_client(
    transport: trio.abc.Stream, *, http_version: str = "1.1", te_trailers: bool = True
) -> AsyncIterator[H1Client]:
    """An :class:`H1Client` on an established transport; closed at the block's end."""
    client = H1Client(transport, http_version=http_version, te_trailers=te_trailers)
    try:
        yield client
    finally:
        with trio.CancelScope(shield=True):
            await client.aclose()
