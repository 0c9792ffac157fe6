"""The PROXY protocol, versions 1 and 2, as a receiver reads it (sans-IO).

A load balancer that relays TCP (HAProxy, AWS NLB, stunnel...) can start each
connection with a header that says whom it is relaying: the original client's and
server's addresses, and in version 2 extra facts as type-length-value records (the
ALPN and SNI the client sent, whether it used TLS).  The specification is HAProxy's
``proxy-protocol.txt``.

Theory of operation: :class:`ProxyHeaderParser` is fed the connection's first bytes
with :meth:`~ProxyHeaderParser.receive_data`, which returns None until the header is
complete, then the :class:`ProxyHeader`; the bytes that came after it are
:attr:`~ProxyHeaderParser.trailing_data`, and belong to the protocol carried (HTTP, or
a TLS ClientHello).  Anything that does not match the specification exactly raises
:class:`ProxyHeaderError`, as early as the bytes seen allow: a connection that starts
with ``GET /`` is refused on its first byte.  The spec leaves no room for guessing
whether a header is present, so none is made.

Bounds: a version 1 line is at most 107 bytes, CRLF included (the spec's own bound);
a version 2 header announces its length in its first 16 bytes, and one whose TLVs
would exceed :data:`MAX_TLV_BYTES` is refused then, before any of it is buffered.
:attr:`~ProxyHeaderParser.bytes_wanted` says how much to read next so that a version
2 header is read exactly, with nothing after it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import struct
from dataclasses import dataclass
from typing import Literal

from .._errors import H2Error

#: The 12 bytes every version 2 header starts with.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: Longest version 1 line, CRLF included ("PROXY UNKNOWN" with two IPv6 addresses).
V1_MAX_LINE = 107
#: Most TLV bytes accepted in a version 2 header (the format allows 65 535 with the
#: addresses; no proxy sends more than a few hundred).
MAX_TLV_BYTES = 4096

PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02
PP2_TYPE_CRC32C = 0x03
PP2_TYPE_NOOP = 0x04
PP2_TYPE_UNIQUE_ID = 0x05
PP2_TYPE_SSL = 0x20
PP2_SUBTYPE_SSL_VERSION = 0x21
PP2_SUBTYPE_SSL_CN = 0x22
PP2_SUBTYPE_SSL_CIPHER = 0x23
PP2_SUBTYPE_SSL_SIG_ALG = 0x24
PP2_SUBTYPE_SSL_KEY_ALG = 0x25
PP2_TYPE_NETNS = 0x30

PP2_CLIENT_SSL = 0x01
PP2_CLIENT_CERT_CONN = 0x02
PP2_CLIENT_CERT_SESS = 0x04

Family = Literal["AF_INET", "AF_INET6", "AF_UNIX", "AF_UNSPEC"]
Transport = Literal["STREAM", "DGRAM", "UNSPEC"]
#: An address in a header: ``(host, port)`` for IPv4 and IPv6, a path for Unix.
Address = tuple[str, int] | str

_V1_PREFIX = b"PROXY "
_V2_HEADER_SIZE = 16
_UNIX_ADDRESS_SIZE = 108
# Version 2 address families: their name and the size of their address block.
_FAMILIES: dict[int, tuple[Family, int]] = {
    0: ("AF_UNSPEC", 0),
    1: ("AF_INET", 2 * 4 + 2 * 2),
    2: ("AF_INET6", 2 * 16 + 2 * 2),
    3: ("AF_UNIX", 2 * _UNIX_ADDRESS_SIZE),
}
_PROTOCOLS: dict[int, Transport] = {0: "UNSPEC", 1: "STREAM", 2: "DGRAM"}
_MAX_UNIQUE_ID = 128
# A v1 port: decimal, no leading zero (the spec forbids them, against octal confusion).
_V1_PORT_RE = re.compile(rb"0|[1-9][0-9]{0,4}")
_V1_IPV6_RE = re.compile(rb"[0-9A-Fa-f:.]{2,45}")


class ProxyHeaderError(H2Error):
    """A PROXY protocol header that is missing, malformed or too large."""


@dataclass(frozen=True)
class ProxySSL:
    """The ``PP2_TYPE_SSL`` record: how the client reached the proxy over TLS."""

    #: The ``client`` bit field (``PP2_CLIENT_SSL``, ``_CERT_CONN``, ``_CERT_SESS``).
    client: int
    #: The ``verify`` field: 0 when the client's certificate was verified.
    verify: int
    #: ``PP2_SUBTYPE_SSL_VERSION``, e.g. ``"TLSv1.3"``.
    version: str | None = None
    #: ``PP2_SUBTYPE_SSL_CIPHER``, e.g. ``"TLS_AES_256_GCM_SHA384"``.
    cipher: str | None = None
    #: ``PP2_SUBTYPE_SSL_CN``: the Common Name of the client certificate's subject.
    common_name: str | None = None
    #: ``PP2_SUBTYPE_SSL_SIG_ALG``: how the proxy's certificate is signed.
    signature_algorithm: str | None = None
    #: ``PP2_SUBTYPE_SSL_KEY_ALG``: the key of the proxy's certificate.
    key_algorithm: str | None = None
    #: Every sub-record as ``(type, value)``, in order, known ones included.
    records: tuple[tuple[int, bytes], ...] = ()

    @property
    def client_ssl(self) -> bool:
        """True if the client spoke TLS to the proxy."""
        return bool(self.client & PP2_CLIENT_SSL)

    @property
    def certificate_verified(self) -> bool:
        """True if the client presented a certificate and the proxy verified it."""
        presented = self.client & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS)
        return bool(presented) and self.verify == 0


@dataclass(frozen=True)
class ProxyHeader:
    """A PROXY protocol header: whom the proxy relays, and what it says about them.

    ``source`` is the original client, ``destination`` the address it connected to:
    ``(host, port)`` for IPv4 and IPv6, a path for a Unix socket, None when the header
    gives none (a version 2 ``LOCAL`` command, version 1 ``UNKNOWN``, or family
    ``AF_UNSPEC``), in which case the connection's own addresses stand.
    """

    #: 1 (the text line) or 2 (binary).
    version: Literal[1, 2]
    #: ``"PROXY"``: relayed for a client; ``"LOCAL"``: the proxy's own connection (a
    #: health check), whose addresses are the socket's.
    command: Literal["PROXY", "LOCAL"]
    family: Family
    protocol: Transport
    source: Address | None = None
    destination: Address | None = None
    #: Every version 2 TLV as ``(type, value)``, in order, known ones included.
    tlvs: tuple[tuple[int, bytes], ...] = ()
    #: ``PP2_TYPE_ALPN``: the protocol the client negotiated, e.g. ``b"h2"``.
    alpn: bytes | None = None
    #: ``PP2_TYPE_AUTHORITY``: the host name the client asked for (TLS SNI).
    authority: str | None = None
    #: ``PP2_TYPE_UNIQUE_ID``: the proxy's identifier of the connection.
    unique_id: bytes | None = None
    #: ``PP2_TYPE_NETNS``: the network namespace the proxy accepted it in.
    netns: str | None = None
    #: ``PP2_TYPE_SSL``, when the proxy sent it.
    ssl: ProxySSL | None = None

    @property
    def addresses_known(self) -> bool:
        """True if :attr:`source` and :attr:`destination` stand for the connection's.

        That is a ``PROXY`` command for a stream (TCP or Unix stream) connection;
        for the others the spec has the receiver use the socket's own addresses.
        """
        return self.command == "PROXY" and self.protocol == "STREAM" and self.source is not None


class ProxyHeaderParser:
    """Reads one PROXY header, version 1 or 2, from the bytes it is fed."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._header: ProxyHeader | None = None
        #: The bytes received after the header (valid once it is complete).
        self.trailing_data = b""

    @property
    def bytes_wanted(self) -> int:
        """How many bytes to read next: exactly the rest of a version 2 header once its
        length is known, else as many as a header can still take."""
        buffer = self._buffer
        have = len(buffer)
        if have >= _V2_HEADER_SIZE and buffer.startswith(V2_SIGNATURE):
            length = int.from_bytes(buffer[14:16], "big")
            return max(_V2_HEADER_SIZE + length - have, 1)
        # Either version fits in the first 16 bytes' read: a version 2 header's fixed
        # part, or most of the shortest version 1 line (15 bytes).
        if have < _V2_HEADER_SIZE and (not have or buffer[0] == V2_SIGNATURE[0]):
            return _V2_HEADER_SIZE - have
        return max(V1_MAX_LINE - have, 1)

    def receive_data(self, data: bytes | bytearray) -> ProxyHeader | None:
        """Feed bytes (``b""`` at end of file); the header once complete, else None.

        Raises :class:`ProxyHeaderError` for anything that breaks the spec, an end
        of file before the header is complete included.
        """
        if self._header is not None:
            raise ProxyHeaderError("the PROXY header was complete already")
        if not data:
            raise ProxyHeaderError(
                f"connection closed after {len(self._buffer)} bytes of a PROXY header"
            )
        self._buffer += data
        buffer = self._buffer
        first = buffer[:1]
        if first == V2_SIGNATURE[:1]:
            header, size = _parse_v2(buffer)
        elif first == _V1_PREFIX[:1]:
            header, size = _parse_v1(buffer)
        else:
            raise ProxyHeaderError(f"no PROXY header: the connection starts with {first!r}")
        if header is None:
            return None
        self._header = header
        self.trailing_data = bytes(buffer[size:])
        self._buffer = bytearray()
        return header


