"""The test client over HTTP/1.1 (``connect(handler, http_version="1.1")``) against real handlers.

The client is h11's client side; the server is the same ``Server.serve_transport``
as for HTTP/2, telling the protocol by the first bytes.  The last tests run one
test body over both protocols, and README's testing examples over HTTP/1.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import trio_h2
from tests.support import ForwardingStream, running_server
from tests.test_pytest_plugin import MYAPP, readme_testing_blocks
from trio_h2.server.listen import Server
from trio_h2.testing import Client, H1Client, H1StreamingResponse, Response, connect, open_client

pytest_plugins = ["pytester"]


async def app(stream: trio_h2.Stream) -> None:
    path = stream.url_path
    if path == "/":
        await stream.respond(200, [("content-type", "text/plain"), ("x-custom", "Yes")], b"hello")
    elif path == "/echo":
        body = b"".join([chunk async for chunk in stream])
        fields = [("x-method", stream.method), ("x-version", stream.http_version)]
        if stream.trailers is not None:
            fields.append(("x-trailers", repr(stream.trailers)))
        await stream.respond(200, fields, body)
    elif path == "/json":
        await stream.respond(200, [("content-type", "application/json")], b'{"a": [1, 2]}')
    elif path == "/stream":
        async with stream.start_response(200, [("content-type", "text/plain")]) as out:
            out.set_trailers([("x-sum", "6")])
            for part in (b"one", b"two", b"three"):
                await out.send(part)
    elif path == "/early":
        await stream.send_informational(103, [("link", "</s.css>; rel=preload")])
        await stream.respond(200, [], b"after the hints")
    elif path == "/fail":
        raise RuntimeError("the handler fails before responding")
    elif path == "/fail-halfway":
        async with stream.start_response(200, [("content-length", "10")]) as out:
            await out.send(b"part")
            raise RuntimeError("the handler fails half way")
    else:
        await stream.respond(404, [("content-type", "text/plain")], b"not here\n")


class Recording(ForwardingStream):
    """A client transport that keeps every byte the client wrote."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        super().__init__(inner)
        self.sent = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data
        await self.inner.send_all(data)


@asynccontextmanager
async def recorded(
    handler: trio_h2.Handler = app, config: trio_h2.Config | None = None
) -> AsyncIterator[tuple[H1Client, Recording]]:
    """An HTTP/1.1 client (``open_client``) on a transport that records what it sends."""
    client_side, server_side = trio.testing.memory_stream_pair()
    transport = Recording(client_side)
    server = Server(handler, config or trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        async with open_client(transport, http_version="1.1") as client:
            yield client, transport
        nursery.cancel_scope.cancel()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# ------------------------------------------------------------- the surface


async def test_requests_reuse_one_connection_and_read_as_over_http2() -> None:
    async with connect(app, http_version="1.1") as client:
        assert isinstance(client, H1Client)
        assert client.http_version == "1.1"
        first = await client.get("/?x=1")
        posted = await client.post("/echo", "body")
        put = await client.request("PUT", "/echo", [("X-Test", "1")], b"put")
        data = await client.get("/json")
    assert isinstance(first, Response)
    assert (first.status, first.body, first.text) == (200, b"hello", "hello")
    assert first.header("x-custom") == first.header("X-CUSTOM") == "Yes"
    assert first.header("content-type") == "text/plain"
    assert all(name == name.lower() for name, _ in first.headers)
    assert first.path == "/?x=1"
    assert first.request_headers[:4] == [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "example.test"),
        (":path", "/?x=1"),
    ]
    assert first.arrival == ["headers", "data"]
    assert (first.trailers, first.informational, first.pushed, first.reset_code) == (
        None,
        [],
        [],
        None,
    )
    # The requests' numbers on the one connection.
    assert [r.stream_id for r in (first, posted, put, data)] == [1, 2, 3, 4]
    assert (posted.body, posted.header("x-method"), posted.header("x-version")) == (
        b"body",
        "POST",
        "1.1",
    )
    assert (put.body, put.header("x-method")) == (b"put", "PUT")
    assert ("x-test", "1") in put.request_headers
    assert data.json() == {"a": [1, 2]}


