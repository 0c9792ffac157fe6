"""Informational (1xx) responses, in memory."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.testing import connect

PRELOAD_CSS = ("link", "</style.css>; rel=preload; as=style")
PRELOAD_JS = ("link", "</app.js>; rel=preload; as=script")


async def test_any_number_of_early_hints_before_the_final_response() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        for i in range(5):
            await stream.send_informational(103, [PRELOAD_CSS, ("x-hint", str(i))])
        await stream.respond(200, [("content-type", "text/html")], b"<html>")

    async with connect(handler) as client:
        response = await client.get("/")
    assert [status for status, _ in response.informational] == [103] * 5
    assert response.informational[4] == (103, [PRELOAD_CSS, ("x-hint", "4")])
    assert response.arrival == ["informational"] * 5 + ["headers", "data"]
    assert response.status == 200
    assert response.body == b"<html>"


async def test_early_hints_then_streamed_response_and_push() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.send_informational(103, [PRELOAD_CSS, PRELOAD_JS])
        await stream.push("/style.css", body=b"body{}")
        await stream.send_informational(103, [PRELOAD_JS])
        async with stream.start_response(200) as body:
            await body.send(b"<html>")
            await body.send(b"</html>")

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.arrival[:4] == ["informational", "push", "informational", "headers"]
    assert response.informational == [(103, [PRELOAD_CSS, PRELOAD_JS]), (103, [PRELOAD_JS])]
    assert response.body == b"<html></html>"
    assert response.pushed[0].body == b"body{}"


async def test_hints_are_on_the_wire_before_the_final_response_is_decided() -> None:
    decide = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.send_informational(103, [PRELOAD_CSS])
        await decide.wait()  # e.g. a slow database query
        await stream.respond(200, [], b"page")

    async with connect(handler) as client:
        stream_id = await client.start_request("GET", "/", end_stream=True)
        await trio.testing.wait_all_tasks_blocked()
        partial = client._streams[stream_id].response
        assert partial.informational == [(103, [PRELOAD_CSS])]
        assert partial.status is None
        decide.set()
        response = await client.wait_response(stream_id)
    assert response.status == 200


async def test_100_continue_before_reading_the_body() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        if stream.header("expect") == "100-continue":
            await stream.send_informational(100)
        body = await stream.read()
        await stream.respond(200, [], body.upper())

    async with connect(handler) as client:
        stream_id = await client.start_request("POST", "/", [("expect", "100-continue")])
        await trio.testing.wait_all_tasks_blocked()
        assert client._streams[stream_id].response.informational == [(100, [])]
        await client.send_data(stream_id, b"go ahead")
        response = await client.wait_response(stream_id)
    assert response.body == b"GO AHEAD"


async def test_head_request_gets_hints_too() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.send_informational(103, [PRELOAD_CSS])
        await stream.respond(200, [], b"page")

    async with connect(handler) as client:
        response = await client.request("HEAD", "/")
    assert response.arrival == ["informational", "headers"]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (101, "101 Switching Protocols does not exist in HTTP/2"),
        (200, "informational status is 1xx"),
        (204, "informational status is 1xx"),
        (99, "informational status is 1xx"),
        ("103", "must be an int"),
    ],
)
async def test_invalid_informational_status_is_refused(status: object, message: str) -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.send_informational(status)  # type: ignore[arg-type]
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.get("/")
    assert errors == [errors[0]]
    assert message in errors[0]
    assert response.informational == []


async def test_invalid_informational_headers_are_refused() -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        for headers in ([("Link", "x")], [("connection", "close")], [(":status", "103")]):
            try:
                await stream.send_informational(103, headers)
            except trio_h2.LocalProtocolError as exc:
                errors.append(str(exc))
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.get("/")
    assert len(errors) == 3
    assert response.informational == []


async def test_informational_after_the_final_response_is_refused() -> None:
    errors: list[str] = []

    async def attempt(stream: trio_h2.Stream) -> None:
        try:
            await stream.send_informational(103, [PRELOAD_CSS])
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/streaming":
            async with stream.start_response(200) as body:
                await attempt(stream)  # the final HEADERS have gone out
                await body.send(b"x")
                await attempt(stream)
            await attempt(stream)  # the response is complete
        else:
            await stream.respond(200, [], b"x")
            await attempt(stream)

    async with connect(handler) as client:
        streaming = await client.get("/streaming")
        whole = await client.get("/whole")
    assert len(errors) == 4
    assert all("already started" in error for error in errors)
    for response in (streaming, whole):
        assert response.informational == []
        assert response.body == b"x"


async def test_informational_on_a_reset_stream_raises_stream_reset() -> None:
    errors: list[BaseException] = []

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.reset(ErrorCodes.REFUSED_STREAM)
        try:
            await stream.send_informational(103)
        except trio_h2.StreamReset as exc:
            errors.append(exc)

    async with connect(handler) as client:
        response = await client.get("/", raise_on_reset=False)
    assert response.reset_code == ErrorCodes.REFUSED_STREAM
    assert len(errors) == 1
    assert errors[0].error_code == ErrorCodes.REFUSED_STREAM  # type: ignore[attr-defined]