def _parse_v1(buffer: bytearray) -> tuple[ProxyHeader | None, int]:
    if not buffer.startswith(_V1_PREFIX[: len(buffer)]):
        raise ProxyHeaderError(f"bad PROXY v1 signature: {bytes(buffer[:6])!r}")
    window = buffer[:V1_MAX_LINE]
    end = window.find(b"\r\n")
    if end < 0:
        # A CR or LF alone never ends the line (the spec is explicit), and only
        # printable ASCII comes before it; a CR that is the last byte so far may
        # still get its LF.
        cr = window.find(b"\r")
        if 0 <= cr < len(window) - 1 or b"\n" in window:
            raise ProxyHeaderError("PROXY v1 line ended by a bare CR or LF")
        if any(not 0x20 <= byte < 0x7F for byte in window if byte != 0x0D):
            raise ProxyHeaderError("PROXY v1 line with a control byte")
        if len(buffer) >= V1_MAX_LINE:
            raise ProxyHeaderError(f"PROXY v1 line without CRLF in {V1_MAX_LINE} bytes")
        return None, 0
    line = bytes(buffer[:end])
    if any(not 0x20 <= byte < 0x7F for byte in line):
        raise ProxyHeaderError("PROXY v1 line with a control byte")
    fields = line.split(b" ")
    if len(fields) >= 2 and fields[1] == b"UNKNOWN":
        # "The receiver must ignore anything presented before the CRLF."
        return ProxyHeader(1, "PROXY", "AF_UNSPEC", "UNSPEC"), end + 2
    if len(fields) != 6 or fields[0] != b"PROXY":
        raise ProxyHeaderError(f"malformed PROXY v1 line {line!r}")
    _, proto, src, dst, sport, dport = fields
    if proto == b"TCP4":
        family: Family = "AF_INET"
        source_host, destination_host = _v1_ipv4(src), _v1_ipv4(dst)
    elif proto == b"TCP6":
        family = "AF_INET6"
        source_host, destination_host = _v1_ipv6(src), _v1_ipv6(dst)
    else:
        raise ProxyHeaderError(f"unknown PROXY v1 protocol {proto!r}")
    source = (source_host, _v1_port(sport))
    destination = (destination_host, _v1_port(dport))
    return ProxyHeader(1, "PROXY", family, "STREAM", source, destination), end + 2


