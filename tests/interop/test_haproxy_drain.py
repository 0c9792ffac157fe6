"""Rolling restarts behind a real HAProxy, under load, with examples/deploy/haproxy.cfg.

HAProxy terminates TLS (ALPN h2, http/1.1) and balances over two ``python -m
trio_h2`` processes, reached over h2c or over HTTP/1.1 with a PROXY header, with
health checks on ``--health-path``.  While h2load sends requests through it, one
instance is sent SIGTERM: it drains (GOAWAY, ``connection: close``, listener closed,
health checks refused), exits 0, and is started again on the same port.  Not one
request may fail.  The handler answers with the client address it was given, which
must be the client's, not HAProxy's.

h2load's requests per second through HAProxy, with two instances and with one, are
printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
import trustme

from tests.interop.test_haproxy import CLIENT_HOST, free_port, wait_listening
from tests.support import require_tool

pytestmark = pytest.mark.interop

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
WAIT = 60  # seconds: the bound on each test

HANDLER = """\
import os

NAME = os.environ["INSTANCE_NAME"]


async def handler(stream):
    host = stream.client_address[0]
    await stream.respond(200, [("content-type", "text/plain")], f"{host} {NAME}\\n")
"""


@pytest.fixture(scope="session")
def haproxy() -> str:
    return require_tool("haproxy")


def haproxy_config(backend: str, front: int, pem: Path, ports: tuple[int, int]) -> str:
    """examples/deploy/haproxy.cfg with the one ``backend`` kept and the test's addresses."""
    text = (DEPLOY / "haproxy.cfg").read_text()
    head, *sections = re.split(r"\n(?=# The instances|# Or over|backend )", text)
    kept = "".join(s for s in sections if s.startswith(f"backend {backend}\n"))
    assert kept, f"no backend {backend} in haproxy.cfg"
    text = head + "\n" + kept
    for old, new in {
        "bind :443 ": f"bind 127.0.0.1:{front} ",
        "/etc/haproxy/site.pem": str(pem),
        "default_backend app_h2": f"default_backend {backend}",
        "127.0.0.1:8001": f"127.0.0.1:{ports[0]}",
        "127.0.0.1:8002": f"127.0.0.1:{ports[1]}",
    }.items():
        assert text.count(old) == 1, f"haproxy.cfg has no single {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class Output:
    """What a process writes, as it comes, for a test to wait for."""

    text: str = ""
    changed: trio.Event = field(default_factory=trio.Event)

    def add(self, chunk: bytes) -> None:
        self.text += chunk.decode(errors="replace")
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for(self, pattern: str, start: int = 0) -> int:
        """Where ``pattern`` (a regular expression) first matches after ``start``."""
        while True:
            match = re.compile(pattern).search(self.text, start)
            if match:
                return match.end()
            await self.changed.wait()


@asynccontextmanager
async def process(
    argv: list[str], nursery: trio.Nursery, **kwargs: object
) -> AsyncIterator[tuple[trio.Process, Output]]:
    """``argv`` running, its stdout and stderr collected, until the block ends."""
    proc = await trio.lowlevel.open_process(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs
    )
    output = Output()

    async def collect() -> None:
        assert proc.stdout is not None
        async with proc.stdout:  # to the end of the output: the process has exited
            async for chunk in proc.stdout:
                output.add(chunk)

    nursery.start_soon(collect)
    try:
        yield proc, output
    finally:
        # Only the process this test started, by its PID.
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def instance_argv(tmp_path: Path, port: int, backend: str) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "trio_h2",
        "handler:handler",
        "--port",
        str(port),
        "--health-path",
        "/healthz",
        "--grace",
        "10",
        "--forwarded-allow-ips",
        "127.0.0.1",
    ]
    if backend == "app_h1":
        argv.append("--proxy-protocol")
    return argv


@dataclass
class H2loadResult:
    rate: float
    total: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    status_5xx: int
    output: str


def parse_h2load(output: str) -> H2loadResult:
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", output)
    counts = re.search(
        r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        output,
    )
    codes = re.search(r"status codes: \d+ 2xx, \d+ 3xx, \d+ 4xx, (\d+) 5xx", output)
    assert rate, output
    assert counts, output
    assert codes, output
    total, succeeded, failed, errored, timeout = map(int, counts.groups())
    return H2loadResult(
        float(rate.group(1)),
        total,
        succeeded,
        failed,
        errored,
        timeout,
        int(codes.group(1)),
        output,
    )


