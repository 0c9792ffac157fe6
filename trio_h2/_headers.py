"""Header fields: checking what the application sends, decoding what the peer sent.

Response headers are checked once, here, where the server builds them, so h2's own
outbound validation and normalisation can stay off on the hot path.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from ._errors import LocalProtocolError

#: Anything a handler may pass as a header name or value.
HeaderValue = str | bytes
HeaderList = Iterable[tuple[HeaderValue, HeaderValue]]
RawHeaders = list[tuple[bytes, bytes]]

# RFC 9110 §5.6.2 token characters, lowercase only (RFC 9113 §8.2.1).
_NAME_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
# RFC 9113 §8.2.1: no NUL, CR or LF anywhere; no leading or trailing whitespace.
_BAD_VALUE_RE = re.compile(rb"[\x00\r\n]|^[ \t]|[ \t]$")

#: Fields that are meaningful only on one hop of HTTP/1.1 (RFC 9113 §8.2.2).
CONNECTION_SPECIFIC = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
    }
)


def to_bytes(value: HeaderValue, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise LocalProtocolError(f"{what} must be str or bytes, not {type(value).__name__}")


# Status codes as :status values, formatted once.
_STATUS_VALUES = {code: str(code).encode("ascii") for code in range(100, 600)}


def check_status(status: int, *, informational: bool = False) -> bytes:
    """Validate a status code and return it as the :status value."""
    if isinstance(status, bool) or not isinstance(status, int):
        raise LocalProtocolError(f"status must be an int, not {status!r}")
    if informational:
        if not 100 <= status <= 199:
            raise LocalProtocolError(f"an informational status is 1xx, not {status}")
        if status == 101:
            raise LocalProtocolError("101 Switching Protocols does not exist in HTTP/2")
    elif not 200 <= status <= 599:
        raise LocalProtocolError(f"a final status is between 200 and 599, not {status}")
    return _STATUS_VALUES[status]


# Handlers pass the same few header pairs again and again (often the very same tuple
# constants): pairs already checked are remembered, within bounds.  Pairs of str and
# pairs of bytes are kept apart: a lookup that met a pair of the other type with the
# same hash would compare str with bytes, an error under ``python -bb``.
_checked_str: dict[tuple[HeaderValue, HeaderValue], tuple[bytes, bytes]] = {}
_checked_bytes: dict[tuple[HeaderValue, HeaderValue], tuple[bytes, bytes]] = {}
_CHECKED_MAX = 1_024
_CHECKED_VALUE_MAX = 256


def check_headers(headers: HeaderList, *, trailers: bool = False) -> RawHeaders:
    """Encode and validate headers from the application; raise LocalProtocolError."""
    out: RawHeaders = []
    for item in headers:
        pair = None
        checked = _cache_for(item)
        if checked is not None:
            pair = checked.get(item)
        if pair is None:
            pair = _check_header(item)
            if checked is not None and len(pair[1]) <= _CHECKED_VALUE_MAX:
                if len(checked) >= _CHECKED_MAX:
                    checked.clear()
                checked[item] = pair
        if trailers and pair[0] == b"content-length":
            raise LocalProtocolError(f"{pair[0]!r} may not be sent as a trailer")
        out.append(pair)
    return out


def _cache_for(item: Any) -> dict[tuple[HeaderValue, HeaderValue], tuple[bytes, bytes]] | None:
    """The cache a header pair may be looked up in: a 2-tuple of bytes, or of str."""
    if item.__class__ is not tuple or len(item) != 2:
        return None
    kind = item[0].__class__
    if kind is not item[1].__class__:
        return None
    if kind is bytes:
        return _checked_bytes
    if kind is str:
        return _checked_str
    return None


def _check_header(item: Any) -> tuple[bytes, bytes]:
    raw_name: Any
    raw_value: Any
    try:
        raw_name, raw_value = item
    except (TypeError, ValueError):
        raise LocalProtocolError(f"a header is a (name, value) pair, not {item!r}") from None
    name = to_bytes(raw_name, "a header name")
    value = to_bytes(raw_value, f"the value of header {name!r}")
    if not _NAME_RE.fullmatch(name):
        if name.startswith(b":"):
            raise LocalProtocolError(
                f"pseudo-header {name!r} is set by the server, not by the handler"
            )
        if name.lower() != name:
            raise LocalProtocolError(f"header names must be lowercase in HTTP/2: {name!r}")
        raise LocalProtocolError(f"invalid header name {name!r}")
    if name in CONNECTION_SPECIFIC:
        raise LocalProtocolError(f"connection-specific header {name!r} is not allowed in HTTP/2")
    if name == b"te" and value != b"trailers":
        raise LocalProtocolError('the only value "te" may have in HTTP/2 is "trailers"')
    if _BAD_VALUE_RE.search(value):
        raise LocalProtocolError(f"invalid value for header {name!r}: {value!r}")
    return (name, value)


def decode(value: bytes) -> str:
    """Header bytes as str; undecodable bytes survive as surrogates (and re-encode)."""
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return value.decode("utf-8", "surrogateescape")


def encode(value: str) -> bytes:
    """The inverse of :func:`decode`."""
    return value.encode("utf-8", "surrogateescape")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(seconds: float) -> str:
    """An IMF-fixdate (RFC 9110 §5.6.7), e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``.

    Formatted here rather than with ``email.utils.formatdate``: the email package
    costs every server process over half a megabyte of memory.
    """
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class DateCache:
    """The ``date`` header value, formatted at most once a second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = http_date(second).encode("ascii")
        return self._value
