"""nghttp2's BaseRequestHandler, driven by a trio_h2 Stream.

Theory of operation
-------------------
nghttp2's handlers are synchronous: the library calls ``on_headers``, ``on_data``,
``on_request_done`` and ``on_close`` as frames come and go, and the handler answers
with ``send_response`` / ``push`` from inside those callbacks (or later, from asyncio
code).  Here each stream has one trio task, the stream's trio_h2 handler, which owns
an :class:`_Exchange`:

* the task calls ``on_headers``, then reads the request body in a child task and calls
  ``on_data`` for each chunk and ``on_request_done`` at its end;
* ``send_response`` only validates its arguments and records the response on the
  exchange (waking the task), so it may be called from any callback, or from asyncio
  code; the task sends it with :meth:`Stream.respond` or, for a body generator,
  :meth:`Stream.start_response`, asking the generator for data only when
  :meth:`Stream.wait_send_window` says the peer's window is open;
* ``push`` is synchronous, as nghttp2's was: :meth:`Stream.push_nowait` queues the
  PUSH_PROMISE at once, so the promised stream id is known when it returns; the pushed
  stream's own task sends the pushed response the same way;
* when the stream closes, for whatever reason, the task calls ``on_close`` with 0, the
  peer's RST_STREAM code, or INTERNAL_ERROR (a callback failed, or the connection
  was lost).

A callback that raises is logged and resets its own stream with INTERNAL_ERROR;
other streams go on.  Everything runs on trio's thread: callbacks, asyncio code in
guest mode, and the task.
"""

from __future__ import annotations

import io
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import IO, Any, cast

import trio

from .._errors import ErrorCode, LocalProtocolError, StreamReset
from .._headers import RawHeaders, check_headers, check_status
from ..server.stream import Handler, Stream

log = logging.getLogger("trio_h2.compat.nghttp2")

#: Body generator flag: ``data`` is a chunk of the body and more will follow.
DATA_OK = 0
#: Body generator flag: ``data`` (possibly empty or None) is the last of the body.
DATA_EOF = 1
#: Body generator flag: no data now; call ``resume()`` when there is.
DATA_DEFERRED = 2

#: ``generator(n) -> (data, flag)``: at most ``n`` bytes and a ``DATA_*`` flag.
BodyGenerator = Callable[[int], tuple[bytes | None, int]]
HeaderPairs = Sequence[tuple[str | bytes, str | bytes]]


class _Response:
    """A response checked by send_response() or push(), waiting for its stream's task."""

    __slots__ = ("body", "generator", "headers", "status")

    def __init__(self, status: Any, headers: HeaderPairs | None, body: Any) -> None:
        if not status:
            raise LocalProtocolError("status must not be empty")
        if isinstance(status, bytes | str) and status.isdigit():
            status = int(status)
        check_status(status)
        self.status: int = status
        self.headers: RawHeaders = check_headers(headers or ())
        self.generator: BodyGenerator | None = None
        self.body: bytes | IO[bytes] = b""
        if body is None:
            pass
        elif isinstance(body, str):
            self.body = body.encode("utf-8")
        elif isinstance(body, bytes | bytearray | memoryview):
            self.body = bytes(body)
        elif isinstance(body, io.IOBase):
            self.body = cast("IO[bytes]", body)
        elif callable(body):
            self.generator = body
        else:
            raise LocalProtocolError(
                "body must be None, str, bytes, an io.IOBase or a body generator "
                f"callable(n) -> (data, flag), not {type(body).__name__}"
            )


class _GeneratorFailed(Exception):
    """The body generator raised or broke its contract (already logged)."""


