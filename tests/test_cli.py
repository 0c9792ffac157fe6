"""``python -m trio_h2`` as a real process, reached with curl and with the test client over TCP.

Every test waits for what the command prints ("Serving ...", "shutting down"), never
for time to pass; the timeouts only bound a test that would otherwise hang.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
import trio

import trio_h2
from trio_h2.testing import connect, open_client

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parent.parent
SERVING = re.compile(
    r"^Serving (?P<what>.+) on (?P<scheme>https?)://(?P<host>[^ ]+):(?P<port>\d+)"
)

APP = textwrap.dedent(
    """
    import trio_h2

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/echo":
            # Answers at once, then echoes the upload until it ends.
            async with stream.start_response(200, [("content-type", "text/plain")]) as body:
                await body.send(b"started\\n")
                async for chunk in stream:
                    await body.send(chunk)
            return
        await stream.respond(200, [("content-type", "text/plain")], b"from app\\n")

    not_callable = 42

    def not_async(stream):
        pass

    async def asgi(scope: dict, receive: object, send: object) -> None:
        pass

    class AsgiApp:
        async def __call__(self, scope, receive, send):
            pass

    asgi_app = AsgiApp()

    async def two_arguments(stream, extra):
        pass

    async def keyword_only(stream: trio_h2.Stream, *, config: int) -> None:
        pass

    async def no_arguments():
        pass
    """
)


class Output:
    """The lines a process writes to one pipe, as they come."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = trio.Event()

    async def pump(self, pipe: trio.abc.ReceiveStream) -> None:
        pending = b""
        async for data in pipe:
            pending += data
            *complete, pending = pending.split(b"\n")
            self.lines += [line.decode("utf-8", "replace") for line in complete]
            self._changed.set()
            self._changed = trio.Event()
        if pending:
            self.lines.append(pending.decode("utf-8", "replace"))
        self._changed.set()

    async def wait_for(self, pattern: str | re.Pattern[str], count: int = 1) -> re.Match[str]:
        """The ``count``-th line matching ``pattern``, waiting for it to be written."""
        seen = 0
        with trio.fail_after(60):
            while True:
                for line in self.lines[seen:]:
                    match = re.search(pattern, line)
                    if match:
                        count -= 1
                        if count == 0:
                            return match
                seen = len(self.lines)
                await self._changed.wait()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class Running:
    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.stdout = Output()
        self.stderr = Output()
        self.scheme = ""
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    async def wait_serving(self) -> re.Match[str]:
        match = await self.stdout.wait_for(SERVING)
        self.scheme, self.host, self.port = match["scheme"], match["host"], int(match["port"])
        return match

    async def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        with trio.fail_after(60):
            return await self.process.wait()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@asynccontextmanager
