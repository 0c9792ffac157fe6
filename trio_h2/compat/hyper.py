"""The ``HTTP20Server`` / ``HTTP20RequestHandler`` style of HTTP/2 server, on trio_h2.

Tutorials of the hyper era wrote servers like this; with this module they change
only their import::

    from .hyper import HTTP20Server, HTTP20RequestHandler

    class Hello(HTTP20RequestHandler):
        def handle_request(self, request):
            body = "Hello, world!"
            self.send_response(200, [("content-length", str(len(body)))])
            self.send_data(body)

    HTTP20Server(("localhost", 8443), Hello).serve_forever()

How it works: each request gets a fresh handler instance.  Its request body is
read whole first (up to ``Config.max_request_body_size``, else 413), then
:meth:`HTTP20RequestHandler.handle_request` runs in a worker thread, so it may
block like the handlers of a threading server.  :meth:`~HTTP20RequestHandler.send_response`
sends the status and headers, each :meth:`~HTTP20RequestHandler.send_data` a
chunk of body; both wait (blocking the handler's thread, not the server) until the
frames are queued, so a slow client slows the handler down.  The response ends when
``handle_request`` returns.  A handler that raises before responding gets a 500;
after, the stream is reset.  A handler that returns without responding gets a 500.

The server is trio_h2's own (:func:`trio_h2.serve`'s accept loop, TLS with ALPN
``h2``, connections and limits); :func:`stream_handler` adapts a handler class to
the Stream API, to use with :func:`trio_h2.serve` or :func:`trio_h2.testing.connect`.
"""

from __future__ import annotations

import ssl as _ssl
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import trio

from .._config import Config
from .._errors import LocalProtocolError
from ..server.response import ResponseBody
from ..server.stream import Handler, Stream
from ._serving import CompatServer

__all__ = ["HTTP20Request", "HTTP20RequestHandler", "HTTP20Server", "stream_handler"]

HeaderPairs = Iterable[tuple[str | bytes, str | bytes]]


class HTTP20Request:
    """The request a handler answers: method, path, headers and the whole body.

    ``method``, ``path``, ``scheme`` and ``authority`` are str; ``headers`` is the
    list of ``(name, value)`` str pairs received, in order, repeats kept,
    pseudo-headers left out; ``body`` is bytes; ``client_address`` is the peer's
    ``(host, port)``; ``stream`` is the underlying :class:`trio_h2.Stream`.
    """

    def __init__(self, stream: Stream, body: bytes) -> None:
        self.stream = stream
        self.method = stream.method
        self.path = stream.path
        self.scheme = stream.scheme
        self.authority = stream.authority
        self.headers = list(stream.headers)
        self.body = body
        self.client_address = stream.client_address

    def __repr__(self) -> str:
        return f"<HTTP20Request {self.method} {self.path}>"


class HTTP20RequestHandler:
    """Answers one request; subclass it and override :meth:`handle_request`.

    ``server`` is the :class:`HTTP20Server` (None when served another way) and
    ``client_address`` the peer's ``(host, port)``.
    """

    def __init__(self, stream: Stream, server: HTTP20Server | None = None) -> None:
        self.server = server
        self.client_address = stream.client_address
        self._stream = stream
        self._response: AbstractAsyncContextManager[ResponseBody] | None = None
        self._body: ResponseBody | None = None

    def handle_request(self, request: HTTP20Request) -> None:
        """Answer ``request`` with :meth:`send_response` and :meth:`send_data`.

        Runs in a worker thread.  The base class answers 501 Not Implemented.
        """
        self.send_response(501, [("content-type", "text/plain")])
        self.send_data("Not Implemented\n")

    def send_response(self, status: int, headers: HeaderPairs = ()) -> None:
        """Send the status and the headers (``(name, value)`` pairs, str or bytes).

        Raises :class:`trio_h2.LocalProtocolError` when called twice or with a bad
        status or header.
        """
        if self._response is not None:
            raise LocalProtocolError("send_response() was called already")
        trio.from_thread.run(self._start, status, list(headers))

    def send_data(self, data: str | bytes) -> None:
        """Send a chunk of the body (str is sent as UTF-8); waits for flow control."""
        if self._body is None:
            raise LocalProtocolError("send_data() needs send_response() first")
        if not isinstance(data, str | bytes | bytearray | memoryview):
            raise LocalProtocolError(f"send_data() takes str or bytes, not {type(data).__name__}")
        trio.from_thread.run(self._body.send, data)

    async def _start(self, status: int, headers: list[tuple[str | bytes, str | bytes]]) -> None:
        response = self._stream.start_response(status, headers)
        body = await response.__aenter__()
        self._response, self._body = response, body

    async def _run(self, request: HTTP20Request) -> None:
        try:
            await trio.to_thread.run_sync(self.handle_request, request)
        except BaseException as exc:
            if self._response is not None:
                # Resets the stream; the error goes on to be logged.
                await self._response.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        if self._response is not None:
            await self._response.__aexit__(None, None, None)


def stream_handler(
    handler_class: type[HTTP20RequestHandler], server: HTTP20Server | None = None
) -> Handler:
    """A trio_h2 handler that answers each request with a ``handler_class`` instance."""
    if not (isinstance(handler_class, type) and issubclass(handler_class, HTTP20RequestHandler)):
        raise TypeError("RequestHandlerClass must be a subclass of HTTP20RequestHandler")

    async def serve_stream(stream: Stream) -> None:
        request = HTTP20Request(stream, await stream.read())
        await handler_class(stream, server)._run(request)

    return serve_stream


class HTTP20Server(CompatServer):
    """An HTTP/2 server answering each request with a ``RequestHandlerClass``.

    ``address`` is ``(host, port)``; a host of None or ``""`` listens on every
    interface.  The socket is bound here; :meth:`serve_forever` serves until
    :meth:`shutdown` (from another thread or a handler) or Ctrl+C.  With an
    :class:`ssl.SSLContext` as ``ssl`` the server speaks TLS and negotiates ``h2`` by
    ALPN; without one it speaks cleartext HTTP/2 with prior knowledge.  ``config``
    is a :class:`trio_h2.Config`.  :attr:`server_address` is where it listens.
    """

    def __init__(
        self,
        address: Sequence[Any],
        RequestHandlerClass: type[HTTP20RequestHandler],
        ssl: _ssl.SSLContext | None = None,
        *,
        config: Config | None = None,
    ) -> None:
        handler = stream_handler(RequestHandlerClass, self)
        super().__init__(address, handler, ssl, config)
