"""What a protocol connection reports: frozen events, protocol-neutral where they can be.

A sans-IO connection (``proto.h2``, and the HTTP/1.1 one beside it) turns received
bytes into a list of these.  The server layer reacts to each one: a new request starts
a handler, body data goes to that request's buffer, a reset cancels its handler.  The
events carry bytes exactly as received; decoding to str is the handler API's business.

``stream_id`` names a request on its connection: the HTTP/2 stream identifier, or for
HTTP/1.1 the request's position on the connection (1, 2, 3, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Header fields as received or to be sent: ``(name, value)`` byte pairs, in order.
RawHeaders = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every protocol event."""


@dataclass(frozen=True, slots=True)
class RequestReceived(Event):
    """A request's head has arrived and passed validation.

    ``pseudo`` holds ``:method``, ``:scheme``, ``:authority``, ``:path`` (and
    ``:protocol`` for an extended CONNECT), as HTTP/2 names them; an HTTP/1.1
    connection fills in the same names from its request line and ``Host``.
    ``headers`` are the regular fields.  ``end_stream`` says the request has no body.
    ``too_large`` marks a header list over the advertised limit but within the hard
    one: the request gets a 431 and the connection stays usable.
    """

    stream_id: int
    pseudo: Mapping[bytes, bytes]
    headers: RawHeaders
    end_stream: bool
    too_large: bool = False
    http_version: str = "2"


@dataclass(frozen=True, slots=True)
class DataReceived(Event):
    """Request body bytes; ``flow_length`` is the credit to return once they are consumed."""

    stream_id: int
    data: bytes
    flow_length: int


@dataclass(frozen=True, slots=True)
class RequestEnded(Event):
    """The request body is complete; ``trailers`` came with its end, or None."""

    stream_id: int
    trailers: RawHeaders | None = None


@dataclass(frozen=True, slots=True)
class StreamReset(Event):
    """A stream was reset: by the peer (``remote``) or by the connection for the peer's fault."""

    stream_id: int
    error_code: int
    remote: bool


@dataclass(frozen=True, slots=True)
class WindowOpened(Event):
    """Flow-control credit arrived for ``stream_id`` (0: the whole connection)."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class SettingsChanged(Event):
    """The peer's settings changed; the first one is its preface.

    ``windows_changed`` says SETTINGS_INITIAL_WINDOW_SIZE moved every stream's window.
    """

    windows_changed: bool


@dataclass(frozen=True, slots=True)
class GoAwayReceived(Event):
    """The peer said GOAWAY: with NO_ERROR a graceful close, otherwise a failure."""

    error_code: int
    last_stream_id: int
    debug_data: bytes


@dataclass(frozen=True, slots=True)
class ConnectionViolation(Event):
    """The peer broke the protocol past repair (RFC 9113 §5.4.1).

    The answer (GOAWAY with ``error_code``) is queued already; nothing more will be
    read from this connection.
    """

    error_code: int
    message: str
