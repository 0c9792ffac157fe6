"""The Stream API, request and response side, in memory."""

from __future__ import annotations

import io

import pytest
import trio
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.testing import connect


async def test_request_attributes() -> None:
    seen: list[trio_h2.Stream] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(stream)
        await stream.respond(204)

    async with connect(handler, client_address=("10.0.0.7", 4242)) as client:
        response = await client.request(
            "DELETE",
            "/items/7?force=1",
            [("x-a", "1"), ("x-b", "2"), ("x-a", "3"), ("accept", "text/plain")],
            authority="api.example",
        )
    assert response.status == 204
    (stream,) = seen
    assert stream.method == "DELETE"
    assert stream.path == "/items/7?force=1"
    assert stream.scheme == "http"
    assert stream.authority == "api.example"
    assert stream.stream_id == 1
    assert stream.client_address == ("10.0.0.7", 4242)
    # Order kept, repeats kept, no pseudo-headers.
    assert stream.headers == [("x-a", "1"), ("x-b", "2"), ("x-a", "3"), ("accept", "text/plain")]
    assert stream.header("x-a") == "1"
    assert stream.header("missing", "d") == "d"
    assert stream.raw_headers[0] == (b"x-a", b"1")


async def test_non_ascii_header_value_round_trips() -> None:
    values: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        values.append(stream.header("x-name") or "")
        await stream.respond(200, [("x-echo", values[0])])

    async with connect(handler) as client:
        response = await client.get("/", [("x-name", "Zoë")])
    assert values == ["Zoë"]
    assert response.header("x-echo") == "Zoë"


async def test_respond_bytes_str_and_content_length() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/bytes":
            await stream.respond(200, [("content-type", "application/octet-stream")], b"\x00\x01")
        else:
            await stream.respond(201, [("content-type", "text/plain; charset=utf-8")], "héllo")

    async with connect(handler) as client:
        first = await client.get("/bytes")
        second = await client.get("/str")
    assert (first.status, first.body, first.header("content-length")) == (200, b"\x00\x01", "2")
    assert second.status == 201
    assert second.body == "héllo".encode()
    assert second.header("content-length") == str(len("héllo".encode()))
    assert second.header("server") == "trio_h2"
    assert second.header("date", "").endswith(" GMT")


async def test_server_and_date_headers_can_be_turned_off() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [], b"x")

    config = trio_h2.Config(server_header=None, date_header=False)
    async with connect(handler, config=config) as client:
        response = await client.get("/")
    names = [name for name, _ in response.headers]
    assert "server" not in names
    assert "date" not in names


async def test_handler_headers_override_server_and_date() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("server", "mine"), ("date", "yesterday")])

    async with connect(handler) as client:
        response = await client.get("/")
    assert [v for n, v in response.headers if n == "server"] == ["mine"]
    assert [v for n, v in response.headers if n == "date"] == ["yesterday"]


async def test_read_whole_body_and_iterate() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/read":
            body = await stream.read()
        else:
            body = b"".join([chunk async for chunk in stream])
        await stream.respond(200, [], body[::-1])

    payload = bytes(range(256)) * 1000
    async with connect(handler) as client:
        first = await client.post("/read", payload)
        second = await client.post("/iter", payload)
    assert first.body == payload[::-1]
    assert second.body == payload[::-1]


async def test_streamed_request_body() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        chunks = [chunk async for chunk in stream]
        await stream.respond(200, [], b"%d" % sum(map(len, chunks)))

    async def upload():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"z" * 10_000
            await trio.lowlevel.checkpoint()

    async with connect(handler) as client:
        response = await client.post("/", upload())
    assert response.body == b"100000"


async def test_read_over_limit_answers_413() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.read()
        await stream.respond(200)

    config = trio_h2.Config(max_request_body_size=1000)
    async with connect(handler, config=config) as client:
        response = await client.post("/", b"x" * 5000)
        declared = await client.post("/", b"x" * 5000, [("content-length", "5000")])
        fits = await client.post("/", b"x" * 1000)
    assert response.status == 413
    assert declared.status == 413
    assert fits.status == 200


