"""What every connection adds to responses, and the answers the server gives itself."""

from __future__ import annotations

import logging

from .._config import Config
from .._errors import H2Error, RequestBodyTimeout, RequestBodyTooLarge, StreamReset
from .._headers import DateCache, RawHeaders
from .stream import Stream

log = logging.getLogger("trio_h2")


def server_headers(config: Config) -> RawHeaders:
    """The fields the server adds to every response (``server``), from Config."""
    if config.server_header is None:
        return []
    return [(b"server", config.server_header.encode("utf-8"))]


def response_headers(
    config: Config, static: RawHeaders, date: DateCache, status: bytes, headers: RawHeaders
) -> RawHeaders:
    """A response head: ``:status``, the handler's fields, then the server's own.

    The server's (``server``, ``date``) are added only where the handler gave none.
    """
    out = [(b":status", status), *headers]
    names = {name for name, _ in headers} if headers else ()
    for name, value in static:
        if name not in names:
            out.append((name, value))
    if config.date_header and b"date" not in names:
        out.append((b"date", date.now()))
    return out


async def answer_431(stream: Stream) -> None:
    """RFC 9113 §10.5.1 and RFC 6585 §5: the header list is over the limit."""
    await stream.respond(
        431, [("content-type", "text/plain")], b"Request Header Fields Too Large\n"
    )


#: What a handler may leave uncaught that is the peer's fault, not the handler's:
#: answered (413, 408) without the traceback a failure gets.
PEER_FAULTS = (RequestBodyTooLarge, RequestBodyTimeout)


async def answer_error(stream: Stream, exc: Exception | None) -> None:
    """Answer a request whose handler failed (``exc``) or returned without responding.

    413 for :class:`RequestBodyTooLarge`, 408 for :class:`RequestBodyTimeout`; 405
    for a CONNECT that opened no tunnel; 500
    otherwise, with the traceback logged.  Nothing is sent for a stream that was reset
    or whose response had started (its connection resets or closes it instead).
    """
    if isinstance(exc, StreamReset):
        return  # reset by the peer, or by the server for the peer's fault
    if stream.response_started:
        log.error("handler for %r failed after the response started", stream, exc_info=exc)
        return
    if isinstance(exc, RequestBodyTooLarge):
        log.info("%r answered 413: %s", stream, exc)
        status, reason = 413, b"Request Entity Too Large\n"
    elif isinstance(exc, RequestBodyTimeout):
        log.info("%r answered 408: %s", stream, exc)
        status, reason = 408, b"Request Timeout\n"
    elif exc is None and stream.method == "CONNECT":
        # The handler opened no tunnel: CONNECT is not served here.
        status, reason = 405, b"Method Not Allowed\n"
    else:
        if exc is not None:
            log.error("handler for %r failed", stream, exc_info=exc)
        status, reason = 500, b"Internal Server Error\n"
    try:
        await stream.respond(status, [("content-type", "text/plain")], reason)
    except H2Error:
        pass
