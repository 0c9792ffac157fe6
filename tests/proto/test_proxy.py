"""The PROXY protocol parser: versions 1 and 2, every family, TLVs, and every way to get
it wrong."""

from __future__ import annotations

import struct

import pytest

from trio_h2.proto.proxy import (
    MAX_TLV_BYTES,
    PP2_CLIENT_CERT_CONN,
    PP2_CLIENT_SSL,
    PP2_SUBTYPE_SSL_CIPHER,
    PP2_SUBTYPE_SSL_CN,
    PP2_SUBTYPE_SSL_KEY_ALG,
    PP2_SUBTYPE_SSL_SIG_ALG,
    PP2_SUBTYPE_SSL_VERSION,
    PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY,
    PP2_TYPE_CRC32C,
    PP2_TYPE_NETNS,
    PP2_TYPE_NOOP,
    PP2_TYPE_SSL,
    PP2_TYPE_UNIQUE_ID,
    V1_MAX_LINE,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    ProxyHeaderParser,
    build_v1,
    build_v2,
    crc32c,
)


def parse(data: bytes) -> tuple[ProxyHeader, bytes]:
    parser = ProxyHeaderParser()
    header = parser.receive_data(data)
    assert header is not None
    return header, parser.trailing_data


def parse_bytewise(data: bytes, header_size: int) -> ProxyHeader:
    """Feed one byte at a time; the header comes exactly with its last byte."""
    parser = ProxyHeaderParser()
    for i in range(header_size - 1):
        assert parser.receive_data(data[i : i + 1]) is None, i
    header = parser.receive_data(data[header_size - 1 : header_size])
    assert header is not None
    assert parser.trailing_data == b""
    return header


def refused(data: bytes, match: str, *, eof: bool = False) -> None:
    parser = ProxyHeaderParser()
    if eof:
        assert parser.receive_data(data) is None
        data = b""
    with pytest.raises(ProxyHeaderError, match=match):
        parser.receive_data(data)


def ssl_tlv(client: int, verify: int, *subs: tuple[int, bytes]) -> bytes:
    return struct.pack("!BI", client, verify) + b"".join(
        bytes([kind]) + len(value).to_bytes(2, "big") + value for kind, value in subs
    )


# ---------------------------------------------------------------------- version 1


def test_v1_tcp4() -> None:
    line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    header, rest = parse(line + b"GET / HTTP/1.1\r\n")
    assert header == ProxyHeader(
        1, "PROXY", "AF_INET", "STREAM", ("192.168.0.1", 56324), ("192.168.0.11", 443)
    )
    assert header.addresses_known
    assert rest == b"GET / HTTP/1.1\r\n"


def test_v1_tcp6_is_normalised() -> None:
    line = b"PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 65535 0\r\n"
    header, rest = parse(line)
    assert header.family == "AF_INET6"
    assert header.source == ("2001:db8::1", 65535)
    assert header.destination == ("::1", 0)
    assert rest == b""


def test_v1_longest_lines_fit() -> None:
    six = ":".join(["ffff"] * 8)
    line = f"PROXY TCP6 {six} {six} 65535 65535\r\n".encode()
    assert len(line) == 104
    assert parse(line)[0].source == ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)
    worst = f"PROXY UNKNOWN {six} {six} 65535 65535\r\n".encode()
    assert len(worst) == V1_MAX_LINE
    assert parse(worst)[0].family == "AF_UNSPEC"


@pytest.mark.parametrize(
    "line", [b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN 1.2.3.4 whatever, really\r\n"]
)
def test_v1_unknown_uses_the_socket_s_addresses(line: bytes) -> None:
    header, rest = parse(line + b"\x16\x03\x01")
    assert header == ProxyHeader(1, "PROXY", "AF_UNSPEC", "UNSPEC")
    assert not header.addresses_known
    assert rest == b"\x16\x03\x01"


def test_v1_byte_by_byte() -> None:
    line = build_v1(("10.1.2.3", 1234), ("10.0.0.1", 80))
    header = parse_bytewise(line + b"GET", len(line))
    assert header.source == ("10.1.2.3", 1234)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b"GET / HTTP/1.1\r\n", "no PROXY header"),
        (b"PRI * HTTP/2.0\r\n", "bad PROXY v1 signature"),
        (b"PROXY\r\n", "bad PROXY v1 signature"),
        (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY header"),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "unknown PROXY v1 protocol"),
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown PROXY v1 protocol"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "malformed"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "malformed"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "malformed"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "malformed"),
        (b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "malformed"),
        (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "bad IPv4 address"),
        (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "bad IPv4 address"),
        (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "bad IPv4 address"),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "bad IPv4 address"),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "bad IPv6 address"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "bad IPv6 address"),
        (b"PROXY TCP6 1::2::3 ::1 1 2\r\n", "bad IPv6 address"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 x\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bare CR or LF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n", "bare CR or LF"),
        (b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "control byte"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n", "control byte"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xff\r\n", "control byte"),
        (b"PROXY UNKNOWN" + b" " * 100, "without CRLF in 107 bytes"),
        (b"PROXY UNKNOWN" + b" " * 92 + b"\r\r\n", "bare CR or LF"),
        (b"PROXY UNKNOWN" + b" " * 93 + b"\r\n", "without CRLF in 107 bytes"),
    ],
)
def test_v1_malformed(line: bytes, match: str) -> None:
    refused(line, match)