async def trio_h2_process(
    *args: str,
    cwd: Path,
    pass_fds: Sequence[int] = (),
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> AsyncIterator[Running]:
    """``[*prefix] python -m trio_h2 *args`` in ``cwd``; killed if still up at the end."""
    process = await trio.lowlevel.open_process(
        [*prefix, sys.executable, "-m", "trio_h2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env or _env(),
        pass_fds=pass_fds,
    )
    running = Running(process)
    async with trio.open_nursery() as nursery:
        assert process.stdout is not None
        assert process.stderr is not None
        nursery.start_soon(running.stdout.pump, process.stdout)
        nursery.start_soon(running.stderr.pump, process.stderr)
        try:
            yield running
        finally:
            if process.returncode is None:
                process.kill()
            with trio.move_on_after(30):
                await process.wait()


def cli(*args: str, cwd: Path) -> AbstractAsyncContextManager[Running]:
    """``python -m trio_h2 --port 0 *args`` running in ``cwd``; killed if still up at the end."""
    return trio_h2_process("--port", "0", *args, cwd=cwd)


async def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """The command run to its end (for the ones that exit at once)."""
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", "trio_h2", *args],
            cwd=cwd,
            env=_env(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def fetch(curl: str, *args: str) -> tuple[str, str]:
    """curl's output and its ``-w`` line: ``(body, "<status> <http version>")``."""
    with trio.fail_after(60):
        result = await trio.run_process(
            [curl, "-s", "--max-time", "30", "-w", "\n%{http_code} %{http_version}", *args],
            capture_stdout=True,
            capture_stderr=True,
        )
    body, _, status = result.stdout.decode().rpartition("\n")
    return body, status


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "hello.txt").write_text("hello from a file\n")
    (root / "sub").mkdir()
    (root / "app.py").write_text(APP)
    return root


@pytest.mark.parametrize(
    ("http", "curl_args", "served"),
    [("2", [], "000 0"), ("1.1", ["--http2-prior-knowledge"], "000 0")],
)
async def test_http_option_serves_one_protocol(
    site: Path, curl: str, http: str, curl_args: list[str], served: str
) -> None:
    async with cli("--http", http, cwd=site) as server:
        await server.wait_serving()
        protocol = {"2": "HTTP/2", "1.1": "HTTP/1.1"}[http]
        assert f"({protocol}; try: curl" in server.stdout.lines[-1]
        # The other protocol's client meets the served protocol's answer, not a page.
        result = await trio.run_process(
            [curl, "-s", "--max-time", "30", "-w", "%{http_code}", *curl_args, server.url + "/"],
            capture_stdout=True,
            check=False,
        )
        assert result.returncode != 0
        assert result.stdout.decode().endswith(served.split()[0])
        ok = ["--http2-prior-knowledge"] if http == "2" else []
        body, status = await fetch(curl, *ok, server.url + "/hello.txt")
        assert (body, status) == ("hello from a file\n", f"200 {http}")


async def test_serves_the_current_directory(site: Path, curl: str) -> None:
    async with cli(cwd=site) as server:
        match = await server.wait_serving()
        assert match["what"] == str(site)
        assert server.url.startswith("http://127.0.0.1:")
        assert f"(HTTP/1.1 and HTTP/2; try: curl {server.url}/)" in server.stdout.lines[-1]

        # What a browser does: HTTP/1.1 on http://.
        body, status = await fetch(curl, server.url + "/hello.txt")
        assert (body, status) == ("hello from a file\n", "200 1.1")
        body, status = await fetch(curl, "--http2-prior-knowledge", server.url + "/hello.txt")
        assert (body, status) == ("hello from a file\n", "200 2")
        body, status = await fetch(curl, "--http2-prior-knowledge", server.url + "/")
        assert status == "200 2"
        assert '<a href="hello.txt">hello.txt</a>' in body
        assert '<a href="sub/">sub/</a>' in body
        _, status = await fetch(curl, "--http2-prior-knowledge", server.url + "/missing")
        assert status == "404 2"

        # One access-log line per request, on stderr.
        ua = r'[0-9.]+ms "curl/[^"]+"'
        await server.stderr.wait_for(r'127\.0\.0\.1 "GET /hello\.txt HTTP/1\.1" 200 18 ' + ua)
        await server.stderr.wait_for(r'127\.0\.0\.1 "GET /hello\.txt HTTP/2" 200 18 ' + ua)
        await server.stderr.wait_for(r'127\.0\.0\.1 "GET / HTTP/2" 200 \d+ ' + ua)
        await server.stderr.wait_for(r'127\.0\.0\.1 "GET /missing HTTP/2" 404 \d+ ' + ua)
        assert await server.stop() == 0


async def test_directory_option_and_no_access_log(site: Path, tmp_path: Path, curl: str) -> None:
    async with cli("--directory", str(site / "sub"), "--no-access-log", cwd=tmp_path) as server:
        match = await server.wait_serving()
        assert match["what"] == str(site / "sub")
        _, status = await fetch(curl, "--http2-prior-knowledge", server.url + "/hello.txt")
        assert status == "404 2"
        assert await server.stop() == 0
    assert "HTTP/2" not in server.stderr.text


async def test_tls_development_certificate(site: Path, curl: str) -> None:
    async with cli("--tls", cwd=site) as server:
        await server.wait_serving()
        assert server.url.startswith("https://127.0.0.1:")
        ca_path = re.search(r"--cacert (\S+)", server.stdout.lines[-1])
        assert ca_path is not None
        ca = Path(ca_path[1])
        assert ca.is_file()

        body, status = await fetch(curl, "--cacert", str(ca), server.url + "/hello.txt")
        assert (body, status) == ("hello from a file\n", "200 2")
        # Verified by name as well as by address, and h2 chosen by ALPN.
        with trio.fail_after(60):
            verbose = await trio.run_process(
                [curl, "-sv", "--cacert", str(ca), f"https://localhost:{server.port}/"],
                capture_stdout=True,
                capture_stderr=True,
            )
        assert re.search(rb"ALPN[:,] server accepted (to use )?h2", verbose.stderr)
        assert b"hello.txt" in verbose.stdout
        assert await server.stop(signal.SIGTERM) == 0
    # The throwaway CA goes away with the server.
    assert not ca.exists()


async def test_certfile_and_keyfile(site: Path, tmp_path: Path, curl: str) -> None:
    import trustme

    authority = trustme.CA()
    leaf = authority.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    args = ("--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem"))
    async with cli(*args, cwd=site) as server:
        await server.wait_serving()
        assert server.scheme == "https"
        body, status = await fetch(
            curl, "--cacert", str(tmp_path / "ca.pem"), server.url + "/hello.txt"
        )
        assert (body, status) == ("hello from a file\n", "200 2")
        assert await server.stop() == 0


async def test_module_handler(site: Path, curl: str) -> None:
    async with cli("app:handler", cwd=site) as server:
        match = await server.wait_serving()
        assert match["what"] == "app:handler"
        body, status = await fetch(curl, "--http2-prior-knowledge", server.url + "/hello.txt")
        assert (body, status) == ("from app\n", "200 2")
        assert await server.stop() == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module:handler", "cannot import 'no_such_module'"),
        ("app:missing", "module 'app' has no attribute 'missing'"),
        ("app:not_callable", "'app:not_callable' is not callable"),
        ("app:not_async", "'app:not_async' is not an async function"),
        ("app", "'app' is not MODULE:HANDLER"),
    ],
)
async def test_bad_handler_is_a_clear_error(site: Path, spec: str, message: str) -> None:
    result = await run_cli(spec, cwd=site)
    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert b"Traceback" not in result.stderr
    assert result.stdout == b""


