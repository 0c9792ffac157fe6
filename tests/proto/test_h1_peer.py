"""The HTTP/1.1 server back to back with an independent client: h11's own CLIENT side."""

from __future__ import annotations

import h11

from trio_h2.proto.events import DataReceived, Event, RequestEnded, RequestReceived
from trio_h2.proto.h1 import H1Limits, H1Server


class Pair:
    """An h11 client wired to an H1Server; bytes move only when asked."""

    def __init__(self, server: H1Server | None = None) -> None:
        self.client = h11.Connection(h11.CLIENT)
        self.server = server if server is not None else H1Server()

    def send(self, *events: h11.Event) -> list[Event]:
        data = b"".join(self.client.send(e) or b"" for e in events)
        return self.server.receive_data(data)

    def receive(self) -> list[h11.Event]:
        self.client.receive_data(self.server.data_to_send())
        got: list[h11.Event] = []
        while True:
            event = self.client.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return got
            assert isinstance(event, h11.Event)
            got.append(event)
            if isinstance(event, h11.EndOfMessage):
                return got


def test_requests_and_responses_across_keep_alive() -> None:
    pair = Pair()
    for i in range(3):
        events = pair.send(
            h11.Request(method="GET", target=f"/{i}", headers=[("Host", "example.com")]),
            h11.EndOfMessage(),
        )
        assert events == [
            RequestReceived(
                i + 1,
                {
                    b":method": b"GET",
                    b":scheme": b"http",
                    b":authority": b"example.com",
                    b":path": b"/%d" % i,
                },
                [(b"host", b"example.com")],
                end_stream=True,
                http_version="1.1",
            )
        ]
        pair.server.send_response(200, [(b"content-type", b"text/plain")])
        pair.server.send_data(b"hello %d" % i)
        pair.server.send_end()
        response, data, end = pair.receive()
        assert isinstance(response, h11.Response)
        assert (response.status_code, response.reason) == (200, b"OK")
        assert isinstance(data, h11.Data)
        assert data.data == b"hello %d" % i
        assert isinstance(end, h11.EndOfMessage)
        assert pair.server.next_events() == []
        pair.client.start_next_cycle()
    assert not pair.server.closed


def test_a_chunked_upload_with_trailers_and_a_response_with_trailers() -> None:
    pair = Pair()
    events = pair.send(
        h11.Request(
            method="POST",
            target="/up",
            headers=[("Host", "a"), ("Transfer-Encoding", "chunked"), ("TE", "trailers")],
        ),
        h11.Data(data=b"part one, "),
        h11.Data(data=b"part two"),
        h11.EndOfMessage(headers=[("Digest", "sha-256=x")]),
    )
    assert b"".join(e.data for e in events if isinstance(e, DataReceived)) == b"part one, part two"
    assert events[-1] == RequestEnded(1, [(b"digest", b"sha-256=x")])
    pair.server.send_response(200, [])
    pair.server.send_data(b"ok")
    assert pair.server.send_end([(b"grpc-status", b"0")]) is True
    _response, _data, end = pair.receive()
    assert isinstance(end, h11.EndOfMessage)
    assert list(end.headers) == [(b"grpc-status", b"0")]


def test_head_and_304_parse_as_bodiless_for_the_client() -> None:
    pair = Pair()
    pair.send(h11.Request(method="HEAD", target="/", headers=[("Host", "a")]), h11.EndOfMessage())
    pair.server.send_response(200, [(b"content-length", b"1000")])
    pair.server.send_data(b"x" * 1000)
    pair.server.send_end()
    response, end = pair.receive()
    assert isinstance(response, h11.Response)
    assert isinstance(end, h11.EndOfMessage)
    pair.server.next_events()
    pair.client.start_next_cycle()
    pair.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]), h11.EndOfMessage())
    pair.server.send_response(304, [], end_stream=True)
    response, end = pair.receive()
    assert isinstance(response, h11.Response)
    assert response.status_code == 304


def test_expect_100_continue_with_the_client_waiting() -> None:
    pair = Pair()
    pair.send(
        h11.Request(
            method="PUT",
            target="/",
            headers=[("Host", "a"), ("Content-Length", "3"), ("Expect", "100-continue")],
        )
    )
    assert pair.server.awaiting_continue
    assert pair.server.send_informational(100, [])
    (continue_,) = pair.receive()
    assert isinstance(continue_, h11.InformationalResponse)
    assert continue_.status_code == 100
    assert pair.send(h11.Data(data=b"abc"), h11.EndOfMessage()) == [
        DataReceived(1, b"abc", 3),
        RequestEnded(1),
    ]
    pair.server.send_response(201, [], end_stream=True)
    response, _end = pair.receive()
    assert isinstance(response, h11.Response)
    assert response.reason == b"Created"


def test_a_websocket_upgrade_as_h11_sees_it() -> None:
    pair = Pair()
    (event,) = pair.send(
        h11.Request(
            method="GET",
            target="/ws",
            headers=[
                ("Host", "a"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ],
        ),
        h11.EndOfMessage(),
    )
    assert isinstance(event, RequestReceived)
    assert event.pseudo[b":protocol"] == b"websocket"
    assert pair.server.send_switching_protocols([(b"sec-websocket-accept", b"x")]) == b""
    (switch,) = pair.receive()
    assert isinstance(switch, h11.InformationalResponse)
    assert switch.status_code == 101
    assert pair.client.our_state is h11.SWITCHED_PROTOCOL


def test_a_large_upload_never_outruns_its_credit() -> None:
    limit = 16_384
    pair = Pair(H1Server(H1Limits(max_body_buffer=limit)))
    body = bytes(range(256)) * 4096  # 1 MiB
    wire = pair.client.send(
        h11.Request(
            method="POST", target="/", headers=[("Host", "a"), ("Content-Length", str(len(body)))]
        )
    )
    wire += pair.client.send(h11.Data(data=body)) + pair.client.send(h11.EndOfMessage())
    received = bytearray()
    unread = 0
    ended = False
    server = pair.server
    while not ended:
        if server.wants_more_data:
            events, wire = server.receive_data(wire[:65536]), wire[65536:]
        else:
            # The handler reads what it was given; the credit goes back.
            server.acknowledge_received_data(unread, 1)
            unread = 0
            events = server.next_events()
        for event in events:
            if isinstance(event, DataReceived):
                received += event.data
                unread += event.flow_length
            ended = ended or isinstance(event, RequestEnded)
        assert unread <= limit
    assert received == body
