"""One HTTP request as an ASGI exchange: ``receive()`` and ``send()`` onto a Stream.

``receive()`` pulls: each ``http.request`` is one chunk taken from the Stream when
the application asks for it, and taking it is what returns flow-control credit to
the client, so an application that reads slowly slows the upload down.  Once the
body is all taken, ``receive()`` waits until the response is complete or the client
has gone, and then says ``http.disconnect`` (at once, every time after that).

``send()`` hands each message to :class:`~trio_h2.asgi._response.Response`.  Calls
are taken one at a time, in order, even from several tasks.  Both follow trio's
cancellation rule: a ``receive()`` cancelled has taken nothing, a ``send()``
cancelled has sent nothing, except a body already part-way out, which is reset (as
with the Stream itself).
"""

from __future__ import annotations

import contextlib
import logging

import trio

from .._errors import H2Error, RequestBodyTimeout, StreamReset
from ..server.stream import Stream
from ._disconnect import Disconnect
from ._errors import ASGIError, ClientDisconnected
from ._messages import message_type
from ._response import Phase, PushHandler, Response
from ._types import Message

log = logging.getLogger("trio_h2.asgi")

_DISCONNECT: Message = {"type": "http.disconnect"}


class HTTPExchange:
    """The ``receive`` and ``send`` of one ``http`` scope."""

    def __init__(
        self, stream: Stream, disconnect: Disconnect, push_handler: PushHandler | None
    ) -> None:
        self._stream = stream
        self.disconnect = disconnect
        self._body_done = False
        self._response_done = trio.Event()
        self.response = Response(
            stream, disconnect, push_handler=push_handler, on_done=self._response_done.set
        )
        self._send_lock = trio.StrictFIFOLock()
        self._handlers = {
            "http.response.start": self._start,
            "http.response.body": self.response.body,
            "http.response.trailers": self.response.trailers,
            "http.response.early_hint": self.response.early_hint,
            "http.response.push": self.response.push,
            "http.response.pathsend": self.response.pathsend,
        }

    # -------------------------------------------------------------------- receive

    async def receive(self) -> Message:
        """The next ``http.request`` chunk, then ``http.disconnect``."""
        if self.disconnect.happened:
            await trio.lowlevel.checkpoint()
            return dict(_DISCONNECT)
        if not self._body_done:
            return await self._next_chunk()
        with self.disconnect.interruptible():
            await self._response_done.wait()
        return dict(_DISCONNECT)

    async def _next_chunk(self) -> Message:
        stream = self._stream
        chunk = b""
        timed_out: RequestBodyTimeout | None = None
        with self.disconnect.interruptible() as interrupted:
            try:
                chunk = await stream.receive_some()
            except StreamReset:
                self.disconnect.set()
            except RequestBodyTimeout as exc:
                timed_out = exc
        if timed_out is not None:
            await self._answer_timeout(timed_out)
        if interrupted.cancelled_caught or self.disconnect.happened:
            return dict(_DISCONNECT)
        # Say "no more" with the last chunk rather than in an empty message after it.
        more = bool(chunk) and not (stream.request_complete and not stream.inbound.buffered)
        if not more:
            self._body_done = True
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def _answer_timeout(self, exc: RequestBodyTimeout) -> None:
        # The client stopped sending its body: the server answers (408, as for a
        # native handler) and the application hears that the client has gone.
        log.info("%r: %s; answered 408", self._stream, exc)
        self.disconnect.set()
        if self.response.phase in (Phase.IDLE, Phase.STARTED):
            self.response.phase = Phase.DONE
            with contextlib.suppress(H2Error):
                await self._stream.respond(
                    408, [("content-type", "text/plain")], b"Request Timeout\n"
                )
        else:
            await self._stream.reset()

    # ----------------------------------------------------------------------- send

    async def send(self, message: Message) -> None:
        """Take one message from the application (see the module docstring)."""
        kind = message_type(message)
        handler = self._handlers.get(kind)
        if handler is None:
            raise ASGIError(f"unknown message type {kind!r} for an http scope")
        lock = self._send_lock
        if lock.locked():
            await lock.acquire()  # another task's send() is under way: after it
        else:
            lock.acquire_nowait()  # the usual case costs no extra trip to the scheduler
        try:
            if self.disconnect.happened:
                raise ClientDisconnected(f"{kind}: the client is gone")
            if self.response.phase is Phase.DONE:
                raise ASGIError(f"{kind} after the response completed")
            await handler(message)
        finally:
            lock.release()

    async def _start(self, message: Message) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self.response.start(message)
        await trio.lowlevel.cancel_shielded_checkpoint()
