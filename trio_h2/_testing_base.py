"""What the in-memory test clients share: the response record and WebSocket messages.

The HTTP/2 client (``testing.py``) and the HTTP/1.1 one (``_testing_h1.py``) fill the
same :class:`Response`, so that a test reads it the same way over either protocol,
and their WebSockets speak messages through the same wsproto logic, differing only
in how the bytes travel (the DATA of an extended CONNECT, or the upgraded socket).
"""

from __future__ import annotations

import json as _json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import trio
import wsproto.connection
import wsproto.events
from wsproto.connection import ConnectionState as _WSState

from ._headers import decode

HeaderPairs = Iterable[tuple[str | bytes, str | bytes]]

#: How long one write may wait for the server to read (writes are shielded from
#: cancellation, so that no frame or request is ever cut in half).
SEND_TIMEOUT = 30.0


def to_str(value: str | bytes) -> str:
    return value if isinstance(value, str) else decode(value)


def encode_headers(headers: HeaderPairs) -> list[tuple[bytes, bytes]]:
    return [(to_str(n).encode(), to_str(v).encode("utf-8", "surrogateescape")) for n, v in headers]


@dataclass
class Response:
    """A response as the client saw it.

    Over HTTP/1.1, ``stream_id`` is the request's number on its connection (1 for the
    first), ``request_headers`` start with the method, scheme, authority and path as
    HTTP/2's pseudo-headers would, and ``pushed`` stays empty.
    """

    stream_id: int
    #: The request (or, for a push, the promised request) headers, pseudo-headers first.
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[str, str]] | None = None
    #: 1xx responses that came first, as ``(status, headers)``.
    informational: list[tuple[int, list[tuple[str, str]]]] = field(default_factory=list)
    #: Responses the server pushed along with this one.
    pushed: list[Response] = field(default_factory=list)
    #: The RST_STREAM code, if the stream was reset.
    reset_code: int | None = None
    #: The order in which the parts arrived: "informational", "push" (a PUSH_PROMISE
    #: on this stream), "headers", "data", "trailers".
    arrival: list[str] = field(default_factory=list)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of the response header ``name``, or ``default`` if it is absent.

        Names compare case-insensitively: ``header("Content-Type")`` finds
        ``content-type``.  Pseudo-headers are not in :attr:`headers` (see :attr:`status`).
        """
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    @property
    def path(self) -> str | None:
        """The :path of the request (useful for pushed responses)."""
        for key, value in self.request_headers:
            if key == ":path":
                return value
        return None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (whatever the content-type says).

        Raises :class:`UnicodeDecodeError` if the body is not UTF-8.
        """
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (raises :class:`json.JSONDecodeError` if it is not)."""
        return _json.loads(self.body)


class WebSocketMessages:
    """Messages over a byte channel, made and read by wsproto's client side.

    A subclass says how bytes go out (:meth:`_send_bytes`) and come in
    (:meth:`receive_raw`, ``b""`` at the end).
    """

    def __init__(self) -> None:
        self._ws = wsproto.connection.Connection(wsproto.connection.ConnectionType.CLIENT)
        self._parts: list[str | bytes] = []
        #: The close code and reason the server sent, once its Close has come.
        self.close_code: int | None = None
        self.close_reason: str | None = None

    async def _send_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    async def receive_raw(self) -> bytes:
        """The server's next bytes; ``b""`` once it has ended them."""
        raise NotImplementedError

    async def _send_event(self, event: wsproto.events.Event) -> None:
        # wsproto's state changes with what it is given (a Close above all): a call
        # cancelled before it may send must not have told wsproto either.
        await trio.lowlevel.checkpoint_if_cancelled()
        await self._send_bytes(self._ws.send(event))

    async def send_message(self, message: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message in one masked frame."""
        if isinstance(message, str):
            await self._send_event(wsproto.events.TextMessage(data=message))
        else:
            await self._send_event(wsproto.events.BytesMessage(data=message))

    async def get_message(self) -> str | bytes:
        """The server's next message; raises ``trio_websocket.ConnectionClosed`` at its end.

        Pings are answered; the server's Close is answered and ends it.
        """
        import trio_websocket

        while True:
            for event in self._ws.events():
                if isinstance(event, wsproto.events.Message):
                    self._parts.append(event.data)
                    if event.message_finished:
                        parts, self._parts = self._parts, []
                        if isinstance(event, wsproto.events.TextMessage):
                            return "".join(cast("list[str]", parts))
                        return b"".join(cast("list[bytes]", parts))
                elif isinstance(event, wsproto.events.Ping):
                    await self._send_event(event.response())
                elif isinstance(event, wsproto.events.CloseConnection):
                    self.close_code, self.close_reason = event.code, event.reason
                    if self._ws.state is _WSState.REMOTE_CLOSING:
                        await self._send_event(event.response())
                    raise trio_websocket.ConnectionClosed(
                        trio_websocket.CloseReason(event.code, event.reason or None)
                    )
            if self.close_code is not None:
                raise trio_websocket.ConnectionClosed(
                    trio_websocket.CloseReason(self.close_code, self.close_reason or None)
                )
            data = await self.receive_raw()
            if not data:
                self.close_code = 1006
                raise trio_websocket.ConnectionClosed(trio_websocket.CloseReason(1006, None))
            self._ws.receive_data(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> int | None:
        """Send Close and read until the server's; returns the code the server sent."""
        import trio_websocket

        if self._ws.state is _WSState.OPEN:
            await self._send_event(wsproto.events.CloseConnection(code=code, reason=reason))
        try:
            while True:
                await self.get_message()
        except trio_websocket.ConnectionClosed:
            pass
        return self.close_code
