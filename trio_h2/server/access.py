"""The access log: one line per request, on the ``trio_h2.access`` logger.

The line is built only when the logger would emit it.  Its fields also ride on the
log record (``record.client``, ``record.status``...), so that a logging Formatter, or
a ``dictConfig``, can lay them out in any other way:

=============  ======================================================================
``client``     the peer's address (host only)
``method``     the request method
``target``     the request target, query included
``protocol``   ``"2"``, ``"1.1"`` or ``"1.0"``
``status``     the final status sent, or ``"-"`` if none was
``bytes``      response body bytes queued for the peer
``duration``   seconds from the request's arrival to the end of its handler
``user_agent`` the ``user-agent`` header, or ``"-"``
``referer``    the ``referer`` header, or ``"-"``
``outcome``    ``""`` for a complete exchange; ``"reset by peer (CANCEL)"``,
               ``"reset by server (INTERNAL_ERROR)"`` or ``"connection lost"`` when the
               response did not reach its end
=============  ======================================================================
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import trio

from .._errors import ErrorCode

if TYPE_CHECKING:
    from .stream import Stream

log = logging.getLogger("trio_h2.access")

_INFO = logging.INFO
# What logging measures relativeCreated from (it has no public name for it).
_START: float = getattr(logging, "_startTime", time.time())


def host_of(address: Any) -> str:
    """The host part of a socket address, for the log.

    A Unix socket's peer is its path, or ``unix`` for an unnamed one (the usual
    client, which does not bind its socket).
    """
    if isinstance(address, tuple) and address:
        return str(address[0])
    if address is None:
        return "-"
    if isinstance(address, bytes):
        address = address.decode("utf-8", "backslashreplace")
    return str(address) or "unix"


def outcome(stream: Stream, *, lost: bool) -> str:
    """How the exchange ended, if not whole (see the module docstring)."""
    state = stream.state
    code = state.reset_code
    if code is not None and not (state.response_ended and code == ErrorCode.NO_ERROR):
        if code == ErrorCode.NO_ERROR:
            name = "NO_ERROR"
        else:
            try:
                name = ErrorCode(code).name
            except ValueError:
                name = str(code)
        return f"reset by {'peer' if state.remote_reset else 'server'} ({name})"
    if lost and not state.response_ended:
        return "connection lost"
    return ""


_template: dict[str, Any] | None = None


def _template_fields() -> dict[str, Any]:
    # Every key a record will hold, the access fields included, so that each record
    # is a copy of this one at its final size rather than a dict grown key by key.
    global _template
    if _template is None:
        record = logging.LogRecord(log.name, _INFO, __file__, 0, "", None, None)
        _template = record.__dict__ | dict.fromkeys(FIELDS)
    return _template


#: The fields each access record carries (the module docstring lists them).
FIELDS = (
    "client",
    "method",
    "target",
    "protocol",
    "status",
    "bytes",
    "duration",
    "user_agent",
    "referer",
    "outcome",
)


def log_exchange(stream: Stream, client_address: Any, *, lost: bool = False) -> None:
    """Write the access line for a finished request (if the logger is on).

    The LogRecord is made here as logging would make it, at a third of the cost:
    log.info() looks up the caller's frame, and LogRecord() works out the source
    file's name, module, process and thread names afresh each time, none of which
    changes from one access line to the next.  The message is formatted at once, as
    a record with no ``args``: the target may hold a ``%``.
    """
    if not log.isEnabledFor(_INFO):
        return
    state = stream.state
    status = str(state.status) if state.status is not None else "-"
    now = time.time()
    duration = trio.current_time() - stream.arrived
    client = host_of(client_address)
    agent = referer = "-"
    for name, value in stream.raw_headers:
        if name == b"user-agent":
            agent = value.decode("latin-1")
        elif name == b"referer":
            referer = value.decode("latin-1")
    how = "" if state.reset_code is None and state.response_ended else outcome(stream, lost=lost)
    method = stream.method
    target = stream.path
    protocol = stream.http_version
    sent = state.bytes_sent
    fields = (_template or _template_fields()).copy()
    fields["msg"] = (
        f'{client} "{method} {target} HTTP/{protocol}" {status} {sent} '
        f'{duration * 1000:.1f}ms "{agent}"{" " + how if how else ""}'
    )
    fields["created"] = now
    fields["msecs"] = int((now - int(now)) * 1000) + 0.0
    fields["relativeCreated"] = (now - _START) * 1000
    fields["thread"] = threading.get_ident()
    fields["client"] = client
    fields["method"] = method
    fields["target"] = target
    fields["protocol"] = protocol
    fields["status"] = status
    fields["bytes"] = sent
    fields["duration"] = duration
    fields["user_agent"] = agent
    fields["referer"] = referer
    fields["outcome"] = how
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__ = fields
    log.handle(record)
