"""``respond(..., content_length=False)``: a response of known length sent without one.

gRPC forbids ``content-length`` on its responses, including the "Trailers-Only" one
(a single HEADERS frame with END_STREAM), which ``respond()`` of an empty body would
otherwise give ``content-length: 0``.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio

import trio_h2
from tests.test_cancellation import run_cancelled_at, sweep
from trio_h2.testing import Response, connect

GRPC = [("content-type", "application/grpc")]
BODY = b"\x00\x00\x00\x00\x05hello"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data[:3]
    yield data[3:]


def _source(kind: str) -> Any:
    return {
        "bytes": lambda: BODY,
        "str": lambda: BODY.decode(),
        "bytesio": lambda: io.BytesIO(BODY),
        "async-iterable": lambda: _chunks(BODY),
    }[kind]()


def _names(response: Response) -> list[str]:
    return [name for name, _ in response.headers]


@pytest.mark.parametrize("kind", ["bytes", "str", "bytesio", "async-iterable"])
async def test_no_content_length_over_http2_for_any_body(kind: str) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(
            200, GRPC, _source(kind), trailers=[("grpc-status", "0")], content_length=False
        )

    async with connect(handler) as client:
        with trio.fail_after(5):
            response = await client.post("/pkg.Service/Method", b"")
    assert response.status == 200
    assert "content-length" not in _names(response)
    assert response.body == BODY
    assert response.trailers == [("grpc-status", "0")]
    assert response.arrival[0] == "headers"
    assert response.arrival[-1] == "trailers"
    assert set(response.arrival[1:-1]) == {"data"}


async def test_a_trailers_only_response_is_one_headers_frame_without_a_length() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [*GRPC, ("grpc-status", "12")], content_length=False)

    async with connect(handler) as client:
        with trio.fail_after(5):
            response = await client.post("/pkg.Service/Nope", b"")
            default = await client.post("/pkg.Service/Nope", b"")
    assert response.header("grpc-status") == "12"
    assert "content-length" not in _names(response)
    assert response.arrival == ["headers"]
    assert response.trailers is None
    # The same call with content_length=True would have said content-length: 0.
    assert default.header("content-length") is None


async def test_the_default_still_adds_content_length() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, GRPC, b"")

    async with connect(handler) as client:
        with trio.fail_after(5):
            response = await client.get("/")
    assert response.header("content-length") == "0"


async def test_over_http1_the_body_goes_chunked() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(
            200, GRPC, BODY, trailers=[("grpc-status", "0")], content_length=False
        )

    async with connect(handler, http_version="1.1") as client:
        with trio.fail_after(5):
            response = await client.post("/", b"")
            untrailed = await client.get("/", [("te", "")])
    for each in (response, untrailed):
        assert each.header("content-length") is None
        assert each.header("transfer-encoding") == "chunked"
        assert each.body == BODY
    assert response.trailers == [("grpc-status", "0")]


async def test_over_http1_without_trailers_too() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], BODY, content_length=False)

    async with connect(handler, http_version="1.1", te_trailers=False) as client:
        with trio.fail_after(5):
            response = await client.get("/")
    assert response.header("content-length") is None
    assert response.header("transfer-encoding") == "chunked"
    assert response.body == BODY


@pytest.mark.parametrize("http_version", ["2", "1.1"])
async def test_head_gets_headers_alone(http_version: str) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain")], BODY, content_length=False)

    async with connect(handler, http_version=http_version) as client:
        with trio.fail_after(5):
            head = await client.request("HEAD", "/")
            after = await client.get("/")  # the connection is still in step
    assert head.status == 200
    assert head.body == b""
    if http_version == "2":
        assert head.header("content-length") is None
    # Over HTTP/1.1 the head's framing fields are the HTTP/1.1 layer's own choice (it
    # ends a bodiless head with content-length: 0, whatever respond() was told).
    assert after.body == BODY
    assert after.header("content-length") is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s: s.respond(200, [("content-length", "5")], b"hello", content_length=False),
            "content_length=False, yet the headers declare one",
        ),
        (
            lambda s: s.respond(200, [], b"hello", content_length=5),
            "content_length is True or False, not 5",
        ),
        (
            lambda s: s.respond(200, [], _chunks(BODY), content_length=None),
            "content_length is True or False, not None",
        ),
    ],
)
async def test_misuse_raises_before_anything_is_sent(
    call: Callable[[trio_h2.Stream], Awaitable[None]], message: str
) -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        with pytest.raises(trio_h2.LocalProtocolError) as caught:
            await call(stream)
        errors.append(str(caught.value))
        assert not stream.response_started
        await stream.respond(201, body=b"again")

    async with connect(handler) as client:
        with trio.fail_after(5):
            response = await client.get("/")
    assert errors == [message]
    assert (response.status, response.body) == (201, b"again")


async def test_misuse_still_closes_the_source() -> None:
    closed = trio.Event()

    async def source() -> AsyncIterator[bytes]:
        try:
            yield b"never"
        finally:
            closed.set()

    async def handler(stream: trio_h2.Stream) -> None:
        body = source()
        await anext(body)  # started, so that closing it runs its finally
        with pytest.raises(trio_h2.LocalProtocolError):
            await stream.respond(200, [], body, content_length=1)
        await stream.respond(204)

    async with connect(handler) as client:
        with trio.fail_after(5):
            await client.get("/")
    assert closed.is_set()


@pytest.mark.parametrize("trailers", [None, [("grpc-status", "0")]])
async def test_respond_without_a_length_is_all_or_nothing(
    trailers: list[tuple[str, str]] | None,
) -> None:
    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            cancelled, _ = await run_cancelled_at(
                k,
                lambda: stream.respond(200, GRPC, BODY, trailers=trailers, content_length=False),
            )
            outcome.append(cancelled)
            if cancelled:
                assert not stream.response_started
                await stream.respond(201, body=b"again")

        return handler

    def check(cancelled: bool, response: Response) -> None:
        assert response.reset_code is None
        if cancelled:
            assert (response.status, response.body) == (201, b"again")
        else:
            assert (response.status, response.body, response.trailers) == (200, BODY, trailers)
            assert "content-length" not in _names(response)

    await sweep(make, check)
