"""Real HTTP/1.x clients against the same port that serves HTTP/2: curl, h2load --h1,
httpx, Python's urllib; over cleartext and TLS (ALPN http/1.1, and no ALPN at all)."""

from __future__ import annotations

import hashlib
import re
import ssl
import urllib.request
from pathlib import Path

import httpx
import pytest
import trio
import trustme

import trio_h2
from tests.support import running_server

pytestmark = pytest.mark.interop

BIG = bytes(range(256)) * 4096  # 1 MiB


async def app(stream: trio_h2.Stream) -> None:
    if stream.method == "POST":
        digest = hashlib.sha256()
        size = 0
        async for chunk in stream:
            digest.update(chunk)
            size += len(chunk)
        await stream.respond(200, [("content-type", "text/plain")], f"{size} {digest.hexdigest()}")
    elif stream.path == "/big":
        await stream.respond(200, [("content-type", "application/octet-stream")], BIG)
    elif stream.path == "/stream":
        async with stream.start_response(200, [("content-type", "text/plain")]) as body:
            for i in range(100):
                await body.send(b"chunk %03d\n" % i)
    elif stream.path == "/trailers":
        await stream.respond(200, [("content-type", "text/plain")], b"t", trailers=[("x-t", "1")])
    elif stream.path == "/fail":
        raise RuntimeError("handler failure")
    else:
        await stream.respond(
            200, [("content-type", "text/plain")], f"Hello over {stream.http_version}"
        )


async def run(*argv: str) -> str:
    with trio.fail_after(120):
        result = await trio.run_process(list(argv), capture_stdout=True, capture_stderr=True)
    return result.stdout.decode() + result.stderr.decode()


async def test_curl_speaks_http11_by_default_and_http10_on_request(curl: str) -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}/"
        assert await run(curl, "-s", "-w", "|%{http_version}", url) == "Hello over 1.1|1.1"
        # RFC 9110 §2.5: the response names the highest version the server speaks.
        assert (
            await run(curl, "-s", "--http1.0", "-w", "|%{http_version}", url)
            == "Hello over 1.0|1.1"
        )
        # Prior knowledge on the same port is HTTP/2.
        out = await run(curl, "-s", "--http2-prior-knowledge", "-w", "|%{http_version}", url)
        assert out == "Hello over 2|2"


async def test_curl_keep_alive_reuses_one_connection(curl: str) -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}/"
        out = await run(curl, "-sv", url, url, url)
        assert out.count("Hello over 1.1") == 3
        assert out.count("Connected to") == 1
        assert len(re.findall(r"Re-using existing|left intact", out)) >= 2


async def test_curl_bodies_both_ways_and_chunked_responses(curl: str, tmp_path: Path) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(BIG)
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}"
        expected = f"{len(BIG)} {hashlib.sha256(BIG).hexdigest()}"
        assert await run(curl, "-s", "--data-binary", f"@{upload}", url + "/") == expected
        # A chunked upload (no length known in advance), with Expect: 100-continue.
        out = await run(
            curl,
            "-s",
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            f"@{upload}",
            url + "/",
        )
        assert out == expected
        size = await run(curl, "-s", "-o", "/dev/null", "-w", "%{size_download}", url + "/big")
        assert size == str(len(BIG))
        streamed = await run(curl, "-s", "-D", "-", url + "/stream")
        assert "transfer-encoding: chunked" in streamed.lower()
        assert streamed.endswith("".join(f"chunk {i:03d}\n" for i in range(100)))


async def test_curl_head_and_a_failing_handler(curl: str) -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}"
        head = await run(curl, "-sI", url + "/big")
        assert head.startswith("HTTP/1.1 200 OK\r\n")
        assert f"content-length: {len(BIG)}\r\n" in head
        out = await run(curl, "-s", "-w", "|%{http_code}", url + "/fail")
        assert out == "Internal Server Error\n|500"


async def test_curl_over_tls_chooses_by_alpn(
    curl: str, ca_file: str, server_ssl_context: ssl.SSLContext
) -> None:
    async with running_server(app, ssl_context=server_ssl_context) as address:
        url = f"https://localhost:{address.port}/"
        base = [curl, "-s", "--cacert", ca_file, "-w", "|%{http_version}"]
        assert await run(*base, "--http1.1", url) == "Hello over 1.1|1.1"
        assert await run(*base, "--http2", url) == "Hello over 2|2"
        assert await run(*base, "--no-alpn", url) == "Hello over 1.1|1.1"


async def test_h2load_h1_has_no_failure(h2load: str) -> None:
    async with running_server(app) as address:
        out = await run(
            h2load, "--h1", "-n", "2000", "-c", "10", f"http://127.0.0.1:{address.port}/"
        )
        assert "2000 succeeded, 0 failed, 0 errored" in out, out
        assert re.search(r"status codes: 2000 2xx", out), out


async def test_httpx_over_http11_with_and_without_tls(
    ca: trustme.CA, server_ssl_context: ssl.SSLContext
) -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}"
        async with httpx.AsyncClient(http1=True, http2=False) as client:
            responses = [await client.get(url + "/") for _ in range(3)]
            assert [(r.http_version, r.text) for r in responses] == [
                ("HTTP/1.1", "Hello over 1.1")
            ] * 3
            posted = await client.post(url + "/", content=BIG)
            assert posted.text == f"{len(BIG)} {hashlib.sha256(BIG).hexdigest()}"
    async with running_server(app, ssl_context=server_ssl_context) as address:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        async with httpx.AsyncClient(http1=True, http2=False, verify=context) as client:
            response = await client.get(f"https://localhost:{address.port}/")
        assert (response.http_version, response.text) == ("HTTP/1.1", "Hello over 1.1")
        async with httpx.AsyncClient(http1=True, http2=True, verify=context) as client:
            response = await client.get(f"https://localhost:{address.port}/")
        assert (response.http_version, response.text) == ("HTTP/2", "Hello over 2")


async def test_urllib_and_trailers_only_when_asked() -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}"

        def fetch(path: str) -> tuple[int, str, str | None]:
            with urllib.request.urlopen(url + path, timeout=30) as response:
                return response.status, response.read().decode(), response.headers["server"]

        assert await trio.to_thread.run_sync(fetch, "/") == (200, "Hello over 1.1", "trio_h2")
        # No TE: trailers in urllib's request: the trailers are dropped, the body whole.
        assert await trio.to_thread.run_sync(fetch, "/trailers") == (200, "t", "trio_h2")
        stream = await trio.open_tcp_stream("127.0.0.1", address.port)
        await stream.send_all(
            b"GET /trailers HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: close\r\n\r\n"
        )
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
        await stream.aclose()
        assert data.endswith(b"\r\n\r\n1\r\nt\r\n0\r\nx-t: 1\r\n\r\n")


async def test_curl_and_nghttp_upgrade_to_h2c(curl: str, nghttp: str) -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}/"
        assert await run(curl, "-s", "--http2", "-w", "|%{http_version}", url) == (
            "Hello over 2|2"
        )
        out = await run(nghttp, "-u", "-v", url)
        assert "HTTP Upgrade success" in out, out
        assert "Hello over 2" in out
