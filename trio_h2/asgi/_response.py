"""An ASGI response (``http.response.*`` messages) onto a Stream's response calls.

The spec lets a server hold ``http.response.start`` back until the first body
message (its headers need not reach the wire before then), and this one does: a
response sent as one start and one final body becomes one :meth:`Stream.respond`
(headers and body in one write, ``content-length`` added when the application gave
none), and pushes and early hints sent after the start still go out ahead of the
response's headers, as HTTP/2 wants them.  A response in several body messages
becomes a :meth:`Stream.start_response`, held open across the ``send()`` calls;
each chunk waits for flow-control credit there.

The same class answers a WebSocket request the application denies with
``websocket.http.response.start`` and ``.body`` (the denial-response extension):
only the message names differ.
"""

from __future__ import annotations

import enum
import logging
import os
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import IO

import trio

from .._errors import LocalProtocolError, StreamReset
from .._headers import RawHeaders, check_status
from ..server import body as _body
from ..server.response import ResponseBody
from ..server.stream import Stream
from ._disconnect import Disconnect
from ._errors import ASGIError, ClientDisconnected
from ._messages import get_bool, get_bytes, get_headers, get_int, get_str
from ._types import Message

log = logging.getLogger("trio_h2.asgi")

#: What runs a pushed stream: the application again, with the promised request.
PushHandler = Callable[[Stream], Awaitable[None]]

# A pushed path is given decoded; these stay as they are when it is encoded again.
_PATH_SAFE = "/?&=:@!$'()*+,;~"


class Phase(enum.Enum):
    IDLE = "idle"  # nothing yet
    STARTED = "started"  # http.response.start taken, nothing on the wire
    BODY = "body"  # headers sent, body open
    TRAILERS = "trailers"  # body complete, waiting for http.response.trailers
    DONE = "done"  # complete


