"""trio_h2 behind a real nginx, with the configurations in examples/deploy/.

nginx runs in the foreground as one process (``daemon off; master_process off``),
its pid file, temporary directories and logs inside the test's tmp_path, so it needs
no system directory and runs as root or not; it is stopped by its PID.  The
``http {}`` part of its configuration is the file the README shows, with only the
addresses changed to the test's ports.

* ``nginx.conf``: nginx as an HTTP/1.1 reverse proxy with keep-alive connections to
  trio_h2, which believes its ``X-Forwarded-For`` (``forwarded_allow_ips``).  The
  client connects from 127.0.0.2, so its address differs from nginx's.
* ``nginx-grpc.conf``: ``grpc_pass`` to the gRPC example over h2c, grpcio calling
  through nginx.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_h2

# proto: the fixture that compiles the gRPC stubs.
from tests.interop.test_grpc import blocking, grpc, proto, service  # noqa: F401
from tests.interop.test_haproxy import CLIENT_HOST, free_port, wait_listening
from tests.support import require_tool, stop_process

pytestmark = pytest.mark.interop

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
WAIT = 30  # seconds: the bound on each test's waits


@pytest.fixture(scope="session")
def nginx() -> str:
    """The path of nginx; without it the test is skipped (a failure in CI)."""
    return require_tool("nginx")


def deploy_config(name: str, replacements: dict[str, str]) -> str:
    """examples/deploy/``name`` with each of ``replacements`` made exactly once."""
    text = (DEPLOY / name).read_text()
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{name} has no single {old!r}"
        text = text.replace(old, new)
    return text


def main_config(tmp_path: Path, http: str) -> str:
    """A whole nginx.conf that keeps everything inside ``tmp_path``, around ``http``."""
    (tmp_path / "site.conf").write_text(http)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
daemon off;
master_process off;
worker_processes 1;
pid {tmp_path / "nginx.pid"};
error_log stderr notice;
events {{
    worker_connections 256;
}}
http {{
    access_log off;
{temp}
    include {tmp_path / "site.conf"};
}}
"""


