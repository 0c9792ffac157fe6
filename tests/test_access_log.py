"""The access line: client, request, protocol, status, bytes, duration, user agent, and
how an exchange that did not reach its end ended."""

from __future__ import annotations

import logging
import re

import pytest
import trio

import trio_h2
from trio_h2.testing import connect


async def app(stream: trio_h2.Stream) -> None:
    if stream.path == "/fail-mid-body":
        async with stream.start_response(200) as body:
            await body.send(b"half")
            raise RuntimeError("broken generator")
    if stream.path == "/slow":
        async with stream.start_response(200) as body:
            await body.send(b"x")
            await trio.sleep_forever()
    await stream.respond(200, [("content-type", "text/plain")], b"Hello, world!")


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "trio_h2.access"]


async def test_a_whole_exchange(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    async with connect(app) as client:
        await client.get("/hello?x=1", [("user-agent", "tester/1.0")])
    (record,) = access_records(caplog)
    assert re.fullmatch(
        r'127\.0\.0\.1 "GET /hello\?x=1 HTTP/2" 200 13 \d+\.\dms "tester/1\.0"',
        record.getMessage(),
    )
    fields = {k: getattr(record, k) for k in ("client", "method", "target", "protocol")}
    assert fields == {
        "client": "127.0.0.1",
        "method": "GET",
        "target": "/hello?x=1",
        "protocol": "2",
    }
    assert (record.status, record.bytes, record.outcome) == ("200", 13, "")  # type: ignore[attr-defined]
    assert record.duration >= 0  # type: ignore[attr-defined]


async def test_a_percent_in_the_target_is_written_as_it_came(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The line is the record's message as it stands: nothing in it is a format.
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    async with connect(app) as client:
        await client.get("/a%20b%s?q=%d", [("user-agent", "100% %(client)s")])
    (record,) = access_records(caplog)
    message = record.getMessage()
    assert message.startswith('127.0.0.1 "GET /a%20b%s?q=%d HTTP/2" 200 13 ')
    assert message.endswith(' "100% %(client)s"')
    assert logging.Formatter("%(message)s").format(record) == message


async def test_a_response_cut_short_is_marked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    async with connect(app) as client:
        await client.get("/fail-mid-body", raise_on_reset=False)
        async with client.stream("GET", "/slow") as response:
            await response.__anext__()
            await client.reset(response.response.stream_id)
            await client.ping()
    messages = sorted(r.getMessage() for r in access_records(caplog))
    assert messages[0].startswith('127.0.0.1 "GET /fail-mid-body HTTP/2" 200 4 ')
    assert messages[0].endswith(' "-" reset by server (INTERNAL_ERROR)')
    assert messages[1].startswith('127.0.0.1 "GET /slow HTTP/2" 200 1 ')
    assert messages[1].endswith(' "-" reset by peer (CANCEL)')


async def test_off_unless_the_logger_is_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="trio_h2.access")
    async with connect(app) as client:
        await client.get("/")
    assert access_records(caplog) == []