def _v1_ipv4(text: bytes) -> str:
    try:
        # ipaddress refuses leading zeros, as the spec does.
        return str(ipaddress.IPv4Address(text.decode("ascii")))
    except ValueError:
        raise ProxyHeaderError(f"bad IPv4 address {text!r} in PROXY v1 line") from None


def _v1_ipv6(text: bytes) -> str:
    if not _V1_IPV6_RE.fullmatch(text):
        raise ProxyHeaderError(f"bad IPv6 address {text!r} in PROXY v1 line")
    try:
        return str(ipaddress.IPv6Address(text.decode("ascii")))
    except ValueError:
        raise ProxyHeaderError(f"bad IPv6 address {text!r} in PROXY v1 line") from None


def _v1_port(text: bytes) -> int:
    if not _V1_PORT_RE.fullmatch(text) or int(text) > 65_535:
        raise ProxyHeaderError(f"bad port {text!r} in PROXY v1 line")
    return int(text)


def _parse_v2(buffer: bytearray) -> tuple[ProxyHeader | None, int]:
    if not buffer.startswith(V2_SIGNATURE[: len(buffer)]):
        raise ProxyHeaderError(f"bad PROXY v2 signature: {bytes(buffer[:12])!r}")
    if len(buffer) < _V2_HEADER_SIZE:
        if len(buffer) > len(V2_SIGNATURE):
            _v2_version_command(buffer[12])
        return None, 0
    command = _v2_version_command(buffer[12])
    family_byte = buffer[13]
    family_entry = _FAMILIES.get(family_byte >> 4)
    protocol = _PROTOCOLS.get(family_byte & 0x0F)
    if family_entry is None or protocol is None:
        raise ProxyHeaderError(f"bad PROXY v2 family and protocol byte 0x{family_byte:02x}")
    family, address_size = family_entry
    length = int.from_bytes(buffer[14:16], "big")
    if length < address_size:
        raise ProxyHeaderError(
            f"PROXY v2 {family} header of {length} bytes, too short for its addresses"
        )
    if length - address_size > MAX_TLV_BYTES:
        raise ProxyHeaderError(
            f"PROXY v2 header with {length - address_size} bytes of TLVs (at most {MAX_TLV_BYTES})"
        )
    size = _V2_HEADER_SIZE + length
    if len(buffer) < size:
        return None, 0
    body = bytes(buffer[_V2_HEADER_SIZE:size])
    source, destination = _v2_addresses(family, protocol, body)
    # With AF_UNSPEC where the addresses end is unknown, so no TLV can be found.
    tlv_bytes = b"" if family == "AF_UNSPEC" else body[address_size:]
    if command == "LOCAL":
        # "The receiver must use the real connection endpoints."
        source = destination = None
    tlvs = _parse_tlvs(tlv_bytes, "TLV")
    header = _v2_header(command, family, protocol, source, destination, tlvs)
    _check_crc32c(buffer[:size], tlvs)
    return header, size


