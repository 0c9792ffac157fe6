"""The health path: the server's own answer to a load balancer's health checks.

With ``Config.health_path`` set, each connection asks :meth:`HealthCheck.answers`
about a request's target where it would start the handler; a request for that path
is given to the :class:`HealthCheck` instead, which answers it like a handler would
(so it is logged, counted and framed like any other response) without the
application ever seeing it.  With the option off the connections hold None and the
check is not made at all.

The answer says whether this server wants new work: 200 while it serves, 503 once its
graceful shutdown has begun (``draining``, set by the server before any connection
hears of the shutdown).  Over HTTP/1.1 the 503 says ``connection: close``, as every
response does once the shutdown has begun: the server tells each HTTP/1.1 connection
to close after its response in the same step as it sets ``draining``, and a
connection made after that is told so before it reads anything.
"""

from __future__ import annotations

from .stream import Stream

_NO_STORE = ("cache-control", "no-store")
_TEXT = ("content-type", "text/plain")
_HEADERS = [_TEXT, _NO_STORE]
_NOT_ALLOWED = [_TEXT, _NO_STORE, ("allow", "GET, HEAD")]


class HealthCheck:
    """Answers the requests for one path: 200 ``ok``, or 503 while draining."""

    __slots__ = ("_path", "_with_query", "draining")

    def __init__(self, path: str) -> None:
        self._path = path.encode("ascii")
        self._with_query = self._path + b"?"
        #: Set once the server's graceful shutdown has begun; never cleared.
        self.draining = False

    def answers(self, target: bytes | None) -> bool:
        """Whether a request for ``target`` (its ``:path``) is this check's."""
        return target is not None and (target == self._path or target.startswith(self._with_query))

    async def __call__(self, stream: Stream) -> None:
        """Answer ``stream`` as a handler would."""
        if stream.method not in ("GET", "HEAD"):
            await stream.respond(405, _NOT_ALLOWED, b"Method Not Allowed\n")
        elif self.draining:
            await stream.respond(503, _HEADERS, b"draining\n")
        else:
            await stream.respond(200, _HEADERS, b"ok\n")