class _Exchange:
    """One handler's stream: the response it asked for, and the task that serves it."""

    def __init__(self, handler: BaseRequestHandler, response: _Response | None = None) -> None:
        self.handler = handler
        self.stream: Stream | None = None
        self.response = response
        self.response_ready = trio.Event()
        if response is not None:
            self.response_ready.set()
        self.closed = False
        self._paused: trio.Event | None = None

    # Called synchronously from the handler's methods, from any callback or asyncio code.

    def start(self, response: _Response) -> None:
        self.response = response
        self.response_ready.set()

    def resume(self) -> None:
        if self._paused is not None:
            self._paused.set()
            self._paused = None

    # The stream's task.

    async def serve_request(self, stream: Stream) -> None:
        """The trio_h2 handler of a request stream."""
        code: int = ErrorCode.INTERNAL_ERROR
        sent = False
        try:
            if not self._call(self.handler.on_headers):
                await stream.reset(ErrorCode.INTERNAL_ERROR)
                return
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._deliver_request, stream, nursery.cancel_scope)
                sent = await self._send_response(stream)
                if not sent or not stream.request_complete:
                    # The rest of the upload is refused (RST_STREAM NO_ERROR follows
                    # once this task returns), as nghttp2 did.
                    nursery.cancel_scope.cancel()
            if sent:
                code = ErrorCode.NO_ERROR
        finally:
            self._close(stream, code)

    async def serve_pushed(self, stream: Stream) -> None:
        """The trio_h2 handler of a pushed stream: send the promised response."""
        code: int = ErrorCode.INTERNAL_ERROR
        try:
            if await self._send_response(stream):
                code = ErrorCode.NO_ERROR
        finally:
            self._close(stream, code)

    async def _deliver_request(self, stream: Stream, scope: trio.CancelScope) -> None:
        handler = self.handler
        try:
            while True:
                chunk = await stream.receive_some()
                if chunk:
                    if not self._call(handler.on_data, chunk):
                        break
                elif stream.request_complete:
                    if self._call(handler.on_request_done):
                        return
                    break
                # else: an empty DATA frame, not the end of the body
        except StreamReset:
            scope.cancel()
            return
        await stream.reset(ErrorCode.INTERNAL_ERROR)
        scope.cancel()

    async def _send_response(self, stream: Stream) -> bool:
        """Send the response once it is known; False if the stream was reset instead."""
        await self.response_ready.wait()
        response = self.response
        assert response is not None
        try:
            if response.generator is None:
                await stream.respond(response.status, response.headers, response.body)
            else:
                async with stream.start_response(response.status, response.headers) as body:
                    await self._pump(stream, body, response.generator)
        except _GeneratorFailed:
            return False  # start_response has reset the stream with INTERNAL_ERROR
        except StreamReset:
            return False
        except Exception:
            log.exception("stream %d: cannot send the response", stream.stream_id)
            await stream.reset(ErrorCode.INTERNAL_ERROR)
            return False
        return True

    async def _pump(self, stream: Stream, body: Any, generator: BodyGenerator) -> None:
        while True:
            size = await stream.wait_send_window()
            try:
                data, flag = generator(size)
            except Exception:
                log.exception("stream %d: the body generator failed", stream.stream_id)
                raise _GeneratorFailed from None
            if flag == DATA_DEFERRED:
                self._paused = paused = trio.Event()
                await paused.wait()
                continue
            if flag not in (DATA_OK, DATA_EOF):
                log.error("stream %d: body generator flag %r is unknown", stream.stream_id, flag)
                raise _GeneratorFailed
            if data:
                if not isinstance(data, bytes | bytearray | memoryview):
                    log.error(
                        "stream %d: the body generator returned %s, not bytes",
                        stream.stream_id,
                        type(data).__name__,
                    )
                    raise _GeneratorFailed
                if len(data) > size:
                    log.error(
                        "stream %d: the body generator returned %d bytes, %d were asked for",
                        stream.stream_id,
                        len(data),
                        size,
                    )
                    raise _GeneratorFailed
                await body.send(bytes(data))
            if flag == DATA_EOF:
                return

    def _call(self, callback: Callable[..., object], *args: object) -> bool:
        try:
            callback(*args)
        except Exception:
            log.exception("%s() of stream %s failed", callback.__name__, self.handler.stream_id)
            return False
        return True

    def _close(self, stream: Stream, code: int) -> None:
        self.closed = True
        if stream.reset_code is not None:
            code = stream.reset_code
        self._call(self.handler.on_close, int(code))


class _Session:
    """What nghttp2 handed handlers as ``http2``: the connection their stream is on."""

    def __init__(
        self, handler_class: type[BaseRequestHandler], client_address: Any, certificate: Any
    ) -> None:
        self.handler_class = handler_class
        self.client_address = client_address
        self.client_certificate = certificate

    def _make_handler(self, stream_id: int) -> BaseRequestHandler:
        return self.handler_class(self, stream_id)

    def _get_remote_address(self) -> Any:
        return self.client_address

    def _get_client_certificate(self) -> Any:
        return self.client_certificate