async def test_http2_only_calls_are_absent() -> None:
    async with connect(app, http_version="1.1") as client:
        for name in ("ping", "reset", "start_request", "wait_response", "send_data", "h2"):
            assert not hasattr(client, name), name
    async with connect(app) as h2_client:
        assert h2_client.http_version == "2"


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'2', '1\.1' or '1\.0'"):
        connect(app, http_version="3")


async def test_a_streamed_response_is_read_chunk_by_chunk_with_its_trailers() -> None:
    async with connect(app, http_version="1.1") as client:
        async with client.stream("GET", "/stream") as response:
            assert isinstance(response, H1StreamingResponse)
            assert response.status == 200
            assert [chunk async for chunk in response] == [b"one", b"two", b"three"]
        assert response.response.body == b"onetwothree"
        assert response.response.trailers == [("x-sum", "6")]
        assert response.response.arrival == ["headers", "data", "data", "data", "trailers"]
        # request() reads the same, and the connection goes on after both.
        whole = await client.get("/stream")
        assert (whole.body, whole.trailers) == (b"onetwothree", [("x-sum", "6")])
        assert ("te", "trailers") in whole.request_headers


async def test_without_te_trailers_the_server_sends_none() -> None:
    async with connect(app, http_version="1.1", te_trailers=False) as client:
        response = await client.get("/stream")
        assert (response.body, response.trailers) == (b"onetwothree", None)
        assert not any(name == "te" for name, _ in response.request_headers)
        # A te header of the request's own is sent as it is.
        asked = await client.get("/stream", [("TE", "trailers")])
        assert asked.trailers == [("x-sum", "6")]


async def test_a_chunked_upload_from_an_async_iterable_with_trailers() -> None:
    async with recorded() as (client, transport):
        response = await client.post("/echo", chunks(b"ab", b"", b"c"), trailers=[("x-sum", "3")])
        assert response.body == b"abc"
        assert response.header("x-trailers") == "[('x-sum', '3')]"
        assert b"transfer-encoding: chunked\r\n" in bytes(transport.sent)
        assert bytes(transport.sent).endswith(b"2\r\nab\r\n1\r\nc\r\n0\r\nx-sum: 3\r\n\r\n")
        # Bytes with trailers are chunked too; bytes alone have a content-length.
        assert (await client.post("/echo", b"xyz", trailers=[("x-a", "1")])).body == b"xyz"
        transport.sent.clear()
        assert (await client.post("/echo", b"xyz")).body == b"xyz"
        assert b"content-length: 3\r\n" in bytes(transport.sent)
        assert b"transfer-encoding" not in bytes(transport.sent)


async def test_an_upload_and_its_echo_stream_at_the_same_time() -> None:
    async def echo_as_it_comes(stream: trio_h2.Stream) -> None:
        async with stream.start_response(200) as body:
            async for chunk in stream:
                await body.send(chunk)

    async with connect(echo_as_it_comes, http_version="1.1") as client:
        echoed = trio.Event()

        async def upload() -> AsyncIterator[bytes]:
            yield b"ping "
            await echoed.wait()  # the next chunk only once the first came back
            yield b"pong"

        async with client.stream("POST", "/", body=upload()) as response:
            first = await anext(response)
            echoed.set()
            rest = b"".join([chunk async for chunk in response])
        assert first + rest == b"ping pong"
        assert (await client.get("/")).status == 200


async def test_100_continue_sends_the_body_only_once_the_server_asks() -> None:
    reading = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        await reading.wait()
        await stream.respond(200, body=await stream.read())

    async with recorded(handler) as (client, transport):
        async with trio.open_nursery() as nursery:
            responses: list[Response] = []

            async def post() -> None:
                headers = [("expect", "100-continue")]
                responses.append(await client.post("/", b"the body", headers))

            nursery.start_soon(post)
            await trio.testing.wait_all_tasks_blocked()
            assert b"expect: 100-continue\r\n" in transport.sent
            assert bytes(transport.sent).endswith(b"\r\n\r\n")  # the head alone
            reading.set()
        (response,) = responses
        assert (response.status, response.body) == (200, b"the body")
        assert response.informational == [(100, [])]
        assert response.arrival == ["informational", "headers", "data"]
        assert bytes(transport.sent).endswith(b"\r\n\r\nthe body")
        assert (await client.get("/")).status == 200  # the connection goes on


