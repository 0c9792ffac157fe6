"""HTTP2Server and HTTP20Server themselves: binding, asyncio in callbacks, TLS, shutdown.

The servers block in serve_forever(), so each runs in a thread of its own here and is
stopped with shutdown(); the clients are httpx's (h2) over loopback.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from tests.support import require_tool
from trio_h2.compat import hyper, nghttp2
from trio_h2.compat._serving import CompatServer

pytestmark = pytest.mark.interop


@contextmanager
def serving(make: Callable[[], CompatServer]) -> Iterator[CompatServer]:
    """Build the server in a thread of its own and serve there until the block ends."""
    built: queue.Queue[CompatServer | BaseException] = queue.Queue()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            server = make()
        except BaseException as exc:
            built.put(exc)
            return
        built.put(server)
        try:
            server.serve_forever()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    server = built.get(timeout=30)
    if isinstance(server, BaseException):
        thread.join()
        raise server
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert errors == []


def h2c_client() -> httpx.Client:
    return httpx.Client(http1=False, http2=True, timeout=30)


def test_callbacks_can_drive_asyncio() -> None:
    seen: dict[str, Any] = {}

    class Handler(nghttp2.BaseRequestHandler):
        def on_headers(self) -> None:
            loop = asyncio.get_event_loop()
            seen["same loop"] = loop is asyncio.get_running_loop()

            async def answer_later() -> None:
                _reader, writer = await asyncio.open_connection(*server.server_address)
                writer.close()
                await writer.wait_closed()
                self.send_response(body=b"answered from asyncio")

            self.task = asyncio.ensure_future(answer_later())

    with serving(lambda: nghttp2.HTTP2Server(("127.0.0.1", 0), Handler)) as server:
        host, port = server.server_address
        with h2c_client() as client:
            response = client.get(f"http://{host}:{port}/")
        assert server.loop is not None
    assert response.http_version == "HTTP/2"
    assert response.content == b"answered from asyncio"
    assert seen == {"same loop": True}


def test_file_body_is_read_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "body.bin"
    path.write_bytes(b"0123456789" * 50_000)

    class Handler(nghttp2.BaseRequestHandler):
        def on_headers(self) -> None:
            self.send_response(body=open(path, "rb"))  # noqa: SIM115 - the server closes it

    with serving(lambda: nghttp2.HTTP2Server(("127.0.0.1", 0), Handler)) as server:
        host, port = server.server_address
        with h2c_client() as client:
            response = client.get(f"http://{host}:{port}/")
    assert response.content == path.read_bytes()


def test_push_and_respond_from_asyncio_code() -> None:
    nghttp = require_tool("nghttp")
    promised: list[nghttp2.BaseRequestHandler] = []

    class Handler(nghttp2.BaseRequestHandler):
        def on_headers(self) -> None:
            async def answer_later() -> None:
                await asyncio.sleep(0)
                promised.append(self.push("/pushed", body="pushed from asyncio"))
                self.send_response(body="main from asyncio")

            self.task = asyncio.ensure_future(answer_later())

    with serving(lambda: nghttp2.HTTP2Server(("127.0.0.1", 0), Handler)) as server:
        host, port = server.server_address
        result = subprocess.run(
            [nghttp, "-v", f"http://{host}:{port}/"], capture_output=True, timeout=60, check=False
        )
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert "recv PUSH_PROMISE frame" in out
    assert "pushed from asyncio" in out
    assert "main from asyncio" in out
    assert [p.stream_id for p in promised] == [2]


def test_tls_alpn_and_client_certificate(
    ca: trustme.CA, server_cert: trustme.LeafCert, ca_file: str
) -> None:
    certificates: list[Any] = []

    class Handler(nghttp2.BaseRequestHandler):
        def on_headers(self) -> None:
            certificates.append(self.client_certificate)
            self.send_response(body=self.scheme)

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(server_context)
    ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED
    client_context = ssl.create_default_context(cafile=ca_file)
    ca.issue_cert("client.example.test").configure_cert(client_context)

    with serving(
        lambda: nghttp2.HTTP2Server(("127.0.0.1", 0), Handler, ssl=server_context)
    ) as server:
        port = server.server_address[1]
        with httpx.Client(http2=True, verify=client_context, timeout=30) as client:
            response = client.get(f"https://localhost:{port}/")
    assert response.http_version == "HTTP/2"
    assert response.content == b"https"
    (certificate,) = certificates
    assert certificate["subjectAltName"] == (("DNS", "client.example.test"),)


@pytest.mark.parametrize("host", ["", None])
def test_no_host_means_every_interface(host: str | None) -> None:
    server = nghttp2.HTTP2Server((host, 0), nghttp2.BaseRequestHandler)
    try:
        addresses = {sock.getsockname()[0] for sock in server._sockets}
        ports = {sock.getsockname()[1] for sock in server._sockets}
    finally:
        server.server_close()
    assert addresses <= {"0.0.0.0", "::"}
    assert "0.0.0.0" in addresses or "::" in addresses
    assert len(ports) == 1


def test_address_in_use_fails_at_construction() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            hyper.HTTP20Server(("127.0.0.1", port), hyper.HTTP20RequestHandler)


def test_shutdown_before_serving_and_closed_server() -> None:
    server = hyper.HTTP20Server(("127.0.0.1", 0), hyper.HTTP20RequestHandler)
    server.shutdown()
    server.serve_forever()  # returns at once
    with pytest.raises(RuntimeError, match="closed"):
        server.serve_forever()
    with pytest.raises(TypeError):
        nghttp2.HTTP2Server(("127.0.0.1", 0), object)  # type: ignore[arg-type]


def test_hyper_server_serves_handlers_with_their_server() -> None:
    servers: list[Any] = []

    class Hello(hyper.HTTP20RequestHandler):
        def handle_request(self, request: hyper.HTTP20Request) -> None:
            servers.append(self.server)
            self.send_response(200, [("content-type", "text/plain")])
            self.send_data(f"{request.method} {request.path} {request.body!r}")

    with serving(lambda: hyper.HTTP20Server(("127.0.0.1", 0), Hello)) as server:
        host, port = server.server_address
        with h2c_client() as client:
            response = client.post(f"http://{host}:{port}/p?q", content=b"data")
    assert response.text == "POST /p?q b'data'"
    assert servers == [server]
