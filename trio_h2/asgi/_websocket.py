"""One WebSocket request as an ASGI exchange, on the WebSocket a Stream accepts.

The first ``receive()`` says ``websocket.connect``; the application answers with
``websocket.accept`` (:meth:`Stream.accept_websocket`: a 101 over HTTP/1.1, a 200 on
an RFC 8441 extended CONNECT over HTTP/2), ``websocket.close`` (a 403 before the
accept, a Close frame after it), or a response of its own with the denial-response
extension (``websocket.http.response.start`` and ``.body``).  Once accepted, each
``receive()`` is one whole message (``websocket.receive``, ``text`` or ``bytes``)
until the WebSocket closes, and then ``websocket.disconnect`` with the close code
and reason: the client's, the application's own, or 1006 when the connection went
without a Close.  A ``send()`` once it is closed raises
:class:`~trio_h2.asgi.ClientDisconnected`.  Pings, fragments, close handshakes and
flow control are the WebSocket's own business (``trio_h2.websocket``).
"""

from __future__ import annotations

import contextlib
import enum

import trio
import trio_websocket

from .._errors import H2Error, LocalProtocolError, StreamReset
from ..server.stream import Stream
from ._disconnect import Disconnect
from ._errors import ASGIError, ClientDisconnected
from ._messages import (
    get_headers,
    get_int,
    get_optional_bytes,
    get_optional_str,
    message_type,
)
from ._response import Phase, Response
from ._types import Message

# RFC 6455 §7.4: the codes an endpoint may send in a Close frame.
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})
# RFC 6455 §5.5: a control frame's payload is at most 125 bytes, two of them the code.
_MAX_REASON = 123


class WSState(enum.Enum):
    CONNECTING = "connecting"  # websocket.connect not answered yet
    ACCEPTED = "accepted"
    DENIED = "denied"  # answered with 403 or a denial response
    CLOSED = "closed"  # closed by the application, or gone


