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


def _record(msg: str, args: tuple[Any, ...]) -> logging.LogRecord:
    """A LogRecord as logging makes one, at a third of the cost.

    log.info() would look up the caller's frame, and LogRecord() works out the source
    file's name, module, process and thread names afresh each time; none of that
    changes from one access line to the next, so it is taken from a record made once.
    """
    global _template
    if _template is None:
        _template = logging.LogRecord(log.name, _INFO, __file__, 0, "", None, None).__dict__
    now = time.time()
    record = logging.LogRecord.__new__(logging.LogRecord)
    fields = dict(_template)
    fields["msg"] = msg
    fields["args"] = args
    fields["created"] = now
    fields["msecs"] = int((now - int(now)) * 1000) + 0.0
    fields["relativeCreated"] = (now - _START) * 1000
    fields["thread"] = threading.get_ident()
    record.__dict__ = fields
    return record


def log_exchange(stream: Stream, client_address: Any, *, lost: bool = False) -> None:
    """Write the access line for a finished request (if the logger is on)."""
    if not log.isEnabledFor(_INFO):
        return
    state = stream.state
    status = str(state.status) if state.status is not None else "-"
    duration = trio.current_time() - stream.arrived
    client = host_of(client_address)
    agent = referer = "-"
    for name, value in stream.raw_headers:
        if name == b"user-agent":
            agent = value.decode("latin-1")
        elif name == b"referer":
            referer = value.decode("latin-1")
    how = "" if state.reset_code is None and state.response_ended else outcome(stream, lost=lost)
    record = _record(
        '%s "%s %s HTTP/%s" %s %d %.1fms "%s"%s',
        (
            client,
            stream.method,
            stream.path,
            stream.http_version,
            status,
            state.bytes_sent,
            duration * 1000,
            agent,
            f" {how}" if how else "",
        ),
    )
    record.__dict__.update(
        client=client,
        method=stream.method,
        target=stream.path,
        protocol=stream.http_version,
        status=status,
        bytes=state.bytes_sent,
        duration=duration,
        user_agent=agent,
        referer=referer,
        outcome=how,
    )
    log.handle(record)
