"""The hand-built HEADERS and DATA frames: the same bytes and the same h2 state as h2's own.

A reference ``h2.connection.H2Connection`` and a ``FastH2Connection`` (given hpack's
encoder, so that header blocks match byte for byte) receive the same client bytes and
the same random sequence of sends; after every step their output, their exceptions and
every piece of state h2 keeps for sending must be equal.
"""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.exceptions
import h2.settings
import hpack
import pytest
from hypothesis import given, settings, strategies as st

from trio_h2.proto.h2.fast import FastH2Connection

REQUESTS = 4  # client streams 1, 3, 5, 7
SIDS = st.sampled_from([1, 3, 5, 7, 9, 2, 4])  # 9 is never opened; 2 and 4 may be pushed

RESPONSE = [(b":status", b"200"), (b"content-type", b"text/plain"), (b"x-n", b"1")]
BIG = [(b":status", b"200"), (b"x-big", b"b" * 40_000)]  # needs CONTINUATION frames
EARLY = [(b":status", b"103"), (b"link", b"</a.css>; rel=preload")]
TRAILERS = [(b"grpc-status", b"0")]

OPERATIONS = st.one_of(
    st.tuples(
        st.just("headers"), SIDS, st.sampled_from(["response", "big", "early", "trailers"]),
        st.booleans(),
    ),
    st.tuples(
        st.just("data"), SIDS, st.sampled_from([0, 1, 100, 16_384, 16_385, 70_000]),
        st.booleans(),
    ),
    st.tuples(
        st.just("frames"), SIDS, st.sampled_from([0, 5, 16_384, 40_000, 70_000]),
        st.booleans(),
    ),
    st.tuples(st.just("end"), SIDS),
    st.tuples(st.just("reset"), SIDS),
    st.tuples(st.just("push"), SIDS),
    st.tuples(st.just("client_window"), st.sampled_from([0, 1, 3, 5]), st.integers(1, 90_000)),
    st.tuples(st.just("client_reset"), st.sampled_from([1, 3, 5, 7])),
    st.tuples(st.just("client_settings"), st.sampled_from([0, 100, 65_535, 200_000])),
)  # fmt: skip


def server_pair() -> tuple[h2.connection.H2Connection, FastH2Connection]:
    def config() -> h2.config.H2Configuration:
        return h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )

    reference = h2.connection.H2Connection(config())
    fast = FastH2Connection(config())
    fast.encoder = hpack.Encoder()
    for conn in (reference, fast):
        conn.initiate_connection()
        conn.data_to_send()
    return reference, fast


def client(window: int) -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    conn.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
    )
    conn.initiate_connection()
    return conn


def snapshot(conn: h2.connection.H2Connection) -> Any:
    streams = {
        sid: (
            s.state_machine.state,
            s.state_machine.headers_sent,
            s.state_machine.trailers_sent,
            s.state_machine.stream_closed_by,
            s.outbound_flow_control_window,
            s.request_method,
        )
        for sid, s in conn.streams.items()
    }
    return (
        conn.state_machine.state,
        conn.outbound_flow_control_window,
        conn.max_outbound_frame_size,
        dict(conn._closed_streams),
        streams,
    )


def apply(conn: Any, op: tuple[Any, ...], fast: bool) -> Any:
    kind = op[0]
    if kind == "headers":
        _, sid, which, end = op
        headers = {"response": RESPONSE, "big": BIG, "early": EARLY, "trailers": TRAILERS}
        conn.send_headers(sid, list(headers[which]), end_stream=end)
    elif kind == "data":
        _, sid, size, end = op
        conn.send_data(sid, b"d" * size, end_stream=end)
    elif kind == "frames":
        _, sid, size, end = op
        # The server asks for the window first, as Connection.send_data does.
        window = conn.local_flow_control_window(sid)
        if fast:
            conn.send_data_frames(sid, memoryview(b"f" * size), end)
        else:
            # What the server did before: one send_data per frame-sized slice.
            data = b"f" * size
            # As h2 itself: an empty DATA frame goes out even at a shut window.
            if size > 0 and size > window:
                raise h2.exceptions.FlowControlError("over the window")
            step = conn.max_outbound_frame_size
            for start in range(0, max(size, 1), step):
                chunk = data[start : start + step]
                conn.send_data(sid, chunk, end_stream=end and start + step >= size)
    elif kind == "end":
        conn.end_stream(op[1])
    elif kind == "reset":
        conn.reset_stream(op[1])
    elif kind == "push":
        promised = conn.get_next_available_stream_id()
        request = [(b":method", b"GET"), (b":path", b"/p"), (b":scheme", b"http")]
        request.append((b":authority", b"x"))
        conn.push_stream(op[1], promised, request)
    return None