ONE_STREAM = "trio_h2 handlers take one argument, a trio_h2.Stream"


def assert_usage_error(result: subprocess.CompletedProcess[bytes], message: str) -> None:
    """Exit status 2 and argparse's two lines: the usage, then the message."""
    lines = result.stderr.decode().splitlines()
    assert result.returncode == 2, lines
    assert lines[0].startswith("usage: python -m trio_h2 ")
    assert lines[-1] == f"python -m trio_h2: error: {message}"
    assert result.stdout == b""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["8000"], "'8000' is not MODULE:HANDLER; to listen on port 8000, use --port 8000"),
        (
            ["0.0.0.0:8443"],
            "'0.0.0.0:8443' is not MODULE:HANDLER; "
            "to listen on 0.0.0.0 port 8443, use --host 0.0.0.0 --port 8443",
        ),
        ([":8000"], "':8000' is not MODULE:HANDLER; to listen on port 8000, use --port 8000"),
        (["app:two_arguments"], f"'app:two_arguments' takes (stream, extra); {ONE_STREAM}"),
        (["app:keyword_only"], f"'app:keyword_only' takes (stream, *, config); {ONE_STREAM}"),
        (["app:no_arguments"], f"'app:no_arguments' takes (); {ONE_STREAM}"),
    ],
    ids=["port", "host-port", "colon-port", "two", "keyword", "none"],
)
async def test_positional_argument_errors_say_what_to_do(
    site: Path, args: list[str], message: str
) -> None:
    assert_usage_error(await run_cli(*args, cwd=site), message)