class Response:
    """The response side of one ASGI exchange.

    ``prefix`` is ``"http.response"``, or ``"websocket.http.response"`` for a
    WebSocket denial.  ``on_done`` is called once the response is complete.
    """

    def __init__(
        self,
        stream: Stream,
        disconnect: Disconnect,
        *,
        prefix: str = "http.response",
        push_handler: PushHandler | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self._stream = stream
        self._disconnect = disconnect
        self._prefix = prefix
        self._push_handler = push_handler
        self._on_done = on_done
        self.phase = Phase.IDLE
        self._status = 0
        self._headers: RawHeaders = []
        self._expect_trailers = False
        self._trailers: RawHeaders = []
        self._context: AbstractAsyncContextManager[ResponseBody] | None = None
        self._body: ResponseBody | None = None

    @property
    def prefix(self) -> str:
        """``"http.response"``, or ``"websocket.http.response"`` for a denial."""
        return self._prefix

    @property
    def status(self) -> int:
        """The status of ``*.response.start`` (0 before it)."""
        return self._status

    @property
    def on_the_wire(self) -> bool:
        """True once the response's headers have been sent."""
        return self._context is not None or self.phase is Phase.DONE

    # ------------------------------------------------------------------ messages

    def start(self, message: Message) -> None:
        """``*.response.start``: checked and kept until the first body message."""
        kind = message["type"]
        if self.phase is not Phase.IDLE:
            raise ASGIError(f"{kind}: the response has started already")
        status = get_int(message, "status")
        try:
            check_status(status)
        except LocalProtocolError as exc:
            hint = " (send 103 with http.response.early_hint)" if status == 103 else ""
            raise ASGIError(f"{kind}: {exc}{hint}") from None
        headers = get_headers(message)
        expect_trailers = get_bool(message, "trailers")
        if expect_trailers and self._prefix != "http.response":
            raise ASGIError(f"{kind}: a denial response has no trailers")
        self._status = status
        self._headers = headers
        self._expect_trailers = expect_trailers
        self.phase = Phase.STARTED

    async def body(self, message: Message) -> None:
        """``*.response.body``: the first opens the response, the last ends it."""
        kind = message["type"]
        data = get_bytes(message, "body", b"")
        more = get_bool(message, "more_body")
        phase = self.phase
        if phase is Phase.IDLE:
            raise ASGIError(f"{kind} before {self._prefix}.start")
        if phase is Phase.TRAILERS:
            raise ASGIError(f"{kind} after the last body message (trailers are due)")
        if phase is Phase.DONE:
            raise ASGIError(f"{kind} after the response completed")
        opened = phase is Phase.STARTED
        if opened:
            if not more and not self._expect_trailers:
                await self._whole(kind, data)
                return
            await self._open(kind)
        if data:
            await self._send(kind, data)
        elif opened:
            # The headers went out in this call: it may no longer raise Cancelled.
            await trio.lowlevel.cancel_shielded_checkpoint()
        else:
            await trio.lowlevel.checkpoint()
        if not more:
            if self._expect_trailers:
                self.phase = Phase.TRAILERS
            else:
                await self._finish(kind)

    async def trailers(self, message: Message) -> None:
        """``http.response.trailers``, announced by ``trailers: True`` in the start."""
        kind = message["type"]
        headers = get_headers(message)
        more = get_bool(message, "more_trailers")
        if not self._expect_trailers or self.phase in (Phase.IDLE, Phase.DONE):
            raise ASGIError(
                f"{kind} without 'trailers': True in http.response.start"
                if self.phase is not Phase.DONE
                else f"{kind} after the response completed"
            )
        if self.phase is Phase.BODY:
            raise ASGIError(f"{kind} before the last body message (more_body False)")
        if any(name == b"content-length" for name, _ in headers):
            raise ASGIError(f"{kind}: content-length may not be sent as a trailer")
        if more:
            await trio.lowlevel.checkpoint_if_cancelled()
            # Trailers with no body message at all (a gRPC error, say): it is empty.
            self.phase = Phase.TRAILERS
            self._trailers += headers
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        if self._context is None:
            await self._open(kind)  # no body message came: the body is empty
        assert self._body is not None
        trailers = self._trailers + headers
        if trailers:
            self._body.set_trailers(trailers)
        await self._finish(kind)

    async def early_hint(self, message: Message) -> None:
        """``http.response.early_hint``: a 103 with the links, before the response."""
        kind = message["type"]
        links = message.get("links", ())
        if isinstance(links, bytes | str) or not isinstance(links, Iterable):
            raise ASGIError(f"{kind}: 'links' must be an iterable of bytes")
        fields: RawHeaders = []
        for link in links:
            if not isinstance(link, bytes | bytearray):
                raise ASGIError(f"{kind}: each link is bytes, not {type(link).__name__}")
            fields.append((b"link", bytes(link).strip()))
        if self.on_the_wire:
            # The final response's headers are out: a 1xx cannot follow them.
            log.debug("%r: %s after the response started, not sent", self._stream, kind)
            await trio.lowlevel.checkpoint()
            return
        if not fields:
            await trio.lowlevel.checkpoint()
            return
        await self._call(kind, self._stream.send_informational(103, fields))

    async def push(self, message: Message) -> None:
        """``http.response.push``: promise ``path`` and serve it with the application."""
        kind = message["type"]
        path = get_str(message, "path")
        headers = get_headers(message)
        if not path.startswith("/"):
            raise ASGIError(f"{kind}: the path starts with '/', not {path!r}")
        stream = self._stream
        if stream.http_version != "2" or stream.pushed or self._push_handler is None:
            log.debug("%r: %s not possible on this stream, skipped", stream, kind)
            await trio.lowlevel.checkpoint()
            return
        if self.on_the_wire:
            # trio_h2 promises only before the response's headers, so that the
            # client never sees a reference to a resource before its promise.
            log.debug("%r: %s after the response started, skipped", stream, kind)
            await trio.lowlevel.checkpoint()
            return
        encoded = urllib.parse.quote(path, safe=_PATH_SAFE)
        await self._call(
            kind,
            stream.push(encoded, request_headers=headers, handler=self._push_handler),
        )

    async def pathsend(self, message: Message) -> None:
        """``http.response.pathsend``: the whole body is the file at ``path``."""
        kind = message["type"]
        path = get_str(message, "path")
        if self.phase is not Phase.STARTED:
            raise ASGIError(
                f"{kind} before http.response.start"
                if self.phase is Phase.IDLE
                else f"{kind} after a body message (the two do not mix)"
            )
        if not os.path.isabs(path):
            raise ASGIError(f"{kind}: the path must be absolute, not {path!r}")
        try:
            file: IO[bytes] = await trio.to_thread.run_sync(open, path, "rb")
        except OSError as exc:
            # Not an OSError at the application: that would say the client left.
            raise ASGIError(f"{kind}: cannot open {path!r}: {exc.strerror or exc}") from None
        if not self._expect_trailers:
            await self._call(kind, self._stream.respond(self._status, self._headers, file))
            self._done()
            return
        source = _body.chunks(file)
        try:
            await self._open(kind)
            async for chunk in source:
                await self._send(kind, chunk)
        finally:
            await _body.close(source, file)
        self.phase = Phase.TRAILERS

    # --------------------------------------------------------------- the ending

    async def abort(self, failure: BaseException) -> None:
        """The application failed or stopped mid-response: leave nothing half-sent.

        A response whose headers are out is reset (INTERNAL_ERROR over HTTP/2; the
        connection is closed over HTTP/1.1).
        """
        context, self._context = self._context, None
        if context is not None and self.phase is not Phase.DONE:
            self.phase = Phase.DONE
            await context.__aexit__(type(failure), failure, failure.__traceback__)

    # ------------------------------------------------------------------ helpers

    async def _call(self, kind: str, call: Awaitable[object]) -> None:
        """Await a Stream call, its errors in ASGI's terms.

        Cancelled (by the application's own scopes), the Stream's call did nothing,
        unless a body was part-way out: then the Stream has reset it, and so the
        response is over.
        """
        with self._disconnect.interruptible() as interrupted:
            try:
                await call
            except StreamReset:
                self._disconnect.set()
                raise ClientDisconnected(f"{kind}: the client is gone") from None
            except LocalProtocolError as exc:
                self._check_reset()
                raise ASGIError(f"{kind}: {exc}") from None
            except BaseException:
                self._check_reset()
                raise
        if interrupted.cancelled_caught:
            raise ClientDisconnected(f"{kind}: the client is gone")

    def _check_reset(self) -> None:
        if self._stream.reset_code is not None:
            self._done()

    async def _whole(self, kind: str, data: bytes) -> None:
        stream = self._stream
        if stream.method == "HEAD" and not data:
            # respond() would say content-length: 0, which a HEAD response must not
            # unless the GET's body is empty; the application's own length stands.
            async def head() -> None:
                async with stream.start_response(self._status, self._headers):
                    pass

            await self._call(kind, head())
        else:
            await self._call(kind, stream.respond(self._status, self._headers, data))
        self._done()

    async def _open(self, kind: str) -> None:
        context = self._stream.start_response(self._status, self._headers)

        async def enter() -> None:
            self._body = await context.__aenter__()

        await self._call(kind, enter())
        self._context = context
        self.phase = Phase.BODY

    async def _send(self, kind: str, data: bytes) -> None:
        assert self._body is not None
        await self._call(kind, self._body.send(data))

    async def _finish(self, kind: str) -> None:
        context, self._context = self._context, None
        assert context is not None
        self.phase = Phase.DONE
        await self._call(kind, context.__aexit__(None, None, None))
        self._done()

    def _done(self) -> None:
        self.phase = Phase.DONE
        if self._on_done is not None:
            self._on_done()