async def test_read_with_explicit_limit_raises() -> None:
    caught: list[BaseException] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.read(limit=10)
        except trio_h2.RequestBodyTooLarge as exc:
            caught.append(exc)
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.post("/", b"0123456789ab")
    assert response.status == 200
    assert len(caught) == 1


async def test_start_response_streams_chunks_and_ends() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200, [("content-type", "text/plain")]) as body:
            for i in range(5):
                await body.send(f"line {i}\n")
            await body.send(b"")

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.status == 200
    assert response.body == b"".join(b"line %d\n" % i for i in range(5))
    assert response.header("content-length") is None


async def test_trailers_after_data() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/cm":
            async with stream.start_response(200, [("content-type", "application/grpc")]) as b:
                await b.send(b"payload")
                b.set_trailers([("grpc-status", "0"), ("grpc-message", "ok")])
        else:
            await stream.respond(200, [], b"data", trailers=[("x-checksum", "abc")])

    async with connect(handler) as client:
        first = await client.get("/cm")
        second = await client.get("/respond")
    assert first.body == b"payload"
    assert first.trailers == [("grpc-status", "0"), ("grpc-message", "ok")]
    assert first.arrival == ["headers", "data", "trailers"]
    assert second.trailers == [("x-checksum", "abc")]
    assert second.arrival[-1] == "trailers"


async def test_request_trailers_are_exposed_after_the_body() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(stream.trailers)
        body = await stream.read()
        seen.append(stream.trailers)
        await stream.respond(200, [], body)

    async with connect(handler) as client:
        stream_id = await client.start_request("POST", "/", [("te", "trailers")])
        await client.send_data(stream_id, b"abc", end_stream=False)
        client.h2.send_headers(stream_id, [(b"x-sum", b"6")], end_stream=True)
        await client._send()
        response = await client.wait_response(stream_id)
    assert response.body == b"abc"
    assert seen == [None, [("x-sum", "6")]]


async def test_informational_responses_come_first() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.send_informational(103, [("link", "</style.css>; rel=preload")])
        await stream.send_informational(103, [("link", "</app.js>; rel=preload")])
        await stream.respond(200, [], b"page")

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.informational == [
        (103, [("link", "</style.css>; rel=preload")]),
        (103, [("link", "</app.js>; rel=preload")]),
    ]
    assert response.arrival[:3] == ["informational", "informational", "headers"]
    assert response.body == b"page"


@pytest.mark.parametrize(
    ("status", "message"),
    [(101, "101"), (200, "1xx"), (99, "1xx")],
)
async def test_bad_informational_status(status: int, message: str) -> None:
    errors: list[Exception] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.send_informational(status)
        except trio_h2.LocalProtocolError as exc:
            errors.append(exc)
        await stream.respond(200)

    async with connect(handler) as client:
        await client.get("/")
    assert len(errors) == 1
    assert message in str(errors[0])


async def test_informational_after_final_is_refused() -> None:
    errors: list[Exception] = []

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            try:
                await stream.send_informational(103)
            except trio_h2.LocalProtocolError as exc:
                errors.append(exc)
            await body.send(b"ok")

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.body == b"ok"
    assert "already started" in str(errors[0])


async def test_head_gets_headers_and_no_data() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain")], b"twelve bytes")

    async with connect(handler) as client:
        response = await client.request("HEAD", "/")
    assert response.status == 200
    assert response.header("content-length") == "12"
    assert response.body == b""
    assert "data" not in response.arrival


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("Content-Type", "x")], "lowercase"),
        ([(":status", "200")], "pseudo-header"),
        ([("connection", "close")], "connection-specific"),
        ([("transfer-encoding", "chunked")], "connection-specific"),
        ([("keep-alive", "5")], "connection-specific"),
        ([("upgrade", "h2c")], "connection-specific"),
        ([("te", "gzip")], "trailers"),
        ([("x-bad", "a\r\nb")], "invalid value"),
        ([("x-bad", " padded")], "invalid value"),
        ([("bad name", "v")], "invalid header name"),
        ([("x-num", 5)], "str or bytes"),
        (["not-a-pair"], "pair"),
    ],
)
async def test_misuse_of_headers_raises(headers: object, message: str) -> None:
    errors: list[Exception] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.respond(200, headers)  # type: ignore[arg-type]
        except trio_h2.LocalProtocolError as exc:
            errors.append(exc)
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.status == 200
    assert len(errors) == 1
    assert message in str(errors[0])