@asynccontextmanager
async def running_nginx(nginx: str, tmp_path: Path, http: str, port: int) -> AsyncIterator[Any]:
    """nginx serving ``http`` (its ``http {}`` contents) until the block ends."""
    path = tmp_path / "nginx.conf"
    path.write_text(main_config(tmp_path, http))
    process = await trio.lowlevel.open_process(
        [nginx, "-p", str(tmp_path), "-c", str(path), "-e", "stderr"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    output = bytearray()

    async def collect() -> None:
        assert process.stderr is not None
        async for chunk in process.stderr:
            output.extend(chunk)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            with trio.fail_after(WAIT):
                try:
                    await wait_listening(port, process)
                except AssertionError:
                    await process.wait()
                    raise AssertionError(output.decode(errors="replace")) from None
            yield output
            nursery.cancel_scope.cancel()
    finally:
        # Only the process this test started, by its PID.
        await stop_process(process)


class CountingListener(trio.abc.Listener[trio.SocketStream]):
    """A listener that counts the connections it accepts (nginx's, here).

    It stands in for a ``trio.SocketListener`` (which cannot be subclassed): the
    server asks only for ``socket``, ``accept()`` and ``aclose()``.
    """

    def __init__(self, inner: trio.SocketListener) -> None:
        self.inner = inner
        self.socket = inner.socket
        self.accepted = 0

    async def accept(self) -> trio.SocketStream:
        stream = await self.inner.accept()
        self.accepted += 1
        return stream

    async def aclose(self) -> None:
        await self.inner.aclose()


async def counting_listener() -> CountingListener:
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return CountingListener(trio.SocketListener(sock))


# ------------------------------------------------- HTTP/1.1 reverse proxy


async def test_nginx_reverse_proxy(nginx: str, curl: str, tmp_path: Path) -> None:
    seen: list[tuple[Any, str, str | None, str | None]] = []
    proceed = trio.Event()
    upload = bytes(range(256)) * 32_768  # 8 MiB
    chunks = [bytes([65 + i % 26]) * 10_000 for i in range(100)]

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(
            (stream.client_address, stream.path, stream.header("x-forwarded-for"), stream.scheme)
        )
        if stream.path == "/who":
            text = f"{stream.client_address[0]} {stream.scheme} {stream.authority}\n"
            await stream.respond(200, [("content-type", "text/plain")], text)
        elif stream.path == "/upload":
            body = await stream.read()
            digest = hashlib.sha256(body).hexdigest()
            await stream.respond(200, [("content-type", "text/plain")], f"{len(body)} {digest}")
        elif stream.path == "/chunked":
            # No length: chunked to nginx.
            async with stream.start_response(200, [("content-type", "text/plain")]) as body:
                for chunk in chunks:
                    await body.send(chunk)
        elif stream.path == "/stream":
            async with stream.start_response(200, [("content-type", "text/plain")]) as body:
                await body.send(b"first\n")
                await proceed.wait()  # set once the client has read the first part
                await body.send(b"second\n")
        else:
            await stream.respond(404)

    config = trio_h2.Config(forwarded_allow_ips=["127.0.0.1"], health_path="/healthz")
    listener = await counting_listener()
    backend = listener.socket.getsockname()[1]
    front = free_port()
    http = deploy_config(
        "nginx.conf",
        {"listen 80;": f"listen 127.0.0.1:{front};", "127.0.0.1:8001": f"127.0.0.1:{backend}"},
    )
    url = f"http://127.0.0.1:{front}"

    async def fetch(*args: str) -> bytes:
        result = await trio.run_process(
            [curl, "-sS", "--fail-with-body", "--interface", CLIENT_HOST, *args],
            capture_stdout=True,
            capture_stderr=True,
        )
        return result.stdout

    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: trio_h2.serve_listeners(
                handler,
                [listener],  # type: ignore[list-item]
                config=config,
                task_status=task_status,
            )
        )
        async with running_nginx(nginx, tmp_path, http, front) as log:
            with trio.fail_after(WAIT):
                who = [await fetch(f"{url}/who") for _ in range(10)]
                (tmp_path / "upload").write_bytes(upload)
                uploaded = await fetch("--data-binary", f"@{tmp_path / 'upload'}", f"{url}/upload")
                chunked = await fetch(f"{url}/chunked")
                health = await fetch("-i", f"{url}/healthz")
                streamed = await stream_through(front, proceed)
            requests = 14
            assert listener.accepted < requests, log.decode(errors="replace")
        nursery.cancel_scope.cancel()
    # $host: the name the client asked for, without its port.
    assert set(who) == {f"{CLIENT_HOST} http 127.0.0.1\n".encode()}
    assert uploaded == f"{len(upload)} {hashlib.sha256(upload).hexdigest()}".encode()
    assert chunked == b"".join(chunks)
    assert health.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ncache-control: no-store\r\n" in health
    assert health.endswith(b"\r\n\r\nok\n")
    assert streamed.startswith(b"HTTP/1.1 200 OK\r\n")
    assert streamed.endswith(b"\r\n6\r\nfirst\n\r\n7\r\nsecond\n\r\n0\r\n\r\n")
    # Every request the handler saw came from the client, by nginx's X-Forwarded-For.
    assert {(address[0], forwarded, scheme) for address, _, forwarded, scheme in seen} == {
        (CLIENT_HOST, CLIENT_HOST, "http")
    }
    assert "/healthz" not in [path for _, path, _, _ in seen]
    assert listener.accepted >= 1


async def stream_through(port: int, proceed: trio.Event) -> bytes:
    """GET /stream from 127.0.0.2; the first part must arrive before the second is sent."""
    sock = trio.socket.socket()
    await sock.bind((CLIENT_HOST, 0))
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    async with stream:
        await stream.send_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while b"first\n" not in received:
            chunk = await stream.receive_some()
            assert chunk, received
            received += chunk
        proceed.set()
        while chunk := await stream.receive_some():
            received += chunk
    return received


# --------------------------------------------------------------- grpc_pass


async def test_nginx_grpc_pass(nginx: str, tmp_path: Path, proto: Any) -> None:  # noqa: F811
    front = free_port()
    async with trio.open_nursery() as nursery:
        address = await nursery.start(
            lambda task_status: trio_h2.serve(
                service.handler, "127.0.0.1", 0, config=service.CONFIG, task_status=task_status
            )
        )
        http = deploy_config(
            "nginx-grpc.conf",
            {
                "listen 50051 http2;": f"listen 127.0.0.1:{front} http2;",
                "127.0.0.1:50052": f"127.0.0.1:{address.port}",
            },
        )
        async with running_nginx(nginx, tmp_path, http, front):
            channel = grpc.insecure_channel(f"127.0.0.1:{front}")
            try:
                stub = proto.grpc.GreeterStub(channel)
                reply = await blocking(lambda: stub.SayHello(proto.pb.HelloRequest(name="nginx")))
                request = proto.pb.RepeatHelloRequest(name="nginx", count=3)
                replies = await blocking(lambda: list(stub.SayHelloStream(request)))
                numbers = [proto.pb.Number(value=v) for v in (1, 2, 39)]
                total = await blocking(lambda: stub.SumNumbers(iter(numbers)))

                def failing_chat() -> tuple[list[str], Any]:
                    names = [proto.pb.HelloRequest(name="ada"), proto.pb.HelloRequest(name="")]
                    got: list[str] = []
                    try:
                        for message in stub.Chat(iter(names)):
                            got.append(message.message)
                    except grpc.RpcError as error:
                        return got, error
                    raise AssertionError("the call ended OK")

                chatted, error = await blocking(failing_chat)

                def unary_error() -> Any:
                    with pytest.raises(grpc.RpcError) as caught:
                        stub.SayHello(proto.pb.HelloRequest(name=""))
                    return caught.value

                trailers_only = await blocking(unary_error)
            finally:
                await blocking(channel.close)
        nursery.cancel_scope.cancel()
    assert reply.message == "Hello nginx"
    assert [r.message for r in replies] == [f"Hello nginx, {i} of 3" for i in (1, 2, 3)]
    assert (total.total, total.count) == (42, 3)
    # A status in the trailers after a reply, and one in a Trailers-Only response,
    # both passed on by nginx.
    assert chatted == ["Hello ada"]
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "name is required",
    )
    assert (trailers_only.code(), trailers_only.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "name is required",
    )
