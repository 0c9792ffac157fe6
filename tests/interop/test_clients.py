"""Real, independent HTTP/2 clients against a real socket: curl, nghttp, h2load, httpx."""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path

import httpx
import pytest
import trio
import trustme

import trio_h2
from tests.support import running_server

pytestmark = pytest.mark.interop

BIG = bytes(range(256)) * 4096  # 1 MiB
HUGE = hashlib.sha256(b"huge").digest() * 393_216  # 12 MiB, more than the socket buffers


async def app(stream: trio_h2.Stream) -> None:
    if stream.method == "POST":
        digest = hashlib.sha256()
        size = 0
        async for chunk in stream:
            digest.update(chunk)
            size += len(chunk)
        await stream.respond(200, [("content-type", "text/plain")], f"{size} {digest.hexdigest()}")
    elif stream.path.partition("?")[0] == "/big":
        await stream.respond(200, [("content-type", "application/octet-stream")], BIG)
    elif stream.path == "/huge":
        await stream.respond(200, [("content-type", "application/octet-stream")], HUGE)
    elif stream.path == "/stream":
        async with stream.start_response(200, [("content-type", "text/plain")]) as body:
            for i in range(100):
                await body.send(b"chunk %03d\n" % i)
    elif stream.path == "/fail":
        raise RuntimeError("handler failure")
    else:
        await stream.respond(200, [("content-type", "text/plain")], b"Hello, world!")


async def run(*argv: str) -> str:
    with trio.fail_after(120):
        result = await trio.run_process(list(argv), capture_stdout=True, capture_stderr=True)
    return result.stdout.decode() + result.stderr.decode()


async def test_curl_prior_knowledge(curl: str) -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}"
        out = await run(curl, "-s", "--http2-prior-knowledge", "-w", "|%{http_version}", url + "/")
        assert out == "Hello, world!|2"
        size = await run(
            curl,
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            url + "/big",
        )
        assert size == str(len(BIG))
        streamed = await run(curl, "-s", "--http2-prior-knowledge", url + "/stream")
        assert streamed == "".join(f"chunk {i:03d}\n" for i in range(100))
        status = await run(
            curl,
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url + "/fail",
        )
        assert status == "500"


async def test_curl_upload(tmp_path: Path, curl: str) -> None:
    payload = tmp_path / "upload.bin"
    data = bytes(range(251)) * 20_000  # 5 MB, not a multiple of any window
    payload.write_bytes(data)
    async with running_server(app) as address:
        out = await run(
            curl,
            "-s",
            "--http2-prior-knowledge",
            "--data-binary",
            f"@{payload}",
            f"http://127.0.0.1:{address.port}/upload",
        )
    assert out == f"{len(data)} {hashlib.sha256(data).hexdigest()}"


async def test_curl_reading_slowly_gets_every_byte(tmp_path: Path, curl: str) -> None:
    # The response is written at once as far as the kernel takes it; a client that
    # reads slowly leaves the rest to the writer, which must resume where it stopped.
    out = tmp_path / "huge.bin"
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}"
        status = await run(
            curl, "-s", "--http2-prior-knowledge", "--limit-rate", "12M",
            "-o", str(out), "-w", "%{http_code}", url + "/huge",
        )  # fmt: skip
        assert status == "200"
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(HUGE).digest()
        # The connection served the next client as usual.
        assert await run(curl, "-s", "--http2-prior-knowledge", url + "/") == "Hello, world!"


