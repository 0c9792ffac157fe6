"""Stream: one request and its response, as a handler sees them.

The Stream knows nothing of frames.  It talks to its connection through the small
:class:`StreamIO` interface (send headers, send data, reset, acknowledge what was
read), so the same Stream can later be carried by another protocol.

Inbound, the connection pushes chunks into the stream's buffer synchronously; the
buffer is bounded by the stream's flow-control window, because credit goes back to
the peer only when the handler takes a chunk out.  Outbound, each call checks the
response state first, so misuse fails loudly before anything reaches the wire.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import trio

from .._config import Config
from .._errors import ErrorCode, LocalProtocolError, RequestBodyTooLarge, single_exception
from .._headers import (
    HeaderList,
    RawHeaders,
    check_headers,
    check_status,
    decode,
)
from ..proto.state import StreamState
from . import body as _body
from .interrupt import call_handler, protected
from .request_body import RequestBody
from .response import ResponseBody, StartedResponse, declared_length, reset_unfinished

if TYPE_CHECKING:
    import trio_websocket

    from ..proto.forwarded import Forwarded
    from ..proto.proxy import ProxyHeader
    from .body import Body
    from .proxied import Proxied
    from .tls import TLSSession

_DEFAULT_CONFIG = Config()


class StreamIO(Protocol):
    """What a Stream needs from the connection that carries it."""

    @property
    def tls(self) -> TLSSession | None:
        """The connection's own TLS session; None on cleartext."""
        ...

    def send_headers(self, stream_id: int, headers: RawHeaders, end_stream: bool) -> None: ...

    async def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> None: ...

    async def send_response(
        self, stream_id: int, headers: RawHeaders, data: bytes, trailers: RawHeaders | None
    ) -> None: ...

    def end_stream(self, stream_id: int) -> None: ...

    def reset_stream(self, stream_id: int, error_code: int) -> None: ...

    def acknowledge(self, stream_id: int, size: int) -> None: ...

    def reading(self, stream_id: int) -> None:
        """The handler is waiting for request body bytes (HTTP/1.1: 100 Continue)."""
        ...

    async def switch_protocols(
        self, stream_id: int, headers: RawHeaders
    ) -> tuple[trio.abc.Stream, bytes]:
        """Answer 101 and hand over the connection (HTTP/1.1 Upgrade only)."""
        ...

    def response_headers(self, status: bytes, headers: RawHeaders) -> RawHeaders: ...

    async def wait_send_window(self, stream_id: int) -> int: ...

    def push_nowait(
        self, parent: Stream, request_headers: RawHeaders, response: PushedResponse
    ) -> Stream | None: ...


class Tunnel(Protocol):
    """What a stream carries once its handler accepted a tunnel on it (a WebSocket).

    The tunnel's tasks run in a nursery of the handler's (:meth:`Stream.open_tunnel`);
    when the handler is done the stream finishes the tunnel, and a graceful shutdown
    of the server asks it to close.
    """

    async def finish(self, failure: Exception | None) -> Exception | None:
        """The handler returned (``failure`` is None) or raised ``failure``: close.

        Returns what the handler's task is to raise: ``failure``, or None when the
        tunnel accounts for it (a WebSocket's own ConnectionClosed).
        """
        ...

    def shutdown(self) -> None:
        """The server is shutting down: start closing (it must not await)."""
        ...


