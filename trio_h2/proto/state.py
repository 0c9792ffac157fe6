"""One stream's protocol state, whatever the protocol: request side, response side, reset.

The connection that carries a stream and the handler's :class:`~trio_h2.Stream` share
one :class:`StreamState`.  It is the only owner of these facts; everyone else asks it,
and every change goes through one of its transition methods, so a state can never be
half-updated.  It imports no I/O library: the server layer above decides when to call
the transitions, the protocol layer what to put on the wire.
"""

from __future__ import annotations

import enum

from .._errors import LocalProtocolError, RemoteProtocolError, StreamReset


class ResponseState(enum.Enum):
    """Where a stream's response is."""

    IDLE = "idle"  # nothing sent yet (1xx responses may have been)
    STARTED = "started"  # the final response's head sent, body open
    ENDED = "ended"  # the response is complete
    RESET = "reset"  # the stream was reset, by either side


class StreamState:
    """The protocol facts of one stream, changed only by the methods below."""

    __slots__ = (
        "bytes_sent",
        "name",
        "remote_reset",
        "request_ended",
        "reset_code",
        "reset_reason",
        "response",
        "status",
    )

    def __init__(self, name: str) -> None:
        #: How errors name the stream, e.g. ``"<Stream 1 GET />"``.
        self.name = name
        #: True once the peer has sent the whole request.
        self.request_ended = False
        self.response = ResponseState.IDLE
        #: The final status sent, or None before the response starts.
        self.status: int | None = None
        #: The reset's error code once either side reset the stream, else None.
        self.reset_code: int | None = None
        #: True when the peer sent the reset; False when the server did.
        self.remote_reset = True
        #: What the peer did wrong, when the server reset the stream for it.
        self.reset_reason: str | None = None
        #: Response body bytes queued for the peer so far.
        self.bytes_sent = 0

    # ------------------------------------------------------------------ queries

    @property
    def response_started(self) -> bool:
        return self.response is not ResponseState.IDLE

    @property
    def response_ended(self) -> bool:
        return self.response is ResponseState.ENDED or self.response is ResponseState.RESET

    def reset_error(self) -> StreamReset:
        """The exception a handler meets on a reset stream."""
        if self.reset_reason is not None:
            return RemoteProtocolError(self.reset_reason, self.reset_code or 0)
        return StreamReset(self.reset_code or 0, remote=self.remote_reset)

    def check_can_start(self) -> None:
        """Raise unless the final response may start now."""
        if self.response is ResponseState.RESET:
            raise self.reset_error()
        if self.response is not ResponseState.IDLE:
            raise LocalProtocolError(f"{self.name}: the response has already started")

    def check_open(self) -> None:
        """Raise unless the response has started and not ended."""
        if self.response is ResponseState.RESET:
            raise self.reset_error()
        if self.response is ResponseState.ENDED:
            raise LocalProtocolError(f"{self.name}: the response has already ended")
        if self.response is ResponseState.IDLE:
            raise LocalProtocolError(f"{self.name}: the response has not started")

    # -------------------------------------------------------------- transitions

    def end_request(self) -> None:
        self.request_ended = True

    def start_response(self, status: int) -> None:
        self.status = status
        self.response = ResponseState.STARTED

    def sent(self, size: int) -> None:
        """``size`` more response body bytes went to the peer."""
        self.bytes_sent += size

    def end_response(self) -> None:
        """The response is complete (a reset that came first stays a reset)."""
        if self.response is not ResponseState.RESET:
            self.response = ResponseState.ENDED

    def reset(self, error_code: int, *, remote: bool, reason: str | None = None) -> bool:
        """Record a reset; the first one's code is kept.  True if it is the first.

        ``reason`` says what the peer did wrong when the server resets the stream
        because of it: the handler then meets a RemoteProtocolError.
        """
        first = self.reset_code is None
        if first:
            self.reset_code = error_code
            self.remote_reset = remote
            self.reset_reason = reason
        self.response = ResponseState.RESET
        return first


class ConnectionState(enum.IntEnum):
    """A connection's life, in the only order it can go: a state never comes back."""

    #: Waiting for the peer's preface (and, over TLS, after the handshake).
    HANDSHAKE = 0
    #: Serving requests.
    OPEN = 1
    #: A graceful close was said (GOAWAY, by either side): the accepted streams
    #: finish, nothing new starts.
    DRAINING = 2
    #: Reading has stopped; what is queued still goes out.
    CLOSING = 3
    #: The transport failed, or the peer closed with an error: nothing more is sent.
    BROKEN = 4