class BaseRequestHandler:
    """Handles one HTTP/2 stream through callbacks; subclass it and override them.

    The server calls :meth:`on_headers` when the request's HEADERS arrive, then
    :meth:`on_data` for each chunk of request body, :meth:`on_request_done` when the
    request is complete, and :meth:`on_close` when the stream closes.  Answer with
    :meth:`send_response` from any of them (or later, e.g. from asyncio code); push
    resources with :meth:`push` before that.  Callbacks must not block: they run on
    the server's event loop.

    Request attributes, as nghttp2 set them: ``scheme``, ``method``, ``host`` (from
    ``:authority`` or ``host``) and ``path`` are bytes; ``headers`` is the list of
    ``(name, value)`` bytes pairs received, pseudo-headers included, with the cookie
    fields joined into one at the end; ``client_address`` is the peer's ``(host,
    port)``; ``client_certificate`` is the TLS peer certificate (``getpeercert()``) or
    None; ``stream_id`` is an int; ``status`` is None until :meth:`send_response`;
    ``pushed`` is true for a handler created by :meth:`push`.
    """

    def __init__(self, http2: Any, stream_id: int) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        #: Stream ID of this stream; -1 for a promised stream until the push is made.
        self.stream_id = stream_id
        self.http2 = http2
        self.remote_address = http2._get_remote_address()
        self._client_certificate = http2._get_client_certificate()
        self.scheme: bytes | None = None
        self.method: bytes | None = None
        self.host: bytes | None = None
        self.path: bytes | None = None
        #: The status given to send_response() (or push()), None before.
        self.status: Any = None
        #: True if this handler serves a pushed resource.
        self.pushed = False
        self._trio_h2_exchange: _Exchange | None = None

    @property
    def client_address(self) -> Any:
        """The peer's address, ``(host, port)``."""
        return self.remote_address

    @property
    def client_certificate(self) -> Any:
        """The peer's TLS certificate as ``getpeercert()`` gives it, or None."""
        return self._client_certificate

    def on_headers(self) -> None:
        """Called when the request HEADERS have arrived.  Does nothing by default."""

    def on_data(self, data: bytes) -> None:
        """Called with each chunk of request body.  Does nothing by default."""

    def on_request_done(self) -> None:
        """Called when the whole request has arrived.  Does nothing by default."""

    def on_close(self, error_code: int) -> None:
        """Called when the stream closes: 0 if cleanly, else the HTTP/2 error code."""

    def send_response(
        self, status: int = 200, headers: HeaderPairs | None = None, body: Any = None
    ) -> None:
        """Send the response: ``status``, extra ``headers`` and ``body``.

        ``headers`` is a list of ``(name, value)`` pairs, str (sent as UTF-8) or bytes.
        ``body`` is None (no body), str (UTF-8), bytes, an :class:`io.IOBase` (read
        to its end, files in a worker thread), or a body generator: a callable taking
        the number of bytes that may be sent now and returning ``(data, flag)``, with
        ``flag`` :data:`DATA_OK`, :data:`DATA_EOF` (``data`` is the last, may be None)
        or :data:`DATA_DEFERRED` (nothing yet; call :meth:`resume` when there is).
        The generator is called only while the peer's flow-control window is open.

        Raises :class:`trio_h2.LocalProtocolError` if a response was already sent or
        an argument is invalid.  If the request is still being uploaded when the
        response ends, the rest of it is refused with RST_STREAM(NO_ERROR).
        """
        exchange = self._attached()
        if self.status is not None:
            raise LocalProtocolError("response has already been sent")
        if exchange.closed:
            raise LocalProtocolError(f"stream {self.stream_id} is closed")
        response = _Response(status, headers, body)
        self.status = status
        exchange.start(response)

    def push(
        self,
        path: str | bytes,
        method: str | bytes = "GET",
        request_headers: HeaderPairs | None = None,
        status: int = 200,
        headers: HeaderPairs | None = None,
        body: Any = None,
    ) -> BaseRequestHandler:
        """Push a resource: PUSH_PROMISE for ``method path``, then its response.

        ``:scheme`` and ``:authority`` come from this request; ``request_headers``
        are added to the promised request.  ``status``, ``headers`` and ``body`` are
        the pushed response, as for :meth:`send_response`.  Must be called before
        :meth:`send_response`.  Returns the handler (an instance of the server's
        handler class) created for the pushed resource, with its ``stream_id`` set;
        it gets no ``on_headers`` but does get ``on_close``.

        Raises :class:`trio_h2.LocalProtocolError` if the response was already sent,
        an argument is invalid, or the client does not take the push (it disabled
        push, has no room for another stream, the connection is closing, or it
        speaks HTTP/1.1, which has no push).
        """
        exchange = self._attached()
        if not status:
            raise LocalProtocolError("status must not be empty")
        if not method:
            raise LocalProtocolError("method must not be empty")
        if not path:
            raise LocalProtocolError("path must not be empty")
        if self.status is not None:
            raise LocalProtocolError("push() must be called before send_response()")
        if self.pushed:
            raise LocalProtocolError("a pushed resource cannot push")
        stream = exchange.stream
        assert stream is not None
        response = _Response(status, headers, body)
        extra = check_headers(request_headers or ())
        raw_method = method.encode("utf-8") if isinstance(method, str) else method
        raw_path = path.encode("utf-8") if isinstance(path, str) else path

        promised: BaseRequestHandler = self.http2._make_handler(-1)
        promised.pushed = True
        promised.scheme = self.scheme
        promised.method = raw_method
        promised.host = self.host
        promised.path = raw_path
        promised.status = status
        promised.headers = [
            (b":method", raw_method),
            (b":scheme", self.scheme or b""),
            (b":authority", self.host or b""),
            (b":path", raw_path),
            *extra,
        ]
        pushed_exchange = _Exchange(promised, response)
        promised._trio_h2_exchange = pushed_exchange
        pushed = stream.push_nowait(
            raw_path.decode("utf-8", "surrogateescape"),
            method=raw_method.decode("ascii", "replace"),
            request_headers=extra,
            status=response.status,
            handler=pushed_exchange.serve_pushed,
        )
        if pushed is None:
            raise LocalProtocolError(
                "push failed: the client disabled server push, has no room for another "
                "stream, or the connection is closing"
            )
        pushed_exchange.stream = pushed
        promised.stream_id = pushed.stream_id
        return promised

    def resume(self) -> None:
        """Restart a body generator paused by DATA_DEFERRED; harmless otherwise."""
        exchange = self._trio_h2_exchange
        if exchange is not None:
            exchange.resume()

    def _attached(self) -> _Exchange:
        exchange = self._trio_h2_exchange
        if exchange is None or exchange.stream is None:
            raise LocalProtocolError("this handler is not serving a stream")
        return exchange


