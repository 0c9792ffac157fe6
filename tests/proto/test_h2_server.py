"""The sans-IO HTTP/2 server driven by h2's own client, back to back: no trio, no socket.

Each test wires :class:`trio_h2.proto.h2.connection.H2Server` to an unmodified h2
client connection and moves bytes between them by hand, so what is asserted is
exactly what each side put on the wire and what the server reported.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from hyperframe.frame import Frame, GoAwayFrame, PingFrame, SettingsFrame

from trio_h2 import Config, ConnectionClosed, LocalProtocolError, RemoteProtocolError
from trio_h2._errors import ErrorCode
from trio_h2.proto import events as ev
from trio_h2.proto.h2.connection import H2Server
from trio_h2.proto.state import ConnectionState

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a"), (b":path", b"/")]


def post(length: int | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b":method", b"POST"), *GET[1:]]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return headers


class Pair:
    """An H2Server and an h2 client with the bytes between them moved by hand."""

    def __init__(self, config: Config | None = None, **client_settings: int) -> None:
        self.server = H2Server(config or Config())
        # Outbound checks off: some tests send what a broken client would.
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(
                client_side=True,
                header_encoding=None,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
            )
        )
        if client_settings:
            self.client.local_settings = h2.settings.Settings(
                client=True,
                initial_values={
                    getattr(h2.settings.SettingCodes, k.upper()): v
                    for k, v in client_settings.items()
                },
            )
        self.now = 0.0
        self.server.initiate()
        self.client.initiate_connection()
        self.events = self.to_server()
        self.to_client()
        self.to_server()  # the client's SETTINGS ACK

    def to_server(self, data: bytes | None = None) -> list[ev.Event]:
        if data is None:
            data = self.client.data_to_send()
        return self.server.receive_data(data, self.now)

    def to_client(self) -> list[Any]:
        return self.client.receive_data(bytes(self.server.data_to_send()))

    def request(self, headers: list[tuple[bytes, bytes]], end: bool = True) -> list[ev.Event]:
        stream_id = self.client.get_next_available_stream_id()
        self.client.send_headers(stream_id, headers, end_stream=end)
        return self.to_server()


def of(kind: type[Any], items: list[Any]) -> list[Any]:
    return [item for item in items if isinstance(item, kind)]


def test_the_preface_opens_the_connection() -> None:
    pair = Pair()
    assert pair.server.state is ConnectionState.OPEN
    assert of(ev.SettingsChanged, pair.events)


def test_a_get_is_one_event_with_its_pseudo_headers_and_fields() -> None:
    pair = Pair()
    events = pair.request([*GET, (b"user-agent", b"t"), (b"cookie", b"a=1"), (b"cookie", b"b=2")])
    assert len(events) == 1
    (request,) = events
    assert isinstance(request, ev.RequestReceived)
    assert request.stream_id == 1
    assert dict(request.pseudo) == dict(GET)
    # RFC 9113 §8.2.3: split cookie fields are joined for the application.
    assert request.headers == [(b"user-agent", b"t"), (b"cookie", b"a=1; b=2")]
    assert request.end_stream
    assert not request.too_large
    assert pair.server.stream(1).request_ended


def test_a_whole_response_reaches_the_client() -> None:
    pair = Pair()
    pair.request(GET)
    assert pair.server.send_response(1, [(b":status", b"200")], b"hi", None, 1 << 20)
    state = pair.server.stream(1)
    state.start_response(200)
    state.end_response()
    events = pair.to_client()
    assert [type(e) for e in events] == [
        h2.events.ResponseReceived,
        h2.events.DataReceived,
        h2.events.StreamEnded,
    ]
    assert events[1].data == b"hi"
    pair.server.finish_stream(1, 0, ErrorCode.CANCEL)
    assert pair.server.active_streams == 0
    # Nothing more went out: no reset after a complete exchange.
    assert pair.to_client() == []


def test_body_data_carries_its_flow_controlled_length_and_credit_waits_for_the_reader() -> None:
    pair = Pair(Config(initial_window_size=65_535, initial_connection_window_size=65_535))
    pair.request(post(), end=False)
    pair.client.send_data(1, b"hello", end_stream=False, pad_length=10)
    (data,) = pair.to_server()
    assert isinstance(data, ev.DataReceived)
    assert (data.stream_id, data.data, data.flow_length) == (1, b"hello", 5 + 10 + 1)
    for _ in range(3):
        pair.client.send_data(1, b"x" * 16_000)
    more = pair.to_server()
    assert [e.flow_length for e in more] == [16_000] * 3
    window = pair.client.local_flow_control_window(1)
    assert not pair.to_client()  # no credit before the application has read
    assert pair.client.local_flow_control_window(1) == window
    for chunk in [data, *more]:
        pair.server.acknowledge(1, chunk.flow_length)
    events = pair.to_client()
    assert {e.stream_id for e in of(h2.events.WindowUpdated, events)} == {0, 1}
    pair.client.end_stream(1)
    assert pair.to_server() == [ev.RequestEnded(1)]


def test_trailers_end_the_request() -> None:
    pair = Pair()
    pair.request(post(), end=False)
    pair.client.send_data(1, b"x")
    pair.client.send_headers(1, [(b"x-checksum", b"1")], end_stream=True)
    events = pair.to_server()
    assert events[-1] == ev.RequestEnded(1, [(b"x-checksum", b"1")])


@pytest.mark.parametrize(
    ("declared", "sent", "reason"),
    [(3, b"four", "more body than content-length"), (5, b"four", "less body than content-length")],
)
def test_a_body_that_contradicts_its_content_length_resets_the_stream(
    declared: int, sent: bytes, reason: str
) -> None:
    pair = Pair()
    pair.request(post(declared), end=False)
    pair.client.send_data(1, sent, end_stream=True)
    events = pair.to_server()
    assert events[-1] == ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, remote=False)
    (reset,) = of(h2.events.StreamReset, pair.to_client())
    assert reset.error_code == ErrorCode.PROTOCOL_ERROR
    error = pair.server.stream(1).reset_error()
    assert isinstance(error, RemoteProtocolError)
    assert reason in str(error)
    with pytest.raises(RemoteProtocolError):
        pair.server.check_stream(1)


def test_a_malformed_request_is_a_stream_error_and_the_connection_goes_on() -> None:
    pair = Pair()
    assert pair.request([*GET[:3]]) == []  # no :path
    (reset,) = of(h2.events.StreamReset, pair.to_client())
    assert (reset.stream_id, reset.error_code) == (1, ErrorCode.PROTOCOL_ERROR)
    assert pair.server.last_acted == 0
    (request,) = pair.request(GET)
    assert isinstance(request, ev.RequestReceived)
    assert request.stream_id == 3
    assert pair.server.last_acted == 3


def test_streams_past_the_limit_are_refused_and_not_counted_as_acted_on() -> None:
    pair = Pair(Config(max_concurrent_streams=2))
    assert len(pair.request(GET)) == 1
    assert len(pair.request(GET)) == 1
    # A client that ignores the server's limit (h2's own would not send this).
    settings = pair.client.remote_settings
    settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = 100
    settings.acknowledge()
    assert pair.request(GET) == []
    (reset,) = of(h2.events.StreamReset, pair.to_client())
    assert (reset.stream_id, reset.error_code) == (5, ErrorCode.REFUSED_STREAM)
    pair.server.start_shutdown()
    pair.server.finish_shutdown()
    assert pair.server.state is ConnectionState.DRAINING
    goaways = [f for f in frames(pair.server.data_to_send()) if isinstance(f, GoAwayFrame)]
    assert [(f.last_stream_id, f.error_code) for f in goaways] == [
        (2**31 - 1, ErrorCode.NO_ERROR),
        (3, ErrorCode.NO_ERROR),
    ]


def frames(data: bytes | bytearray) -> list[Frame]:
    out = []
    view = memoryview(bytes(data))
    while view:
        frame, length = Frame.parse_frame_header(view[:9])
        frame.parse_body(view[9 : 9 + length])
        out.append(frame)
        view = view[9 + length :]
    return out


def test_a_graceful_close_serves_what_crossed_the_first_goaway() -> None:
    # RFC 9113 §6.8: a PING and GOAWAY(2^31-1); requests sent before the client saw
    # it are served; the PING's acknowledgement brings the real GOAWAY.
    pair = Pair()
    pair.request(GET)
    pair.server.start_shutdown()
    sent = frames(pair.server.data_to_send())
    assert [type(f) for f in sent] == [PingFrame, GoAwayFrame]
    ping, goaway = sent
    assert isinstance(goaway, GoAwayFrame)
    assert goaway.last_stream_id == 2**31 - 1
    assert pair.server.state is ConnectionState.DRAINING
    # A request on its way meanwhile is taken, even with no stream open.
    pair.server.finish_stream(1, 0, ErrorCode.CANCEL)
    assert pair.server.state is ConnectionState.DRAINING
    crossed = pair.client.get_next_available_stream_id()
    pair.client.send_headers(crossed, GET, end_stream=True)
    assert [type(e) for e in pair.to_server()] == [ev.RequestReceived]
    # The acknowledgement: the GOAWAY with the real last stream id.
    pair.client.ping(b"other!!!")
    ack = PingFrame(0, flags=["ACK"])
    ack.opaque_data = ping.opaque_data
    pair.server.receive_data(pair.client.data_to_send() + ack.serialize(), 0.0)
    final = [f for f in frames(pair.server.data_to_send()) if isinstance(f, GoAwayFrame)]
    assert [f.last_stream_id for f in final] == [crossed]
    pair.server.finish_stream(crossed, 0, ErrorCode.CANCEL)
    assert pair.server.state is ConnectionState.CLOSING


def test_after_goaway_new_streams_are_refused_and_the_last_stream_closes_it() -> None:
    pair = Pair()
    pair.request(GET)
    pair.server.start_shutdown()
    pair.server.finish_shutdown()  # as if the PING had come back
    pair.to_client()
    # A request that crossed the GOAWAY on the wire is refused, not served.
    frame = pair.client.get_next_available_stream_id()
    pair.client.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
    pair.client.send_headers(frame, GET, end_stream=True)
    assert pair.to_server() == []
    (reset,) = of(h2.events.StreamReset, pair.to_client())
    assert reset.error_code == ErrorCode.REFUSED_STREAM
    state = pair.server.stream(1)
    pair.server.send_headers(1, [(b":status", b"204")], end_stream=True)
    state.start_response(204)
    state.end_response()
    assert pair.server.state is ConnectionState.DRAINING
    pair.server.finish_stream(1, 0, ErrorCode.CANCEL)
    assert pair.server.state is ConnectionState.CLOSING


def test_a_peer_goaway_lets_open_streams_finish() -> None:
    pair = Pair()
    pair.request(GET)
    pair.client.close_connection()
    events = pair.to_server()
    assert events == [ev.GoAwayReceived(ErrorCode.NO_ERROR, 0, b"")]
    assert pair.server.state is ConnectionState.DRAINING
    pair.server.send_headers(1, [(b":status", b"204")], end_stream=True)
    assert pair.server.data_to_send()  # still sent after the peer's GOAWAY


def test_a_broken_preface_is_a_connection_violation_with_goaway() -> None:
    server = H2Server(Config())
    server.initiate()
    server.data_to_send()
    events = server.receive_data(b"GET / HTTP/1.1\r\n\r\n", 0.0)
    assert events == [
        ev.ConnectionViolation(ErrorCode.PROTOCOL_ERROR, "invalid connection preface")
    ]
    assert server.state is ConnectionState.CLOSING
    data = bytes(server.data_to_send())
    assert data[3] == 0x7  # GOAWAY
    assert int.from_bytes(data[13:17], "big") == ErrorCode.PROTOCOL_ERROR


def test_rapid_resets_past_the_budget_get_enhance_your_calm() -> None:
    pair = Pair(Config(max_resets_per_window=5))
    events: list[ev.Event] = []
    seen: list[Any] = []
    for _ in range(6):
        stream_id = pair.client.get_next_available_stream_id()
        pair.client.send_headers(stream_id, GET, end_stream=True)
        pair.client.reset_stream(stream_id, ErrorCode.CANCEL)
        events += pair.to_server()
        seen += pair.to_client()
    assert events[-1] == ev.ConnectionViolation(
        ErrorCode.ENHANCE_YOUR_CALM, "too many stream resets"
    )
    assert of(ev.StreamReset, events)[0] == ev.StreamReset(1, ErrorCode.CANCEL, remote=True)
    assert pair.server.state is ConnectionState.CLOSING
    (goaway,) = of(h2.events.ConnectionTerminated, seen)
    assert goaway.error_code == ErrorCode.ENHANCE_YOUR_CALM
    # The sixth request was never read: the budget ran out at its RST_STREAM's
    # header, before h2 saw its HEADERS.
    assert goaway.last_stream_id == 9


@pytest.mark.parametrize("acked", [False, True])
def test_a_header_list_over_the_limit_is_too_large_before_and_after_the_settings_ack(
    acked: bool,
) -> None:
    config = Config(max_header_list_size=4096)
    server = H2Server(config)
    server.initiate()
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    client.initiate_connection()
    if acked:
        server.receive_data(client.data_to_send(), 0.0)
        client.receive_data(bytes(server.data_to_send()))
    client.send_headers(1, [*GET, (b"x-big", b"v" * 6000)], end_stream=True)
    events = of(ev.RequestReceived, server.receive_data(client.data_to_send(), 0.0))
    assert [e.too_large for e in events] == [True]
    assert server.state is ConnectionState.OPEN


def test_an_unfinished_response_is_reset_with_the_code_given() -> None:
    pair = Pair()
    pair.request(GET)
    state = pair.server.stream(1)
    pair.server.send_headers(1, [(b":status", b"200")], end_stream=False)
    state.start_response(200)
    pair.server.finish_stream(1, 0, ErrorCode.INTERNAL_ERROR)
    (reset,) = of(h2.events.StreamReset, pair.to_client())
    assert reset.error_code == ErrorCode.INTERNAL_ERROR


def test_a_complete_response_to_an_unfinished_upload_stops_it_with_no_error() -> None:
    pair = Pair(Config(initial_window_size=65_535, initial_connection_window_size=65_535))
    pair.request(post(), end=False)
    for _ in range(3):
        pair.client.send_data(1, b"p" * 16_000)
    data = ev.DataReceived(1, b"", sum(e.flow_length for e in pair.to_server()))
    state = pair.server.stream(1)
    pair.server.send_headers(1, [(b":status", b"413")], end_stream=True)
    state.start_response(413)
    state.end_response()
    pair.server.finish_stream(1, data.flow_length, ErrorCode.CANCEL)
    events = pair.to_client()
    (reset,) = of(h2.events.StreamReset, events)
    assert reset.error_code == ErrorCode.NO_ERROR
    # The unread bytes' credit went back to the connection.
    assert {e.stream_id for e in of(h2.events.WindowUpdated, events)} == {0}


def test_push_needs_the_peer_to_allow_it() -> None:
    pair = Pair()  # h2's client enables push by default
    pair.request(GET)
    promised = pair.server.push(1, [*GET[:3], (b":path", b"/style.css")])
    assert promised == 2
    assert pair.server.stream(2).request_ended
    assert pair.server.is_pushed(2)
    (pushed,) = of(h2.events.PushedStreamReceived, pair.to_client())
    assert pushed.pushed_stream_id == 2
    no_push = Pair(enable_push=0)
    no_push.request(GET)
    assert no_push.server.push(1, GET) is None


def test_calls_on_gone_streams_and_closed_connections_raise_public_errors() -> None:
    pair = Pair()
    with pytest.raises(LocalProtocolError, match="stream 9 is closed"):
        pair.server.send_headers(9, [(b":status", b"200")], end_stream=True)
    pair.request(GET)
    pair.server.transport_lost()
    assert pair.server.state is ConnectionState.BROKEN
    with pytest.raises(ConnectionClosed):
        pair.server.send_window(1)


def test_the_server_settings_come_from_config() -> None:
    config = replace(Config(), max_concurrent_streams=7, initial_window_size=100_000)
    server = H2Server(config)
    server.initiate()
    data = bytes(server.data_to_send())
    frame, length = SettingsFrame.parse_frame_header(memoryview(data[:9]))
    frame.parse_body(memoryview(data[9 : 9 + length]))
    assert frame.settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 7
    assert frame.settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] == 100_000
    assert frame.settings[h2.settings.SettingCodes.ENABLE_PUSH] == 0
    # RFC 8441 §3: extended CONNECT is advertised from the first SETTINGS on.
    assert frame.settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1


WEBSOCKET = [
    (b":method", b"CONNECT"),
    (b":protocol", b"websocket"),
    (b":scheme", b"https"),
    (b":path", b"/chat?room=1"),
    (b":authority", b"a"),
    (b"sec-websocket-version", b"13"),
]


def test_an_extended_connect_is_a_request_and_a_tunnel_both_ways() -> None:
    pair = Pair()
    assert pair.client.remote_settings.enable_connect_protocol == 1
    (request,) = pair.request(WEBSOCKET, end=False)
    assert isinstance(request, ev.RequestReceived)
    assert dict(request.pseudo) == dict(WEBSOCKET[:5])
    assert request.headers == [(b"sec-websocket-version", b"13")]
    assert not request.end_stream
    pair.server.send_headers(1, [(b":status", b"200")], end_stream=False)
    pair.server.send_data(1, b"\x81\x02hi", end_stream=False)
    response, data = pair.to_client()
    assert isinstance(response, h2.events.ResponseReceived)
    assert response.headers == [(b":status", b"200")]
    assert isinstance(data, h2.events.DataReceived)
    assert data.data == b"\x81\x02hi"
    pair.client.send_data(1, b"\x81\x80abcd", end_stream=False)
    (received,) = pair.to_server()
    assert isinstance(received, ev.DataReceived)
    assert received.data == b"\x81\x80abcd"


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("on a GET", [(b":method", b"GET"), *WEBSOCKET[1:]]),
        ("without :path", [field for field in WEBSOCKET if field[0] != b":path"]),
        ("without :scheme", [field for field in WEBSOCKET if field[0] != b":scheme"]),
        ("without :authority", [field for field in WEBSOCKET if field[0] != b":authority"]),
    ],
)
def test_protocol_needs_connect_with_scheme_path_and_authority(
    name: str, headers: list[tuple[bytes, bytes]]
) -> None:
    # RFC 8441 §4: a malformed request, answered as a stream error.
    pair = Pair()
    assert pair.request(headers, end=False) == []
    (reset,) = of(h2.events.StreamReset, pair.to_client())
    assert reset.error_code == ErrorCode.PROTOCOL_ERROR
