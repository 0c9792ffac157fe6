"""The sans-IO HTTP/1.1 server: raw bytes in, exact events and exact bytes out.

The refusals (malformed and smuggling requests, limits) are in test_h1_refusals.py;
an independent client (h11) talks to the server in test_h1_peer.py.
"""

from __future__ import annotations

import pytest

from tests.proto.h1support import get_received, make, pseudo, request
from trio_h2 import ConnectionClosed, LocalProtocolError
from trio_h2.proto.events import DataReceived, RequestEnded, RequestReceived
from trio_h2.proto.h1 import H1Limits, H1Server
from trio_h2.proto.h1.events import PeerClosed

OK_5 = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"


def respond_hello(server: H1Server) -> bytes:
    server.send_response(200, [(b"content-length", b"5")])
    server.send_data(b"hello")
    assert server.send_end() is False
    return server.data_to_send()


# ---------------------------------------------------------------- one request


def test_a_simple_get() -> None:
    server = H1Server()
    events = server.receive_data(request(b"GET /index.html?q=1 HTTP/1.1", b"User-Agent: t/1"))
    assert events == [
        RequestReceived(
            stream_id=1,
            pseudo=pseudo(b"/index.html?q=1"),
            headers=[(b"host", b"example.com"), (b"user-agent", b"t/1")],
            end_stream=True,
            http_version="1.1",
        )
    ]
    assert server.stream_id == 1
    assert respond_hello(server) == OK_5
    assert server.next_events() == []
    assert server.stream_id is None
    assert server.wants_more_data
    assert not server.closed


def test_fields_keep_their_values_and_order_with_names_lowercased() -> None:
    server = H1Server()
    (event,) = server.receive_data(
        request(b"GET / HTTP/1.1", b"X-A:  one  two \t", b"x-a: 2", b"Cookie: \xe9t\xe9", b"E:")
    )
    assert isinstance(event, RequestReceived)
    assert event.headers == [
        (b"host", b"example.com"),
        (b"x-a", b"one  two"),
        (b"x-a", b"2"),
        (b"cookie", b"\xe9t\xe9"),
        (b"e", b""),
    ]


def test_byte_at_a_time_gives_the_same_events() -> None:
    data = request(b"POST /u HTTP/1.1", b"Transfer-Encoding: chunked") + (
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nChecksum: abc\r\n\r\n"
    )
    whole = H1Server().receive_data(data)
    server = H1Server()
    pieces = [e for i in range(len(data)) for e in server.receive_data(data[i : i + 1])]
    assert [e for e in pieces if not isinstance(e, DataReceived)] == [
        e for e in whole if not isinstance(e, DataReceived)
    ]
    assert b"".join(e.data for e in pieces if isinstance(e, DataReceived)) == b"hello world"
    assert whole[-1] == RequestEnded(1, [(b"checksum", b"abc")])


def test_empty_lines_before_a_request_are_ignored() -> None:
    server = H1Server()
    assert server.receive_data(b"\r\n\r\n" + request()) == [get_received()]


def test_absolute_form_takes_the_authority_from_the_target() -> None:
    server = H1Server()
    (event,) = server.receive_data(request(b"GET http://other.example:8080?x HTTP/1.1"))
    assert isinstance(event, RequestReceived)
    assert event.pseudo == pseudo(b"/?x", authority=b"other.example:8080")


def test_asterisk_form_for_options() -> None:
    server = H1Server()
    (event,) = server.receive_data(request(b"OPTIONS * HTTP/1.1"))
    assert isinstance(event, RequestReceived)
    assert event.pseudo == pseudo(b"*", method=b"OPTIONS")


def test_the_scheme_is_the_connections() -> None:
    server = H1Server(scheme=b"https")
    (event,) = server.receive_data(request())
    assert isinstance(event, RequestReceived)
    assert event.pseudo[b":scheme"] == b"https"
    with pytest.raises(ValueError, match="scheme"):
        H1Server(scheme=b"ftp")


def test_an_empty_host_gives_no_authority() -> None:
    server = H1Server()
    (event,) = server.receive_data(request(host=b""))
    assert isinstance(event, RequestReceived)
    assert b":authority" not in event.pseudo