async def test_curl_ranges_and_resume_on_the_file_server(tmp_path: Path, curl: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    data = hashlib.sha256(b"resume").digest() * 40_000  # 1.28 MB
    (site / "file.bin").write_bytes(data)
    partial = tmp_path / "partial.bin"
    partial.write_bytes(data[:300_001])  # an interrupted download
    async with running_server(trio_h2.serve_directory(site)) as address:
        url = f"http://127.0.0.1:{address.port}/file.bin"
        piece = tmp_path / "piece.bin"
        status = await run(
            curl, "-s", "--http2-prior-knowledge", "-r", "1000-1999",
            "-o", str(piece), "-w", "%{http_code}", url,
        )  # fmt: skip
        assert status == "206"
        assert piece.read_bytes() == data[1000:2000]
        status = await run(
            curl, "-s", "--http2-prior-knowledge", "-C", "-",
            "-o", str(partial), "-w", "%{http_code}", url,
        )  # fmt: skip
        assert status == "206"
        assert partial.read_bytes() == data


async def test_curl_over_tls_negotiates_h2(
    server_ssl_context: ssl.SSLContext, ca_file: str, curl: str
) -> None:
    async with running_server(app, ssl_context=server_ssl_context) as address:
        out = await run(
            curl,
            "-sv",
            "--http2",
            "--cacert",
            ca_file,
            "-w",
            "|%{http_version}",
            f"https://localhost:{address.port}/",
        )
    assert "Hello, world!|2" in out
    assert re.search(r"ALPN.*h2", out)


async def test_nghttp_verbose_and_concurrent(nghttp: str) -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}"
        out = await run(nghttp, "-v", url + "/")
        assert "recv SETTINGS frame" in out
        assert re.search(r"recv \(stream_id=\d+\) :status: 200", out)
        assert re.search(r"recv \(stream_id=\d+\) content-length: 13", out)
        assert "Hello, world!" in out
        assert "recv DATA frame <length=13, flags=0x01" in out
        # Ten concurrent 1 MiB downloads on one connection, statistics on.
        out = await run(nghttp, "-ns", *[f"{url}/big?{i}" for i in range(10)])
        rows = re.findall(r"^\s*\d+\s+\S+\s+\S+\s+\S+\s+200\s+1M /big\?\d$", out, re.M)
        assert len(rows) == 10, out


async def test_h2load_bounded_run_has_no_failures(h2load: str) -> None:
    async with running_server(app) as address:
        out = await run(
            h2load, "-n", "2000", "-c", "10", "-m", "10", f"http://127.0.0.1:{address.port}/"
        )
    assert "2000 succeeded, 0 failed, 0 errored, 0 timeout" in out, out
    assert "status codes: 2000 2xx" in out


async def test_h2load_over_tls(server_ssl_context: ssl.SSLContext, h2load: str) -> None:
    async with running_server(app, ssl_context=server_ssl_context) as address:
        out = await run(
            h2load, "-n", "500", "-c", "5", "-m", "5", f"https://127.0.0.1:{address.port}/"
        )
    assert "Application protocol: h2" in out
    assert "500 succeeded, 0 failed, 0 errored, 0 timeout" in out, out


async def test_httpx_http2_prior_knowledge() -> None:
    async with running_server(app) as address:
        url = f"http://127.0.0.1:{address.port}"
        async with httpx.AsyncClient(http1=False, http2=True) as client:
            response = await client.get(url + "/")
            assert response.http_version == "HTTP/2"
            assert response.text == "Hello, world!"
            posted = await client.post(url + "/echo", content=BIG)
            assert posted.text == f"{len(BIG)} {hashlib.sha256(BIG).hexdigest()}"
            responses = await _gather(client, [url + "/big"] * 8)
            assert all(r.content == BIG for r in responses)


async def _gather(client: httpx.AsyncClient, urls: list[str]) -> list[httpx.Response]:
    results: list[httpx.Response] = []

    async def fetch(url: str) -> None:
        results.append(await client.get(url))

    async with trio.open_nursery() as nursery:
        for url in urls:
            nursery.start_soon(fetch, url)
    return results


async def test_httpx_over_tls(ca: trustme.CA, server_ssl_context: ssl.SSLContext) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with running_server(app, ssl_context=server_ssl_context) as address:
        async with httpx.AsyncClient(http2=True, verify=context) as client:
            response = await client.get(f"https://localhost:{address.port}/")
    assert response.http_version == "HTTP/2"
    assert response.text == "Hello, world!"
