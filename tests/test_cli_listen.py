"""Where ``python -m trio_h2`` listens: ``--bind`` (TCP, IPv6, Unix sockets), ``--fd``
and systemd socket activation, with curl and raw sockets as the clients."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from tests.support import have_ipv6_loopback
from tests.test_cli import (
    Running,
    _env,
    assert_usage_error,
    fetch,
    run_cli,
    trio_h2_process as server,
)

pytestmark = pytest.mark.interop

APP = textwrap.dedent(
    """
    import json, os
    import trio_h2

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/env":
            body = os.environ.get("LISTEN_FDS", "-") + " " + os.environ.get("LISTEN_PID", "-")
        else:
            body = repr(stream.client_address)
        await stream.respond(200, [("content-type", "text/plain")], body.encode())

    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return
        body = json.dumps({"client": scope["client"], "server": scope["server"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})
    """
)

#: The "Serving ..." line's addresses, one by one.
ADDRESS = re.compile(r"(https?://\S+?|unix:\S+?)(?:,| with| \()")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "app.py").write_text(APP)
    return root


async def addresses(running: Running) -> list[str]:
    await running.stdout.wait_for(r"^Serving ")
    line = next(line for line in running.stdout.lines if line.startswith("Serving "))
    return ADDRESS.findall(line.partition(" on ")[2])


async def unix_exchange(path: str, request: bytes) -> bytes:
    """Send ``request`` over the Unix socket at ``path``; what comes back until EOF."""
    with trio.fail_after(30):
        stream = await trio.open_unix_socket(path)
        answer = b""
        async with stream:
            await stream.send_all(request)
            try:
                while chunk := await stream.receive_some():
                    answer += chunk
            except trio.BrokenResourceError:
                pass  # closed with our bytes unread: a reset, the same answer as EOF
    return answer


async def test_unix_socket_with_curl(app: Path, tmp_path: Path, curl: str) -> None:
    path = str(tmp_path / "app.sock")
    async with server("app:handler", "--bind", f"unix:{path}", cwd=app) as running:
        assert await addresses(running) == [f"unix:{path}"]
        assert f"try: curl --unix-socket {path} http://localhost/" in running.stdout.lines[0]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
        body, status = await fetch(curl, "--unix-socket", path, "http://localhost/")
        # An unnamed client socket (curl's, a proxy's): its address is "".
        assert (body, status) == ("''", "200 1.1")
        body, status = await fetch(
            curl, "--http2-prior-knowledge", "--unix-socket", path, "http://localhost/"
        )
        assert (body, status) == ("''", "200 2")
        # The access log names the peer "unix".
        await running.stderr.wait_for(r' unix "GET / HTTP/1\.1" 200')
        await running.stderr.wait_for(r' unix "GET / HTTP/2" 200')
        assert await running.stop() == 0
    assert not os.path.exists(path)  # removed on the way out


async def test_unix_socket_mode(app: Path, tmp_path: Path, curl: str) -> None:
    path = str(tmp_path / "app.sock")
    args = ("app:handler", "--bind", f"unix:{path}", "--unix-socket-mode", "600")
    async with server(*args, cwd=app) as running:
        await addresses(running)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        _, status = await fetch(curl, "--unix-socket", path, "http://localhost/")
        assert status == "200 1.1"
        assert await running.stop() == 0


async def test_a_stale_unix_socket_is_replaced(app: Path, tmp_path: Path, curl: str) -> None:
    path = str(tmp_path / "app.sock")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)  # a server that died leaves its file behind
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    async with server("app:handler", "--bind", f"unix:{path}", cwd=app) as running:
        await addresses(running)
        _, status = await fetch(curl, "--unix-socket", path, "http://localhost/")
        assert status == "200 1.1"
        assert await running.stop() == 0


async def test_a_path_that_is_not_a_socket_is_left_alone(app: Path, tmp_path: Path) -> None:
    path = tmp_path / "precious.txt"
    path.write_text("keep me\n")
    result = await run_cli("app:handler", "--bind", f"unix:{path}", cwd=app)
    assert_usage_error(
        result, f"cannot listen on unix:{path}: the path exists and is not a socket"
    )
    assert path.read_text() == "keep me\n"


async def test_a_unix_socket_a_server_listens_on(app: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(path)
        live.listen()
        result = await run_cli("app:handler", "--bind", f"unix:{path}", cwd=app)
    assert result.returncode == 1
    assert (
        f"cannot listen on unix:{path}: another server is listening on it"
        in result.stderr.decode()
    )
    assert os.path.exists(path)  # not taken from the live server


async def test_asgi_scope_and_forwarded_headers_on_a_unix_socket(
    app: Path, tmp_path: Path, curl: str
) -> None:
    path = str(tmp_path / "app.sock")
    trusted = ("--forwarded-allow-ips", "unix")
    async with server("app:asgi", "--bind", f"unix:{path}", *trusted, cwd=app) as running:
        await addresses(running)
        body, status = await fetch(curl, "--unix-socket", path, "http://localhost/")
        assert status == "200 1.1"
        # The ASGI spec: no client (host, port) on a Unix socket; server is [path, None].
        assert json.loads(body) == {"client": None, "server": [path, None]}
        # A proxy on the Unix socket is trusted by "unix": its X-Forwarded-For is believed.
        forwarded = ("-H", "X-Forwarded-For: 203.0.113.9")
        body, status = await fetch(curl, *forwarded, "--unix-socket", path, "http://localhost/")
        assert json.loads(body) == {"client": ["203.0.113.9", 0], "server": [path, None]}
        await running.stderr.wait_for(r' 203\.0\.113\.9 "GET / HTTP/1\.1" 200')
        assert await running.stop() == 0
    # Without "unix" in the list, the same header changes nothing.
    async with server("app:handler", "--bind", f"unix:{path}", cwd=app) as running:
        await addresses(running)
        body, _ = await fetch(curl, *forwarded, "--unix-socket", path, "http://localhost/")
        assert body == "''"
        assert await running.stop() == 0


async def test_proxy_protocol_on_a_unix_socket(app: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    args = ("--proxy-protocol", "--forwarded-allow-ips", "unix")
    async with server("app:handler", "--bind", f"unix:{path}", *args, cwd=app) as running:
        await addresses(running)
        request = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        header = b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 443\r\n"
        answer = await unix_exchange(path, header + request)
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert answer.endswith(b"('198.51.100.7', 40000)")
        await running.stderr.wait_for(r' 198\.51\.100\.7 "GET / HTTP/1\.1" 200')
        # Without a header, the connection is closed unanswered.
        assert await unix_exchange(path, request) == b""
        assert await running.stop() == 0


@pytest.mark.skipif(not have_ipv6_loopback(), reason="needs IPv6 on the loopback interface")
async def test_ipv4_and_ipv6_at_once(app: Path, curl: str) -> None:
    binds = ("--bind", "127.0.0.1:0", "--bind", "[::1]:0")
    async with server("app:handler", *binds, cwd=app) as running:
        match = await running.wait_serving()  # the first line's shape is kept
        assert match["host"] == "127.0.0.1"
        first, second = await addresses(running)
        assert first == running.url
        assert re.fullmatch(r"http://\[::1\]:\d+", second)
        body, status = await fetch(curl, first + "/")
        assert status == "200 1.1"
        assert body.startswith("('127.0.0.1', ")
        body, status = await fetch(curl, "--http2-prior-knowledge", second + "/")
        assert status == "200 2"
        assert body.startswith("('::1', ")
        assert await running.stop() == 0


async def test_an_inherited_socket(app: Path, curl: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        fd = sock.fileno()
        async with server("app:handler", "--fd", str(fd), cwd=app, pass_fds=[fd]) as running:
            await running.wait_serving()
            assert await addresses(running) == [f"http://127.0.0.1:{port}"]
            body, status = await fetch(curl, "--http2-prior-knowledge", running.url + "/")
            assert status == "200 2"
            assert body.startswith("('127.0.0.1', ")
            assert await running.stop() == 0


#: What systemd does before it starts the service: the sockets from fd 3 on, and
#: LISTEN_PID naming the process that execs, which only the process itself knows.
ACTIVATE = textwrap.dedent(
    """
    import os, sys
    fds = [int(fd) for fd in sys.argv[1].split(",")]
    for number, fd in enumerate(fds, start=3):
        os.dup2(fd, number)
    os.environ["LISTEN_FDS"] = str(len(fds))
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.execv(sys.argv[2], sys.argv[2:])
    """
)


async def test_systemd_socket_activation(app: Path, tmp_path: Path, curl: str) -> None:
    path = str(tmp_path / "activated.sock")
    with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as unix:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        unix.bind(path)
        unix.listen()
        port = tcp.getsockname()[1]
        fds = [tcp.fileno(), unix.fileno()]
        prefix = [sys.executable, "-c", ACTIVATE, ",".join(map(str, fds))]
        async with server("app:handler", cwd=app, pass_fds=fds, prefix=prefix) as running:
            await running.wait_serving()
            # No flag: the family of each socket is read from it.
            assert await addresses(running) == [f"http://127.0.0.1:{port}", f"unix:{path}"]
            body, status = await fetch(curl, running.url + "/")
            assert status == "200 1.1"
            body, status = await fetch(curl, "--unix-socket", path, "http://localhost/env")
            # As sd_listen_fds() does: the variables are gone, so no child takes them.
            assert (body, status) == ("- -", "200 1.1")
            assert await running.stop() == 0
        # A socket systemd owns is not the server's to remove.
        assert os.path.exists(path)


async def test_listen_fds_for_another_process_are_ignored(app: Path) -> None:
    env = _env()
    env["LISTEN_FDS"] = "1"
    env["LISTEN_PID"] = "1"  # not this process: left by a parent
    async with server("app:handler", "--port", "0", cwd=app, env=env) as running:
        addresses_ = await addresses(running)
        assert len(addresses_) == 1
        assert addresses_[0].startswith("http://127.0.0.1:")
        assert await running.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--bind", "8080"],
            "--bind '8080' is not HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH; "
            "for port 8080 on every interface, --bind :8080",
        ),
        (
            ["--bind", "::1:8080"],
            "--bind '::1:8080' is not HOST:PORT, [IPv6]:PORT, :PORT or "
            "unix:PATH; an IPv6 address goes in brackets: [::1]:8080",
        ),
        (
            ["--bind", "localhost:http"],
            "--bind 'localhost:http' is not HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH",
        ),
        (
            ["--bind", "127.0.0.1:65536"],
            "--bind '127.0.0.1:65536': the port must be between 0 and 65535",
        ),
        (["--bind", "unix:"], "--bind 'unix:' needs a path after 'unix:'"),
        (
            ["--bind", ":0", "--port", "8000"],
            "--port cannot be combined with --bind: give every TCP address as --bind HOST:PORT",
        ),
        (["--fd", "0", "--host", "::"], "--fd 0 is not a socket"),
        (["--fd", "987"], "--fd 987 is not an open file descriptor"),
    ],
    ids=[
        "port-only",
        "bare-ipv6",
        "service-name",
        "port-range",
        "unix-empty",
        "with-port",
        "not-socket",
        "closed",
    ],
)
async def test_listen_usage_errors(app: Path, args: list[str], message: str) -> None:
    assert_usage_error(await run_cli("app:handler", *args, cwd=app), message)


@pytest.mark.parametrize("kind", ["not-listening", "datagram"])
async def test_an_fd_that_is_not_a_listening_stream_socket(app: Path, kind: str) -> None:
    if kind == "datagram":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        message = "is not a stream (SOCK_STREAM) socket"
    else:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        message = "is a socket that is not listening"
    with sock:
        fd = sock.fileno()
        with trio.fail_after(60):
            result = await trio.run_process(
                [sys.executable, "-m", "trio_h2", "app:handler", "--fd", str(fd)],
                cwd=app,
                env=_env(),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                pass_fds=[fd],
            )
    assert_usage_error(result, f"--fd {fd} {message}")
