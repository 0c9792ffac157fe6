"""The examples over HTTP/1.1, as curl, httpx and urllib speak it by default.

The same programs as in test_examples.py, with no change: the server tells HTTP/1.1
from HTTP/2 by the first bytes, and each handler serves both.
"""

from __future__ import annotations

import json
import subprocess
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from tests.test_examples import LineReader, example, run

pytestmark = pytest.mark.interop


def h1_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(http1=True, http2=False, timeout=60)


async def test_hello_over_http1_and_http1_0(curl: str) -> None:
    async with example("hello") as url:
        out = await run(curl, "-s", "-w", "|%{http_version}", url)
        old = await run(curl, "-s", "-i", "--http1.0", url)
        async with h1_client() as client:
            response = await client.get(url + "/anything")
    assert out == "Hello, world!\n|1.1"
    # RFC 9110 §2.5: the answer names the server's version; its framing suits 1.0.
    assert old.startswith("HTTP/1.1 200 OK\r\n")
    assert "\r\ncontent-length: 14\r\n" in old
    assert "\r\nconnection: close\r\n" in old.lower()
    assert old.endswith("\r\n\r\nHello, world!\n")
    assert response.http_version == "HTTP/1.1"
    assert response.text == "Hello, world!\n"


async def test_push_is_left_out_over_http1(curl: str) -> None:
    async with example("push") as url:
        page = await run(curl, "-s", "-w", "|%{http_code}", url + "/")
        style = await run(curl, "-s", url + "/style.css")
    # No push on HTTP/1.1: the page comes alone and its stylesheet by its own request.
    assert page.endswith("|200")
    assert 'href="/style.css"' in page
    assert "h1 { color: rebeccapurple; }" in style


async def test_trailers_as_chunked_trailers_when_asked_for(tmp_path: Path, curl: str) -> None:
    request = tmp_path / "hello.bin"
    request.write_bytes(b"\x00\x00\x00\x00\x07\x0a\x05world")
    grpc = ["-H", "content-type: application/grpc", "--data-binary", f"@{request}"]
    async with example("trailers") as url:
        target = url + "/helloworld.Greeter/SayHello"
        # --raw: curl shows the chunked framing, trailers included, as it came.
        asked = await run(curl, "-s", "--raw", "-H", "te: trailers", *grpc, target)
        unasked = await run(curl, "-s", "--raw", *grpc, target)
    assert "Hello world" in asked
    assert asked.endswith("0\r\ngrpc-status: 0\r\ngrpc-message: OK\r\n\r\n")
    # Without TE: trailers they are dropped; the body still ends cleanly.
    assert "Hello world" in unasked
    assert "grpc-status" not in unasked
    assert unasked.endswith("0\r\n\r\n")


async def test_early_hints_reach_curl_before_the_page(curl: str) -> None:
    async with example("early_hints") as url:
        out = await run(curl, "-s", "-i", url + "/")
    hint_at = out.index("HTTP/1.1 103 Early Hints\r\n")
    final_at = out.index("HTTP/1.1 200 OK\r\n")
    assert hint_at < final_at
    hints = out[hint_at:final_at]
    assert "link: </style.css>; rel=preload; as=style" in hints
    assert "<h1>Hinted</h1>" in out[final_at:]


async def test_server_sent_events_arrive_one_by_one_over_http1(curl: str) -> None:
    async with example("sse", "--interval", "0.2") as url, trio.open_nursery() as nursery:
        command = [curl, "-sN", url + "/events"]
        process: trio.Process = await nursery.start(
            partial(trio.run_process, command, stdout=subprocess.PIPE, check=False)
        )
        assert process.stdout is not None
        lines = LineReader(process.stdout)
        ids: list[int] = []
        with trio.fail_after(60):
            while len(ids) < 3:
                line = await lines.readline()
                if line.startswith("id: "):
                    ids.append(int(line[4:]))
                    assert process.returncode is None  # each event came as it was made
        process.kill()
    assert ids == [1, 2, 3]


async def test_file_server_over_http1(tmp_path: Path, curl: str) -> None:
    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>\n")
    data = bytes(range(256)) * 8192  # 2 MiB
    (root / "docs" / "data.bin").write_bytes(data)
    (tmp_path / "secret.txt").write_text("not for you\n")
    async with example("file_server", "--directory", str(root)) as url:
        async with h1_client() as client:
            index = await client.get(url + "/")
            blob = await client.get(url + "/docs/data.bin")
            head = await client.head(url + "/docs/data.bin")
            ranged = await client.get(url + "/docs/data.bin", headers={"range": "bytes=10-19"})
            listing = await client.get(url + "/docs/")
            missing = await client.get(url + "/nope.txt")
        escape = await run(
            curl, "-s", "--path-as-is", "-w", "|%{http_code}", url + "/docs/../../secret.txt"
        )
    assert index.http_version == "HTTP/1.1"
    assert index.text == "<h1>home</h1>\n"
    assert blob.content == data
    assert blob.headers["content-length"] == str(len(data))
    assert head.headers["content-length"] == str(len(data))
    assert head.content == b""
    assert ranged.status_code == 206
    assert ranged.content == data[10:20]
    assert "data.bin" in listing.text
    assert missing.status_code == 404
    assert escape.endswith("|404")
    assert "not for you" not in escape


async def test_json_echo_of_a_chunked_upload_over_http1() -> None:
    payload = b"0123456789abcdef" * 65_536  # 1 MiB

    async def chunks() -> object:
        for start in range(0, len(payload), 100_000):
            yield payload[start : start + 100_000]

    async with example("json_echo") as url, h1_client() as client:
        posted = await client.post(url + "/upload?x=1", content=chunks())  # type: ignore[arg-type]
    assert posted.http_version == "HTTP/1.1"
    echo = json.loads(posted.content)
    assert echo["body"] == payload.decode()
    assert echo["headers"]["transfer-encoding"] == "chunked"
    assert echo["headers"][":path"] == "/upload?x=1"
    assert echo["headers"][":authority"] == url.removeprefix("http://")