def test_handler_signatures_that_take_one_stream_pass() -> None:
    from trio_h2._cli import check_handler_signature

    async def plain(stream: trio_h2.Stream) -> None:
        pass

    async def with_default(stream: trio_h2.Stream, extra: int = 1) -> None:
        pass

    async def variadic(*args: object) -> None:
        pass

    async def configured(stream: trio_h2.Stream, *, interval: float) -> None:
        pass

    @functools.wraps(plain)
    async def wrapped(*args: object, **kwargs: object) -> None:
        pass

    for target in (
        plain,
        with_default,
        variadic,
        functools.partial(configured, interval=1.0),
        wrapped,
        trio_h2.serve_directory("."),
    ):
        check_handler_signature("app:handler", target)


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    """cert.pem, key.pem (its key), both.pem (key and chain), other-key.pem, junk.pem."""
    import trustme

    authority = trustme.CA()
    leaf = authority.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "both.pem"))
    authority.issue_cert("other.test").private_key_pem.write_to_path(
        str(tmp_path / "other-key.pem")
    )
    (tmp_path / "junk.pem").write_text("not PEM\n")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--certfile", "cert.pem"],
            "the certificate file 'cert.pem' holds no private key: "
            "pass the key's file with --keyfile",
        ),
        (
            ["--certfile", "cert.pem", "--keyfile", "missing.pem"],
            "cannot read the key file 'missing.pem': No such file or directory",
        ),
        (
            ["--certfile", "cert.pem", "--keyfile", "junk.pem"],
            "the key file 'junk.pem' holds no PEM private key",
        ),
        (
            ["--certfile", "cert.pem", "--keyfile", "cert.pem"],
            "the key file 'cert.pem' holds no PEM private key",
        ),
        (
            ["--certfile", "cert.pem", "--keyfile", "other-key.pem"],
            "the key file 'other-key.pem' does not match the certificate in 'cert.pem'",
        ),
        (
            ["--certfile", "missing.pem", "--keyfile", "key.pem"],
            "cannot read the certificate file 'missing.pem': No such file or directory",
        ),
        (
            ["--certfile", "key.pem", "--keyfile", "key.pem"],
            "the certificate file 'key.pem' holds no PEM certificate",
        ),
    ],
    ids=[
        "no-key",
        "key-missing",
        "key-junk",
        "key-is-cert",
        "key-other",
        "cert-missing",
        "cert-is-key",
    ],
)
async def test_tls_file_errors_name_the_file(pem: Path, args: list[str], message: str) -> None:
    assert_usage_error(await run_cli("--port", "0", *args, cwd=pem), message)


async def test_certfile_holding_its_key_needs_no_keyfile(pem: Path) -> None:
    async with cli("--certfile", "both.pem", cwd=pem) as server:
        await server.wait_serving()
        assert server.scheme == "https"
        assert await server.stop() == 0


async def test_address_in_use_is_a_clear_error(site: Path) -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for extra in ((), ("--workers", "2")):
            result = await run_cli("--port", str(port), *extra, cwd=site)
            assert result.returncode == 1
            assert f"cannot listen on 127.0.0.1:{port}" in result.stderr.decode()
            assert b"Traceback" not in result.stderr


async def test_help_documents_every_option(site: Path) -> None:
    result = await run_cli("--help", cwd=site)
    assert result.returncode == 0
    text = result.stdout.decode()
    for option in (
        "MODULE:HANDLER",
        "--host",
        "--port",
        "--directory",
        "--tls",
        "--certfile",
        "--keyfile",
        "--workers",
        "--bind",
        "--fd",
        "--no-reuse-port",
        "--unix-socket-mode",
        "--grace",
        "--log-level",
        "--access-log",
        "--version",
    ):
        assert option in text


async def test_sigint_lets_the_request_in_flight_finish(site: Path) -> None:
    release = trio.Event()

    async def upload() -> AsyncIterator[bytes]:
        yield b"before the signal, "
        await release.wait()
        yield b"after the signal"

    async with cli("app:handler", "--grace", "30", cwd=site) as server:
        await server.wait_serving()
        transport = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with (
            open_client(transport) as client,
            client.stream("POST", "/echo", body=upload()) as response,
        ):
            assert response.status == 200
            chunks = response.aiter_bytes()
            assert await chunks.__anext__() == b"started\n"
            # The handler is running and the upload is open: now stop the server.
            server.process.send_signal(signal.SIGINT)
            await server.stderr.wait_for("SIGINT: shutting down")
            await client.goaway_received.wait()
            release.set()
            rest = b"".join([chunk async for chunk in chunks])
        assert rest == b"before the signal, after the signal"
        assert client.goaway is not None
        assert client.goaway.error_code == 0
        with trio.fail_after(60):
            assert await server.process.wait() == 0
    assert re.search(r'"POST /echo HTTP/2" 200', server.stderr.text)


