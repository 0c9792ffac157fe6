"""The programs in examples/compat/, run as written, answering real clients over sockets."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio
import trustme

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "compat"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def running_example(
    name: str, *args: str, cwd: Path, port: int | None = None
) -> AsyncIterator[int]:
    """Run ``examples/compat/<name> PORT *args`` until the block ends; yield PORT."""
    port = port or free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    stderr_path = cwd / f"{name}.stderr"
    with open(stderr_path, "wb") as stderr:
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                partial(
                    trio.run_process,
                    [sys.executable, str(EXAMPLES / name), str(port), *args],
                    cwd=cwd,
                    env=env,
                    stderr=stderr,
                    check=False,
                )
            )
            try:
                await wait_listening(port, process, stderr_path)
                yield port
            finally:
                nursery.cancel_scope.cancel()


async def wait_listening(port: int, process: trio.Process, stderr: Path) -> None:
    with trio.fail_after(30):
        while True:
            try:
                probe = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                if process.returncode is not None:
                    pytest.fail(f"the example exited: {stderr.read_text()}")
                await trio.sleep(0.05)  # poll again; bounded by fail_after
                continue
            await probe.aclose()
            return


async def run(*command: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(60):
        return await trio.run_process(
            list(command), capture_stdout=True, capture_stderr=True, check=False
        )


@pytest.fixture
def cert_dir(tmp_path: Path, server_cert: trustme.LeafCert) -> Path:
    """A directory holding server.crt and server.key, as the TLS examples expect."""
    server_cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    with open(tmp_path / "server.crt", "wb") as crt:
        for pem in server_cert.cert_chain_pems:
            crt.write(pem.bytes())
    return tmp_path


async def test_nghttp2_ftw(tmp_path: Path, curl: str) -> None:
    async with running_example("nghttp2_ftw.py", cwd=tmp_path) as port:
        result = await run(
            curl, "-sS", "--http2-prior-knowledge", "-w", "|%{http_version}",
            f"http://127.0.0.1:{port}/anything",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"nghttp2 FTW\n|2"


async def test_nghttp2_push(tmp_path: Path, nghttp: str) -> None:
    async with running_example("nghttp2_push.py", cwd=tmp_path) as port:
        result = await run(nghttp, "-v", f"http://127.0.0.1:{port}/")
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "recv PUSH_PROMISE frame" in out
    assert ":path: /push" in out
    assert "nghttp2-python FTW\n" in out
    assert "pushed content" in out


async def test_nghttp2_tls_push(cert_dir: Path, ca_file: str, nghttp: str) -> None:
    async with running_example("nghttp2_tls_push.py", cwd=cert_dir) as port:
        # ALPN picks h2 with a client that verifies the certificate...
        context = ssl.create_default_context(cafile=ca_file)
        context.set_alpn_protocols(["h2", "http/1.1"])
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        tls = trio.SSLStream(tcp, context, server_hostname="localhost")
        await tls.do_handshake()
        assert tls.selected_alpn_protocol() == "h2"
        await tls.aclose()
        # ...and nghttp (which has no CA option, and warns) sees the push.
        result = await run(nghttp, "-v", f"https://127.0.0.1:{port}/")
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "The negotiated protocol: h2" in out
    assert "recv PUSH_PROMISE frame" in out
    push_request = out[out.index(":path: /css/style.css") :]
    assert "content-type: text/css" in push_request[: push_request.index("PUSH_PROMISE")]
    assert "body{margin:0;}" in out
    assert "nghttp2-python FTW" in out


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    bodies: dict[str, bytes] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@asynccontextmanager
async def upstream_server(bodies: dict[str, bytes]) -> AsyncIterator[str]:
    _Upstream.bodies = bodies
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        await trio.to_thread.run_sync(server.shutdown)
        server.server_close()
        await trio.to_thread.run_sync(thread.join)


async def test_nghttp2_reverse_proxy(cert_dir: Path, ca_file: str, curl: str) -> None:
    big = os.urandom(1_048_576)
    bodies = {"/big": big, "/": b"index\n"}
    async with (
        upstream_server(bodies) as upstream,
        running_example("nghttp2_reverse_proxy.py", upstream, cwd=cert_dir) as port,
    ):
        results = {}
        async with trio.open_nursery() as nursery:

            async def fetch(path: str) -> None:
                results[path] = await run(
                    curl, "-sS", "--http2", "--cacert", ca_file, "-w", "|%{http_version}",
                    f"https://localhost:{port}{path}",
                )  # fmt: skip

            for path in bodies:
                nursery.start_soon(fetch, path)
    for path, body in bodies.items():
        result = results[path]
        assert result.returncode == 0, result.stderr
        assert result.stdout == body + b"|2"


async def test_hyper_hello(tmp_path: Path, curl: str) -> None:
    async with running_example("hyper_hello.py", cwd=tmp_path) as port:
        result = await run(
            curl, "-sS", "--http2-prior-knowledge", "-D", "-",
            f"http://127.0.0.1:{port}/",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/2 200")
    assert b"content-type: text/plain" in head
    assert body == b"Hello, world!"


# ------------------------------------------- the same programs over HTTP/1.1


async def test_nghttp2_ftw_and_hyper_hello_over_http1(tmp_path: Path, curl: str) -> None:
    async with running_example("nghttp2_ftw.py", cwd=tmp_path) as port:
        ftw = await run(curl, "-sS", "-w", "|%{http_version}", f"http://127.0.0.1:{port}/")
    async with running_example("hyper_hello.py", cwd=tmp_path) as port:
        hello = await run(curl, "-sS", "-D", "-", f"http://127.0.0.1:{port}/")
    assert ftw.returncode == 0, ftw.stderr
    assert ftw.stdout == b"nghttp2 FTW\n|1.1"
    assert hello.returncode == 0, hello.stderr
    head, _, body = hello.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: text/plain" in head
    assert body == b"Hello, world!"


async def test_nghttp2_push_over_http1_fails_as_for_a_client_without_push(
    tmp_path: Path, curl: str
) -> None:
    # HTTP/1.1 has no push: push() raises, as nghttp2's does for a client that
    # disabled it, and the failed handler's connection is closed (over HTTP/2 its
    # stream would be reset).  The server goes on serving.
    async with running_example("nghttp2_push.py", cwd=tmp_path) as port:
        first = await run(curl, "-sS", f"http://127.0.0.1:{port}/")
        second = await run(curl, "-sS", f"http://127.0.0.1:{port}/")
    assert first.returncode == second.returncode == 52, first.stderr  # empty reply
    assert b"FTW" not in first.stdout


async def test_nghttp2_reverse_proxy_over_https_http1(
    cert_dir: Path, ca_file: str, curl: str
) -> None:
    big = os.urandom(1_048_576)
    async with (
        upstream_server({"/big": big}) as upstream,
        running_example("nghttp2_reverse_proxy.py", upstream, cwd=cert_dir) as port,
    ):
        proxied = await run(
            curl, "-sS", "--http1.1", "--cacert", ca_file, "-w", "|%{http_version}",
            f"https://localhost:{port}/big",
        )  # fmt: skip
    assert proxied.returncode == 0, proxied.stderr
    assert proxied.stdout == big + b"|1.1"


@pytest.mark.parametrize("name", ["nghttp2_ftw.py", "hyper_hello.py"])
async def test_ctrl_c_stops_the_server(name: str, tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "wb") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, str(EXAMPLES / name), str(port)],
            env=env,
            stderr=stderr,
            # A shell may start us with SIGINT ignored; the example gets the default.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            await wait_listening(port, process, stderr_path)
            process.send_signal(signal.SIGINT)
            with trio.fail_after(30):
                await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    text = stderr_path.read_text()
    assert process.returncode == -signal.SIGINT, text
    # An interruption in asyncio code may leave a coroutine that never ran, which
    # Python reports at exit with a RuntimeWarning; that is the interpreter's, not ours.
    lines = [
        line
        for line in text.splitlines()
        if "RuntimeWarning" not in line
        and "never awaited" not in line
        and not line.startswith("  ")  # the warning's source line
    ]
    assert lines[-1] == "KeyboardInterrupt", text