def test_reason_phrases_follow_rfc_9110() -> None:
    for status, line in [
        (404, b"HTTP/1.1 404 Not Found\r\n"),
        (413, b"HTTP/1.1 413 Content Too Large\r\n"),
        (422, b"HTTP/1.1 422 Unprocessable Content\r\n"),
        (299, b"HTTP/1.1 299 \r\n"),
    ]:
        server = H1Server()
        server.receive_data(request())
        server.send_response(status, [], end_stream=True)
        assert server.data_to_send() == line + b"content-length: 0\r\n\r\n"


# ------------------------------------------------------- keep-alive, pipelining


def test_keep_alive_serves_requests_one_after_another() -> None:
    server = H1Server()
    for stream_id in (1, 2, 3):
        assert server.receive_data(request(b"GET /%d HTTP/1.1" % stream_id)) == [
            get_received(stream_id, b"/%d" % stream_id)
        ]
        assert respond_hello(server) == OK_5
        assert server.next_events() == []
    assert not server.closed


def test_pipelined_requests_are_answered_in_order() -> None:
    server = H1Server()
    data = request(b"GET /1 HTTP/1.1") + request(b"GET /2 HTTP/1.1") + request(b"GET /3 HTTP/1.1")
    assert server.receive_data(data) == [get_received(1, b"/1")]
    # The rest waits, unparsed, and the driver must not read more meanwhile.
    assert not server.wants_more_data
    assert server.next_events() == []
    server.send_response(200, [(b"content-length", b"5")])
    with pytest.raises(LocalProtocolError, match="already started"):
        server.send_response(200, [])
    server.send_data(b"hello")
    server.send_end()
    assert server.data_to_send() == OK_5
    assert server.next_events() == [get_received(2, b"/2")]
    assert respond_hello(server) == OK_5
    assert server.next_events() == [get_received(3, b"/3")]
    assert respond_hello(server) == OK_5
    assert server.next_events() == []
    assert server.wants_more_data


def test_a_pipelined_request_behind_a_body() -> None:
    server = H1Server()
    data = request(b"POST / HTTP/1.1", b"Content-Length: 3") + b"abc" + request()
    assert server.receive_data(data) == [
        RequestReceived(
            1,
            pseudo(method=b"POST"),
            [(b"host", b"example.com"), (b"content-length", b"3")],
            end_stream=False,
            http_version="1.1",
        ),
        DataReceived(1, b"abc", 3),
        RequestEnded(1, None),
    ]
    server.send_response(204, [], end_stream=True)
    assert server.next_events() == [get_received(2)]


def test_connection_close_from_the_client() -> None:
    server = H1Server()
    events = server.receive_data(request(b"GET / HTTP/1.1", b"Connection: close") + request())
    assert len(events) == 1
    server.send_response(200, [(b"content-length", b"0")], end_stream=True)
    assert server.data_to_send() == (
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nConnection: close\r\n\r\n"
    )
    # The request behind it is never read.
    assert server.closed
    assert server.next_events() == []