def client_bytes(client_conn: h2.connection.H2Connection, op: tuple[Any, ...]) -> bytes:
    kind = op[0]
    try:
        if kind == "client_window":
            client_conn.increment_flow_control_window(op[2], op[1] or None)
        elif kind == "client_reset":
            client_conn.reset_stream(op[1])
        elif kind == "client_settings":
            client_conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: op[1]})
    except (h2.exceptions.ProtocolError, KeyError):
        return b""
    return client_conn.data_to_send()


def outcome(conn: Any, take: Any, action: Any) -> tuple[Any, bytes, Any]:
    try:
        action()
        error: Any = None
    except (h2.exceptions.ProtocolError, KeyError, ValueError) as exc:
        error = type(exc)
    return error, bytes(take()), snapshot(conn)


@settings(max_examples=150, deadline=None)
@given(
    window=st.sampled_from([100, 16_384, 65_535]),
    open_requests=st.lists(st.booleans(), min_size=REQUESTS, max_size=REQUESTS),
    ops=st.lists(OPERATIONS, max_size=25),
)
def test_fast_sends_match_h2_byte_for_byte(
    window: int, open_requests: list[bool], ops: list[tuple[Any, ...]]
) -> None:
    reference, fast = server_pair()
    client_conn = client(window)
    for i, keep_open in enumerate(open_requests):
        headers = [(b":method", b"POST" if keep_open else b"GET"), (b":path", b"/")]
        headers += [(b":scheme", b"http"), (b":authority", b"x")]
        client_conn.send_headers(2 * i + 1, headers, end_stream=not keep_open)
    preamble = client_conn.data_to_send()
    for conn in (reference, fast):
        conn.receive_data(preamble)
    assert bytes(reference.data_to_send()) == bytes(fast.take_outbound())

    for op in ops:
        if op[0].startswith("client_"):
            data = client_bytes(client_conn, op)

            def feed(conn: Any, data: bytes = data) -> Any:
                return lambda: conn.receive_data(data)

            ref = outcome(reference, reference.data_to_send, feed(reference))
            got = outcome(fast, fast.take_outbound, feed(fast))
        else:

            def send(conn: Any, is_fast: bool, op: tuple[Any, ...] = op) -> Any:
                return lambda: apply(conn, op, is_fast)

            ref = outcome(reference, reference.data_to_send, send(reference, False))
            got = outcome(fast, fast.take_outbound, send(fast, True))
        assert got == ref, op


@pytest.mark.parametrize("size", [0, 1, 16_384, 16_385, 50_000])
def test_data_frames_split_at_the_peers_frame_size(size: int) -> None:
    reference, fast = server_pair()
    client_conn = client(1_000_000)
    client_conn.send_headers(1, [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
                                 (b":authority", b"x")], end_stream=True)  # fmt: skip
    fast.receive_data(client_conn.data_to_send())
    fast.take_outbound()
    fast.send_headers(1, list(RESPONSE))
    fast.send_data_frames(1, b"z" * size, True)
    events = client_conn.receive_data(bytes(fast.take_outbound()))
    received = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    assert received == b"z" * size
    assert any(isinstance(e, h2.events.StreamEnded) for e in events)
    frames = [e for e in events if isinstance(e, h2.events.DataReceived)]
    assert all(len(e.data) <= 16_384 for e in frames)
    del reference
