"""What the ASGI layer raises at the application: misuse, a client gone, a failed lifespan."""

from __future__ import annotations

from .._errors import H2Error, LocalProtocolError


class ASGIError(LocalProtocolError):
    """The application sent a message the server cannot take.

    An unknown ``type``, a missing or mistyped key, or a message out of order (a
    second ``http.response.start``, a body before the start, anything after the
    response completed).  The message says which message and why.  A subclass of
    :class:`trio_h2.LocalProtocolError`: the API was misused.
    """


class ClientDisconnected(OSError):
    """``send()`` on a connection the client has left (ASGI HTTP spec 2.4).

    Raised instead of delivering the message: the stream was reset, the connection
    dropped, or the WebSocket is closed.  An application may catch it to clean up;
    left uncaught, the server ends the exchange quietly, without logging it as an
    error.
    """


class LifespanError(H2Error):
    """The application's lifespan startup (or shutdown) failed.

    Raised from :func:`trio_h2.asgi.lifespan` (and so from
    :func:`trio_h2.asgi.serve`) with the application's own message: the text of its
    ``lifespan.startup.failed``, or the exception it raised during startup.
    """
