"""Each program in examples/ runs as a person would run it and answers real clients.

Every example is started as a subprocess on a free port (``--port 0``); the
"Serving ... on URL" line it prints says it is ready and where.  Leaving
:func:`example` cancels ``trio.run_process``, which terminates that process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


class LineReader:
    """Lines from a trio receive stream (a subprocess's stdout), as they come."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def readline(self) -> str:
        """The next line without its newline; raises EOFError at the end of output."""
        while b"\n" not in self._buffer:
            data = await self._stream.receive_some()
            if not data:
                raise EOFError(bytes(self._buffer).decode(errors="replace"))
            self._buffer += data
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return line.decode("utf-8").rstrip("\r")


@asynccontextmanager
async def example(name: str, *args: str) -> AsyncIterator[str]:
    """Run ``examples/NAME.py --port 0``; yield its base URL once it serves."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, str(EXAMPLES / f"{name}.py"), "--port", "0", *args]
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(trio.run_process, command, stdout=subprocess.PIPE, env=env, check=False)
        )
        try:
            assert process.stdout is not None
            with trio.fail_after(60):
                try:
                    line = await LineReader(process.stdout).readline()
                except EOFError as exc:
                    pytest.fail(f"{name}.py exited before serving: {exc}")
            match = re.fullmatch(r"Serving .*?on (http://127\.0\.0\.1:(\d+))/\S*", line)
            assert match, line
            assert int(match.group(2)) > 0
            yield match.group(1)
        finally:
            nursery.cancel_scope.cancel()


async def run(*argv: str) -> str:
    """Run a client to completion; its stdout and stderr together."""
    with trio.fail_after(60):
        result = await trio.run_process(
            list(argv), capture_stdout=True, capture_stderr=True, check=False
        )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, output
    return output


def h2_client() -> httpx.AsyncClient:
    # http1=False: HTTP/2 with prior knowledge over cleartext.
    return httpx.AsyncClient(http1=False, http2=True, timeout=60)


async def test_hello(curl: str) -> None:
    async with example("hello") as url:
        out = await run(curl, "-s", "--http2-prior-knowledge", "-w", "|%{http_version}", url)
        async with h2_client() as client:
            response = await client.get(url + "/anything")
    assert out == "Hello, world!\n|2"
    assert response.http_version == "HTTP/2"
    assert response.text == "Hello, world!\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_push_seen_by_nghttp(nghttp: str) -> None:
    async with example("push") as url:
        out = await run(nghttp, "-v", url + "/")
        without_push = await run(nghttp, "-v", "--no-push", url + "/")
    assert "recv PUSH_PROMISE frame" in out
    assert "promised_stream_id=2" in out
    assert re.search(r"recv \(stream_id=\d+\) :path: /style\.css", out)
    # The promise reaches the client before the page that refers to the stylesheet.
    assert out.index("recv PUSH_PROMISE frame") < out.index("; First response header")
    assert out.index("; First response header") < out.index('href="/style.css"')
    # The pushed response itself, with its body.
    pushed = out[out.index("; First push response header") :]
    assert "recv (stream_id=2) :status: 200" in out
    assert "recv (stream_id=2) content-type: text/css" in out
    assert "h1 { color: rebeccapurple; }" in pushed
    # A client that refuses push just gets the page.
    assert "PUSH_PROMISE" not in without_push
    assert "This page's stylesheet came with it" in without_push


async def test_trailers_seen_by_nghttp(tmp_path: Path, nghttp: str) -> None:
    request = tmp_path / "hello.bin"
    request.write_bytes(b"\x00\x00\x00\x00\x07\x0a\x05world")
    grpc = ["-H", "content-type: application/grpc", "-H", "te: trailers"]
    async with example("trailers") as url:
        out = await run(
            nghttp, "-v", "-d", str(request), *grpc, url + "/helloworld.Greeter/SayHello"
        )
        unknown = await run(nghttp, "-v", "-d", str(request), *grpc, url + "/x.Y/Z")
    assert "Hello world" in out
    data_at = out.index("recv DATA frame")
    status_at = out.index("grpc-status: 0")
    assert data_at < status_at
    assert "grpc-message: OK" in out[status_at:]
    # The trailers are a HEADERS frame that ends the stream.
    trailer_frame = out[status_at:]
    assert re.search(r"recv HEADERS frame <[^>]*flags=0x05", trailer_frame)
    assert "; END_STREAM | END_HEADERS" in trailer_frame
    # Failure before any message: trailers-only, one HEADERS frame with the status.
    assert "grpc-status: 12" in unknown
    assert "recv DATA frame" not in unknown


async def test_early_hints_seen_by_nghttp(nghttp: str) -> None:
    async with example("early_hints") as url:
        out = await run(nghttp, "-v", url + "/")
    hint_at = out.index(":status: 103")
    final_at = out.index(":status: 200")
    assert hint_at < final_at
    hints = out[hint_at:final_at]
    assert "link: </style.css>; rel=preload; as=style" in hints
    assert "link: </app.js>; rel=preload; as=script" in hints
    assert "<h1>Hinted</h1>" in out[final_at:]


async def test_server_sent_events_arrive_one_by_one_through_curl(curl: str) -> None:
    async with example("sse", "--interval", "0.2") as url, trio.open_nursery() as nursery:
        command = [curl, "-sN", "--http2-prior-knowledge", url + "/events"]
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
                    data = await lines.readline()
                    assert data.startswith(f"data: tick {ids[-1]} at ")
                    assert await lines.readline() == ""
                    # The response never ends, so an event read while curl still
                    # runs came through as it was produced, not at the end.
                    assert process.returncode is None
        process.kill()
    assert ids == [1, 2, 3]


async def test_file_server(tmp_path: Path, curl: str) -> None:
    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>\n")
    data = bytes(range(256)) * 8192  # 2 MiB
    (root / "docs" / "data.bin").write_bytes(data)
    (tmp_path / "secret.txt").write_text("not for you\n")
    async with example("file_server", "--directory", str(root)) as url:
        async with h2_client() as client:
            index = await client.get(url + "/")
            blob = await client.get(url + "/docs/data.bin")
            head = await client.head(url + "/docs/data.bin")
            listing = await client.get(url + "/docs/")
            missing = await client.get(url + "/nope.txt")
        escape = await run(
            curl,
            "-s",
            "--http2-prior-knowledge",
            "--path-as-is",
            "-w",
            "|%{http_code}",
            url + "/docs/../../secret.txt",
        )
    assert index.http_version == "HTTP/2"
    assert index.text == "<h1>home</h1>\n"
    assert blob.content == data
    assert blob.headers["content-length"] == str(len(data))
    assert head.headers["content-length"] == str(len(data))
    assert head.content == b""
    assert "data.bin" in listing.text
    assert missing.status_code == 404
    assert escape.endswith("|404")
    assert "not for you" not in escape


async def test_json_echo_of_a_ten_megabyte_post_through_httpx() -> None:
    payload = "0123456789abcdef" * (10 * 1024 * 1024 // 16)  # 10 MiB of text
    async with example("json_echo") as url, h2_client() as client:
        posted = await client.post(
            url + "/upload?x=1", content=payload.encode(), headers={"x-note": "big"}
        )
        got = await client.get(url + "/", headers=[("x-a", "1"), ("x-a", "2")])
    assert posted.http_version == "HTTP/2"
    assert posted.status_code == 200
    assert posted.headers["content-type"] == "application/json"
    echo = posted.json()
    assert echo["body"] == payload
    assert echo["headers"][":method"] == "POST"
    assert echo["headers"][":path"] == "/upload?x=1"
    assert echo["headers"]["x-note"] == "big"
    assert echo["headers"]["content-length"] == str(len(payload))
    echoed = got.json()
    assert echoed["body"] == ""
    assert {k: v for k, v in echoed["headers"].items() if k.startswith(":")} == {
        ":method": "GET",
        ":scheme": "http",
        ":authority": url.removeprefix("http://"),
        ":path": "/",
    }
    assert echoed["headers"]["x-a"] == "1, 2"
