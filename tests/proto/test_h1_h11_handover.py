"""The head the gate parsed, handed to h11 as an event, leaves h11 as its own parse would.

H1Server gives h11 each request head as the ``h11.Request`` that h11's reader would
make (``_parsed=True``) instead of the bytes.  Here every head is also fed to a
second, plain ``h11.Connection`` as bytes, and the two must agree: the event, the
states, the keep-alive and 100-continue flags, the pending protocol switches and the
reader set up for the body; and after the same response, again.  These tests run
against the newest h11 release in CI too, so that a change inside h11 is seen.
"""

from __future__ import annotations

from typing import Any

import h11
import pytest

from trio_h2.proto.h1 import H1Server

HEADS = {
    "get": b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "head": b"HEAD /x?y=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
    "post-length": b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
    "post-chunked": b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    "expect-continue": (
        b"PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    ),
    "websocket": (
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ),
    "h2c": (
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    ),
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "http10-keep-alive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n",
    "close": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "absolute-form": b"GET http://a:8080/p?q HTTP/1.1\r\nHost: b\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "names-in-any-case": (
        b"GET / HTTP/1.1\r\nhOsT: a\r\nX-Mixed-CASE: 1\r\nx-mixed-case: 2\r\n\r\n"
    ),
    "obs-text-and-tabs": b"GET / HTTP/1.1\r\nHost: a\r\nX-V: caf\xe9\tau lait\r\n\r\n",
    "later-minor-version": b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
}

#: The body each head announces, sent after it.
BODIES = {
    "post-length": b"hello",
    "post-chunked": b"5\r\nhello\r\n0\r\n\r\n",
    "expect-continue": b"abc",
}


def h11_state(connection: h11.Connection) -> dict[str, Any]:
    reader = connection._reader
    return {
        "their_state": connection.their_state,
        "our_state": connection.our_state,
        "waiting_for_100": connection.they_are_waiting_for_100_continue,
        "keep_alive": connection._cstate.keep_alive,
        "switches": set(connection._cstate.pending_switch_proposals),
        "reader": type(reader).__name__,
        "reader_fields": dict(vars(reader)) if hasattr(reader, "__dict__") else None,
        "their_http_version": connection.their_http_version,
    }


def as_tuple(event: h11.Request) -> tuple[Any, ...]:
    return (event.method, event.target, event.http_version, list(event.headers.raw_items()))


@pytest.mark.parametrize("name", list(HEADS))
def test_the_handover_leaves_h11_as_its_parse_does(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = HEADS[name]
    handed: list[h11.Request] = []
    original = h11.Connection._process_event

    def spy(self: h11.Connection, role: Any, event: Any) -> None:
        if isinstance(event, h11.Request) and role is h11.CLIENT:
            handed.append(event)
        original(self, role, event)

    reference = h11.Connection(h11.SERVER)
    reference.receive_data(raw)
    parsed = reference.next_event()
    assert isinstance(parsed, h11.Request)
    # What follows the head, as H1Server pulls it: a bodyless request's end.
    while reference.next_event() not in (h11.NEED_DATA, h11.PAUSED):
        pass

    monkeypatch.setattr(h11.Connection, "_process_event", spy)
    server = H1Server()
    server.receive_data(raw)
    monkeypatch.undo()
    # What the handover gave h11, less what the gate normalised on its own account:
    # the version (a later HTTP/1.x minor version is answered as 1.1) and the names,
    # lowercased.  h11 keeps a field's name as raw only to write it again, which a
    # server never does with a request's.
    event = handed[-1]
    want = as_tuple(parsed)
    want_fields = [(name.lower(), value) for name, value in want[3]]
    got = as_tuple(event)
    assert got[:2] == want[:2]
    assert got[2] == (b"1.0" if want[2] == b"1.0" else b"1.1")
    assert [(name.lower(), value) for name, value in got[3]] == want_fields
    assert list(event.headers) == list(parsed.headers)

    mine = server._h11

    def reference_state() -> dict[str, Any]:
        state = h11_state(reference)
        if want[2] not in (b"1.0", b"1.1"):
            state["their_http_version"] = b"1.1"
        return state

    assert h11_state(mine) == reference_state()

    # The body, then the same response on both, and the states again.
    body = BODIES.get(name, b"")
    if body:
        server.receive_data(body)
        reference.receive_data(body)
        while reference.next_event() not in (h11.NEED_DATA, h11.PAUSED):
            pass
        assert h11_state(mine) == reference_state()
    if h11_state(mine)["switches"]:
        return  # answered with 101 or not at all: see the upgrade tests
    response = h11.Response(status_code=200, headers=[(b"content-length", b"0")])
    assert mine.send(response) == reference.send(response)
    assert mine.send(h11.EndOfMessage()) == reference.send(h11.EndOfMessage())
    assert h11_state(mine) == reference_state()
