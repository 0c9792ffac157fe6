"""What every connection adds to responses, and the answers the server gives itself."""

from __future__ import annotations

from .._config import Config
from .._headers import DateCache, RawHeaders
from .stream import Stream


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
