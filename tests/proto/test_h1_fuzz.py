"""Properties of the HTTP/1.1 server over generated input: how reads split a stream
does not matter, and no input makes it raise."""

from __future__ import annotations

import itertools

from hypothesis import given, settings, strategies as st

from trio_h2.proto.events import (
    ConnectionViolation,
    DataReceived,
    Event,
    RequestEnded,
    RequestReceived,
)
from trio_h2.proto.h1 import H1Server, error_response

_STREAM = (
    b"GET /a HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n"
    b"PUT /c HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\n\r\n\r\n1234"
    b"\r\n\r\nDELETE /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
)


def _serve(server: H1Server, reads: list[bytes]) -> tuple[list[Event], bytes]:
    """Feed ``reads`` while the server wants them, answering each request with 204
    once it is complete (or with 400 once nothing more can come)."""
    events: list[Event] = []
    pending = list(reads)
    answered: set[int] = set()
    while not server.closed:
        new = server.next_events()
        if not new and server.wants_more_data:
            new = server.receive_data(pending.pop(0) if pending else b"")
        events += new
        for event in new:
            if isinstance(event, DataReceived):
                server.acknowledge_received_data(event.flow_length, event.stream_id)
        stream_id = server.stream_id
        if stream_id is None or stream_id in answered or server.closed:
            if not new and not server.wants_more_data:
                break
        elif any(_complete(e) for e in new) or not (new or server.wants_more_data):
            answered.add(stream_id)
            status = 204 if any(_complete(e) for e in new) else 400
            server.send_response(status, [], end_stream=True)
    return events, server.data_to_send()


def _complete(event: Event) -> bool:
    return (isinstance(event, RequestReceived) and event.end_stream) or isinstance(
        event, RequestEnded
    )


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _summary(events: list[Event]) -> list[object]:
    """The events with body data joined up, since reads may split it anywhere."""
    out: list[object] = []
    for event in events:
        if isinstance(event, DataReceived) and out and isinstance(out[-1], bytes):
            out[-1] += event.data
        else:
            out.append(event.data if isinstance(event, DataReceived) else event)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=40))
def test_how_reads_split_the_stream_does_not_matter(cuts: list[int]) -> None:
    whole, out_whole = _serve(H1Server(), [_STREAM])
    split, out_split = _serve(H1Server(), _splits(_STREAM, cuts))
    assert _summary(split) == _summary(whole)
    assert out_split == out_whole
    assert out_whole.count(b"HTTP/1.1 204 No Content\r\n") == 4


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            # Not empty: hash(b"") == hash(0), and hypothesis's own cache would then
            # compare this choice with an integer one, which -bb makes an error.
            st.binary(min_size=1, max_size=40),
            st.sampled_from(
                [
                    b"GET / HTTP/1.1\r\n",
                    b"Host: h\r\n",
                    b"Transfer-Encoding: chunked\r\n",
                    b"Content-Length: 3\r\n",
                    b"\r\n",
                    b"\n",
                    b"\r",
                    b"5\r\nhello\r\n",
                    b"0\r\n\r\n",
                    b" folded\r\n",
                ]
            ),
        ),
        max_size=20,
    )
)
def test_no_input_makes_it_raise(pieces: list[bytes]) -> None:
    server = H1Server()
    events, out = _serve(server, pieces)
    for event in events:
        if isinstance(event, ConnectionViolation):
            assert out.endswith(error_response(event.error_code))