async def h2load_run(h2load: str, url: str, *args: str) -> H2loadResult:
    result = await trio.run_process(
        [h2load, "-c", "8", "-m", "4", *args, url], capture_stdout=True, capture_stderr=True
    )
    return parse_h2load(result.stdout.decode())


def assert_no_failure(result: H2loadResult) -> None:
    assert result.total > 0
    assert (result.failed, result.errored, result.timeout, result.status_5xx) == (0, 0, 0, 0), (
        result.output
    )
    assert result.succeeded == result.total, result.output


@pytest.mark.parametrize("backend", ["app_h2", "app_h1"])
async def test_rolling_restart_under_load_loses_no_request(
    haproxy: str,
    h2load: str,
    curl: str,
    ca: trustme.CA,
    server_cert: trustme.LeafCert,
    tmp_path: Path,
    backend: str,
) -> None:
    (tmp_path / "handler.py").write_text(HANDLER)
    pem = tmp_path / "site.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    front = free_port()
    ports = (free_port(), free_port())
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(backend, front, pem, ports))
    url = f"https://127.0.0.1:{front}/"
    figures: dict[str, float] = {}

    async with trio.open_nursery() as nursery, AsyncExitStack() as stack:

        async def start_instance(name: str, port: int) -> tuple[trio.Process, Output]:
            env = {**os.environ, "INSTANCE_NAME": name}
            argv = instance_argv(tmp_path, port, backend)
            started = await stack.enter_async_context(
                process(argv, nursery, cwd=str(tmp_path), env=env)
            )
            # Serving, and HAProxy's health checks reach it.
            await started[1].wait_for(r"Serving ")
            await started[1].wait_for(r'"GET /healthz HTTP/[\d.]+" 200 ')
            return started

        async def whoami() -> str:
            result = await trio.run_process(
                [curl, "-sS", "--cacert", str(ca_file), "--interface", CLIENT_HOST, url],
                capture_stdout=True,
            )
            return result.stdout.decode()

        async def wait_both_answer() -> None:
            # HAProxy marks a server up once its checks pass (rise 2, every 500 ms);
            # there is no event to wait on, so ask until both have answered.
            seen: set[str] = set()
            while len(seen) < 2:
                answer = await whoami()
                host, name = answer.split()
                assert host == CLIENT_HOST, answer  # the client's address, not HAProxy's
                seen.add(name)

        with trio.fail_after(WAIT):
            balancer, log = await stack.enter_async_context(
                process([haproxy, "-f", str(config), "-db"], nursery)
            )
            await wait_listening(front, balancer)
            first, first_output = await start_instance("one", ports[0])
            await start_instance("two", ports[1])
            await wait_both_answer()

            two_instances = await h2load_run(h2load, url, "-n", "3000")
            assert_no_failure(two_instances)
            figures["two instances"] = two_instances.rate

            # The rolling restart, under load for 5 s.
            results: list[H2loadResult] = []
            async with trio.open_nursery() as load:

                async def run_load() -> None:
                    results.append(await h2load_run(h2load, url, "-D", "5"))

                position = len(first_output.text)
                load.start_soon(run_load)
                # Once h2load's requests reach the instance: 20 of them.
                for _ in range(20):
                    position = await first_output.wait_for(r'"GET / HTTP/[\d.]+" 200 ', position)
                signalled = trio.current_time()
                first.send_signal(signal.SIGTERM)
                assert await first.wait() == 0, first_output.text[-2000:]
                drained = trio.current_time() - signalled
                assert "SIGTERM: shutting down" in first_output.text
                first, first_output = await start_instance("one", ports[0])
                back = trio.current_time() - signalled
                assert not results, "the restart outlasted the load"
            (during,) = results
            assert_no_failure(during)
            figures["during the restart"] = during.rate
            await wait_both_answer()

            # One instance: the other drains away, and HAProxy sees it go.
            position = len(log.text)
            first.send_signal(signal.SIGTERM)
            assert await first.wait() == 0
            await log.wait_for(r"app1 is DOWN", position)
            one_instance = await h2load_run(h2load, url, "-n", "3000")
            assert_no_failure(one_instance)
            figures["one instance"] = one_instance.rate
            assert (await whoami()).split() == [CLIENT_HOST, "two"]
        # Leaving the stack ends the processes; their output then ends too.
    print(
        f"\nh2load -c 8 -m 4 through HAProxy, TLS h2 to {backend}: "
        + ", ".join(f"{name}: {rate:.0f} req/s" for name, rate in figures.items())
        + f"; {during.total} requests during the restart, 0 failed; the instance drained"
        f" and exited in {drained:.2f} s and was checked again {back:.2f} s after SIGTERM"
    )
