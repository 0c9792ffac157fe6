"""``python -m trio_h2 --workers N``: the supervisor, its restarts, SIGHUP, shared sockets.

The workers are real processes, found by the pids they log ("worker N serving") and
the pid each response carries; the clients are curl and raw sockets.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import trio

from tests.test_cli import Running, _pidfd, _wait_gone, assert_usage_error, fetch, run_cli
from tests.test_cli_listen import ACTIVATE, addresses, server
from trio_h2 import _workers

pytestmark = pytest.mark.interop

APP = textwrap.dedent(
    """
    import os
    import trio_h2

    with open("imported-by", "a") as marks:
        marks.write(f"{os.getpid()}\\n")

    async def handler(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain")], str(os.getpid()).encode())
    """
)

SERVING = r"worker (\d+) serving"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "app.py").write_text(APP)
    return root


def serving(running: Running) -> list[int]:
    """The pids of the workers that said they serve, in order."""
    return [int(pid) for pid in re.findall(SERVING, running.stderr.text)]


async def raw_get(connect: object, count: int) -> Counter[int]:
    """``count`` HTTP/1.1 requests, each on a connection of its own, ``count`` at once:
    how many each pid answered."""
    answered: Counter[int] = Counter()

    async def one() -> None:
        stream = await connect()  # type: ignore[operator]
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            data = b""
            while chunk := await stream.receive_some():
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 ")
        answered[int(data.rpartition(b"\r\n\r\n")[2])] += 1

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(one)
    return answered


def tcp_connect(port: int) -> object:
    return lambda: trio.open_tcp_stream("127.0.0.1", port)


def test_workers_auto_is_the_core_count() -> None:
    from trio_h2._cli import cpu_count, parse_options

    _, options, _ = parse_options(["--workers", "auto"])
    assert options.workers == cpu_count() >= 1
    expected = getattr(os, "process_cpu_count", os.cpu_count)()
    assert options.workers == expected


async def test_bad_workers_value(app: Path) -> None:
    result = await run_cli("--workers", "many", cwd=app)
    assert result.returncode == 2
    assert "expected a number or 'auto', not 'many'" in result.stderr.decode()


async def test_a_worker_that_dies_is_replaced(app: Path) -> None:
    async with server("app:handler", "--port", "0", "-w", "2", cwd=app) as running:
        await running.wait_serving()
        await running.stderr.wait_for(SERVING, count=2)
        first, second = serving(running)
        os.kill(first, signal.SIGKILL)
        await running.stderr.wait_for(
            rf"ERROR trio_h2.workers: worker {first} was killed by SIGKILL; "
            r"starting another in 0\.5 s"
        )
        await running.stderr.wait_for(SERVING, count=3)
        replacement = serving(running)[2]
        assert replacement not in (first, second)
        # The new worker takes connections (the kernel spreads them by address).
        seen: Counter[int] = Counter()
        with trio.fail_after(60):
            while not seen[replacement]:
                seen += await raw_get(tcp_connect(running.port), 20)
        assert set(seen) <= {second, replacement}
        assert first not in seen
        assert await running.stop() == 0


async def test_restarts_back_off(app: Path) -> None:
    async with server("app:handler", "--port", "0", "-w", "2", cwd=app) as running:
        await running.wait_serving()
        await running.stderr.wait_for(SERVING, count=2)
        victim = serving(running)[0]
        for number, delay in enumerate(("0.5", "1.0"), start=3):
            os.kill(victim, signal.SIGKILL)
            await running.stderr.wait_for(
                rf"worker {victim} was killed by SIGKILL; "
                rf"starting another in {delay} s"
            )
            await running.stderr.wait_for(SERVING, count=number)
            victim = serving(running)[-1]
        assert await running.stop() == 0


async def test_the_supervisor_does_not_import_the_application(app: Path) -> None:
    async with server("app:handler", "--port", "0", "-w", "2", cwd=app) as running:
        await running.wait_serving()
        await running.stderr.wait_for(SERVING, count=2)
        importers = {int(pid) for pid in (app / "imported-by").read_text().split()}
        assert importers == set(serving(running))
        assert running.process.pid not in importers
        assert await running.stop() == 0


async def test_a_worker_that_cannot_start_is_a_usage_error(app: Path) -> None:
    result = await run_cli("app:missing", "--port", "0", "-w", "2", cwd=app)
    assert_usage_error(result, "module 'app' has no attribute 'missing'")


async def load(url: str, curl: str, *, http2: bool, until: trio.Event) -> list[str]:
    """Rounds of 50 requests over one connection (keep-alive, or HTTP/2 streams one
    after the other), until ``until`` is set and one more round is done; every
    response's ``"<pid> <status>"``."""
    results: list[str] = []
    # HTTP/2 by an h2c upgrade: curl 7.88 cannot reuse a prior-knowledge connection.
    flags = ["--http2"] if http2 else []
    while True:
        last = until.is_set()
        with trio.fail_after(60):
            done = await trio.run_process(
                [curl, "-sS", *flags, "-w", r" %{http_code}\n", f"{url}/[1-50]"],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        lines = done.stdout.decode().splitlines()
        assert len(lines) == 50, lines
        failed = [line for line in lines if not line.endswith(" 200")]
        assert (done.returncode, failed) == (0, []), (flags, done.stderr.decode())
        results += lines
        if last:
            return results


@pytest.mark.parametrize(
    "share",
    [
        pytest.param(
            False,
            id="reuse-port",
            marks=pytest.mark.skipif(not _workers.HAVE_REUSE_PORT, reason="needs SO_REUSEPORT"),
        ),
        pytest.param(True, id="no-reuse-port"),
    ],
)
async def test_sighup_replaces_every_worker_and_loses_no_request(
    app: Path, curl: str, share: bool
) -> None:
    args = ["app:handler", "--port", "0", "-w", "2", "--no-access-log"]
    if share:
        args.append("--no-reuse-port")
    async with server(*args, cwd=app) as running:
        await running.wait_serving()
        await running.stderr.wait_for(SERVING, count=2)
        before = set(serving(running))
        restarted = trio.Event()
        results: list[str] = []

        async def client(http2: bool) -> None:
            results.extend(await load(running.url, curl, http2=http2, until=restarted))

        async with trio.open_nursery() as nursery:
            for http2 in (False, True, False, True):
                nursery.start_soon(client, http2)
            running.process.send_signal(signal.SIGHUP)
            await running.stderr.wait_for(r"rolling restart done: workers (\d+), (\d+)")
            restarted.set()
        done = re.search(r"rolling restart done: workers (\d+), (\d+)", running.stderr.text)
        assert done is not None
        after = {int(done[1]), int(done[2])}
        assert after.isdisjoint(before)
        assert after == set(serving(running)[2:])
        # Every request answered, by the old workers and then by the new ones.
        statuses = Counter(line.split()[-1] for line in results)
        assert statuses == {"200": len(results)}
        pids = {int(line.split()[0]) for line in results}
        assert pids <= before | after
        assert pids & after
        for pid in before:  # the old workers drained and exited
            pidfd = _pidfd(pid)
            if pidfd is not None:  # else gone already
                try:
                    await _wait_gone(pidfd)
                finally:
                    os.close(pidfd)
        assert await running.stop() == 0


async def test_no_reuse_port_workers_share_one_socket(app: Path) -> None:
    args = ("app:handler", "--port", "0", "-w", "2", "--no-reuse-port")
    async with server(*args, cwd=app) as running:
        await running.wait_serving()
        await running.stderr.wait_for(SERVING, count=2)
        workers = set(serving(running))
        seen: Counter[int] = Counter()
        with trio.fail_after(60):
            while len(seen) < 2:
                seen += await raw_get(tcp_connect(running.port), 20)
        assert set(seen) == workers
        assert await running.stop() == 0


async def test_workers_on_a_unix_socket(app: Path, tmp_path: Path, curl: str) -> None:
    path = str(tmp_path / "app.sock")
    args = ("app:handler", "--bind", f"unix:{path}", "-w", "2")
    async with server(*args, cwd=app) as running:
        assert await addresses(running) == [f"unix:{path}"]
        assert "with 2 workers" in running.stdout.lines[0]
        await running.stderr.wait_for(SERVING, count=2)
        workers = set(serving(running))
        seen: Counter[int] = Counter()
        with trio.fail_after(60):
            while len(seen) < 2:
                seen += await raw_get(lambda: trio.open_unix_socket(path), 20)
        assert set(seen) == workers
        body, status = await fetch(curl, "--unix-socket", path, "http://localhost/")
        assert status == "200 1.1"
        assert int(body) in workers
        # A rolling restart keeps the one socket: the new workers serve on it.
        running.process.send_signal(signal.SIGHUP)
        await running.stderr.wait_for(r"rolling restart done")
        body, status = await fetch(curl, "--unix-socket", path, "http://localhost/")
        assert status == "200 1.1"
        assert int(body) not in workers
        assert await running.stop() == 0
    assert not os.path.exists(path)  # the supervisor removed it


async def test_sighup_without_workers_is_ignored(app: Path, curl: str) -> None:
    async with server("app:handler", "--port", "0", cwd=app) as running:
        await running.wait_serving()
        running.process.send_signal(signal.SIGHUP)
        await running.stderr.wait_for(r"SIGHUP: ignored; a rolling restart needs --workers")
        body, status = await fetch(curl, running.url + "/")
        assert (body, status) == (str(running.process.pid), "200 1.1")
        assert await running.stop() == 0


async def test_workers_on_systemd_sockets(app: Path) -> None:
    with socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        port = tcp.getsockname()[1]
        fds = [tcp.fileno()]
        prefix = [sys.executable, "-c", ACTIVATE, str(tcp.fileno())]
        args = ("app:handler", "-w", "2")
        async with server(*args, cwd=app, pass_fds=fds, prefix=prefix) as running:
            assert await addresses(running) == [f"http://127.0.0.1:{port}"]
            await running.stderr.wait_for(SERVING, count=2)
            workers = set(serving(running))
            seen: Counter[int] = Counter()
            with trio.fail_after(60):
                while len(seen) < 2:
                    seen += await raw_get(tcp_connect(port), 20)
            assert set(seen) == workers
            running.process.send_signal(signal.SIGHUP)
            await running.stderr.wait_for(r"rolling restart done")
            after = set(serving(running)[2:])
            assert len(after) == 2
            assert after.isdisjoint(workers)
            answered = await raw_get(tcp_connect(port), 20)
            assert set(answered) <= after
            assert await running.stop() == 0