class WebSocketExchange:
    """The ``receive`` and ``send`` of one ``websocket`` scope."""

    def __init__(self, stream: Stream, disconnect: Disconnect) -> None:
        self._stream = stream
        self.disconnect = disconnect
        self.state = WSState.CONNECTING
        self._connect_sent = False
        # Set once the handshake is answered (accepted or denied), or the client left.
        self._answered = trio.Event()
        self.websocket: trio_websocket.WebSocketConnection | None = None
        self.denial = Response(stream, disconnect, prefix="websocket.http.response")
        self._close_reason: tuple[int, str] | None = None

    @property
    def answered(self) -> bool:
        """True once the application accepted or refused the WebSocket."""
        return self.state is not WSState.CONNECTING or self.denial.phase is not Phase.IDLE

    # -------------------------------------------------------------------- receive

    async def receive(self) -> Message:
        if not self._connect_sent:
            await trio.lowlevel.checkpoint_if_cancelled()
            self._connect_sent = True
            await trio.lowlevel.cancel_shielded_checkpoint()
            return {"type": "websocket.connect"}
        if self.state is WSState.CONNECTING and not self.disconnect.happened:
            # Another task may be about to answer the handshake: wait for it.
            with self.disconnect.interruptible():
                await self._answered.wait()
        websocket = self.websocket
        if self.state is not WSState.ACCEPTED or websocket is None:
            await trio.lowlevel.checkpoint()
            return self._disconnected()
        with self.disconnect.interruptible() as interrupted:
            try:
                data = await websocket.get_message()
            except trio_websocket.ConnectionClosed as exc:
                self._closed_by(exc)
                return self._disconnected()
        if interrupted.cancelled_caught:
            self._closed(self.disconnect.code, "")
            return self._disconnected()
        if isinstance(data, str):
            return {"type": "websocket.receive", "bytes": None, "text": data}
        return {"type": "websocket.receive", "bytes": data, "text": None}

    def _closed(self, code: int, reason: str) -> None:
        self.state = WSState.CLOSED
        if self._close_reason is None:
            self._close_reason = (code, reason)

    def _closed_by(self, exc: trio_websocket.ConnectionClosed) -> None:
        reason = exc.reason
        if reason is None:
            self._closed(self.disconnect.code, "")
        else:
            self._closed(reason.code, reason.reason or "")

    def _disconnected(self) -> Message:
        code, reason = self._close_reason or (self.disconnect.code, "")
        return {"type": "websocket.disconnect", "code": code, "reason": reason}

    # ----------------------------------------------------------------------- send

    async def send(self, message: Message) -> None:
        kind = message_type(message)
        if kind == "websocket.accept":
            await self._accept(message)
        elif kind == "websocket.send":
            await self._send_message(message)
        elif kind == "websocket.close":
            await self._close(message)
        elif kind == "websocket.http.response.start":
            self._check_can_deny(kind)
            status = get_int(message, "status")
            if 200 <= status < 300:
                raise ASGIError(f"{kind}: a denial's status is not 2xx ({status})")
            await trio.lowlevel.checkpoint_if_cancelled()
            self.denial.start(message)
            self._answered.set()
            await trio.lowlevel.cancel_shielded_checkpoint()
        elif kind == "websocket.http.response.body":
            if self.state is WSState.ACCEPTED:
                raise ASGIError(f"{kind} after websocket.accept")
            self._check_gone(kind)
            await self.denial.body(message)
            if self.denial.phase is Phase.DONE:
                self.state = WSState.DENIED
        else:
            raise ASGIError(f"unknown message type {kind!r} for a websocket scope")

    def _check_gone(self, kind: str) -> None:
        if self.disconnect.happened or self.state is WSState.CLOSED:
            raise ClientDisconnected(f"{kind}: the WebSocket is closed")

    def _check_can_deny(self, kind: str) -> None:
        if self.state is WSState.ACCEPTED:
            raise ASGIError(f"{kind} after websocket.accept")
        self._check_gone(kind)
        if self.state is WSState.DENIED or self.denial.phase is not Phase.IDLE:
            raise ASGIError(f"{kind}: the WebSocket was refused already")

    async def _accept(self, message: Message) -> None:
        kind = message["type"]
        subprotocol = get_optional_str(message, "subprotocol")
        headers = get_headers(message)
        if any(name == b"sec-websocket-protocol" for name, _ in headers):
            raise ASGIError(f"{kind}: give the subprotocol as 'subprotocol', not as a header")
        if self.state is WSState.ACCEPTED:
            raise ASGIError(f"{kind}: the WebSocket is accepted already")
        self._check_can_deny(kind)
        with self.disconnect.interruptible() as interrupted:
            try:
                self.websocket = await self._stream.accept_websocket(subprotocol, headers)
            except StreamReset:
                # Gone, or a WebSocket version other than 13 (answered 426 already).
                self.disconnect.set()
            except LocalProtocolError as exc:
                raise ASGIError(f"{kind}: {exc}") from None
        if interrupted.cancelled_caught or self.websocket is None:
            self._answered.set()
            raise ClientDisconnected(f"{kind}: the client is gone")
        self.state = WSState.ACCEPTED
        self._answered.set()

    async def _send_message(self, message: Message) -> None:
        kind = message["type"]
        data = get_optional_bytes(message, "bytes")
        text = get_optional_str(message, "text")
        if (data is None) == (text is None):
            raise ASGIError(f"{kind}: exactly one of 'bytes' and 'text' must be given")
        if self.state is WSState.CONNECTING or self.state is WSState.DENIED:
            raise ASGIError(f"{kind} before websocket.accept")
        self._check_gone(kind)
        websocket = self.websocket
        assert websocket is not None
        with self.disconnect.interruptible() as interrupted:
            try:
                await websocket.send_message(text if text is not None else data)  # type: ignore[arg-type]
            except trio_websocket.ConnectionClosed as exc:
                self._closed_by(exc)
                raise ClientDisconnected(f"{kind}: the WebSocket is closed") from None
        if interrupted.cancelled_caught:
            raise ClientDisconnected(f"{kind}: the client is gone")

    async def _close(self, message: Message) -> None:
        kind = message["type"]
        code = get_int(message, "code", 1000)
        reason = get_optional_str(message, "reason") or ""
        if self.state is not WSState.ACCEPTED:
            if self.state is WSState.CONNECTING and self.denial.phase is Phase.IDLE:
                # The spec's denial: 403, and no WebSocket.
                self._check_gone(kind)
                self.state = WSState.DENIED
                self._answered.set()
                with contextlib.suppress(H2Error):
                    await self._stream.respond(403)
                return
            if self.state is WSState.DENIED:
                raise ASGIError(f"{kind}: the WebSocket was refused already")
            raise ClientDisconnected(f"{kind}: the WebSocket is closed")
        if not (1000 <= code <= 4999) or code in _RESERVED_CODES or 1016 <= code <= 2999:
            raise ASGIError(f"{kind}: {code} is not a close code an endpoint may send")
        if len(reason.encode("utf-8")) > _MAX_REASON:
            raise ASGIError(f"{kind}: the reason is over {_MAX_REASON} bytes of UTF-8")
        websocket = self.websocket
        assert websocket is not None
        self._closed(code, reason)
        # The close handshake is bounded by Config.websocket_close_timeout, and by
        # the client's leaving.
        with self.disconnect.interruptible():
            await websocket.aclose(code, reason or None)