async def test_100_continue_answered_at_once_sends_no_body_and_ends_the_connection() -> None:
    async def refuse(stream: trio_h2.Stream) -> None:
        await stream.respond(413, [], b"too big")

    async with recorded(refuse) as (client, transport):
        headers = [("expect", "100-continue")]
        response = await client.post("/", chunks(b"x" * 1000), headers)
        assert (response.status, response.body, response.informational) == (413, b"too big", [])
        assert bytes(transport.sent).endswith(b"\r\n\r\n")  # the head, and nothing after
        with pytest.raises(trio_h2.ConnectionClosed, match="before the request body was sent"):
            await client.get("/")


async def test_a_body_over_the_limit_gets_its_413() -> None:
    config = trio_h2.Config(max_request_body_size=10)

    async def reader(stream: trio_h2.Stream) -> None:
        await stream.respond(200, body=await stream.read())

    async def big() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"0123456789"

    async with connect(reader, config=config, http_version="1.1") as client:
        response = await client.post("/", big())
        assert response.status == 413
        # The server read the rest of the body: the connection goes on.
        assert (await client.get("/")).status == 200


async def test_open_client_speaks_http11_over_tcp() -> None:
    async with running_server(app) as address:
        stream = await trio.open_tcp_stream(address.host, address.port)
        async with open_client(stream, http_version="1.1") as client:
            assert (await client.get("/")).body == b"hello"
            assert (await client.post("/echo", chunks(b"over ", b"tcp"))).body == b"over tcp"


async def test_103_early_hints_are_recorded_before_the_response() -> None:
    async with connect(app, http_version="1.1") as client:
        response = await client.get("/early")
        async with client.stream("GET", "/early") as streaming:
            assert streaming.response.informational == [(103, [("link", "</s.css>; rel=preload")])]
            assert b"".join([chunk async for chunk in streaming]) == b"after the hints"
    assert response.informational == [(103, [("link", "</s.css>; rel=preload")])]
    assert response.arrival == ["informational", "headers", "data"]
    assert response.body == b"after the hints"


async def test_head_has_the_headers_and_no_body() -> None:
    async with connect(app, http_version="1.1") as client:
        head = await client.request("HEAD", "/")
        after = await client.get("/")
    assert (head.status, head.body, head.header("content-length")) == (200, b"", "5")
    assert after.body == b"hello"


async def test_after_connection_close_the_next_request_raises() -> None:
    async with connect(app, http_version="1.1") as client:
        response = await client.get("/", [("connection", "close")])
        assert (response.status, response.header("connection")) == (200, "close")
        with pytest.raises(
            trio_h2.ConnectionClosed, match=r"after response 1 \(connection: close\)"
        ):
            await client.get("/")
        with pytest.raises(trio_h2.ConnectionClosed, match="connection: close"):
            async with client.stream("GET", "/"):
                pass  # pragma: no cover
    config = trio_h2.Config(max_requests_per_connection=2)
    async with connect(app, config=config, http_version="1.1") as client:
        assert (await client.get("/")).status == 200
        assert (await client.get("/")).header("connection") == "close"
        with pytest.raises(trio_h2.ConnectionClosed, match="connection: close"):
            await client.post("/echo", b"x")


async def test_a_server_that_closes_an_idle_connection_fails_the_next_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = trio_h2.Config(keep_alive_timeout=2)
    async with connect(app, config=config, http_version="1.1") as client:
        assert (await client.get("/")).status == 200
        await trio.sleep(3)  # the server's keep-alive timeout passes
        with pytest.raises(trio_h2.ConnectionClosed, match="the server closed the connection"):
            await client.get("/")
        with pytest.raises(trio_h2.ConnectionClosed, match="the server closed the connection"):
            await client.get("/")