def _request_attributes(handler: BaseRequestHandler, stream: Stream) -> None:
    headers = [*stream.raw_pseudo_headers, *stream.raw_headers]
    for name, value in headers:
        if name == b":scheme":
            handler.scheme = value
        elif name == b":method":
            handler.method = value
        elif name == b":authority" or name == b"host":
            handler.host = value
        elif name == b":path":
            handler.path = value
    # h2 has already joined the cookie fields into one, placed last (RFC 9113 §8.2.3).
    handler.headers = headers


def _peer_certificate(stream: Stream) -> Any:
    # The Stream API does not expose its transport; nghttp2's client_certificate
    # needs the TLS one.  Only TLS transports have a peer certificate.
    transport = getattr(_connection_of(stream), "_transport", None)
    if isinstance(transport, trio.SSLStream):
        try:
            return transport.getpeercert()
        except (ValueError, AttributeError):
            return None
    return None


def _connection_of(stream: Stream) -> object:
    return getattr(stream, "_io", stream)


def stream_handler(handler_class: type[BaseRequestHandler]) -> Handler:
    """A trio_h2 handler that serves each stream with a ``handler_class`` instance.

    This is what :class:`HTTP2Server` serves; use it to run nghttp2-style handlers
    with :func:`trio_h2.serve` or to test them with :func:`trio_h2.testing.connect`.
    """
    if not (isinstance(handler_class, type) and issubclass(handler_class, BaseRequestHandler)):
        raise TypeError("RequestHandlerClass must be a subclass of BaseRequestHandler")
    sessions: weakref.WeakKeyDictionary[object, _Session] = weakref.WeakKeyDictionary()

    async def serve_stream(stream: Stream) -> None:
        connection = _connection_of(stream)
        session = sessions.get(connection)
        if session is None:
            session = _Session(handler_class, stream.client_address, _peer_certificate(stream))
            sessions[connection] = session
        handler = session._make_handler(stream.stream_id)
        _request_attributes(handler, stream)
        exchange = _Exchange(handler)
        exchange.stream = stream
        handler._trio_h2_exchange = exchange
        await exchange.serve_request(stream)

    return serve_stream