def _v2_version_command(byte: int) -> Literal["PROXY", "LOCAL"]:
    if byte >> 4 != 2:
        raise ProxyHeaderError(f"unsupported PROXY protocol version {byte >> 4}")
    command = byte & 0x0F
    if command == 0:
        return "LOCAL"
    if command == 1:
        return "PROXY"
    raise ProxyHeaderError(f"unknown PROXY v2 command {command}")


def _v2_addresses(
    family: Family, protocol: Transport, body: bytes
) -> tuple[Address | None, Address | None]:
    if protocol == "UNSPEC" or family == "AF_UNSPEC":
        return None, None
    if family == "AF_INET":
        src, dst, sport, dport = struct.unpack_from("!4s4sHH", body)
        return (
            (str(ipaddress.IPv4Address(src)), sport),
            (str(ipaddress.IPv4Address(dst)), dport),
        )
    if family == "AF_INET6":
        src, dst, sport, dport = struct.unpack_from("!16s16sHH", body)
        return (
            (str(ipaddress.IPv6Address(src)), sport),
            (str(ipaddress.IPv6Address(dst)), dport),
        )
    return (
        _unix_path(body[:_UNIX_ADDRESS_SIZE]),
        _unix_path(body[_UNIX_ADDRESS_SIZE : 2 * _UNIX_ADDRESS_SIZE]),
    )


