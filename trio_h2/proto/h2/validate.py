"""Checking a request's header block against RFC 9113 §8 before a handler sees it.

h2's own inbound validation is turned off: it reports a malformed request as a
connection error, where RFC 9113 §8.1.1 asks for a stream error (RST_STREAM with
PROTOCOL_ERROR) that leaves the other streams alone.  The checks here raise
:class:`MalformedRequest`, and the connection resets only that stream.

One pass over the fields does every check, so a request costs one loop and a few
regular-expression matches, less than h2's chain of generators it replaces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..._errors import ErrorCode
from ..._headers import CONNECTION_SPECIFIC
from ..errors import ProtocolViolation

#: RFC 9113 §6.5.2: each field counts its name, its value and 32 octets.
FIELD_OVERHEAD = 32

# RFC 9113 §8.2.1 and RFC 9110 §5.1: a name is a token, lowercase in HTTP/2.
_NAME_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
# RFC 9113 §8.2.1: no NUL, CR or LF anywhere; no leading or trailing SP / HTAB.
_BAD_VALUE_RE = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z")
_METHOD_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

_REQUEST_PSEUDO = frozenset({b":method", b":scheme", b":authority", b":path", b":protocol"})


# Fields seen to be well-formed on their own, so a repeat skips the regular expressions:
# clients send the same few fields on every request.  A pseudo-header found here has a
# clean value; a regular field is also a valid, ordinary name (not te, content-length
# or host, whose checks depend on the rest of the block).  Bounded in entries and in
# the size of each; a peer that churns it only costs itself the shortcut.
_CLEAN: set[tuple[bytes, bytes]] = set()
_CLEAN_ENTRIES = 1024
_CLEAN_FIELD_SIZE = 256


def _remember(field: tuple[bytes, bytes]) -> None:
    if len(field[0]) + len(field[1]) <= _CLEAN_FIELD_SIZE:
        if len(_CLEAN) >= _CLEAN_ENTRIES:
            _CLEAN.clear()
        _CLEAN.add(field)


class MalformedRequest(ProtocolViolation):
    """The header block breaks RFC 9113 §8: a stream error, reset with PROTOCOL_ERROR."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.PROTOCOL_ERROR, stream_id=0)


class RequestInfo:
    """What the connection needs to know about a request that passed the checks."""

    __slots__ = ("content_length", "pseudo", "size")

    def __init__(self, pseudo: dict[bytes, bytes], content_length: int | None, size: int) -> None:
        #: The pseudo-header fields; in a valid block they come before every other.
        self.pseudo = pseudo
        #: The declared body length, or None when the request has no content-length.
        self.content_length = content_length
        #: The header list size as RFC 9113 §6.5.2 counts it.
        self.size = size


def check_request(
    headers: Sequence[tuple[bytes, bytes]], *, extended_connect: bool = False
) -> RequestInfo:
    """Check a request header block; raise :class:`MalformedRequest` if it is malformed.

    ``extended_connect`` allows the ``:protocol`` pseudo-header (RFC 8441), which is
    only legal once the server has sent SETTINGS_ENABLE_CONNECT_PROTOCOL.
    """
    pseudo: dict[bytes, bytes] = {}
    regular_seen = False
    size = 0
    content_length: int | None = None
    host: bytes | None = None
    name_ok = _NAME_RE.fullmatch
    bad_value = _BAD_VALUE_RE.search
    clean = _CLEAN
    for field in headers:
        name, value = field
        size += len(name) + len(value) + FIELD_OVERHEAD
        if field in clean:
            if name[:1] != b":":
                regular_seen = True
                continue
        elif bad_value(value) is not None:
            raise MalformedRequest(f"invalid character in the value of {name!r}")
        if name[:1] == b":":
            if regular_seen:
                raise MalformedRequest(f"pseudo-header {name!r} after a regular field")
            if name not in _REQUEST_PSEUDO or (name == b":protocol" and not extended_connect):
                raise MalformedRequest(f"pseudo-header {name!r} is not allowed in a request")
            if name in pseudo:
                raise MalformedRequest(f"pseudo-header {name!r} is repeated")
            pseudo[name] = value
            _remember(field)
            continue
        regular_seen = True
        if name_ok(name) is None:
            raise MalformedRequest(f"invalid field name {name!r}")
        if name in CONNECTION_SPECIFIC:
            raise MalformedRequest(f"connection-specific field {name!r}")
        if name == b"te":
            if value.lower() != b"trailers":
                raise MalformedRequest(f"te: {value!r} (only 'trailers' is allowed)")
        elif name == b"content-length":
            if not value.isdigit():
                raise MalformedRequest(f"invalid content-length {value!r}")
            length = int(value)
            if content_length is not None and length != content_length:
                raise MalformedRequest("conflicting content-length fields")
            content_length = length
        elif name == b"host":
            host = value
        else:
            _remember(field)

    method = pseudo.get(b":method")
    if method is None or _METHOD_RE.fullmatch(method) is None:
        raise MalformedRequest("missing or invalid :method")
    authority = pseudo.get(b":authority")
    if method == b"CONNECT" and b":protocol" not in pseudo:
        # RFC 9113 §8.5: a tunnel has an authority and neither scheme nor path.
        if b":scheme" in pseudo or b":path" in pseudo:
            raise MalformedRequest("CONNECT with :scheme or :path")
        if not authority:
            raise MalformedRequest("CONNECT without :authority")
    else:
        if b":protocol" in pseudo and method != b"CONNECT":
            raise MalformedRequest(":protocol on a request other than CONNECT")
        scheme = pseudo.get(b":scheme")
        path = pseudo.get(b":path")
        if not scheme or path is None:
            raise MalformedRequest("missing :scheme or :path")
        if not path:
            raise MalformedRequest("empty :path")
        if path[:1] != b"/" and not (path == b"*" and method == b"OPTIONS"):
            raise MalformedRequest(f":path {path[:50]!r} is not an absolute path")
        if b":protocol" in pseudo and not authority:
            raise MalformedRequest("extended CONNECT without :authority")
    if authority is not None and host is not None and host != authority:
        # RFC 9113 §8.3.1: they must name the same origin.
        raise MalformedRequest(":authority and host differ")
    return RequestInfo(pseudo, content_length, size)


def check_trailers(headers: Sequence[tuple[bytes, bytes]]) -> None:
    """Check a trailer block: no pseudo-headers (RFC 9113 §8.1), valid fields."""
    for name, value in headers:
        if name[:1] == b":":
            raise MalformedRequest(f"pseudo-header {name!r} in trailers")
        if _NAME_RE.fullmatch(name) is None:
            raise MalformedRequest(f"invalid field name {name!r} in trailers")
        if name in CONNECTION_SPECIFIC:
            raise MalformedRequest(f"connection-specific field {name!r} in trailers")
        if _BAD_VALUE_RE.search(value) is not None:
            raise MalformedRequest(f"invalid character in the value of {name!r}")
