"""Helpers for the HTTP/1.1 protocol tests: requests as raw bytes, answers as events."""

from __future__ import annotations

from trio_h2.proto.events import ConnectionViolation, Event, RequestReceived
from trio_h2.proto.h1 import H1Limits, H1Server, error_response


def make(**limits: int | None) -> H1Server:
    return H1Server(H1Limits(**limits))  # type: ignore[arg-type]


def request(
    head: bytes = b"GET / HTTP/1.1", *fields: bytes, host: bytes | None = b"example.com"
) -> bytes:
    """A request head: the request line, ``Host`` (unless None), then ``fields``."""
    lines = [head]
    if host is not None:
        lines.append(b"Host: " + host)
    lines += fields
    return b"\r\n".join(lines) + b"\r\n\r\n"


def pseudo(
    path: bytes = b"/", method: bytes = b"GET", authority: bytes = b"example.com"
) -> dict[bytes, bytes]:
    return {b":method": method, b":scheme": b"http", b":authority": authority, b":path": path}


def get_received(stream_id: int = 1, path: bytes = b"/", **fields: bytes) -> RequestReceived:
    """The event for ``request()`` with its defaults (and extra fields, in order)."""
    headers = [(b"host", b"example.com")] + [
        (name.replace("_", "-").encode(), value) for name, value in fields.items()
    ]
    return RequestReceived(
        stream_id=stream_id,
        pseudo=pseudo(path),
        headers=headers,
        end_stream=True,
        http_version="1.1",
    )


def violations(events: list[Event]) -> list[int]:
    return [e.error_code for e in events if isinstance(e, ConnectionViolation)]


def assert_refused(server: H1Server, events: list[Event], status: int) -> None:
    """``events`` end in one ConnectionViolation(status), with its answer queued and the
    connection closed."""
    assert isinstance(events[-1], ConnectionViolation), events
    assert violations(events) == [status], events
    out = server.data_to_send()
    assert out.split(b"\r\n", 1)[0] == error_response(status).split(b"\r\n", 1)[0]
    assert out == error_response(status)
    assert server.closed
    assert not server.wants_more_data
    assert server.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []
