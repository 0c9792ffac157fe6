"""serve() over real sockets: addresses, IPv6, TLS with ALPN, limits and shutdown."""

from __future__ import annotations

import logging
import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from h2.errors import ErrorCodes

import trio_h2
from tests.support import MemoryListener, have_ipv6_loopback, running_server
from trio_h2.testing import open_client


async def hello(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], b"hello\n")


async def test_serve_reports_its_address_and_answers() -> None:
    async with running_server(hello) as address:
        assert address.host == "127.0.0.1"
        assert address.port > 0
        host, port = address
        stream = await trio.open_tcp_stream(host, port)
        async with open_client(stream) as client:
            response = await client.get("/")
    assert response.status == 200
    assert response.body == b"hello\n"


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(stream.client_address)
        await hello(stream)

    async with running_server(handler, host="::1") as address:
        assert address.host == "::1"
        stream = await trio.open_tcp_stream("::1", address.port)
        async with open_client(stream) as client:
            response = await client.get("/")
    assert response.body == b"hello\n"
    assert seen[0][0] == "::1"  # type: ignore[index]


def client_context(ca: trustme.CA, alpn: list[str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


async def test_tls_negotiates_h2_by_alpn(
    ca: trustme.CA, server_ssl_context: ssl.SSLContext
) -> None:
    seen: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(stream.scheme)
        await hello(stream)

    async with running_server(handler, ssl_context=server_ssl_context) as address:
        tcp = await trio.open_tcp_stream("127.0.0.1", address.port)
        tls = trio.SSLStream(
            tcp, client_context(ca, ["h2", "http/1.1"]), server_hostname="localhost"
        )
        await tls.do_handshake()
        assert tls.selected_alpn_protocol() == "h2"
        async with open_client(tls) as client:
            response = await client.get("/")
    assert response.body == b"hello\n"


@pytest.mark.parametrize("alpn", [["http/1.1"], None])
async def test_tls_client_without_h2_is_served_http11(
    ca: trustme.CA, server_ssl_context: ssl.SSLContext, alpn: list[str] | None
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain")], stream.scheme)

    async with running_server(handler, ssl_context=server_ssl_context) as address:
        tcp = await trio.open_tcp_stream("127.0.0.1", address.port)
        # Like the server (and browsers), it takes an EOF without close_notify for an end.
        tls = trio.SSLStream(
            tcp, client_context(ca, alpn), server_hostname="localhost", https_compatible=True
        )
        await tls.do_handshake()
        assert tls.selected_alpn_protocol() == (None if alpn is None else "http/1.1")
        await tls.send_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := await tls.receive_some():
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert body == b"https"
        await tls.aclose()
        # Clients that choose h2 still get it.
        tcp = await trio.open_tcp_stream("127.0.0.1", address.port)
        tls = trio.SSLStream(
            tcp, client_context(ca, ["h2", "http/1.1"]), server_hostname="localhost"
        )
        await tls.do_handshake()
        assert tls.selected_alpn_protocol() == "h2"
        await tls.aclose()


async def test_tls_client_without_h2_is_closed_cleanly_when_http1_is_off(
    ca: trustme.CA, server_ssl_context: ssl.SSLContext
) -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        raise AssertionError("no request can arrive")

    config = trio_h2.Config(http1=False)
    async with running_server(handler, ssl_context=server_ssl_context, config=config) as address:
        tcp = await trio.open_tcp_stream("127.0.0.1", address.port)
        tls = trio.SSLStream(tcp, client_context(ca, ["http/1.1"]), server_hostname="localhost")
        try:
            await tls.do_handshake()
            assert tls.selected_alpn_protocol() is None
            await tls.send_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
            data = await tls.receive_some()
        except trio.BrokenResourceError:
            data = b""
        assert data == b""
        await tls.aclose()


async def test_tls_handshake_timeout(
    server_ssl_context: ssl.SSLContext, autojump_clock: trio.testing.MockClock
) -> None:
    config = trio_h2.Config(handshake_timeout=3)
    server = trio_h2.server.listen.Server(hello, config, server_ssl_context)
    server_ssl_context.set_alpn_protocols(["h2"])
    client_end, server_end = trio.testing.memory_stream_pair()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.handle_stream, server_end)
            # Never say a word: the server gives up after the handshake timeout.
            assert await client_end.receive_some() == b""
    assert trio.current_time() == pytest.approx(3, abs=0.5)


async def test_tls_treats_a_close_without_close_notify_as_eof(
    ca: trustme.CA,
    server_ssl_context: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # HTTP/2 clients, like HTTPS ones, often close TCP with no TLS close_notify: the
    # server's SSLStream is https_compatible, so that is an EOF and not an error.
    # (The reader would end the connection on a BrokenResourceError as well, so the
    # test watches what the server's SSLStream itself reports.)
    real_ssl_stream = trio.SSLStream
    made: list[dict[str, object]] = []
    received: list[object] = []

    def recording(*args: Any, **kwargs: Any) -> trio.SSLStream[trio.abc.Stream]:
        made.append(kwargs)
        tls = real_ssl_stream(*args, **kwargs)
        receive_some = tls.receive_some

        async def watched(max_bytes: int | None = None) -> bytes | bytearray:
            try:
                data = await receive_some(max_bytes)
            except trio.BrokenResourceError as exc:
                received.append(exc)
                raise
            received.append(bytes(data))
            return data

        tls.receive_some = watched  # type: ignore[method-assign]
        return tls

    monkeypatch.setattr(trio, "SSLStream", recording)
    caplog.set_level(logging.DEBUG, logger="trio_h2")
    server = trio_h2.server.listen.Server(hello, trio_h2.Config(), server_ssl_context)
    server_ssl_context.set_alpn_protocols(["h2"])
    server_sock, client_sock = trio.socket.socketpair()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.handle_stream, trio.SocketStream(server_sock))
            # https_compatible on the client too, so that its aclose() sends no
            # close_notify: it just closes the TCP connection (and with no GOAWAY
            # first, the server reads on until the EOF).
            tls = real_ssl_stream(
                trio.SocketStream(client_sock),
                client_context(ca, ["h2"]),
                server_hostname="localhost",
                https_compatible=True,
            )
            async with open_client(tls) as client:
                response = await client.get("/")
                await tls.aclose()
            assert response.body == b"hello\n"
        # handle_stream has returned: the server noticed the close and cleaned up.
    assert [kwargs.get("https_compatible") for kwargs in made] == [True]
    assert received[-1] == b""
    assert not server.connections
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_connections_over_the_limit_are_refused_when_all_are_busy() -> None:
    release = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/wait":
            await release.wait()
        await hello(stream)

    config = trio_h2.Config(max_connections=2)
    async with running_server(handler, config=config) as address:
        first = await trio.open_tcp_stream("127.0.0.1", address.port)
        second = await trio.open_tcp_stream("127.0.0.1", address.port)
        async with open_client(first) as one, open_client(second) as two:
            waiting = [await c.start_request("GET", "/wait", end_stream=True) for c in (one, two)]
            # Answered after the request before it: both connections have a stream open.
            assert (await one.get("/")).status == 200
            assert (await two.get("/")).status == 200
            third = await trio.open_tcp_stream("127.0.0.1", address.port)
            with trio.fail_after(1):
                try:
                    assert await third.receive_some() == b""
                except trio.BrokenResourceError:
                    pass
            await third.aclose()
            # The first two are unharmed.
            release.set()
            assert (await one.wait_response(waiting[0])).body == b"hello\n"
            assert (await two.wait_response(waiting[1])).body == b"hello\n"
            assert one.goaway is None
            assert two.goaway is None


async def test_cancelling_serve_sends_goaway_and_finishes_in_flight() -> None:
    started = trio.Event()
    release = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        started.set()
        await release.wait()
        await stream.respond(200, [], b"finished")

    async with trio.open_nursery() as outer:
        server_scope = trio.CancelScope()

        async def run_server(task_status: trio.TaskStatus[trio_h2.ServerAddress]) -> None:
            with server_scope:
                await trio_h2.serve(handler, "127.0.0.1", 0, task_status=task_status)

        address = await outer.start(run_server)
        stream = await trio.open_tcp_stream("127.0.0.1", address.port)
        async with open_client(stream) as client:
            stream_id = await client.start_request("GET", "/", end_stream=True)
            await started.wait()
            server_scope.cancel()
            with trio.fail_after(10):
                await client.final_goaway_received.wait()
            assert client.goaway is not None
            assert client.goaway.error_code == ErrorCodes.NO_ERROR
            assert client.goaway.last_stream_id == stream_id
            # No new connections once shutdown has begun.
            with pytest.raises(OSError, match="connect"):
                await trio.open_tcp_stream("127.0.0.1", address.port)
            release.set()
            response = await client.wait_response(stream_id)
            assert response.body == b"finished"


async def test_ctrl_c_on_a_plain_trio_run_shuts_down_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(
        "import logging, signal, trio, trio_h2\n"
        # A parent started in the background may pass SIGINT on ignored.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "logging.basicConfig(format='%(message)s')\n"
        "logging.getLogger('trio_h2').setLevel(logging.DEBUG)\n"
        "async def handler(stream):\n"
        "    await stream.respond(200, [], b'ok')\n"
        "trio.run(trio_h2.serve, handler, '127.0.0.1', 0)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(trio_h2.__file__).parent.parent))
    process = await trio.lowlevel.open_process(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        with trio.fail_after(30):
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stderr.receive_some(1)
            port = int(line.decode().rsplit(":", 1)[1])
            async with open_client(await trio.open_tcp_stream("127.0.0.1", port)) as client:
                assert (await client.get("/")).body == b"ok"
            process.send_signal(signal.SIGINT)
            errors = b""
            while chunk := await process.stderr.receive_some():
                errors += chunk
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
    text = errors.decode()
    # Only the interrupt itself comes out (in the script's own nursery's group).
    raised = re.findall(r"^[\s|+]*(\w+(?:Error|Interrupt|Exception|Group))\b", text, re.M)
    assert raised == ["KeyboardInterrupt"], text


async def test_unfinished_tls_handshake_makes_room_for_a_new_connection(
    ca: trustme.CA, server_ssl_context: ssl.SSLContext, autojump_clock: trio.testing.MockClock
) -> None:
    config = trio_h2.Config(max_connections=1, handshake_timeout=10)
    server = trio_h2.server.listen.Server(hello, config, server_ssl_context)
    server_ssl_context.set_alpn_protocols(["h2"])
    listener = MemoryListener()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server._accept_loop, listener, nursery)
        silent = await listener.connect()  # connects and never says hello
        await trio.testing.wait_all_tasks_blocked()
        assert len(server._slots) == 1  # counted while in its handshake
        late = await listener.connect()
        # At the limit, the silent one (no handshake, so no work done) is closed at
        # once to make room, rather than the late one refused.
        assert await silent.receive_some() == b""
        assert trio.current_time() == 0
        tls = trio.SSLStream(late, client_context(ca, ["h2"]), server_hostname="localhost")
        async with open_client(tls) as client:
            assert (await client.get("/")).body == b"hello\n"
        assert trio.current_time() < 1
        nursery.cancel_scope.cancel()