def test_v1_refused_as_early_as_possible() -> None:
    parser = ProxyHeaderParser()
    assert parser.receive_data(b"PRO") is None
    with pytest.raises(ProxyHeaderError):
        parser.receive_data(b"Z")


def test_v1_cut_short_by_eof() -> None:
    refused(b"PROXY TCP4 1.2.3.4", "connection closed after 18 bytes", eof=True)
    refused(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "connection closed", eof=True)


def test_nothing_at_all() -> None:
    refused(b"", "connection closed after 0 bytes")


# ---------------------------------------------------------------------- version 2


def test_v2_tcp4_with_tlvs() -> None:
    data = build_v2(
        "PROXY",
        ("203.0.113.7", 40000),
        ("192.0.2.1", 443),
        [(PP2_TYPE_ALPN, b"h2"), (PP2_TYPE_AUTHORITY, "bücher.example".encode())],
    )
    header, rest = parse(data + b"PRI * HTTP/2.0")
    assert header.version == 2
    assert header.command == "PROXY"
    assert (header.family, header.protocol) == ("AF_INET", "STREAM")
    assert header.source == ("203.0.113.7", 40000)
    assert header.destination == ("192.0.2.1", 443)
    assert header.alpn == b"h2"
    assert header.authority == "bücher.example"
    assert header.tlvs == (
        (PP2_TYPE_ALPN, b"h2"),
        (PP2_TYPE_AUTHORITY, "bücher.example".encode()),
    )
    assert header.ssl is None
    assert rest == b"PRI * HTTP/2.0"


def test_v2_tcp6() -> None:
    data = build_v2("PROXY", ("2001:db8::7", 1), ("::1", 8443))
    assert data[13] == 0x21
    header, _ = parse(data)
    assert header.family == "AF_INET6"
    assert header.source == ("2001:db8::7", 1)
    assert header.destination == ("::1", 8443)


def test_v2_unix() -> None:
    data = build_v2("PROXY", "/run/client.sock", "/run/server.sock")
    assert data[13] == 0x31
    assert len(data) == 16 + 216
    header, _ = parse(data)
    assert header.family == "AF_UNIX"
    assert header.source == "/run/client.sock"
    assert header.destination == "/run/server.sock"
    assert header.addresses_known


def test_v2_unix_abstract_names() -> None:
    raw = b"\x00abstract".ljust(108, b"\x00") + b"".ljust(108, b"\x00")
    data = V2_SIGNATURE + b"\x21\x31" + struct.pack("!H", 216) + raw
    header, _ = parse(data)
    assert header.source == "\x00abstract"
    assert header.destination == ""


def test_v2_unspec() -> None:
    data = build_v2("PROXY")
    assert data[12:16] == b"\x21\x00\x00\x00"
    header, _ = parse(data)
    assert (header.family, header.protocol, header.source) == ("AF_UNSPEC", "UNSPEC", None)
    assert not header.addresses_known


def test_v2_local_as_haproxy_sends_for_health_checks() -> None:
    data = V2_SIGNATURE + b"\x20\x00\x00\x00"
    header, rest = parse(data + b"GET /health HTTP/1.0\r\n")
    assert header == ProxyHeader(2, "LOCAL", "AF_UNSPEC", "UNSPEC")
    assert not header.addresses_known
    assert rest == b"GET /health HTTP/1.0\r\n"


def test_v2_local_with_addresses_ignores_them() -> None:
    data = build_v2("LOCAL", ("10.0.0.1", 1), ("10.0.0.2", 2), [(PP2_TYPE_NOOP, b"")])
    header, _ = parse(data)
    assert header.command == "LOCAL"
    assert header.source is None
    assert header.destination is None
    assert not header.addresses_known
    assert header.tlvs == ((PP2_TYPE_NOOP, b""),)