def _unix_path(raw: bytes) -> str:
    # A sun_path: NUL-terminated, or (Linux's abstract namespace) starting with NUL.
    if raw[:1] == b"\x00" and raw.strip(b"\x00"):
        return "\x00" + os.fsdecode(raw[1:].rstrip(b"\x00"))
    return os.fsdecode(raw.partition(b"\x00")[0])


def _parse_tlvs(data: bytes, what: str) -> tuple[tuple[int, bytes], ...]:
    records: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        if len(data) - at < 3:
            raise ProxyHeaderError(f"truncated PROXY v2 {what} header")
        kind, length = data[at], int.from_bytes(data[at + 1 : at + 3], "big")
        at += 3
        if len(data) - at < length:
            raise ProxyHeaderError(
                f"PROXY v2 {what} 0x{kind:02x} of {length} bytes runs past the header"
            )
        records.append((kind, data[at : at + length]))
        at += length
    return tuple(records)


def _text(kind: int, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ProxyHeaderError(f"PROXY v2 TLV 0x{kind:02x} is not UTF-8: {value!r}") from None


def _v2_header(
    command: Literal["PROXY", "LOCAL"],
    family: Family,
    protocol: Transport,
    source: Address | None,
    destination: Address | None,
    tlvs: tuple[tuple[int, bytes], ...],
) -> ProxyHeader:
    known: dict[int, bytes] = {}
    for kind, value in tlvs:
        if kind in known and kind != PP2_TYPE_NOOP:
            raise ProxyHeaderError(f"PROXY v2 TLV 0x{kind:02x} repeated")
        known[kind] = value
    unique_id = known.get(PP2_TYPE_UNIQUE_ID)
    if unique_id is not None and len(unique_id) > _MAX_UNIQUE_ID:
        raise ProxyHeaderError(f"PROXY v2 unique ID of {len(unique_id)} bytes (at most 128)")
    crc = known.get(PP2_TYPE_CRC32C)
    if crc is not None and len(crc) != 4:
        raise ProxyHeaderError(f"PROXY v2 CRC32C TLV of {len(crc)} bytes, not 4")
    authority = known.get(PP2_TYPE_AUTHORITY)
    netns = known.get(PP2_TYPE_NETNS)
    ssl = known.get(PP2_TYPE_SSL)
    return ProxyHeader(
        2,
        command,
        family,
        protocol,
        source,
        destination,
        tlvs,
        alpn=known.get(PP2_TYPE_ALPN),
        authority=_text(PP2_TYPE_AUTHORITY, authority) if authority is not None else None,
        unique_id=unique_id,
        netns=_text(PP2_TYPE_NETNS, netns) if netns is not None else None,
        ssl=_parse_ssl(ssl) if ssl is not None else None,
    )


_SSL_FIELDS = {
    PP2_SUBTYPE_SSL_VERSION: "version",
    PP2_SUBTYPE_SSL_CIPHER: "cipher",
    PP2_SUBTYPE_SSL_CN: "common_name",
    PP2_SUBTYPE_SSL_SIG_ALG: "signature_algorithm",
    PP2_SUBTYPE_SSL_KEY_ALG: "key_algorithm",
}


def _parse_ssl(value: bytes) -> ProxySSL:
    if len(value) < 5:
        raise ProxyHeaderError(f"PROXY v2 SSL TLV of {len(value)} bytes (at least 5)")
    client, verify = struct.unpack_from("!BI", value)
    records = _parse_tlvs(value[5:], "SSL sub-TLV")
    fields: dict[str, str] = {}
    for kind, sub in records:
        name = _SSL_FIELDS.get(kind)
        if name is not None:
            if name in fields:
                raise ProxyHeaderError(f"PROXY v2 SSL sub-TLV 0x{kind:02x} repeated")
            fields[name] = _text(kind, sub)
    return ProxySSL(
        client,
        verify,
        version=fields.get("version"),
        cipher=fields.get("cipher"),
        common_name=fields.get("common_name"),
        signature_algorithm=fields.get("signature_algorithm"),
        key_algorithm=fields.get("key_algorithm"),
        records=records,
    )


def _check_crc32c(header: bytearray, tlvs: tuple[tuple[int, bytes], ...]) -> None:
    """Verify a ``PP2_TYPE_CRC32C`` record, as the spec requires of a receiver that can."""
    if not any(kind == PP2_TYPE_CRC32C for kind, _ in tlvs):
        return
    # Find the record's value in the header itself to zero it for the computation.
    at = _V2_HEADER_SIZE + _FAMILIES[header[13] >> 4][1]
    while at < len(header):
        kind, length = header[at], int.from_bytes(header[at + 1 : at + 3], "big")
        if kind == PP2_TYPE_CRC32C:
            expected = int.from_bytes(header[at + 3 : at + 7], "big")
            zeroed = bytes(header[: at + 3]) + b"\x00\x00\x00\x00" + bytes(header[at + 7 :])
            if crc32c(zeroed) != expected:
                raise ProxyHeaderError("PROXY v2 header fails its CRC32C check")
            return
        at += 3 + length


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes | bytearray) -> int:
    """CRC-32C (Castagnoli, RFC 4960 Appendix B) of ``data``."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _family_byte(family: Family, protocol: Transport) -> int:
    number = next(n for n, (name, _) in _FAMILIES.items() if name == family)
    transport = next(n for n, name in _PROTOCOLS.items() if name == protocol)
    return number << 4 | transport


def build_v2(
    command: Literal["PROXY", "LOCAL"] = "PROXY",
    source: Address | None = None,
    destination: Address | None = None,
    tlvs: tuple[tuple[int, bytes], ...] | list[tuple[int, bytes]] = (),
    *,
    protocol: Transport = "STREAM",
) -> bytes:
    """A version 2 header, as a proxy would send it (for tests and tools).

    The family follows ``source``: a ``(host, port)`` of IPv4 or IPv6, a Unix path,
    or None for ``AF_UNSPEC``.
    """
    if source is None or destination is None:
        family: Family = "AF_UNSPEC"
        body = b""
        protocol = "UNSPEC"
    elif isinstance(source, str) and isinstance(destination, str):
        family = "AF_UNIX"
        body = b"".join(
            os.fsencode(path).ljust(_UNIX_ADDRESS_SIZE, b"\x00") for path in (source, destination)
        )
    else:
        assert isinstance(source, tuple)
        assert isinstance(destination, tuple)
        src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
        family = "AF_INET" if src.version == 4 else "AF_INET6"
        body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
    body += b"".join(bytes([kind]) + len(value).to_bytes(2, "big") + value for kind, value in tlvs)
    version_command = 0x21 if command == "PROXY" else 0x20
    return (
        V2_SIGNATURE
        + bytes([version_command, _family_byte(family, protocol)])
        + struct.pack("!H", len(body))
        + body
    )


def build_v1(
    source: tuple[str, int] | None = None, destination: tuple[str, int] | None = None
) -> bytes:
    """A version 1 line (``PROXY UNKNOWN`` without addresses), for tests and tools."""
    if source is None or destination is None:
        return b"PROXY UNKNOWN\r\n"
    proto = "TCP4" if ipaddress.ip_address(source[0]).version == 4 else "TCP6"
    line = f"PROXY {proto} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n"
    return line.encode("ascii")