@pytest.mark.parametrize("name", [b"connection", b"Connection"])
@pytest.mark.parametrize("value", [b"close", b"Close", b"keep-alive, close"])
def test_connection_close_from_the_application(name: bytes, value: bytes) -> None:
    server = H1Server()
    server.receive_data(request() + request())
    server.send_response(200, [(name, value), (b"content-length", b"0")], end_stream=True)
    assert server.data_to_send() == (
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    assert server.closed
    assert server.next_events() == []


def test_max_requests_per_connection_closes_after_the_last() -> None:
    server = make(max_requests_per_connection=2)
    assert server.receive_data(request() + request() + request()) == [get_received(1)]
    assert respond_hello(server) == OK_5
    assert server.next_events() == [get_received(2)]
    assert respond_hello(server) == (
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
    )
    assert server.closed
    assert server.next_events() == []


# --------------------------------------------------------------------- bodies


def test_a_chunked_request_with_trailers() -> None:
    server = H1Server()
    events = server.receive_data(
        request(b"PUT /f HTTP/1.1", b"Transfer-Encoding: chunked", b"Trailer: checksum")
        + b"3\r\nabc\r\n"
        + b'A;ext=1;q="x y"\r\n0123456789\r\n'
        + b"0\r\nChecksum: 42\r\nX-Other: y\r\n\r\n"
    )
    assert events == [
        RequestReceived(
            1,
            pseudo(b"/f", method=b"PUT"),
            [
                (b"host", b"example.com"),
                (b"transfer-encoding", b"chunked"),
                (b"trailer", b"checksum"),
            ],
            end_stream=False,
            http_version="1.1",
        ),
        DataReceived(1, b"abc", 3),
        DataReceived(1, b"0123456789", 10),
        RequestEnded(1, [(b"checksum", b"42"), (b"x-other", b"y")]),
    ]


def test_an_empty_chunked_body_ends_without_trailers() -> None:
    server = H1Server()
    events = server.receive_data(
        request(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked") + b"0\r\n\r\n"
    )
    assert events[1:] == [RequestEnded(1, None)]
    assert isinstance(events[0], RequestReceived)
    assert not events[0].end_stream


@pytest.mark.parametrize("coding", [b"chunked", b"Chunked", b"\tCHUNKED "])
def test_transfer_coding_names_are_case_insensitive(coding: bytes) -> None:
    server = H1Server()
    events = server.receive_data(
        request(b"POST / HTTP/1.1", b"Transfer-Encoding:" + coding) + b"0\r\n\r\n"
    )
    assert events[-1] == RequestEnded(1, None)


def test_body_credit_holds_back_what_the_handler_has_not_read() -> None:
    server = make(max_body_buffer=4)
    events = server.receive_data(
        request(b"POST / HTTP/1.1", b"Content-Length: 10") + b"0123456789"
    )
    assert events[1:] == [DataReceived(1, b"0123", 4)]
    assert not server.wants_more_data
    assert server.next_events() == []
    server.acknowledge_received_data(3, 1)
    assert server.next_events() == [DataReceived(1, b"456", 3)]
    server.acknowledge_received_data(4, 1)
    assert server.next_events() == [DataReceived(1, b"789", 3), RequestEnded(1, None)]
    # Credit for another stream, or past what was handed out, changes nothing.
    server.acknowledge_received_data(100, 7)


def test_body_credit_applies_to_chunks_too() -> None:
    server = make(max_body_buffer=2)
    events = server.receive_data(
        request(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\r\n\r\n"
    )
    assert events[1:] == [DataReceived(1, b"he", 2)]
    server.acknowledge_received_data(2, 1)
    assert server.next_events() == [DataReceived(1, b"ll", 2)]
    server.acknowledge_received_data(2, 1)
    assert server.next_events() == [DataReceived(1, b"o", 1), RequestEnded(1, None)]


def test_reading_stops_while_a_request_waits_with_bytes_behind_it() -> None:
    server = H1Server()
    server.receive_data(request())
    # Nothing behind the request: reading on is allowed (it sees an end of file).
    assert server.wants_more_data
    server.receive_data(b"GET")
    assert not server.wants_more_data


# ------------------------------------------------------------------ responses


def test_a_response_without_length_is_chunked() -> None:
    server = H1Server()
    server.receive_data(request())
    server.send_response(200, [(b"content-type", b"text/plain")])
    server.send_data(b"hello ")
    server.send_data(b"")
    server.send_data(b"world")
    assert server.send_end() is False
    assert server.data_to_send() == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
    )


def test_trailers_go_out_when_the_request_said_te_trailers() -> None:
    server = H1Server()
    server.receive_data(request(b"GET / HTTP/1.1", b"TE: trailers"))
    server.send_response(200, [])
    server.send_data(b"abc")
    assert server.send_end([(b"grpc-status", b"0"), (b"x-sum", b"1")]) is True
    assert server.data_to_send() == (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\ngrpc-status: 0\r\nx-sum: 1\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("te", "length"),
    [(None, None), (b"TE: gzip", None), (b"TE: trailers", b"3")],
    ids=["no-te", "te-without-trailers", "identity-body"],
)
def test_trailers_are_dropped_otherwise(te: bytes | None, length: bytes | None) -> None:
    server = H1Server()
    server.receive_data(request(b"GET / HTTP/1.1", *([te] if te else [])))
    server.send_response(200, [(b"content-length", length)] if length else [])
    server.send_data(b"abc")
    assert server.send_end([(b"x-sum", b"1")]) is False
    body = b"abc" if length else b"3\r\nabc\r\n0\r\n\r\n"
    assert server.data_to_send().endswith(b"\r\n\r\n" + body)


def test_end_stream_without_a_length_sends_content_length_0() -> None:
    server = H1Server()
    server.receive_data(request())
    server.send_response(404, [(b"x", b"y")], end_stream=True)
    assert server.data_to_send() == b"HTTP/1.1 404 Not Found\r\nx: y\r\ncontent-length: 0\r\n\r\n"


def test_head_responses_have_headers_only() -> None:
    server = H1Server()
    server.receive_data(request(b"HEAD / HTTP/1.1") + request(b"HEAD / HTTP/1.1"))
    server.send_response(200, [(b"content-length", b"5")])
    server.send_data(b"hello")  # dropped: one handler serves GET and HEAD
    server.send_end()
    assert server.data_to_send() == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    server.next_events()
    server.send_response(200, [])
    server.send_data(b"hello")
    assert server.send_end([(b"x", b"y")]) is False
    # The fields a GET would get, no body.
    assert server.data_to_send() == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert server.next_events() == []
    assert not server.closed


def test_204_and_304_have_no_body_and_204_no_length() -> None:
    server = H1Server()
    server.receive_data(request() + request())
    server.send_response(204, [(b"content-length", b"5"), (b"x", b"1")])
    server.send_data(b"dropped")
    server.send_end()
    assert server.data_to_send() == b"HTTP/1.1 204 No Content\r\nx: 1\r\n\r\n"
    server.next_events()
    server.send_response(304, [(b"content-length", b"5"), (b"etag", b'"a"')], end_stream=True)
    assert server.data_to_send() == (
        b'HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\netag: "a"\r\n\r\n'
    )
    assert not server.closed


def test_connection_specific_fields_from_the_application_are_the_servers() -> None:
    server = H1Server()
    server.receive_data(request())
    server.send_response(
        200,
        [
            (b"Connection", b"keep-alive"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Proxy-Connection", b"keep-alive"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Content-Length", b"2"),
            (b"content-length", b"2"),
        ],
    )
    server.send_data(b"hi")
    server.send_end()
    assert server.data_to_send() == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    assert not server.closed


@pytest.mark.parametrize(
    "field",
    [
        (b"bad name", b"x"),
        (b"x", b"a\r\nb"),
        (b"x", b"\x00"),
        (b"x", b" leading"),
        (b"content-length", b"-1"),
        (b"content-length", b"1" * 19),
        (b"transfer-encoding", b"gzip"),
        ("str", "str"),
    ],
)
def test_a_bad_response_field_is_refused_before_anything_is_sent(
    field: tuple[bytes, bytes],
) -> None:
    server = H1Server()
    server.receive_data(request())
    with pytest.raises(LocalProtocolError):
        server.send_response(200, [field])
    # Nothing went out and the connection is intact: the handler's 500 can follow.
    assert server.data_to_send() == b""
    server.send_response(500, [], end_stream=True)
    assert server.data_to_send() == (
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
    )
    assert not server.closed


def test_conflicting_content_lengths_from_the_application() -> None:
    server = H1Server()
    server.receive_data(request())
    with pytest.raises(LocalProtocolError, match="content-length"):
        server.send_response(200, [(b"content-length", b"1"), (b"content-length", b"2")])


def test_a_body_longer_or_shorter_than_its_length_breaks_the_connection() -> None:
    server = H1Server()
    server.receive_data(request())
    server.send_response(200, [(b"content-length", b"2")])
    with pytest.raises(LocalProtocolError, match="Too much data"):
        server.send_data(b"abc")
    assert server.closed
    server = H1Server()
    server.receive_data(request())
    server.send_response(200, [(b"content-length", b"2")])
    server.send_data(b"a")
    with pytest.raises(LocalProtocolError, match="Too little data"):
        server.send_end()
    assert server.closed
    with pytest.raises(ConnectionClosed):
        server.send_data(b"b")


def test_api_misuse_is_a_local_error() -> None:
    server = H1Server()
    with pytest.raises(LocalProtocolError, match="no request"):
        server.send_response(200, [])
    server.receive_data(request())
    with pytest.raises(LocalProtocolError, match="not started"):
        server.send_data(b"x")
    with pytest.raises(LocalProtocolError, match="not started"):
        server.send_end()
    for status in (199, 600, True):
        with pytest.raises(LocalProtocolError, match="final status"):
            server.send_response(status, [])
    for status in (99, 200, 101):
        with pytest.raises(LocalProtocolError):
            server.send_informational(status, [])
    with pytest.raises(LocalProtocolError, match="did not ask"):
        server.send_switching_protocols([])
    server.send_response(200, [(b"content-length", b"1")])
    with pytest.raises(LocalProtocolError, match="already started"):
        server.send_informational(103, [])
    server.send_data(b"x")
    server.send_end()
    with pytest.raises(LocalProtocolError, match="no request"):
        server.send_data(b"x")


# --------------------------------------------------------------- informational


def test_expect_100_continue() -> None:
    server = H1Server()
    events = server.receive_data(
        request(b"POST / HTTP/1.1", b"Content-Length: 5", b"Expect: 100-continue")
    )
    assert len(events) == 1
    assert server.awaiting_continue
    # The driver sends it when the handler first reads the body.
    assert server.send_informational(100, []) is True
    assert server.data_to_send() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not server.awaiting_continue
    assert server.receive_data(b"hello") == [DataReceived(1, b"hello", 5), RequestEnded(1, None)]
    assert respond_hello(server) == OK_5
    assert not server.closed


def test_a_client_that_sends_the_body_anyway_stops_waiting() -> None:
    server = H1Server()
    server.receive_data(request(b"POST / HTTP/1.1", b"Content-Length: 5", b"Expect: 100-Continue"))
    assert server.awaiting_continue
    server.receive_data(b"he")
    assert not server.awaiting_continue


def test_a_final_response_instead_of_100_continue_closes() -> None:
    server = H1Server()
    server.receive_data(request(b"POST / HTTP/1.1", b"Content-Length: 5", b"Expect: 100-continue"))
    server.send_response(413, [], end_stream=True)
    assert not server.awaiting_continue
    assert server.data_to_send() == (
        b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    assert server.closed


def test_103_early_hints_then_the_response() -> None:
    server = H1Server()
    server.receive_data(request())
    assert server.send_informational(103, [(b"link", b"</s.css>; rel=preload")]) is True
    assert respond_hello(server) == (
        b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n" + OK_5
    )


# --------------------------------------------------------------------- HTTP/1.0


def test_http_1_0_with_a_length_then_closes() -> None:
    server = H1Server()
    events = server.receive_data(request(b"GET / HTTP/1.0", host=None) + request())
    assert events == [
        RequestReceived(
            1,
            {b":method": b"GET", b":scheme": b"http", b":path": b"/"},
            [],
            True,
            http_version="1.0",
        )
    ]
    assert respond_hello(server) == (
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nConnection: close\r\n\r\nhello"
    )
    assert server.closed
    assert server.next_events() == []


def test_http_1_0_without_a_length_is_close_delimited() -> None:
    server = H1Server()
    server.receive_data(request(b"GET / HTTP/1.0"))
    server.send_response(200, [(b"content-type", b"text/plain")])
    server.send_data(b"hello")
    assert server.send_end([(b"x", b"y")]) is False
    assert server.data_to_send() == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nConnection: close\r\n\r\nhello"
    )
    assert server.closed


def test_http_1_0_keep_alive_is_declined() -> None:
    server = H1Server()
    server.receive_data(request(b"GET / HTTP/1.0", b"Connection: keep-alive"))
    assert respond_hello(server).startswith(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nConnection: close\r\n"
    )
    assert server.closed


def test_http_1_0_gets_no_informational_responses_and_no_expectations() -> None:
    server = H1Server()
    server.receive_data(request(b"POST / HTTP/1.0", b"Content-Length: 1", b"Expect: 100-continue"))
    assert not server.awaiting_continue
    assert server.send_informational(100, []) is False
    assert server.send_informational(103, [(b"link", b"</a>")]) is False
    assert server.data_to_send() == b""


def test_a_later_http_1_minor_version_is_served_as_1_1() -> None:
    server = H1Server()
    (event,) = server.receive_data(request(b"GET / HTTP/1.7"))
    assert isinstance(event, RequestReceived)
    assert event.http_version == "1.1"
    assert respond_hello(server) == OK_5


# ------------------------------------------------- a response before the body


def test_an_unread_body_is_dropped_and_the_connection_kept() -> None:
    server = make(max_discard=10)
    events = server.receive_data(request(b"POST / HTTP/1.1", b"Content-Length: 12") + b"ab")
    assert events[1:] == [DataReceived(1, b"ab", 2)]
    server.send_response(200, [], end_stream=True)
    server.data_to_send()
    assert server.next_events() == []
    assert server.wants_more_data
    # The remaining ten octets are dropped; the next request is served.
    assert server.receive_data(b"0123456789" + request()) == [get_received(2)]


def test_an_unread_chunked_body_is_dropped_up_to_the_bound() -> None:
    server = make(max_discard=10)
    server.receive_data(request(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked"))
    server.send_response(200, [], end_stream=True)
    assert server.receive_data(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n" + request()) == [
        get_received(2)
    ]
    server.send_response(200, [], end_stream=True)
    server.next_events()
    server.receive_data(request(b"POST / HTTP/1.1", b"Transfer-Encoding: chunked"))
    server.send_response(200, [], end_stream=True)
    assert server.receive_data(b"b\r\nhello world\r\n0\r\n\r\n") == []
    assert server.closed


def test_an_unread_body_past_the_bound_closes_at_once() -> None:
    server = make(max_discard=10)
    server.receive_data(request(b"POST / HTTP/1.1", b"Content-Length: 12") + b"a")
    server.send_response(200, [], end_stream=True)
    assert server.closed
    assert server.next_events() == []


def test_body_held_back_for_credit_is_dropped_with_the_rest() -> None:
    server = make(max_body_buffer=2, max_discard=100)
    server.receive_data(request(b"POST / HTTP/1.1", b"Content-Length: 6") + b"abcdef" + request())
    server.send_response(200, [], end_stream=True)
    assert server.next_events() == [get_received(2)]


# --------------------------------------------------------------- end of file


def test_end_of_file_between_requests() -> None:
    server = H1Server()
    assert server.receive_data(b"") == [PeerClosed(None)]
    assert server.closed
    assert not server.wants_more_data


def test_end_of_file_in_a_head_closes_without_an_answer() -> None:
    server = H1Server()
    assert server.receive_data(b"GET / HTTP/1.1\r\nHo") == []
    assert server.receive_data(b"") == [PeerClosed(None)]
    assert server.closed
    assert server.data_to_send() == b""


def test_end_of_file_in_a_body_names_the_request_cut_short() -> None:
    server = H1Server()
    server.receive_data(request(b"POST / HTTP/1.1", b"Content-Length: 5") + b"he")
    assert server.receive_data(b"") == [PeerClosed(1)]
    assert not server.closed
    assert not server.wants_more_data
    # The handler may still answer; then the connection closes.
    server.send_response(400, [], end_stream=True)
    assert server.data_to_send() == (
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    assert server.closed


def test_data_after_end_of_file_is_a_driver_error() -> None:
    server = H1Server()
    server.receive_data(request())
    server.receive_data(b"")
    with pytest.raises(LocalProtocolError, match="end of file"):
        server.receive_data(b"x")


def test_a_complete_request_is_answered_after_end_of_file() -> None:
    server = H1Server()
    assert server.receive_data(request() + request()) == [get_received(1)]
    assert server.receive_data(b"") == []
    assert respond_hello(server) == OK_5
    assert server.next_events() == [get_received(2), PeerClosed(None)]
    assert (
        respond_hello(server)
        == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
    )
    assert server.closed


def test_end_of_file_while_a_response_is_under_way() -> None:
    server = H1Server()
    server.receive_data(request())
    server.send_response(200, [])
    assert server.receive_data(b"") == [PeerClosed(None)]
    server.send_data(b"x")
    server.send_end()
    assert server.closed


# --------------------------------------------------------------------- limits


def test_limits_are_checked() -> None:
    assert H1Limits().max_request_line == 8190
    for bad in (
        {"max_header_size": 0},
        {"max_body_buffer": 0},
        {"max_header_count": -1},
        {"max_discard": 1.5},
        {"max_requests_per_connection": 0},
        {"max_requests_per_connection": True},
    ):
        with pytest.raises(ValueError, match="max_"):
            H1Limits(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ upgrades

_WS_FIELDS = (
    b"Upgrade: websocket",
    b"Connection: keep-alive, Upgrade",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"Sec-WebSocket-Version: 13",
)
_H2C_FIELDS = (
    b"Upgrade: h2c",
    b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
    b"Connection: Upgrade, HTTP2-Settings",
)
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _protocol(server: H1Server, data: bytes) -> bytes | None:
    event = server.receive_data(data)[0]
    assert isinstance(event, RequestReceived)
    return event.pseudo.get(b":protocol")


def test_a_websocket_handshake_is_recognised_and_switched() -> None:
    server = H1Server()
    frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert _protocol(server, request(b"GET /chat HTTP/1.1", *_WS_FIELDS) + frame) == b"websocket"
    assert not server.wants_more_data
    rest = server.send_switching_protocols(
        [(b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), (b"Upgrade", b"x")]
    )
    assert rest == frame
    assert server.data_to_send() == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"upgrade: websocket\r\nconnection: Upgrade\r\n\r\n"
    )
    assert server.switched
    assert not server.closed
    assert not server.wants_more_data
    with pytest.raises(LocalProtocolError, match="switched"):
        server.receive_data(b"more")
    with pytest.raises(LocalProtocolError, match="switched"):
        server.send_response(200, [])
    assert server.next_events() == []


def test_a_declined_upgrade_is_an_ordinary_request() -> None:
    server = H1Server()
    assert _protocol(server, request(b"GET / HTTP/1.1", *_WS_FIELDS) + request()) == b"websocket"
    server.send_response(426, [(b"sec-websocket-version", b"13")], end_stream=True)
    assert server.data_to_send() == (
        b"HTTP/1.1 426 Upgrade Required\r\nsec-websocket-version: 13\r\ncontent-length: 0\r\n\r\n"
    )
    assert server.next_events() == [get_received(2)]


def test_an_h2c_upgrade_hands_over_the_preface() -> None:
    server = H1Server()
    assert _protocol(server, request(b"GET / HTTP/1.1", *_H2C_FIELDS) + _PREFACE) == b"h2c"
    assert server.send_switching_protocols([]) == _PREFACE
    assert server.data_to_send() == (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: Upgrade\r\n\r\n"
    )


def test_an_h2c_upgrade_with_a_body_switches_once_the_body_is_read() -> None:
    server = H1Server()
    data = request(b"POST / HTTP/1.1", *_H2C_FIELDS, b"Content-Length: 4")
    assert _protocol(server, data + b"ab") == b"h2c"
    with pytest.raises(LocalProtocolError, match="body has not ended"):
        server.send_switching_protocols([])
    assert server.receive_data(b"cd" + _PREFACE) == [DataReceived(1, b"cd", 2), RequestEnded(1)]
    assert server.send_switching_protocols([]) == _PREFACE


_NOT_UPGRADES = {
    "websocket-version-8": request(
        b"GET / HTTP/1.1", *_WS_FIELDS[:3], b"Sec-WebSocket-Version: 8"
    ),
    "websocket-short-key": request(
        b"GET / HTTP/1.1", *_WS_FIELDS[:2], b"Sec-WebSocket-Key: dGhlIHNhbXBsZQ==", _WS_FIELDS[3]
    ),
    "websocket-bad-base64": request(
        b"GET / HTTP/1.1",
        *_WS_FIELDS[:2],
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=!",
        _WS_FIELDS[3],
    ),
    "websocket-two-keys": request(
        b"GET / HTTP/1.1", *_WS_FIELDS, b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
    ),
    "websocket-no-connection-upgrade": request(
        b"GET / HTTP/1.1", _WS_FIELDS[0], b"Connection: keep-alive", *_WS_FIELDS[2:]
    ),
    "websocket-post": request(b"POST / HTTP/1.1", *_WS_FIELDS),
    "websocket-with-body": request(b"GET / HTTP/1.1", *_WS_FIELDS, b"Content-Length: 1") + b"x",
    "websocket-http-1.0": request(b"GET / HTTP/1.0", *_WS_FIELDS),
    "h2c-settings-not-in-connection": request(
        b"GET / HTTP/1.1", *_H2C_FIELDS[:2], b"Connection: Upgrade"
    ),
    "h2c-two-settings": request(b"GET / HTTP/1.1", *_H2C_FIELDS, _H2C_FIELDS[1]),
    "h2c-bad-settings": request(
        b"GET / HTTP/1.1", _H2C_FIELDS[0], b"HTTP2-Settings: a+b/", _H2C_FIELDS[2]
    ),
    "unknown-protocol": request(b"GET / HTTP/1.1", b"Upgrade: foo/2", b"Connection: upgrade"),
}


@pytest.mark.parametrize("data", _NOT_UPGRADES.values(), ids=_NOT_UPGRADES.keys())
def test_an_upgrade_that_does_not_qualify_is_left_to_the_application(data: bytes) -> None:
    server = H1Server()
    assert _protocol(server, data) is None
    with pytest.raises(LocalProtocolError, match="did not ask"):
        server.send_switching_protocols([])


def test_h2c_is_for_cleartext_only() -> None:
    server = H1Server(scheme=b"https")
    assert _protocol(server, request(b"GET / HTTP/1.1", *_H2C_FIELDS)) is None