async def test_http10_sends_http10_requests_and_one_per_connection() -> None:
    async with connect(app, http_version="1.0") as client:
        assert client.http_version == "1.0"
        response = await client.post("/echo", chunks(b"read ", b"whole"))
        assert (response.body, response.header("x-version")) == (b"read whole", "1.0")
        assert response.header("connection") == "close"
        assert ("content-length", "10") in response.request_headers
        assert not any(name == "te" for name, _ in response.request_headers)
        with pytest.raises(trio_h2.ConnectionClosed, match=r"HTTP/1\.0"):
            await client.get("/")
    async with connect(app, http_version="1.0") as client:
        with pytest.raises(trio_h2.LocalProtocolError, match="trailers"):
            await client.post("/echo", b"x", trailers=[("x-a", "1")])
        with pytest.raises(trio_h2.LocalProtocolError, match="100 Continue"):
            await client.post("/echo", b"x", [("expect", "100-continue")])
        with pytest.raises(trio_h2.LocalProtocolError, match=r"HTTP/1\.1's Upgrade"):
            async with client.websocket("/"):
                pass  # pragma: no cover
        # Nothing went out: the connection still takes its one request.
        assert (await client.get("/")).status == 200


async def test_the_request_line_says_http10() -> None:
    client_side, server_side = trio.testing.memory_stream_pair()
    transport = Recording(client_side)
    server = Server(app, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        async with open_client(transport, http_version="1.0") as client:
            await client.get("/")
        nursery.cancel_scope.cancel()
    assert bytes(transport.sent) == b"GET / HTTP/1.0\r\nhost: example.test\r\n\r\n"


async def test_errors_a_500_goes_on_a_response_cut_short_ends_the_connection() -> None:
    async with connect(app, http_version="1.1") as client:
        failed = await client.get("/fail")
        assert (failed.status, failed.body) == (500, b"Internal Server Error\n")
        assert (await client.get("/missing")).status == 404
        with pytest.raises(trio_h2.ConnectionClosed, match=r"before the response ended.*4 bytes"):
            await client.get("/fail-halfway")
        with pytest.raises(trio_h2.ConnectionClosed, match="before the response ended"):
            await client.get("/")
    async with connect(app, http_version="1.1") as client:
        async with client.stream("GET", "/fail-halfway") as response:
            assert await anext(response) == b"part"
            with pytest.raises(trio_h2.ConnectionClosed, match="before the response ended"):
                await anext(response)


async def test_a_bad_request_fails_before_anything_is_sent() -> None:
    async with recorded() as (client, transport):
        with pytest.raises(trio_h2.LocalProtocolError, match="header name"):
            await client.get("/", [(":path", "/")])
        with pytest.raises(trio_h2.LocalProtocolError, match="content-length"):
            await client.post("/", b"x", [("content-length", "1")], trailers=[("x-a", "1")])
        assert transport.sent == b""
        assert (await client.get("/")).status == 200


async def test_requests_from_several_tasks_are_served_one_after_another() -> None:
    release = trio.Event()
    seen: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(stream.path)
        if stream.path == "/slow":
            await release.wait()
        await stream.respond(200, body=stream.path)

    async with connect(handler, http_version="1.1") as client:
        bodies: list[bytes] = []

        async def get(path: str) -> None:
            bodies.append((await client.get(path)).body)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(get, "/slow")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(get, "/second")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(get, "/third")  # it waits behind the second
            await trio.testing.wait_all_tasks_blocked()
            assert seen == ["/slow"]  # the others wait for the connection
            release.set()
    assert seen == ["/slow", "/second", "/third"]
    assert bodies == [b"/slow", b"/second", b"/third"]


async def test_a_request_inside_this_task_s_own_stream_block_is_refused() -> None:
    async with connect(app, http_version="1.1") as client:
        async with client.stream("GET", "/stream") as response:
            with pytest.raises(trio_h2.LocalProtocolError, match="leave the block first"):
                await client.get("/")
            assert b"".join([chunk async for chunk in response]) == b"onetwothree"
        assert (await client.get("/")).status == 200


async def test_a_stream_block_left_before_the_body_s_end_ends_the_connection() -> None:
    async with connect(app, http_version="1.1") as client:
        async with client.stream("GET", "/stream") as response:
            assert await anext(response) == b"one"
        with pytest.raises(trio_h2.ConnectionClosed, match=r"stream\(\) block ended"):
            await client.get("/")


async def test_after_aclose_calls_raise() -> None:
    async with connect(app, http_version="1.1") as client:
        await client.aclose()
        with pytest.raises(trio_h2.ConnectionClosed, match="the client was closed"):
            await client.get("/")


# ------------------------------------------------------ one test, both protocols


@pytest.mark.parametrize("http_version", ["2", "1.1"])
async def test_the_same_test_runs_over_both_protocols(http_version: str) -> None:
    async with connect(app, http_version=http_version) as client:
        assert client.http_version == http_version
        hello = await client.get("/")
        assert (hello.status, hello.text, hello.header("X-Custom")) == (200, "hello", "Yes")
        posted = await client.post("/echo", chunks(b"a", b"b"), trailers=[("x-sum", "2")])
        assert (posted.body, posted.header("x-version")) == (b"ab", http_version)
        assert posted.header("x-trailers") == "[('x-sum', '2')]"
        assert (await client.get("/json")).json() == {"a": [1, 2]}
        early = await client.get("/early")
        assert early.informational == [(103, [("link", "</s.css>; rel=preload")])]
        async with client.stream("GET", "/stream") as response:
            assert response.status == 200
            assert [chunk async for chunk in response] == [b"one", b"two", b"three"]
        assert response.response.trailers == [("x-sum", "6")]
        assert (await client.request("HEAD", "/")).body == b""
        assert (await client.get("/fail")).status == 500


async def test_connect_is_typed_by_the_version() -> None:
    async with connect(app) as h2_client, connect(app, http_version="1.1") as h1_client:
        assert type(h2_client) is Client
        assert type(h1_client) is H1Client


# ---------------------------------------------------- the fixtures and README

FIXTURE_PROJECT = """
import pytest
import trio_h2
import trio_h2.testing


async def hello(stream):
    await stream.respond(200, [], stream.http_version.encode())


@pytest.fixture
def trio_h2_handler():
    return hello


@pytest.fixture(params=["2", "1.1"])
def trio_h2_http_version(request):
    return request.param


async def test_both(trio_h2_client, trio_h2_http_version):
    response = await trio_h2_client.get("/")
    assert response.body == trio_h2_http_version.encode()
    assert trio_h2_client.http_version == trio_h2_http_version


async def test_connect_picks_the_protocol(trio_h2_connect):
    client = await trio_h2_connect(hello, http_version="1.1")
    assert isinstance(client, trio_h2.testing.H1Client)
    assert (await client.get("/")).body == b"1.1"
    old = await trio_h2_connect(hello, http_version="1.0", enable_push=False)
    assert (await old.get("/")).body == b"1.0"
"""


def test_the_fixtures_take_the_protocol(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_project=FIXTURE_PROJECT)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_both?2? PASSED*", "*test_both?1.1? PASSED*"])


def test_readme_testing_examples_run_over_http11(pytester: pytest.Pytester) -> None:
    blocks = [code for language, code in readme_testing_blocks() if language == "python"]
    # README's first example, over HTTP/1.1; and its example over both protocols.
    first = blocks[0]
    assert "connect(hello)" in first
    over_h1 = first.replace("connect(hello)", 'connect(hello, http_version="1.1")')
    (both,) = [code for code in blocks if "http_version" in code]
    assert '"1.1"' in both
    pytester.makepyfile(myapp=MYAPP, test_first=over_h1, test_both=both)
    pytester.makefile(".toml", pyproject="[tool.pytest.ini_options]\ntrio_mode = true\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)