@pytest.mark.parametrize("status", [99, 100, 199, 600, "200", True])
async def test_invalid_final_status(status: object) -> None:
    errors: list[Exception] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.respond(status)  # type: ignore[arg-type]
        except trio_h2.LocalProtocolError as exc:
            errors.append(exc)
        await stream.respond(200)

    async with connect(handler) as client:
        await client.get("/")
    assert len(errors) == 1


async def test_respond_twice_and_send_after_end() -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            await body.send(b"a")
            try:
                await stream.respond(200)
            except trio_h2.LocalProtocolError as exc:
                errors.append(str(exc))
        try:
            await body.send(b"late")
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))
        try:
            await stream.respond(500)
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.body == b"a"
    assert len(errors) == 3
    assert "already started" in errors[0]
    assert "already ended" in errors[1]


async def test_declared_content_length_mismatch_resets() -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/long":
            async with stream.start_response(200, [("content-length", "3")]) as body:
                try:
                    await body.send(b"four")
                except trio_h2.LocalProtocolError as exc:
                    errors.append(str(exc))
                    raise
        else:
            async with stream.start_response(200, content_length=10) as body:
                await body.send(b"short")

    async with connect(handler) as client:
        long = await client.get("/long", raise_on_reset=False)
        short = await client.get("/short", raise_on_reset=False)
    assert "longer than the content-length" in errors[0]
    assert long.reset_code == ErrorCodes.INTERNAL_ERROR
    assert short.reset_code == ErrorCodes.INTERNAL_ERROR


async def test_file_async_iterable_and_channel_bodies() -> None:
    async def numbers():  # type: ignore[no-untyped-def]
        for i in range(3):
            yield b"%d," % i

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/file":
            await stream.respond(200, [], io.BytesIO(b"f" * 200_000))
        elif stream.path == "/iter":
            await stream.respond(200, [], numbers())
        else:
            send, receive = trio.open_memory_channel[bytes](0)

            async def produce() -> None:
                async with send:
                    for word in (b"deferred ", b"generation"):
                        await send.send(word)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(produce)
                await stream.respond(200, [], receive)

    async with connect(handler) as client:
        file = await client.get("/file")
        iterated = await client.get("/iter")
        channel = await client.get("/channel")
    assert file.body == b"f" * 200_000
    assert file.header("content-length") == "200000"
    assert iterated.body == b"0,1,2,"
    assert iterated.header("content-length") is None
    assert channel.body == b"deferred generation"


async def test_real_file_body_is_streamed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 8192  # 2 MiB
    path.write_bytes(data)

    async def handler(stream: trio_h2.Stream) -> None:
        with open(path, "rb") as file:
            await stream.respond(200, [], file)

    async with connect(handler) as client:
        response = await client.get("/")
    assert response.header("content-length") == str(len(data))
    assert response.body == data


async def test_bad_body_type_raises_clear_error() -> None:
    errors: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.respond(200, [], 42)  # type: ignore[arg-type]
        except trio_h2.LocalProtocolError as exc:
            errors.append(str(exc))
            await stream.respond(200)

    async with connect(handler) as client:
        await client.get("/")
    assert "not int" in errors[0]


async def test_empty_data_frames_do_not_end_the_body() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        chunks = [chunk async for chunk in stream]
        await stream.respond(200, [], b"|".join(chunks))

    async with connect(handler) as client:
        stream_id = await client.start_request("POST", "/")
        await client.send_data(stream_id, b"one", end_stream=False)
        await client.send_data(stream_id, b"", end_stream=False)
        client.h2.send_data(stream_id, b"", pad_length=10)
        await client._send()
        await client.send_data(stream_id, b"two", end_stream=True)
        response = await client.wait_response(stream_id)
    assert response.body == b"one|two"