def test_v2_unspec_skips_whatever_length_it_announces() -> None:
    # The receiver "must always consider this field to skip the appropriate number
    # of bytes"; with AF_UNSPEC no TLV can be found in them.
    data = V2_SIGNATURE + b"\x20\x00" + struct.pack("!H", 5) + b"12345"
    header, rest = parse(data + b"after")
    assert header.tlvs == ()
    assert rest == b"after"


def test_v2_dgram_is_read_but_not_believed() -> None:
    data = build_v2("PROXY", ("10.0.0.1", 53), ("10.0.0.2", 53), protocol="DGRAM")
    header, _ = parse(data)
    assert header.protocol == "DGRAM"
    assert header.source == ("10.0.0.1", 53)
    assert not header.addresses_known


def test_v2_nested_ssl() -> None:
    ssl = ssl_tlv(
        PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN,
        0,
        (PP2_SUBTYPE_SSL_VERSION, b"TLSv1.3"),
        (PP2_SUBTYPE_SSL_CIPHER, b"TLS_AES_256_GCM_SHA384"),
        (PP2_SUBTYPE_SSL_CN, b"client.example"),
        (PP2_SUBTYPE_SSL_SIG_ALG, b"RSA-SHA256"),
        (PP2_SUBTYPE_SSL_KEY_ALG, b"RSA2048"),
        (0x2F, b"future"),
    )
    data = build_v2(
        "PROXY",
        ("1.2.3.4", 5),
        ("5.6.7.8", 443),
        [
            (PP2_TYPE_SSL, ssl),
            (PP2_TYPE_UNIQUE_ID, b"u" * 128),
            (PP2_TYPE_NETNS, b"blue"),
            (PP2_TYPE_NOOP, b"pad"),
            (PP2_TYPE_NOOP, b""),
            (0xE0, b"custom"),
        ],
    )
    header, _ = parse(data)
    assert header.ssl is not None
    assert header.ssl.client_ssl
    assert header.ssl.certificate_verified
    assert header.ssl.version == "TLSv1.3"
    assert header.ssl.cipher == "TLS_AES_256_GCM_SHA384"
    assert header.ssl.common_name == "client.example"
    assert header.ssl.signature_algorithm == "RSA-SHA256"
    assert header.ssl.key_algorithm == "RSA2048"
    assert header.ssl.records[-1] == (0x2F, b"future")
    assert header.unique_id == b"u" * 128
    assert header.netns == "blue"
    assert (0xE0, b"custom") in header.tlvs


def test_v2_ssl_flags() -> None:
    plain = parse(build_v2("PROXY", ("1.2.3.4", 5), ("5.6.7.8", 80), [(0x20, ssl_tlv(0, 1))]))
    assert plain[0].ssl is not None
    assert not plain[0].ssl.client_ssl
    assert not plain[0].ssl.certificate_verified
    unverified = ssl_tlv(PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, 1)
    header, _ = parse(build_v2("PROXY", ("1.2.3.4", 5), ("5.6.7.8", 80), [(0x20, unverified)]))
    assert header.ssl is not None
    assert header.ssl.client_ssl
    assert not header.ssl.certificate_verified


def test_v2_byte_by_byte_and_exact_reads() -> None:
    data = build_v2("PROXY", ("1.2.3.4", 5), ("5.6.7.8", 80), [(PP2_TYPE_ALPN, b"h2")])
    header = parse_bytewise(data + b"next", len(data))
    assert header.alpn == b"h2"
    # A reader that reads what bytes_wanted says gets the header and nothing more.
    parser = ProxyHeaderParser()
    stream = data + b"next"
    at = 0
    result = None
    while result is None:
        wanted = parser.bytes_wanted
        result = parser.receive_data(stream[at : at + wanted])
        at += wanted
    assert at == len(data)
    assert parser.trailing_data == b""


def test_v2_crc32c() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # RFC 3720's check value
    tlvs = [(PP2_TYPE_ALPN, b"h2"), (PP2_TYPE_CRC32C, b"\x00\x00\x00\x00")]
    data = bytearray(build_v2("PROXY", ("1.2.3.4", 5), ("5.6.7.8", 80), tlvs))
    data[-4:] = crc32c(data).to_bytes(4, "big")
    header, _ = parse(bytes(data))
    assert header.alpn == b"h2"
    data[-8] ^= 1  # the ALPN is damaged: h3
    refused(bytes(data), "CRC32C")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c", "bad PROXY v2 signature"),
        (b"\r\n\r\n\x01", "bad PROXY v2 signature"),
        (V2_SIGNATURE + b"\x11\x11\x00\x0c", "unsupported PROXY protocol version 1"),
        (V2_SIGNATURE + b"\x31", "unsupported PROXY protocol version 3"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c", "unknown PROXY v2 command 2"),
        (V2_SIGNATURE + b"\x2f\x11\x00\x0c", "unknown PROXY v2 command 15"),
        (V2_SIGNATURE + b"\x21\x41\x00\x0c", "family and protocol byte 0x41"),
        (V2_SIGNATURE + b"\x21\x13\x00\x0c", "family and protocol byte 0x13"),
        (V2_SIGNATURE + b"\x21\x11\x00\x0b", "too short for its addresses"),
        (V2_SIGNATURE + b"\x21\x21\x00\x0c", "too short for its addresses"),
        (V2_SIGNATURE + b"\x21\x31\x00\xd7", "too short for its addresses"),
        (
            V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", 12 + MAX_TLV_BYTES + 1),
            "bytes of TLVs",
        ),
        (V2_SIGNATURE + b"\x21\x00\xff\xff", "bytes of TLVs"),
    ],
)
def test_v2_malformed_fixed_part(data: bytes, match: str) -> None:
    refused(data, match)


