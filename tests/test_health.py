"""Config.health_path: the server's own answer, on HTTP/1.1 (byte for byte) and HTTP/2,
200 while serving, 503 while draining, 405 to other methods, the handler never called."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame, PingFrame

import trio_h2
from tests.conformance.rawpeer import open_served_peer
from tests.test_h1_server import Peer, connection
from trio_h2._cli import parse_options
from trio_h2.server.health import HealthCheck
from trio_h2.testing import connect

CONFIG = trio_h2.Config(health_path="/healthz", date_header=False, server_header=None)
HEALTHZ = [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/healthz")]


class Recorder:
    """A handler that remembers what it was asked."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.paths.append(stream.path)
        await stream.respond(200, [("content-type", "text/plain")], b"app\n")


def h1_connection(
    handler: trio_h2.Handler, config: trio_h2.Config = CONFIG
) -> AbstractAsyncContextManager[Peer]:
    return connection(handler, config)


async def exchange(client: Peer, request: bytes) -> bytes:
    """Send ``request``; what the server has sent once it has said all it will."""
    await client.send_all(request)
    return await client.take()


async def test_http1_get_is_answered_by_the_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    app = Recorder()
    async with h1_connection(app) as client:
        ok = await exchange(client, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        query = await exchange(client, b"GET /healthz?full=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await exchange(client, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        other = await exchange(client, b"GET /healthz/ HTTP/1.1\r\nHost: x\r\n\r\n")
    expected = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: no-store\r\n"
        b"content-length: 3\r\n\r\nok\n"
    )
    assert ok == expected
    assert query == expected
    assert head == expected.removesuffix(b"ok\n")
    assert other.endswith(b"\r\n\r\napp\n")
    assert app.paths == ["/healthz/"]  # the only one the application saw
    lines = [r.getMessage() for r in caplog.records if r.name == "trio_h2.access"]
    assert lines[0].startswith('127.0.0.1 "GET /healthz HTTP/1.1" 200 3 ')
    assert lines[2].startswith('127.0.0.1 "HEAD /healthz HTTP/1.1" 200 0 ')


async def test_http1_other_methods_get_405_with_allow() -> None:
    app = Recorder()
    async with h1_connection(app) as client:
        data = await exchange(
            client, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
        )
        again = await exchange(client, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data == (
        b"HTTP/1.1 405 Method Not Allowed\r\ncontent-type: text/plain\r\n"
        b"cache-control: no-store\r\nallow: GET, HEAD\r\ncontent-length: 19\r\n\r\n"
        b"Method Not Allowed\n"
    )
    assert again.startswith(b"HTTP/1.1 200 OK\r\n")  # the connection goes on
    assert app.paths == []


async def test_http2_get_head_and_405(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    app = Recorder()
    async with connect(app, config=CONFIG) as client:
        ok = await client.get("/healthz?probe")
        head = await client.request("HEAD", "/healthz")
        put = await client.request("PUT", "/healthz", body=b"x")
        other = await client.get("/healthz2")
    assert (ok.status, ok.body) == (200, b"ok\n")
    assert ok.header("content-type") == "text/plain"
    assert ok.header("cache-control") == "no-store"
    assert ok.header("connection") is None
    assert (head.status, head.body) == (200, b"")
    assert (put.status, put.header("allow")) == (405, "GET, HEAD")
    assert other.body == b"app\n"
    assert app.paths == ["/healthz2"]
    statuses = [
        (r.target, r.status)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "trio_h2.access"
    ]
    assert statuses[:3] == [("/healthz?probe", "200"), ("/healthz", "200"), ("/healthz", "405")]


async def test_without_the_option_the_path_is_the_application_s() -> None:
    app = Recorder()
    async with connect(app, config=trio_h2.Config()) as client:
        response = await client.get("/healthz")
    assert response.body == b"app\n"
    assert app.paths == ["/healthz"]


@pytest.mark.parametrize("http_version", ["1.1", "2"])
async def test_draining_answer(http_version: str) -> None:
    check = HealthCheck("/healthz")
    check.draining = True
    async with connect(check, http_version=http_version) as client:
        response = await client.get("/healthz")
    assert (response.status, response.body) == (503, b"draining\n")
    assert response.header("cache-control") == "no-store"
    # (Over HTTP/1.1 a draining server's connections add "connection: close" to every
    # response: tests/test_drain.py.)


async def test_an_http2_connection_open_when_shutdown_begins_sees_503() -> None:
    # A check on a connection that is open when the shutdown starts: once the first
    # GOAWAY (2^31-1) is out, a request sent before the final one is still served,
    # and the health path says the server is draining.
    async with open_served_peer(Recorder(), CONFIG) as served:
        peer = served.peer
        await peer.request(1, HEALTHZ)
        assert (await peer.expect_response(1)).status == 200
        async with trio.open_nursery() as nursery:
            nursery.start_soon(served.server.shutdown)
            ping: PingFrame | None = None
            while True:
                frame = await peer.receive_frame()
                assert frame is not None
                if isinstance(frame, PingFrame):
                    ping = frame
                elif isinstance(frame, GoAwayFrame):
                    assert frame.last_stream_id == 2**31 - 1
                    break
            assert ping is not None
            await peer.request(3, HEALTHZ)
            response = await peer.expect_response(3)
            assert (response.status, response.body) == (503, b"draining\n")
            assert response.header("cache-control") == "no-store"
            await peer.send(PingFrame(0, flags=["ACK"], opaque_data=ping.opaque_data))
            await peer.expect_goaway(ErrorCodes.NO_ERROR, last_stream_id=3)
            await peer.expect_close()
        assert not served.server.connections


def test_config_health_path_is_checked() -> None:
    assert trio_h2.Config(health_path="/healthz").health_path == "/healthz"
    for bad in ("healthz", "", "/a b", "/h?x", "/h#x", "/é", 5):
        with pytest.raises(ValueError, match=r"Config\.health_path must be a path starting"):
            trio_h2.Config(health_path=bad)  # type: ignore[arg-type]


def test_the_command_line_flag(capsys: pytest.CaptureFixture[str]) -> None:
    _, options, _ = parse_options(["--health-path", "/healthz"])
    assert options.config().health_path == "/healthz"
    assert parse_options([])[1].config().health_path is None
    with pytest.raises(SystemExit) as exit_:
        parse_options(["--health-path", "healthz"])
    assert exit_.value.code == 2
    assert "Config.health_path must be a path starting with '/'" in capsys.readouterr().err
