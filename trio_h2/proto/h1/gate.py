"""The HTTP/1.1 request gate: what a client sends is checked before h11 parses it.

h11 is a tolerant parser, as a client library should be.  A server is often one of
several parsers on a request's way (a load balancer, a cache, a proxy), and any byte
two of them read differently can smuggle a second request inside the first.  So
every message element that frames a request, or that another parser might frame
differently, passes the gate first; what the gate cannot vouch for is refused (the
status is :class:`~trio_h2.proto.errors.ProtocolViolation`'s ``error_code``) and the
connection closes.

The gate follows the request's framing (head, body by length or in chunks, chunk
lines, trailer section) so it knows where each element ends.  It hands the server
only whole, checked elements, and body bytes only as far as the caller's credit
allows; the rest stays in the caller's buffer.  Refused, among what h11 accepts:

* a bare LF or bare CR in the head, the chunk lines or the trailers (RFC 9112 §2.2
  lets a recipient take a bare LF as a line end; a parser that does not would see
  one field where this one sees two, so the gate takes CRLF only);
* obs-fold (§5.2), whitespace before the colon (§5.1), control characters other than
  HTAB in a field value (RFC 9110 §5.5);
* ``Content-Length`` that is not a single ``1*DIGIT``: ``+5``, ``5, 5`` (§8.6 allows
  either refusing or collapsing such a list; collapsing trusts every earlier hop to
  have read it the same way) and a repeated field, even with the same value;
* any ``Transfer-Encoding`` but ``chunked``, a ``Transfer-Encoding`` beside a
  ``Content-Length`` or in an HTTP/1.0 request (RFC 9112 §6.1, §6.3);
* a chunk size with whitespace before its CRLF, more than 16 hex digits, or chunk
  extensions that do not follow §7.1.1's grammar or exceed their budget;
* CONNECT (not served over HTTP/1.1: 501), a request target of the wrong form for
  its method, ``HTTP/2.0`` and other versions (505, RFC 9110 §15.6.6);
* an ``Expect`` other than ``100-continue`` (417, RFC 9110 §10.1.1).

Every test is on bytes already buffered, and each buffered byte is looked at a
bounded number of times however the peer splits its writes.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ProtocolViolation

if TYPE_CHECKING:
    from .connection import H1Limits

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_TOKEN = re.compile(_TCHAR + rb"+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
# RFC 9110 §5.5: field-value = *field-content; no controls but HTAB.
_FIELD = re.compile(rb"(" + _TCHAR + rb"+):[ \t]*(.*?)[ \t]*", re.DOTALL)
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# A CR not followed by LF (once the next byte is here), an LF not preceded by CR.
_BARE_CR_LF = re.compile(rb"\r(?=[^\n])|(?<!\r)\n")
# RFC 9112 §3.2.2: absolute-form; the gate wants an http(s) URI with a host.
_ABSOLUTE = re.compile(rb"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)(.*)", re.DOTALL)
# RFC 9112 §3.2 / RFC 3986 §3.2.2: uri-host [ ":" port ], userinfo excluded.
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?")
# RFC 9112 §7.1.1: chunk-size [ chunk-ext ]; chunk-ext allows BWS around ";" and "=".
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})((?:[ \t]*;[ \t]*"
    + _TCHAR
    + rb"+(?:[ \t]*=[ \t]*(?:"
    + _TCHAR
    + rb"+|"
    + _QUOTED
    + rb"))?)*)"
)
#: More than 16 hex digits would be a chunk past 2**64 octets.
_CHUNK_SIZE_DIGITS = 16
#: Fields that frame or route a request and so may not arrive as trailers
#: (RFC 9110 §6.5.1): a later hop that merged them would read another request.
_NOT_TRAILERS = frozenset({b"content-length", b"transfer-encoding", b"host"})

#: What a parsed field list is: lowercase names, values as received less OWS.
Fields = list[tuple[bytes, bytes]]


def refuse(status: int, message: str) -> ProtocolViolation:
    return ProtocolViolation(message, status)


@dataclass(frozen=True, slots=True)
class Head:
    """A request head that passed the gate, and what the gate found in it."""

    method: bytes
    #: The request target, as received.
    target: bytes
    #: ``"1.1"`` or ``"1.0"``; a later HTTP/1.x minor version counts as 1.1.
    http_version: str
    fields: Fields
    #: The ``:path`` for the request (the target less any scheme and authority).
    path: bytes
    #: The authority from an absolute-form target, else from ``Host`` (None if absent
    #: or empty).
    authority: bytes | None
    #: The body's declared length, or None for a chunked body.
    content_length: int | None

    @property
    def chunked(self) -> bool:
        return self.content_length is None


class Stall(enum.Enum):
    """Why the gate passed nothing more."""

    NEED_DATA = "need data"  # the next element is incomplete
    CREDIT = "credit"  # body bytes are here, but the caller's credit is spent
    ENDED = "ended"  # the request is complete; what follows waits for the next one


class _At(enum.Enum):
    HEAD = "head"
    LENGTH = "length"  # body bytes by Content-Length
    CHUNK_LINE = "chunk line"
    CHUNK_DATA = "chunk data"
    CHUNK_END = "chunk end"  # the CRLF after a chunk's data
    TRAILERS = "trailers"
    ENDED = "ended"


class RequestGate:
    """Follows one request at a time through its framing; :meth:`step` says how far.

    ``step`` returns how many leading bytes of the buffer may go to h11 (and the
    :class:`Head` when they are a request head), or 0 with :attr:`stall` saying why.
    The caller removes the bytes it passes on.  After the request ends the gate
    passes nothing until :meth:`next_request`.
    """

    __slots__ = (
        "_at",
        "_ext_budget",
        "_limits",
        "_line_end",
        "_remaining",
        "_scanned",
        "stall",
    )

    def __init__(self, limits: H1Limits) -> None:
        self._limits = limits
        self._at = _At.HEAD
        self._remaining = 0
        self._ext_budget = limits.max_chunk_extensions
        # How far the block being scanned (head or trailers) has been searched, and
        # where its first line ends (-1: not found yet).
        self._scanned = 0
        self._line_end = -1
        self.stall = Stall.NEED_DATA

    @property
    def in_body(self) -> bool:
        """The head has passed and the body has not ended."""
        return self._at is not _At.HEAD and self._at is not _At.ENDED

    @property
    def ended(self) -> bool:
        return self._at is _At.ENDED

    @property
    def body_remaining(self) -> int | None:
        """Body bytes still to come by Content-Length; None for a chunked body."""
        return self._remaining if self._at is _At.LENGTH else None

    def next_request(self) -> None:
        """The response to the last request is complete: look for the next head."""
        self._at = _At.HEAD
        self._ext_budget = self._limits.max_chunk_extensions
        self._scanned = 0
        self._line_end = -1

    def step(self, buf: bytearray, credit: int) -> tuple[int, Head | None]:
        at = self._at
        if at is _At.LENGTH or at is _At.CHUNK_DATA:
            return self._body(buf, credit), None
        if at is _At.HEAD:
            return self._head(buf)
        if at is _At.CHUNK_LINE:
            return self._chunk_line(buf), None
        if at is _At.CHUNK_END:
            return self._chunk_end(buf), None
        if at is _At.TRAILERS:
            return self._trailers(buf), None
        self.stall = Stall.ENDED
        return 0, None

    # ------------------------------------------------------------------ the head

    def _head(self, buf: bytearray) -> tuple[int, Head | None]:
        # RFC 9112 §2.2: a server SHOULD ignore empty lines before the request line.
        skip = 0
        while buf[skip : skip + 2] == b"\r\n":
            skip += 2
        if skip:
            del buf[:skip]
            self._scanned = 0
            self._line_end = -1
        if buf and _TOKEN.match(buf, 0, 1) is None and buf[:1] != b"\r":
            # Not a method's first byte: a TLS handshake on the plain port, or noise.
            raise refuse(400, "invalid request line")
        limits = self._limits
        end = self._find_block_end(buf, limits.max_request_line, limits.max_header_size)
        if end is None:
            return 0, None
        lines = bytes(buf[: end - 4]).split(b"\r\n")
        if len(lines) - 1 > limits.max_header_count:
            raise refuse(431, f"more than {limits.max_header_count} header fields")
        head = check_head(lines[0], parse_fields(lines[1:]))
        self._scanned = 0
        self._line_end = -1
        if head.chunked:
            self._at = _At.CHUNK_LINE
        elif head.content_length:
            self._at = _At.LENGTH
            self._remaining = head.content_length
        else:
            self._at = _At.ENDED
        return end, head

    def _find_block_end(
        self, buf: bytearray, line_limit: int | None, size_limit: int
    ) -> int | None:
        """The end of a head or trailer section (after its CRLFCRLF), or None for now."""
        start = self._scanned
        end = buf.find(b"\r\n\r\n", max(0, start - 3))
        stop = len(buf) if end < 0 else end + 4
        # Only the block itself: the body after it may hold any octet.
        if _BARE_CR_LF.search(buf, max(0, start - 1), stop) is not None:
            raise refuse(400, "bare CR or LF in the head" if line_limit else "bare CR or LF")
        if line_limit is not None and self._line_end < 0:
            found = buf.find(b"\r\n", max(0, start - 1), stop)
            if found >= 0:
                self._line_end = found
            else:
                found = stop - (buf[stop - 1 : stop] == b"\r")
            if found > line_limit:
                raise refuse(414, f"request line longer than {line_limit} octets")
        if stop > size_limit:
            raise refuse(431, f"header section larger than {size_limit} octets")
        if end < 0:
            self._scanned = stop
            self.stall = Stall.NEED_DATA
            return None
        return stop

    # ------------------------------------------------------------------ the body

    def _body(self, buf: bytearray, credit: int) -> int:
        n = min(self._remaining, len(buf), credit)
        if n == 0:
            self.stall = Stall.NEED_DATA if not buf else Stall.CREDIT
            return 0
        self._remaining -= n
        if self._remaining == 0:
            self._at = _At.CHUNK_END if self._at is _At.CHUNK_DATA else _At.ENDED
        return n

    def _chunk_line(self, buf: bytearray) -> int:
        limit = _CHUNK_SIZE_DIGITS + self._ext_budget
        end = buf.find(b"\r\n", 0, limit + 2)
        stop = end if end >= 0 else min(len(buf), limit + 2)
        cr = buf.find(b"\r", 0, stop)
        # A CR is allowed only as the last octet so far, waiting for its LF.
        if buf.find(b"\n", 0, stop) >= 0 or (cr >= 0 and (end >= 0 or cr != len(buf) - 1)):
            raise refuse(400, "bare CR or LF in a chunk line")
        if end < 0:
            if len(buf) >= limit + 2:
                raise refuse(400, "chunk extensions over budget")
            self.stall = Stall.NEED_DATA
            return 0
        match = _CHUNK_LINE.fullmatch(buf, 0, end)
        if match is None:
            raise refuse(400, "invalid chunk line")
        extensions = match[2]
        if extensions[:1] not in (b"", b";"):
            # RFC 9112 §7.1.1 allows BWS here; h11 does not parse it.
            raise refuse(400, "whitespace before a chunk extension")
        self._ext_budget -= len(extensions)
        if self._ext_budget < 0:
            raise refuse(400, "chunk extensions over budget")
        size = int(match[1], 16)
        if size:
            self._at = _At.CHUNK_DATA
            self._remaining = size
        else:
            self._at = _At.TRAILERS
        return end + 2

    def _chunk_end(self, buf: bytearray) -> int:
        if buf[:2] == b"\r\n":
            self._at = _At.CHUNK_LINE
            return 2
        if not buf or (len(buf) == 1 and buf[0] == 0x0D):
            self.stall = Stall.NEED_DATA
            return 0
        raise refuse(400, "chunk data not followed by CRLF")

    def _trailers(self, buf: bytearray) -> int:
        if buf[:2] == b"\r\n":
            end = 2
        elif not buf or (len(buf) == 1 and buf[0] == 0x0D):
            self.stall = Stall.NEED_DATA
            return 0
        else:
            found = self._find_block_end(buf, None, self._limits.max_header_size)
            if found is None:
                return 0
            end = found
            lines = bytes(buf[: end - 4]).split(b"\r\n")
            if len(lines) > self._limits.max_header_count:
                raise refuse(431, f"more than {self._limits.max_header_count} trailer fields")
            for name, _ in parse_fields(lines):
                if name in _NOT_TRAILERS:
                    raise refuse(400, f"{name.decode()} is not allowed as a trailer field")
        self._scanned = 0
        self._at = _At.ENDED
        return end


# ---------------------------------------------------------------- the checks


def parse_fields(lines: list[bytes]) -> Fields:
    """Field lines (without their CRLF) as lowercase-name pairs; refuse a bad one."""
    fields: Fields = []
    for line in lines:
        match = _FIELD.fullmatch(line)
        if match is None:
            if line[:1] in (b" ", b"\t"):
                raise refuse(400, "obsolete line folding (obs-fold)")
            name, colon, _ = line.partition(b":")
            if colon and name.rstrip(b" \t") != name:
                raise refuse(400, "whitespace between a field name and its colon")
            raise refuse(400, "invalid field line")
        value = match[2]
        if _CONTROL.search(value) is not None:
            raise refuse(400, "control character in a field value")
        fields.append((match[1].lower(), value))
    return fields


def check_head(request_line: bytes, fields: Fields) -> Head:
    """Check a request line and its fields as one request; refuse what is malformed."""
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise refuse(400, "invalid request line")
    method, target, version = parts
    if _TOKEN.fullmatch(method) is None or _TARGET.fullmatch(target) is None:
        raise refuse(400, "invalid request line")
    match = _VERSION.fullmatch(version)
    if match is None:
        raise refuse(400, "invalid HTTP version")
    if match[1] != b"1":
        raise refuse(505, f"HTTP/{match[1].decode()}.{match[2].decode()} is not supported")
    http_version = "1.0" if match[2] == b"0" else "1.1"
    if method == b"CONNECT":
        raise refuse(501, "CONNECT is not served over HTTP/1.1")

    hosts = [value for name, value in fields if name == b"host"]
    if len(hosts) > 1:
        raise refuse(400, "more than one Host field")
    if not hosts and http_version == "1.1":
        raise refuse(400, "HTTP/1.1 request without Host")
    if hosts and _HOST.fullmatch(hosts[0]) is None:
        raise refuse(400, "invalid Host")
    authority = hosts[0] if hosts and hosts[0] else None
    expect = [value for name, value in fields if name == b"expect"]
    if expect and http_version == "1.1":
        # RFC 9110 §10.1.1; an HTTP/1.0 request's expectations are ignored.
        members = {m.strip(b" \t").lower() for v in expect for m in v.split(b",")} - {b""}
        if members - {b"100-continue"}:
            raise refuse(417, "unsupported expectation")

    if target[:1] == b"/":
        path = target
    elif target == b"*":
        if method != b"OPTIONS":
            raise refuse(400, "asterisk-form target on a method other than OPTIONS")
        path = target
    else:
        absolute = _ABSOLUTE.fullmatch(target)
        if absolute is None or absolute[1].lower() not in (b"http", b"https"):
            raise refuse(400, "invalid request target")
        # RFC 9112 §3.2.2: the target's authority replaces Host.
        authority = absolute[2]
        if not authority or b"@" in authority or _HOST.fullmatch(authority) is None:
            raise refuse(400, "invalid authority in the request target")
        rest = absolute[3]
        path = rest if rest[:1] == b"/" else b"/" + rest

    return Head(
        method=method,
        target=target,
        http_version=http_version,
        fields=fields,
        path=path,
        authority=authority,
        content_length=_body_length(fields, http_version),
    )


def _body_length(fields: Fields, http_version: str) -> int | None:
    """The declared body length (0 for none), or None for a chunked body."""
    lengths = [value for name, value in fields if name == b"content-length"]
    codings = [value for name, value in fields if name == b"transfer-encoding"]
    if codings:
        if lengths:
            raise refuse(400, "both Content-Length and Transfer-Encoding")
        if http_version == "1.0":
            raise refuse(400, "Transfer-Encoding in an HTTP/1.0 request")
        members = [m.strip(b" \t").lower() for v in codings for m in v.split(b",")]
        # Strict on the list syntax too (no empty members, no parameters): a coding
        # another parser reads differently is a request framed differently.
        if any(_TOKEN.fullmatch(m) is None for m in members):
            raise refuse(400, "invalid Transfer-Encoding")
        if members[-1] != b"chunked":
            raise refuse(400, "chunked is not the final transfer coding")
        if b"chunked" in members[:-1]:
            raise refuse(400, "chunked applied more than once")
        if len(members) > 1:
            raise refuse(501, "transfer codings other than chunked are not implemented")
        return None
    if not lengths:
        return 0
    if len(lengths) > 1:
        raise refuse(400, "more than one Content-Length field")
    value = lengths[0]
    if not value.isdigit() or len(value) > 18:
        raise refuse(400, "invalid Content-Length")
    return int(value)


def field_tokens(fields: Fields, name: bytes) -> list[bytes]:
    """The lowercased members of every ``name`` field's comma-separated list."""
    found = []
    for field, value in fields:
        if field.lower() == name:
            found += [m.strip(b" \t").lower() for m in value.split(b",")]
    return [m for m in found if m]