def test_v2_the_largest_accepted_tlvs() -> None:
    tlvs = [(PP2_TYPE_NOOP, b"x" * (MAX_TLV_BYTES - 3))]
    header, _ = parse(build_v2("PROXY", ("1.2.3.4", 5), ("5.6.7.8", 80), tlvs))
    assert len(header.tlvs[0][1]) == MAX_TLV_BYTES - 3
    too_many = [(PP2_TYPE_NOOP, b"x" * (MAX_TLV_BYTES - 2))]
    refused(build_v2("PROXY", ("1.2.3.4", 5), ("5.6.7.8", 80), too_many), "TLVs")


def test_v2_refused_before_the_body_arrives() -> None:
    # The announced length alone is enough to refuse: nothing more is buffered.
    parser = ProxyHeaderParser()
    with pytest.raises(ProxyHeaderError, match="TLVs"):
        parser.receive_data(V2_SIGNATURE + b"\x21\x11\xff\xff")


def tlv_header(tlv_bytes: bytes) -> bytes:
    addresses = bytes(12)
    body = addresses + tlv_bytes
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(body)) + body


@pytest.mark.parametrize(
    ("tlvs", "match"),
    [
        (b"\x01\x00", "truncated PROXY v2 TLV header"),
        (b"\x01\x00\x05h2", "runs past the header"),
        (b"\x01\x00\x02h2\x01\x00\x02h3", "repeated"),
        (b"\x02\x00\x02\xff\xfe", "not UTF-8"),
        (b"\x05\x00\x81" + b"u" * 129, "unique ID of 129 bytes"),
        (b"\x03\x00\x02ab", "CRC32C TLV of 2 bytes"),
        (b"\x20\x00\x04" + b"\x01\x00\x00\x00", "SSL TLV of 4 bytes"),
        (b"\x20\x00\x07" + b"\x01\x00\x00\x00\x00\x21\x00", "truncated PROXY v2 SSL sub-TLV"),
        (b"\x20\x00\x09" + b"\x01\x00\x00\x00\x00\x21\x00\x05v", "runs past"),
        (b"\x20\x00\x0d" + b"\x01\x00\x00\x00\x00" + b"\x21\x00\x01a\x21\x00\x01b", "repeated"),
        (b"\x20\x00\x09" + b"\x01\x00\x00\x00\x00\x23\x00\x01\xff", "not UTF-8"),
    ],
)
def test_v2_malformed_tlvs(tlvs: bytes, match: str) -> None:
    refused(tlv_header(tlvs), match)


def test_v2_truncated() -> None:
    data = build_v2("PROXY", ("1.2.3.4", 5), ("5.6.7.8", 80))
    for cut in (1, 12, 13, 15, 16, len(data) - 1):
        refused(data[:cut], "connection closed", eof=True)


def test_after_the_header_the_parser_is_done() -> None:
    parser = ProxyHeaderParser()
    assert parser.receive_data(b"PROXY UNKNOWN\r\n") is not None
    with pytest.raises(ProxyHeaderError, match="complete already"):
        parser.receive_data(b"more")


def test_bytes_wanted_never_reads_past_a_v2_header() -> None:
    parser = ProxyHeaderParser()
    assert parser.bytes_wanted == 16
    assert parser.receive_data(b"PROXY ") is None
    assert parser.bytes_wanted == V1_MAX_LINE - 6
    parser.receive_data(b"UNKNOWN 1.2")
    assert parser.bytes_wanted == V1_MAX_LINE - 17
    parser = ProxyHeaderParser()
    parser.receive_data(V2_SIGNATURE[:5])
    assert parser.bytes_wanted == 11
    parser.receive_data(V2_SIGNATURE[5:] + b"\x21\x11\x00\x0c")
    assert parser.bytes_wanted == 12
