"""What the HTTP/1.1 server refuses: malformed and smuggling requests, and the limits.

Each case sends raw bytes and asserts the exact answer (status line, text, close),
that the connection is done and, for a bad head, that no request reached the
handler.  ``H11_ACCEPTS`` lists the cases h11 on its own lets through: the reason
the gate exists.
"""

from __future__ import annotations

import h11
import pytest

from tests.proto.h1support import assert_refused, make, request
from trio_h2.proto.events import ConnectionViolation, DataReceived, RequestReceived
from trio_h2.proto.h1 import H1Server, error_response

# (id, raw head, status)
HEADS = [
    # Line ends: CRLF only (RFC 9112 §2.2).
    ("bare-lf-line-ends", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("bare-lf-in-a-field", b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400),
    ("bare-lf-after-request-line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    ("bare-cr-in-a-field", b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
    ("bare-cr-in-the-request-line", b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("bare-lf-before-the-request-line", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    # Field lines (RFC 9112 §5).
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", 400),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\tz\r\n\r\n", 400),
    ("leading-whitespace-first-field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("tab-before-colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    ("space-before-colon-cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400),
    ("no-colon", b"GET / HTTP/1.1\r\nHost: a\r\nX y\r\n\r\n", 400),
    ("empty-name", b"GET / HTTP/1.1\r\nHost: a\r\n: y\r\n\r\n", 400),
    ("bad-name-char", b"GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", 400),
    ("non-ascii-name", b"GET / HTTP/1.1\r\nHost: a\r\nX\xe9: z\r\n\r\n", 400),
    ("nul-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400),
    ("control-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nCookie: a\x01b\r\n\r\n", 400),
    ("del-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400),
    ("vt-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x0bb\r\n\r\n", 400),
    # Request line (RFC 9112 §3).
    ("double-space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("trailing-space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    ("tab-separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("lowercase-version", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    ("long-version", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    ("http-0.9", b"GET /\r\n\r\n", 400),
    ("bad-method", b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("non-ascii-target", b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("relative-target", b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("asterisk-not-options", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("ftp-target", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("userinfo-target", b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("empty-authority-target", b"GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("http-2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("http-2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("http-0.9-version", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    ("http-3.1", b"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505),
    ("connect", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 501),
    # Host (RFC 9112 §3.2).
    ("no-host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("two-hosts-http-1.0", b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    ("host-with-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host-with-path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("host-with-userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    # Content-Length (RFC 9110 §8.6, RFC 9112 §6.3).
    ("cl-plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
    ("cl-negative", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", 400),
    ("cl-list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400),
    ("cl-list-no-space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n", 400),
    ("cl-conflicting-list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400),
    (
        "cl-repeated-same",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        400,
    ),
    (
        "cl-repeated-different",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        400,
    ),
    ("cl-hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400),
    ("cl-inner-space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400),
    ("cl-empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
    ("cl-decimal", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n", 400),
    ("cl-huge", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1" + b"0" * 18 + b"\r\n\r\n", 400),
    ("cl-unicode-digit", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa5\r\n\r\n", 400),
    # Transfer-Encoding (RFC 9112 §6.1, §6.3).
    (
        "cl-and-te",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (
        "te-and-cl",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        400,
    ),
    ("te-gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("te-identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    (
        "te-chunked-gzip",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    ),
    (
        "te-gzip-chunked",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    (
        "te-chunked-twice",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        400,
    ),
    (
        "te-two-fields",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (
        "te-gzip-then-chunked-fields",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        501,
    ),
    ("te-empty-member", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", 400),
    (
        "te-leading-empty",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n",
        400,
    ),
    ("te-xchunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
    (
        "te-chunked-param",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
        400,
    ),
    ("te-quoted", b'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "chunked"\r\n\r\n', 400),
    ("te-empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400),
    ("te-vt", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n", 400),
    ("te-http-1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    # Expect (RFC 9110 §10.1.1).
    ("expect-other", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417),
    ("expect-extra", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n", 417),
    # A TLS handshake on the cleartext port: refused at its first octet.
    ("tls-client-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
]

_CHUNKED = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

# (id, raw body after a valid chunked head, status)
CHUNKED_BODIES = [
    ("size-trailing-space", b"5 \r\nhello\r\n0\r\n\r\n", 400),
    ("size-trailing-tab", b"5\t\r\nhello\r\n0\r\n\r\n", 400),
    ("size-leading-space", b" 5\r\nhello\r\n0\r\n\r\n", 400),
    ("size-plus", b"+5\r\nhello\r\n0\r\n\r\n", 400),
    ("size-negative", b"-5\r\nhello\r\n0\r\n\r\n", 400),
    ("size-0x", b"0x5\r\nhello\r\n0\r\n\r\n", 400),
    ("size-not-hex", b"g\r\nhello\r\n0\r\n\r\n", 400),
    ("size-empty", b"\r\nhello\r\n0\r\n\r\n", 400),
    ("size-junk-after", b"5x\r\nhello\r\n0\r\n\r\n", 400),
    ("size-17-digits", b"00000000000000005\r\nhello\r\n0\r\n\r\n", 400),
    ("size-overflow", b"10000000000000000\r\nhello\r\n0\r\n\r\n", 400),
    ("size-underscore", b"0_5\r\nhello\r\n0\r\n\r\n", 400),
    ("ext-no-name", b"5;\r\nhello\r\n0\r\n\r\n", 400),
    ("ext-no-value", b"5;a=\r\nhello\r\n0\r\n\r\n", 400),
    ("ext-open-quote", b'5;a="b\r\nhello\r\n0\r\n\r\n', 400),
    ("ext-nul", b"5;a\x00\r\nhello\r\n0\r\n\r\n", 400),
    ("ext-space-in-name", b"5;a b\r\nhello\r\n0\r\n\r\n", 400),
    ("ext-space-before-semicolon", b"5 ;a=b\r\nhello\r\n0\r\n\r\n", 400),
    ("ext-over-budget", b"5;" + b"a" * 5000 + b"\r\nhello\r\n0\r\n\r\n", 400),
    ("ext-over-budget-incomplete", b"5;" + b"a" * 5000, 400),
    ("ext-budget-spread", (b"1;" + b"a" * 1000 + b"\r\nx\r\n") * 5 + b"0\r\n\r\n", 400),
    ("bare-lf-after-size", b"5\nhello\r\n0\r\n\r\n", 400),
    ("bare-cr-after-size", b"5\rhello\r\n0\r\n\r\n", 400),
    ("data-too-long", b"5\r\nhelloXX\r\n0\r\n\r\n", 400),
    ("data-bare-lf-end", b"5\r\nhello\n0\r\n\r\n", 400),
    ("data-no-crlf", b"5\r\nhello0\r\n\r\n", 400),
    # h11 before 0.16 skipped these two octets unread (CVE-2025-43859).
    ("data-crlf-replaced", b"5\r\nhelloXX0\r\n\r\n", 400),
    ("last-chunk-bare-lf", b"0\n\r\n", 400),
    ("trailer-bare-lf", b"0\r\nA: b\n\r\n", 400),
    ("trailer-bare-cr", b"0\r\n\rX", 400),
    ("trailer-obs-fold", b"0\r\nA: b\r\n c\r\n\r\n", 400),
    ("trailer-space-before-colon", b"0\r\nA : b\r\n\r\n", 400),
    ("trailer-content-length", b"0\r\nContent-Length: 5\r\n\r\n", 400),
    ("trailer-transfer-encoding", b"0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("trailer-host", b"0\r\nHost: b\r\n\r\n", 400),
    ("trailer-control", b"0\r\nA: \x01\r\n\r\n", 400),
]

#: Cases a plain h11 server connection takes as a valid request (as measured by
#: test_what_h11_accepts_alone below).
H11_ACCEPTS = {
    "bare-lf-line-ends",
    "bare-lf-in-a-field",
    "bare-lf-after-request-line",
    "obs-fold",
    "obs-fold-tab",
    "control-in-value",
    "del-in-value",
    "cl-list",
    "cl-list-no-space",
    "cl-repeated-same",
    "host-with-space",
    "host-with-path",
    "host-with-userinfo",
    "relative-target",
    "asterisk-not-options",
    "ftp-target",
    "userinfo-target",
    "empty-authority-target",
    "http-0.9-version",
    "http-3.1",
    "connect",
    "http-2-preface",
    "http-2.0",
    "cl-huge",
    "ext-over-budget-incomplete",
    "trailer-bare-cr",
    "te-http-1.0",
    "cl-and-te",
    "te-and-cl",
    "expect-other",
    "expect-extra",
    "size-trailing-space",
    "size-trailing-tab",
    "size-17-digits",
    "size-overflow",
    "ext-no-name",
    "ext-no-value",
    "ext-open-quote",
    "ext-nul",
    "ext-space-in-name",
    "ext-over-budget",
    "ext-budget-spread",
    "trailer-bare-lf",
    "trailer-obs-fold",
    "trailer-content-length",
    "trailer-transfer-encoding",
    "trailer-host",
    "trailer-control",
}


@pytest.mark.parametrize(("raw", "status"), [c[1:] for c in HEADS], ids=[c[0] for c in HEADS])
def test_a_bad_head_is_refused(raw: bytes, status: int) -> None:
    server = H1Server()
    events = server.receive_data(raw)
    assert not any(isinstance(e, RequestReceived) for e in events)
    assert_refused(server, events, status)


@pytest.mark.parametrize(("raw", "status"), [c[1:] for c in HEADS], ids=[c[0] for c in HEADS])
def test_a_bad_head_is_refused_byte_by_byte(raw: bytes, status: int) -> None:
    server = H1Server()
    events = []
    for i in range(len(raw)):
        events += server.receive_data(raw[i : i + 1])
        if server.closed:
            break
    assert not any(isinstance(e, RequestReceived) for e in events)
    assert_refused(server, events, status)


@pytest.mark.parametrize(
    ("body", "status"), [c[1:] for c in CHUNKED_BODIES], ids=[c[0] for c in CHUNKED_BODIES]
)
def test_a_bad_chunked_body_is_refused(body: bytes, status: int) -> None:
    server = H1Server()
    events = server.receive_data(_CHUNKED + body)
    # The head was good, so the request was announced; the violation follows it and
    # no end of the request ever does.
    assert isinstance(events[0], RequestReceived)
    assert all(isinstance(e, DataReceived) for e in events[1:-1])
    assert_refused(server, events, status)


@pytest.mark.parametrize(
    ("body", "status"), [c[1:] for c in CHUNKED_BODIES], ids=[c[0] for c in CHUNKED_BODIES]
)
def test_a_bad_chunked_body_is_refused_byte_by_byte(body: bytes, status: int) -> None:
    server = H1Server()
    events = server.receive_data(_CHUNKED)
    for i in range(len(body)):
        events += server.receive_data(body[i : i + 1])
        if server.closed:
            break
    assert_refused(server, events, status)


def test_a_violation_after_the_response_started_queues_no_answer() -> None:
    server = H1Server()
    server.receive_data(_CHUNKED)
    server.send_response(200, [])
    server.send_data(b"partial")
    head = server.data_to_send()
    events = server.receive_data(b"zz\r\n")
    assert [type(e) for e in events] == [ConnectionViolation]
    assert server.data_to_send() == b""
    assert head.endswith(b"7\r\npartial\r\n")
    assert server.closed


@pytest.mark.parametrize(
    ("name", "data"),
    [(c[0], c[1]) for c in HEADS] + [(c[0], _CHUNKED + c[1]) for c in CHUNKED_BODIES],
    ids=[c[0] for c in HEADS + CHUNKED_BODIES],
)
def test_what_h11_accepts_alone(name: str, data: bytes) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    try:
        event = conn.next_event()
        while not (
            event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.EndOfMessage)
        ):
            event = conn.next_event()
    except h11.RemoteProtocolError:
        accepted = False
    else:
        accepted = True
    assert accepted == (name in H11_ACCEPTS)


# --------------------------------------------------------------------- limits


def test_a_request_line_over_the_limit_is_414_before_its_end_arrives() -> None:
    server = make(max_request_line=100)
    events = server.receive_data(b"GET /" + b"a" * 95)
    assert events == []
    assert server.wants_more_data
    assert_refused(server, server.receive_data(b"a"), 414)


def test_a_request_line_at_the_limit_is_served() -> None:
    server = make(max_request_line=100)
    line = b"GET /" + b"a" * 86 + b" HTTP/1.1"
    assert len(line) == 100
    (event,) = server.receive_data(request(line))
    assert isinstance(event, RequestReceived)
    server = make(max_request_line=100)
    # A CR at the limit waits for its LF.
    assert server.receive_data(line + b"\r") == []
    assert not server.closed


def test_a_head_over_the_limit_is_431() -> None:
    server = make(max_header_size=200)
    head = request(b"GET / HTTP/1.1", b"X: " + b"a" * 200)
    events = server.receive_data(head[:201])
    assert_refused(server, events, 431)


def test_a_head_at_the_limit_is_served() -> None:
    head = request(b"GET / HTTP/1.1", b"X: a")
    head = request(b"GET / HTTP/1.1", b"X: " + b"a" * (200 - len(head) + 1))
    assert len(head) == 200
    (event,) = make(max_header_size=200).receive_data(head)
    assert isinstance(event, RequestReceived)
    assert_refused(s := make(max_header_size=199), s.receive_data(head), 431)


def test_too_many_fields_is_431() -> None:
    fields = [b"X-%d: y" % i for i in range(99)]
    (event,) = H1Server().receive_data(request(b"GET / HTTP/1.1", *fields))
    assert isinstance(event, RequestReceived)
    assert len(event.headers) == 100
    server = H1Server()
    assert_refused(server, server.receive_data(request(b"GET / HTTP/1.1", *fields, b"Z: 1")), 431)


def test_too_many_trailer_fields_is_431() -> None:
    server = make(max_header_count=2)
    events = server.receive_data(_CHUNKED + b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
    assert_refused(server, events, 431)


def test_a_trailer_section_over_the_limit_is_431() -> None:
    server = make(max_header_size=100)
    events = server.receive_data(_CHUNKED + b"0\r\nA: " + b"x" * 100)
    assert_refused(server, events, 431)


def test_chunk_extensions_within_the_budget_pass() -> None:
    server = make(max_chunk_extensions=20)
    events = server.receive_data(_CHUNKED + b'1;a=1;b="q\\""\r\nx\r\n1;c\r\ny\r\n0;last\r\n\r\n')
    assert [type(e).__name__ for e in events] == [
        "RequestReceived",
        "DataReceived",
        "DataReceived",
        "RequestEnded",
    ]


def test_a_16_digit_chunk_size_is_read() -> None:
    server = H1Server()
    events = server.receive_data(_CHUNKED + b"0000000000000005\r\nhello\r\n0\r\n\r\n")
    assert events[1:] == [DataReceived(1, b"hello", 5), events[-1]]


def test_the_answer_is_minimal_text() -> None:
    assert error_response(431) == (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
        b"content-length: 32\r\nconnection: close\r\n\r\nRequest Header Fields Too Large\n"
    )


def test_a_refusal_of_h11_itself_is_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Should h11 refuse a head the gate passed, its status hint is the answer.
    def refuse(self: h11.Connection, role: object, event: object) -> None:
        raise h11.RemoteProtocolError("h11 says no", error_status_hint=418)

    monkeypatch.setattr(h11.Connection, "_process_event", refuse)
    server = H1Server()
    events = server.receive_data(request())
    assert events == [ConnectionViolation(error_code=418, message="h11 says no")]
    assert server.data_to_send() == error_response(418)
    assert server.closed


def test_a_refusal_of_h11_in_a_body_is_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same for what h11 parses itself: the body's framing.
    server = H1Server()

    def refuse(self: h11.Connection) -> object:
        raise h11.RemoteProtocolError("h11 says no", error_status_hint=400)

    monkeypatch.setattr(h11.Connection, "next_event", refuse)
    received, refusal = server.receive_data(_CHUNKED + b"5\r\nhello\r\n")
    assert isinstance(received, RequestReceived)
    assert refusal == ConnectionViolation(error_code=400, message="h11 says no")
    assert server.data_to_send() == error_response(400)
    assert server.closed