async def test_second_signal_stops_at_once(site: Path) -> None:
    async def endless_upload() -> AsyncIterator[bytes]:
        yield b"never ends"
        await trio.sleep_forever()

    async with cli("app:handler", "--tls", "--grace", "600", cwd=site) as server:
        await server.wait_serving()
        ca_path = re.search(r"--cacert (\S+)", server.stdout.lines[-1])
        assert ca_path is not None
        context = ssl.create_default_context(cafile=ca_path[1])
        context.set_alpn_protocols(["h2"])
        transport = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", server.port, ssl_context=context
        )
        async with (
            open_client(transport) as client,
            client.stream("POST", "/echo", body=endless_upload()) as response,
        ):
            chunks = response.aiter_bytes()
            assert await chunks.__anext__() == b"started\n"
            await chunks.aclose()
            server.process.send_signal(signal.SIGINT)
            await server.stderr.wait_for("SIGINT: shutting down")
            # The request would hold the shutdown for ten minutes.
            assert await server.stop(signal.SIGINT) == 1
            await server.stderr.wait_for("SIGINT: stopping now")
    assert not Path(ca_path[1]).exists()


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


async def _wait_gone(pidfd: int) -> None:
    with trio.fail_after(60):
        await trio.lowlevel.wait_readable(pidfd)


async def test_workers_share_the_port_and_stop_on_sigint(site: Path, curl: str) -> None:
    async with cli("--workers", "2", cwd=site) as server:
        match = await server.wait_serving()
        assert "with 2 workers" in server.stdout.lines[-1]
        assert match["what"] == str(site)
        await server.stderr.wait_for(r"worker \d+ serving", count=2)
        pids = {int(m) for m in re.findall(r"worker (\d+) serving", server.stderr.text)}
        assert len(pids) == 2
        assert server.process.pid not in pids
        pidfds = [fd for fd in map(_pidfd, pids) if fd is not None]
        try:
            for _ in range(4):
                body, status = await fetch(
                    curl, "--http2-prior-knowledge", server.url + "/hello.txt"
                )
                assert (body, status) == ("hello from a file\n", "200 2")
            # Each line of the access log names the worker that served it.
            await server.stderr.wait_for(r'"GET /hello.txt HTTP/2" 200', count=4)
            served_by = re.findall(r"\[(\d+)\] 127\.0\.0\.1 ", server.stderr.text)
            assert len(served_by) == 4
            assert {int(pid) for pid in served_by} <= pids
            assert await server.stop() == 0
            for fd in pidfds:
                await _wait_gone(fd)
        finally:
            for fd in pidfds:
                os.close(fd)
    assert "shutting down" in server.stderr.text


@pytest.mark.skipif(
    not hasattr(os, "pidfd_open"),
    reason="needs os.pidfd_open to wait for processes that are not children",
)
async def test_workers_do_not_outlive_their_supervisor(site: Path) -> None:
    async with cli("--workers", "2", cwd=site) as server:
        await server.wait_serving()
        await server.stderr.wait_for(r"worker \d+ serving", count=2)
        pids = {int(m) for m in re.findall(r"worker (\d+) serving", server.stderr.text)}
        pidfds = [fd for fd in map(_pidfd, pids) if fd is not None]
        assert len(pidfds) == 2
        try:
            server.process.kill()
            await server.process.wait()
            for fd in pidfds:
                await _wait_gone(fd)
        finally:
            for fd in pidfds:
                os.close(fd)


async def test_access_line_even_when_the_client_hangs_up_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.respond(200, [], b"done")
            await trio.sleep_forever()  # still busy when the client goes away
        finally:
            finished.set()

    caplog.set_level(logging.INFO, logger="trio_h2.access")
    async with connect(handler) as client:
        response = await client.get("/late")
        assert response.body == b"done"
        await client.transport.aclose()  # hang up, while the handler still runs
        with trio.fail_after(10):
            await finished.wait()
    lines = [r.getMessage() for r in caplog.records if r.name == "trio_h2.access"]
    assert len(lines) == 1
    assert re.fullmatch(r'127\.0\.0\.1 "GET /late HTTP/2" 200 4 [0-9.]+ms "-"', lines[0])


def test_log_times_match_loggings_own_format() -> None:
    from trio_h2._logging import Formatter as _Formatter

    ours = _Formatter("%(asctime)s %(message)s")
    reference = logging.Formatter("%(asctime)s %(message)s")
    for created in (1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.5, 1_700_000_000.25):
        record = logging.LogRecord("trio_h2.access", logging.INFO, "", 0, "line", (), None)
        record.created = created
        record.msecs = (created - int(created)) * 1000
        assert ours.format(record) == reference.format(record)
    dated = _Formatter("%(asctime)s", datefmt="%H:%M")
    assert dated.format(record) == logging.Formatter("%(asctime)s", datefmt="%H:%M").format(record)