class PushedResponse:
    """The response a push promises: status, headers and body, or a handler that answers."""

    def __init__(
        self,
        status: int,
        headers: RawHeaders,
        body: Body,
        handler: Callable[[Stream], Awaitable[None]] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.handler = handler


class Stream:
    """One HTTP request and the means to answer it.

    Request attributes: :attr:`method`, :attr:`path`, :attr:`scheme`,
    :attr:`authority`, :attr:`headers` (ordered ``(name, value)`` str pairs, repeated
    names kept, pseudo-headers left out), :attr:`stream_id`, :attr:`client_address`,
    :attr:`proxy_info` and, once the body has been read to its end, :attr:`trailers`.

    Behind a trusted proxy (``Config.forwarded_allow_ips``), :attr:`client_address`,
    :attr:`scheme` and :attr:`authority` are the client's, as the proxy's PROXY header
    and forwarded headers tell them; :attr:`headers` are always as received.

    Read the body with ``async for chunk in stream`` or ``await stream.read()``.
    Answer with :meth:`respond`, or stream with :meth:`start_response`.
    """

    def __init__(
        self,
        io: StreamIO,
        stream_id: int,
        pseudo: Mapping[bytes, bytes],
        raw_headers: RawHeaders,
        *,
        state: StreamState,
        client_address: Any,
        max_body_size: int,
        pushed: bool = False,
        http_version: str = "2",
        config: Config | None = None,
        proxied: Proxied | None = None,
    ) -> None:
        self._io = io
        #: When (trio time) the request arrived.
        self.arrived = trio.current_time()
        #: The protocol the request came over: ``"2"``, ``"1.1"`` or ``"1.0"``.
        self.http_version = http_version
        #: The HTTP/2 stream identifier.
        self.stream_id = stream_id
        #: The request method, e.g. ``"GET"``.
        self.method = decode(pseudo.get(b":method", b""))
        #: The request target, query included, e.g. ``"/index.html?x=1"`` (see
        #: :attr:`url_path`, :attr:`query_string` and :attr:`query` for its parts).
        self.path = decode(pseudo.get(b":path", b""))
        #: The request's header fields as bytes, exactly as received (no pseudo-headers).
        self.raw_headers = raw_headers
        self._pseudo = pseudo
        self._proxied = proxied
        self._connection_client = client_address
        #: The connection's PROXY header (``Config.proxy_protocol``): what the proxy
        #: said of the client (its addresses, and TLS, ALPN, SNI in version 2); else
        #: None.
        self.proxy_info: ProxyHeader | None = None
        if proxied is None:
            # Nothing to believe: a plain attribute, with nothing to work out.
            self.client_address = client_address
        else:
            self.proxy_info = proxied.header
        #: True for a stream the server opened with a push.
        self.pushed = pushed
        #: The stream's protocol state (request side, response side, reset), shared
        #: with the connection that carries it.
        self.state = state
        state.name = f"<Stream {stream_id} {self.method} {self.path}>"
        #: The server's limits and timeouts.
        self.config = config if config is not None else _DEFAULT_CONFIG
        #: The request body as the connection delivers it.
        self.inbound = RequestBody(
            self.state,
            functools.partial(io.acknowledge, stream_id),
            functools.partial(io.reading, stream_id),
            self.config.body_timeout,
        )
        self._max_body_size = max_body_size
        self.cancel_scope = trio.CancelScope()
        protocol = pseudo.get(b":protocol")
        #: The ``:protocol`` of an extended CONNECT (RFC 8441), e.g. ``"websocket"``,
        #: else None.
        self.protocol = decode(protocol) if protocol is not None else None
        #: The tunnel the handler opened on this stream (a WebSocket), else None.
        self.tunnel: Tunnel | None = None
        self._tunnel_tasks: trio.Nursery | None = None

    def __repr__(self) -> str:
        return self.state.name

    # Decoded on first use: many handlers never look at them.

    @functools.cached_property
    def client_address(self) -> Any:
        """The client's address: ``(host, port)`` as the socket reports it.

        Through a trusted proxy, the client it names instead: by the PROXY header
        (``(host, port)``, or a path for a Unix socket), then by ``Forwarded`` or
        ``X-Forwarded-For``, as ``(host, port)`` (the port 0 when not given), the host
        an IP address, an obfuscated identifier such as ``"_hidden"``, or
        ``"unknown"`` (also for a forwarded chain that cannot be read).  None for an
        in-memory transport.
        """
        return self._forwarded.client or self._connection_client

    @functools.cached_property
    def _forwarded(self) -> Forwarded:
        assert self._proxied is not None  # else client_address is set in __init__
        return self._proxied.forwarded(self.raw_headers)

    @functools.cached_property
    def scheme(self) -> str:
        """``"http"`` or ``"https"`` as the client sent it.

        Through a trusted proxy, the scheme the client used with the proxy, from
        ``Forwarded: proto=`` or ``X-Forwarded-Proto``, else from the PROXY header's
        TLS record.
        """
        proxied = self._proxied
        if proxied is not None:
            scheme = self._forwarded.scheme or proxied.scheme
            if scheme is not None:
                return scheme
        return self._own_scheme

    @property
    def tls(self) -> TLSSession | None:
        """The TLS session the request came over: version, cipher suite, ALPN and the
        client's certificate (a :class:`trio_h2.TLSSession`); None on cleartext.

        It is the server's own TLS: behind a proxy that terminated TLS the connection
        is cleartext, and what the proxy said of the client's TLS is in
        :attr:`proxy_info`.
        """
        return self._io.tls

    @property
    def _own_scheme(self) -> str:
        return decode(self._pseudo.get(b":scheme", b""))

    @functools.cached_property
    def url_path(self) -> str:
        """The request target without its query: ``"/search"`` for ``"/search?q=1"``.

        Not percent-decoded (``urllib.parse.unquote`` does that), so that an encoded
        ``/`` stays distinguishable from a real one.
        """
        return self.path.partition("?")[0]

    @functools.cached_property
    def query_string(self) -> str:
        """What follows the ``?`` in the request target, or ``""``."""
        return self.path.partition("?")[2]

    @functools.cached_property
    def query(self) -> dict[str, list[str]]:
        """The query string parsed: each name with its values, in order, blanks kept."""
        return urllib.parse.parse_qs(self.query_string, keep_blank_values=True)

    @functools.cached_property
    def authority(self) -> str:
        """``:authority``, or the ``host`` header when that is missing.

        Through a trusted proxy, the host the client asked the proxy for, from
        ``Forwarded: host=`` or ``X-Forwarded-Host``, when they give it.
        """
        if self._proxied is not None:
            host = self._forwarded.host
            if host is not None:
                return host
        return self._own_authority

    @property
    def _own_authority(self) -> str:
        return decode(self._pseudo.get(b":authority", b"")) or self.header("host") or ""

    @functools.cached_property
    def headers(self) -> list[tuple[str, str]]:
        """The request's header fields as str pairs, in order, repeats kept."""
        return [(decode(name), decode(value)) for name, value in self.raw_headers]

    @functools.cached_property
    def raw_pseudo_headers(self) -> RawHeaders:
        """The request's pseudo-header fields as bytes, in the order received."""
        return list(self._pseudo.items())

    @property
    def is_websocket(self) -> bool:
        """True for a WebSocket request: an extended CONNECT with ``:protocol websocket``."""
        return self.protocol == "websocket"

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of the request header ``name`` (lowercase), or ``default``."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    # ----------------------------------------------------------------- request body

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.receive_some()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def receive_some(self) -> bytes:
        """The next chunk of the request body; ``b""`` once the body has ended.

        Taking a chunk is what gives the peer flow-control credit to send more.
        Raises :class:`StreamReset` if the peer reset the stream.  A cancelled call
        has taken nothing: the chunk stays for the next call.
        """
        return await self.inbound.receive_some()

    async def read(self, limit: int | None = None) -> bytes:
        """The whole request body.

        At most ``limit`` bytes (default: ``Config.max_request_body_size``); a longer
        body raises :class:`RequestBodyTooLarge`, which, left uncaught, answers 413.
        A cancelled call has consumed nothing: what it had gathered is put back for
        the next read (its credit has gone to the peer already, so the buffer may hold
        up to the limit).
        """
        if limit is None:
            limit = self._max_body_size
        declared = self.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestBodyTooLarge(f"request body of {declared} bytes is over {limit}")
        return await self.inbound.read(limit)

    @property
    def trailers(self) -> list[tuple[str, str]] | None:
        """Request trailers, once the body has been read to its end (None if none came)."""
        return self.inbound.trailers

    @property
    def status(self) -> int | None:
        """The final status sent, or None before the response starts."""
        return self.state.status

    @property
    def reset_code(self) -> int | None:
        """The RST_STREAM error code once either side reset the stream, else None."""
        return self.state.reset_code

    @property
    def request_complete(self) -> bool:
        """True once the peer has sent the whole request (END_STREAM)."""
        return self.state.request_ended

    # ---------------------------------------------------------------- response side

    @property
    def response_started(self) -> bool:
        """True once the final response's HEADERS have been sent."""
        return self.state.response_started

    @property
    def response_ended(self) -> bool:
        """True once the response is complete (or the stream was reset)."""
        return self.state.response_ended

    async def send_informational(self, status: int, headers: HeaderList = ()) -> None:
        """Send a 1xx response (e.g. 103 Early Hints); any number before the final one."""
        raw_status = check_status(status, informational=True)
        self.state.check_can_start()
        raw = [(b":status", raw_status), *check_headers(headers)]
        await trio.lowlevel.checkpoint_if_cancelled()
        self._io.send_headers(self.stream_id, raw, False)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def _start(
        self, status: int, headers: HeaderList, length: int | None, add_length: bool
    ) -> RawHeaders:
        if not isinstance(add_length, bool):
            # start_response() takes a length by that name; respond() knows its own.
            raise LocalProtocolError(f"content_length is True or False, not {add_length!r}")
        raw_status = check_status(status)
        raw = check_headers(headers)
        self.state.check_can_start()
        declared = declared_length(raw)
        if not add_length and declared is not None:
            raise LocalProtocolError("content_length=False, yet the headers declare one")
        bodiless = status in (204, 304)
        if bodiless and length:
            raise LocalProtocolError(f"a {status} response has no body")
        if length is not None:
            if declared is None:
                # RFC 9110 §8.6: never on a 204; on a 304 it would describe the 200.
                if not bodiless and add_length:
                    raw.append((b"content-length", str(length).encode("ascii")))
            elif declared != length and not (self.method == "HEAD" or bodiless):
                raise LocalProtocolError(
                    f"content-length header says {declared}, the body has {length} bytes"
                )
        return self._io.response_headers(raw_status, raw)

    async def respond(
        self,
        status: int,
        headers: HeaderList = (),
        body: Body = b"",
        *,
        trailers: HeaderList | None = None,
        content_length: bool = True,
    ) -> None:
        """Send a whole response.

        ``body`` is bytes, str (sent as UTF-8), a binary file object (read in chunks
        in a worker thread, never whole), an async iterable of bytes, or a
        ``trio.MemoryReceiveChannel[bytes]`` fed by another task (closing its send side
        ends the body).  ``content-length`` is added when the length is known (bytes,
        str, regular files, ``io.BytesIO``); a declared ``content-length`` that a
        known length contradicts raises :class:`LocalProtocolError` before anything
        is sent, and a streamed body that turns out longer or shorter than it resets
        the stream with INTERNAL_ERROR.  Every chunk waits for flow-control credit and
        goes out in frames no larger than the peer's SETTINGS_MAX_FRAME_SIZE.
        ``trailers`` are sent after the body, in a final HEADERS frame.

        ``content_length=False`` sends no ``content-length`` even for a body of known
        length, for protocols that forbid one (a gRPC response); ``headers`` must not
        declare one either.  Over HTTP/1.1 the body is then framed by the server:
        chunked (``content-length: 0`` for an empty one without trailers; over
        HTTP/1.0, by closing the connection).

        ``respond`` owns the body source: when it returns or fails, a file is closed,
        an async generator is closed, and a channel's receive side is closed, so a
        producer still sending (say, for a HEAD request, which gets headers only)
        gets ``trio.BrokenResourceError`` and knows nobody is listening.
        """
        fixed = _body.fixed_body(body)
        head_request = self.method == "HEAD"
        raw_trailers = check_headers(trailers, trailers=True) if trailers else None
        if fixed is not None:
            raw = self._start(status, headers, len(fixed), content_length)
            await trio.lowlevel.checkpoint_if_cancelled()
            self.state.start_response(status)
            if head_request or (not fixed and raw_trailers is None):
                self._io.send_headers(self.stream_id, raw, True)
                self.state.end_response()
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
            try:
                # Returns without a cancellation point once all of it is queued.
                await self._io.send_response(self.stream_id, raw, fixed, raw_trailers)
            except BaseException as exc:
                # Cancelled (or failed) while waiting for credit mid-body: what is
                # half-sent cannot be taken back.
                reset_unfinished(self._io, self.state, self.stream_id, exc)
                raise
            self.state.end_response()
            return
        length = _body.known_length(body) if content_length else None
        source = _body.chunks(body)
        try:
            async with self._start_response(status, headers, length, content_length) as out:
                if raw_trailers:
                    out.set_trailers(raw_trailers)
                if not head_request:
                    sent = 0
                    async for chunk in source:
                        sent += len(chunk)
                        if sent == length:
                            # The last of a file: the end goes with it, not after
                            # one more read in a thread to learn that it is the
                            # last, by when a client that had it all may have gone.
                            await out.send(chunk, end=True)
                            break
                        await out.send(chunk)
        finally:
            await _body.close(source, body)

    def start_response(
        self,
        status: int,
        headers: HeaderList = (),
        *,
        content_length: int | None = None,
    ) -> AbstractAsyncContextManager[ResponseBody]:
        """Start a streamed response: ``async with stream.start_response(200) as body:``.

        The HEADERS go out on entry.  ``await body.send(chunk)`` waits for flow-control
        credit (backpressure); leaving the block ends the stream, with the trailers set
        by :meth:`ResponseBody.set_trailers`.  An exception inside the block resets the
        stream with INTERNAL_ERROR; a cancellation resets it with CANCEL.  A body that
        ends shorter than ``content_length`` (or a ``content-length`` header) raises
        :class:`LocalProtocolError` and resets the stream.

        The response to a HEAD request is its HEADERS alone, with END_STREAM: what the
        block sends, and its trailers, are dropped, so one handler serves GET and HEAD.
        """
        return self._start_response(status, headers, content_length, True)

    def _start_response(
        self, status: int, headers: HeaderList, length: int | None, add_length: bool
    ) -> StartedResponse:
        return StartedResponse(
            self._io,
            self.state,
            self.stream_id,
            status,
            functools.partial(self._start, status, headers, length, add_length),
            head=self.method == "HEAD",
        )

    async def push(
        self,
        path: str,
        *,
        method: str = "GET",
        request_headers: HeaderList = (),
        status: int = 200,
        headers: HeaderList = (),
        body: Body = b"",
        handler: Callable[[Stream], Awaitable[None]] | None = None,
    ) -> Stream | None:
        """Push a response the client did not ask for yet (PUSH_PROMISE).

        The promised request is ``method path`` with this request's ``:scheme`` and
        ``:authority``, plus ``request_headers``.  The PUSH_PROMISE leaves at once,
        ahead of this stream's own response, so the client learns of the resource
        before anything that refers to it.  The promised response (``status``,
        ``headers``, and any ``body`` that :meth:`respond` takes) is then served on a
        task of its own, with flow control, independently of this stream: a
        RST_STREAM from the peer on the pushed stream cancels only that task.

        Allowed only before this stream's response starts (1xx responses may have
        gone out), only for safe, cacheable methods (GET, HEAD), and not from a
        pushed stream; otherwise :class:`LocalProtocolError`.

        Returns the pushed :class:`Stream`, or **None when the push was skipped**:
        the peer disabled push (SETTINGS_ENABLE_PUSH=0), its
        SETTINGS_MAX_CONCURRENT_STREAMS leaves no room for another stream from the
        server, or the connection is closing (GOAWAY).  A skipped push is not an
        error: the client asks for the resource itself when it needs it.

        When ``handler`` is given, the pushed stream runs ``await handler(pushed)``
        in its task instead of answering with ``status``, ``headers`` and ``body``.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        pushed = self.push_nowait(
            path,
            method=method,
            request_headers=request_headers,
            status=status,
            headers=headers,
            body=body,
            handler=handler,
        )
        await trio.lowlevel.cancel_shielded_checkpoint()
        return pushed

    def push_nowait(
        self,
        path: str,
        *,
        method: str = "GET",
        request_headers: HeaderList = (),
        status: int = 200,
        headers: HeaderList = (),
        body: Body = b"",
        handler: Callable[[Stream], Awaitable[None]] | None = None,
    ) -> Stream | None:
        """Like :meth:`push`, but synchronous: the PUSH_PROMISE is queued at once.

        For callers that cannot await (callback-style APIs) and need the promised
        stream id right away; the pushed response is served by its own task.
        """
        if method not in ("GET", "HEAD"):
            raise LocalProtocolError(f"only GET and HEAD can be pushed, not {method!r}")
        if not path.startswith("/"):
            raise LocalProtocolError(f"a pushed path starts with '/', not {path!r}")
        if self.pushed:
            raise LocalProtocolError("a pushed stream cannot push")
        if _BAD_PATH_RE.search(path):
            raise LocalProtocolError(f"invalid character in pushed path {path!r}")
        self.state.check_can_start()
        check_status(status)
        raw_request = [
            (b":method", method.encode("ascii")),
            # This request's own, not a proxy's report of the client's: the promise
            # goes to the peer that sent them.
            (b":scheme", self._own_scheme.encode("ascii")),
            (b":authority", self._own_authority.encode("utf-8", "surrogateescape")),
            (b":path", path.encode("utf-8")),
            *check_headers(request_headers),
        ]
        _body.check(body)
        response = PushedResponse(status, check_headers(headers), body, handler)
        return self._io.push_nowait(self, raw_request, response)

    async def wait_send_window(self) -> int:
        """Wait until the peer's flow-control windows let response data go.

        Returns how many bytes may be sent now without waiting: the smaller of the
        stream's and the connection's windows, capped at the peer's largest frame.
        For producers that must size their chunks to the window (pull-style body
        generators); :meth:`ResponseBody.send` waits for credit by itself.  Raises
        :class:`StreamReset` if the stream is reset, or the peer gives no credit within
        ``Config.send_timeout``.
        """
        return await self._io.wait_send_window(self.stream_id)

    # -------------------------------------------------------------------- tunnels

    async def accept_websocket(
        self, subprotocol: str | None = None, extra_headers: HeaderList = ()
    ) -> trio_websocket.WebSocketConnection:
        """Accept a WebSocket request (:attr:`is_websocket`); a trio-websocket connection.

        Over HTTP/2 (RFC 8441) the answer is a 200 with ``sec-websocket-protocol``
        set to ``subprotocol`` (one the client offered) and ``extra_headers``; the
        stream's DATA then carries the WebSocket both ways, with flow control.  The
        WebSocket lives while the handler runs: when the handler returns it is closed
        with 1000, or with 1011 if the handler raised.  To refuse the request,
        answer with :meth:`respond` (e.g. 403) instead.  See :mod:`trio_h2.websocket`.
        """
        # Imported here: trio-websocket is only needed by those who use it.
        from .. import websocket

        return await websocket.accept(self, subprotocol, extra_headers)

    async def switch_protocols(self, headers: RawHeaders) -> tuple[trio.abc.Stream, bytes]:
        """Answer an HTTP/1.1 Upgrade with 101 and take over the connection.

        For protocols carried on the raw connection (:mod:`trio_h2.websocket` over
        HTTP/1.1): returns the transport and the bytes the client sent after the
        request.  ``headers`` go out with the 101; ``upgrade`` and ``connection`` are
        the server's.  Raises :class:`LocalProtocolError` over HTTP/2 (where a tunnel
        is a stream, see :meth:`open_tunnel`) and once the response has started.
        """
        self.state.check_can_start()
        return await self._io.switch_protocols(self.stream_id, headers)

    def open_tunnel(self, tunnel: Tunnel) -> trio.Nursery:
        """Make ``tunnel`` what this stream carries; the nursery its tasks run in.

        For tunnel implementations (:mod:`trio_h2.websocket`).  Only during the
        handler of a request with a ``:protocol``, once; else
        :class:`LocalProtocolError`.
        """
        if self._tunnel_tasks is None:
            raise LocalProtocolError(f"{self!r} cannot carry a tunnel (or its handler is done)")
        if self.tunnel is not None:
            raise LocalProtocolError(f"{self!r} carries a tunnel already")
        self.tunnel = tunnel
        return self._tunnel_tasks

    @protected
    async def run_handler(self, handler: Handler) -> None:
        """Run ``handler(self)`` for a request that may open a tunnel (``:protocol``).

        The handler runs beside a nursery that a tunnel it opens runs its tasks in;
        when the handler is done the tunnel is finished (closed) before the nursery
        ends, so nothing of it outlives the handler.  What the handler raised is
        raised again as itself, not in an exception group.
        """
        failure: Exception | None = None
        try:
            async with trio.open_nursery() as tasks:
                self._tunnel_tasks = tasks
                try:
                    await call_handler(handler, self)
                except Exception as exc:
                    failure = exc
                self._tunnel_tasks = None
                if self.tunnel is not None:
                    failure = await self.tunnel.finish(failure)
                tasks.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # A tunnel task failed (or the handler was cancelled): its own exception.
            single = single_exception(group)
            raise single from single.__cause__
        finally:
            self._tunnel_tasks = None
        if failure is not None:
            raise failure

    async def reset(self, error_code: int = ErrorCode.CANCEL) -> None:
        """Reset the stream (default CANCEL); the peer sees RST_STREAM."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self.state.reset_code is None:
            self._io.reset_stream(self.stream_id, error_code)
        await trio.lowlevel.cancel_shielded_checkpoint()


# A :path goes on the wire as it is: no controls, no spaces (RFC 9113 §8.3.1).
_BAD_PATH_RE = re.compile(r"[\x00-\x20\x7f]")


#: What serve() runs for each request, in a task of its own.
Handler = Callable[[Stream], Awaitable[None]]


def pseudo_split(headers: Sequence[tuple[bytes, bytes]]) -> tuple[dict[bytes, bytes], RawHeaders]:
    """Split a decoded header block into its pseudo-headers and its regular fields."""
    pseudo: dict[bytes, bytes] = {}
    regular: RawHeaders = []
    for name, value in headers:
        if name[:1] == b":":
            pseudo[name] = value
        else:
            regular.append((name, value))
    return pseudo, regular
