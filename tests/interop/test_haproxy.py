"""trio_h2 behind a real HAProxy: ``mode http`` with ``send-proxy-v2`` and
``option forwardfor``, to an HTTP/1.1 or an HTTP/2 backend, with health checks.

HAProxy's health checks on a ``send-proxy-v2`` server start with a version 2 LOCAL
header (its own connection, no addresses), then ``GET /health HTTP/1.0`` without a
Host; the server must answer them like any request.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from pathlib import Path

import pytest
import trio
import trustme

import trio_h2
from tests.support import require_tool, running_server, stop_process

pytestmark = pytest.mark.interop

#: The client's own loopback address, so that it differs from HAProxy's (127.0.0.1).
CLIENT_HOST = "127.0.0.2"


@pytest.fixture(scope="session")
def haproxy() -> str:
    """The path of haproxy; without it the test is skipped (a failure in CI)."""
    return require_tool("haproxy")


def free_port() -> int:
    # HAProxy cannot be told to bind port 0 and report it, so a port is picked here.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def haproxy_config(front: int, back: int, backend_proto: str) -> str:
    proto = " proto h2" if backend_proto == "h2" else ""
    return f"""\
global
    log stderr format raw local0 info
defaults
    mode http
    log global
    option log-health-checks
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend front
    bind 127.0.0.1:{front}
    option forwardfor
    default_backend back
backend back
    option httpchk GET /health
    server s1 127.0.0.1:{back} send-proxy-v2 check inter 200ms{proto}
"""


async def wait_listening(port: int, process: trio.Process) -> None:
    """Poll until ``port`` accepts connections (bounded by the caller's deadline)."""
    while True:
        assert process.returncode is None, "haproxy exited"
        try:
            probe = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            await trio.sleep(0.05)
            continue
        await probe.aclose()
        return


@pytest.mark.parametrize("backend_proto", ["h1", "h2"])
async def test_behind_haproxy(
    haproxy: str,
    curl: str,
    tmp_path: Path,
    backend_proto: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    requests: list[trio_h2.Stream] = []
    checked = trio.Event()

    async def handler(stream: trio_h2.Stream) -> None:
        if stream.path == "/health":
            assert stream.proxy_info is not None
            if stream.proxy_info.command == "LOCAL":
                checked.set()
            await stream.respond(200, [("content-type", "text/plain")], b"up\n")
            return
        requests.append(stream)
        address = stream.client_address
        body = f"{address[0]} {stream.header('x-forwarded-for')} {stream.http_version}\n"
        await stream.respond(200, [("content-type", "text/plain")], body)

    config = trio_h2.Config(proxy_protocol=True, forwarded_allow_ips=["127.0.0.1"])
    front = free_port()
    output = b""
    async with running_server(handler, config=config) as address:
        path = tmp_path / "haproxy.cfg"
        path.write_text(haproxy_config(front, address.port, backend_proto))
        process = await trio.lowlevel.open_process(
            [haproxy, "-f", str(path), "-db"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            async with trio.open_nursery() as nursery:

                async def collect() -> None:
                    nonlocal output
                    assert process.stdout is not None
                    async for chunk in process.stdout:
                        output += chunk

                nursery.start_soon(collect)
                with trio.fail_after(30):
                    await wait_listening(front, process)
                    await checked.wait()
                    result = await trio.run_process(
                        [
                            curl,
                            "-s",
                            "--interface",
                            CLIENT_HOST,
                            f"http://127.0.0.1:{front}/who",
                        ],
                        capture_stdout=True,
                        capture_stderr=True,
                    )
                    # A check that passed is logged by HAProxy; wait for the line.
                    while b"check passed" not in output:
                        await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
        finally:
            # Only the process this test started, by its PID.
            await stop_process(process)
    version = "2" if backend_proto == "h2" else "1.1"
    assert result.stdout == f"{CLIENT_HOST} {CLIENT_HOST} {version}\n".encode(), (
        result.stderr,
        output.decode(errors="replace"),
    )
    (stream,) = requests
    info = stream.proxy_info
    assert info is not None
    assert (info.version, info.command) == (2, "PROXY")
    assert info.source is not None
    assert info.source[0] == CLIENT_HOST
    assert stream.client_address == info.source
    assert info.destination == ("127.0.0.1", front)
    clients = [r.client for r in caplog.records if r.name == "trio_h2.access"]  # type: ignore[attr-defined]
    assert CLIENT_HOST in clients
    assert b"Layer7 check passed" in output


def test_the_deploy_haproxy_config_is_valid(
    haproxy: str, tmp_path: Path, server_cert: trustme.LeafCert
) -> None:
    # examples/deploy/haproxy.cfg, which the README shows, as HAProxy reads it (its
    # certificate is the one thing that must exist).
    text = (
        Path(__file__).resolve().parents[2] / "examples" / "deploy" / "haproxy.cfg"
    ).read_text()
    pem = tmp_path / "site.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    path = tmp_path / "haproxy.cfg"
    path.write_text(text.replace("/etc/haproxy/site.pem", str(pem)))
    result = subprocess.run(
        [haproxy, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALERT" not in result.stdout + result.stderr
