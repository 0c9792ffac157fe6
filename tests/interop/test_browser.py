"""Real headless Chromium against the server: the file server of ``python -m trio_h2`` over
http://, and a page whose script talks to a WebSocket on the same origin over http:// (an
HTTP/1.1 Upgrade) and https:// (the page over HTTP/2 by ALPN, the WebSocket an RFC 8441
extended CONNECT on the same connection).

Chromium runs in a process group of its own (it forks a zygote, renderers, a GPU process
and a crash handler), which is killed at the end of each test whatever happened.  Every
wait is for something the browser or the server does: a page's script reports by POSTing
to ``/result``, and the tests wait for that request, never for time to pass.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import trio_h2
from tests.support import require_tool, running_server

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]

#: A slow machine (two shared cores) starts Chromium in about a second; this only bounds
#: a test that would otherwise hang.
TIMEOUT = 30

# Nothing may leave the loopback interface: every address but 127.0.0.1 fails to resolve
# (the rule applies to IP literals too), no proxy from the environment is used, and the
# background services that would phone home are off.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # Chromium will not start as root with its sandbox on
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--metrics-recording-only",
    "--disable-crash-reporter",
    "--disable-breakpad",
    "--no-default-browser-check",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's chromium; without it the test is skipped (a failure in CI)."""
    return require_tool("chromium")


def spki_pin(cert: trustme.LeafCert) -> str:
    """The base64 SHA-256 of the leaf's SubjectPublicKeyInfo, as Chromium's pin list wants."""
    leaf = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    spki = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def tail(path: Path, lines: int = 30) -> str:
    # A container has no D-Bus, and Chromium says so on every start.
    text = [line for line in path.read_text(errors="replace").splitlines() if "dbus" not in line]
    return "\n".join(text[-lines:])


@dataclass
class Browser:
    process: trio.Process
    stdout: Path
    stderr: Path

    def log(self) -> str:
        return f"chromium's stderr ends:\n{tail(self.stderr)}"


@asynccontextmanager
async def open_chromium(binary: str, workdir: Path, *args: str) -> AsyncIterator[Browser]:
    """Chromium with a fresh profile under ``workdir``; killed, group and all, at the end."""
    profile = workdir / "profile"
    profile.mkdir(parents=True, exist_ok=True)
    browser_out, browser_err = workdir / "chromium.out", workdir / "chromium.err"
    # Files rather than pipes: the helper processes inherit the descriptors, and a pipe
    # would stay open for as long as any of them lives.
    with browser_out.open("wb") as stdout, browser_err.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        yield Browser(process, browser_out, browser_err)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.kill()
        # Shielded: the test may be ending because its own deadline passed.
        with trio.move_on_after(10, shield=True):
            await process.wait()


async def dump_dom(binary: str, workdir: Path, url: str) -> str:
    """The DOM Chromium has once ``url`` is loaded and its scripts have run."""
    async with open_chromium(binary, workdir, "--dump-dom", url) as browser:
        with trio.fail_after(TIMEOUT):
            returncode = await browser.process.wait()
        dom = browser.stdout.read_text()
        # A page that failed to load still exits 0, with nothing on stdout.
        assert returncode == 0, browser.log()
        assert dom, browser.log()
        return dom


# -- 1. The file server (python -m trio_h2) -------------------------------------------------


class Lines:
    """The lines a process writes to one pipe, as they come."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = trio.Event()

    async def pump(self, pipe: trio.abc.ReceiveStream) -> None:
        pending = b""
        async for data in pipe:
            *complete, pending = (pending + data).split(b"\n")
            self.lines += [line.decode("utf-8", "replace") for line in complete]
            self._changed.set()
            self._changed = trio.Event()
        self.lines.append(pending.decode("utf-8", "replace"))
        self._changed.set()

    async def wait_for(self, pattern: str) -> re.Match[str]:
        seen = 0
        with trio.fail_after(TIMEOUT):
            while True:
                for line in self.lines[seen:]:
                    match = re.search(pattern, line)
                    if match:
                        return match
                seen = len(self.lines)
                await self._changed.wait()


@dataclass
class FileServer:
    process: trio.Process
    stdout: Lines
    stderr: Lines
    url: str = ""


@asynccontextmanager
async def file_server(root: Path) -> AsyncIterator[FileServer]:
    """``python -m trio_h2 --port 0`` in ``root``, up and announced; stopped with SIGINT."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_h2", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=root,
        env=env,
    )
    server = FileServer(process, Lines(), Lines())
    try:
        async with trio.open_nursery() as nursery:
            assert process.stdout is not None
            assert process.stderr is not None
            nursery.start_soon(server.stdout.pump, process.stdout)
            nursery.start_soon(server.stderr.pump, process.stderr)
            match = await server.stdout.wait_for(r"^Serving .* on (http://127\.0\.0\.1:\d+)")
            server.url = match[1]
            yield server
            process.send_signal(signal.SIGINT)
            with trio.fail_after(TIMEOUT):
                assert await process.wait() == 0, "\n".join(server.stderr.lines)
    finally:
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(10, shield=True):
                await process.wait()


INDEX = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>trio_h2 in a browser</title></head>
<body>
<h1>Grüße from index.html</h1>
<script src="app.js"></script>
</body>
</html>
"""

# The script is a second request, and what it writes is in the DOM only if it ran.
APP_JS = """document.body.insertAdjacentHTML(
  "beforeend", '<p id="from-script">app.js ran: ' + document.title + "</p>");
"""


async def test_chromium_loads_the_file_server_over_http11(chromium: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "files").mkdir(parents=True)
    (site / "index.html").write_text(INDEX, encoding="utf-8")
    (site / "app.js").write_text(APP_JS)
    (site / "files" / "notes.txt").write_text("notes\n")
    (site / "files" / "data.bin").write_bytes(bytes(range(256)))
    async with file_server(site) as server:
        dom = await dump_dom(chromium, tmp_path / "index", server.url + "/")
        assert "<h1>Grüße from index.html</h1>" in dom
        assert '<p id="from-script">app.js ran: trio_h2 in a browser</p>' in dom

        listing = await dump_dom(chromium, tmp_path / "listing", server.url + "/files/")
        assert '<a href="notes.txt">notes.txt</a>' in listing
        assert '<a href="data.bin">data.bin</a>' in listing

        # Browsers speak HTTP/1.1 on http:// (no h2c), and the access log says so.
        agent = r'"Mozilla/5\.0 [^"]*HeadlessChrome/[^"]+"'
        for target, size in [("/", len(INDEX.encode())), ("/app.js", len(APP_JS))]:
            await server.stderr.wait_for(
                rf'127\.0\.0\.1 "GET {re.escape(target)} HTTP/1\.1" 200 {size} [0-9.]+ms {agent}$'
            )
        await server.stderr.wait_for(rf'127\.0\.0\.1 "GET /files/ HTTP/1\.1" 200 \d+ .*{agent}$')
    assert not [line for line in server.stderr.lines if "HTTP/2" in line]


# -- 2. A WebSocket from a page's script ----------------------------------------------------

_random = random.Random(8441)

#: What the page sends, in order.  The lengths cover the three forms of a frame's payload
#: length (RFC 6455 §5.2): 7 bits (up to 125), 16 bits (126 to 65535) and 64 bits; the
#: server sends each echo back as one frame, so the browser parses all three.  Binary data
#: is random so that no compression could shrink it below a length form.
MESSAGES: list[str | bytes] = [
    "hello",
    "héllo wörld ✓ 🎉",  # two-, three- and four-byte UTF-8
    "",
    _random.randbytes(300),
    "ж" * 1000,
    _random.randbytes(100_000),
    "✓" * 30_000,  # 90,000 bytes of UTF-8
]


def _spec(message: str | bytes) -> dict[str, str]:
    if isinstance(message, str):
        return {"text": message}
    return {"binary": base64.b64encode(message).decode()}


SCRIPT = """
const specs = JSON.parse(document.getElementById("messages").textContent);

function decode(spec) {
  if ("text" in spec) return spec.text;
  const raw = atob(spec.binary);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes.buffer;
}

function describe(data) {
  if (typeof data === "string") return {type: "text", bytes: new TextEncoder().encode(data)};
  return {type: "binary", bytes: new Uint8Array(data)};
}

function equal(a, b) {
  if (a.type !== b.type || a.bytes.length !== b.bytes.length) return false;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return false;
  return true;
}

async function run() {
  const url = new URL("/echo", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const queue = [];
  let wake = null;
  ws.onmessage = (event) => {
    queue.push(event.data);
    if (wake) wake();
  };
  const closed = new Promise((resolve) => ws.addEventListener("close", resolve));
  const early = closed.then((event) => {
    throw new Error("closed early: " + event.code + " " + event.reason);
  });
  early.catch(() => {});
  await Promise.race([new Promise((resolve) => { ws.onopen = resolve; }), early]);
  const echoes = [];
  for (const spec of specs) {
    const sent = describe(decode(spec));
    ws.send(decode(spec));
    while (queue.length === 0) {
      await Promise.race([new Promise((resolve) => { wake = resolve; }), early]);
    }
    const got = describe(queue.shift());
    echoes.push({type: got.type, bytes: got.bytes.length, equal: equal(sent, got)});
  }
  ws.close(1000, "done");
  const event = await closed;
  return {
    echoes,
    close: {code: event.code, reason: event.reason, wasClean: event.wasClean},
    extensions: ws.extensions,
    protocol: ws.protocol,
  };
}

run()
  .catch((error) => ({error: String(error)}))
  .then((report) => fetch("/result", {method: "POST", body: JSON.stringify(report)}));
"""

PAGE = (
    '<!doctype html>\n<html><head><meta charset="utf-8"><title>WebSocket echo</title></head>\n'
    '<body><script id="messages" type="application/json">'
    # No "</script>" can end the element early: JSON may write "<" as an escape.
    + json.dumps([_spec(m) for m in MESSAGES]).replace("<", "\\u003c")
    + "</script>\n<script>"
    + SCRIPT
    + "</script></body></html>\n"
)


@dataclass
class Seen:
    """What the server saw of the page, its WebSocket and its report."""

    pages: list[tuple[str, Any]] = field(default_factory=list)  # (HTTP version, client)
    upgrade: dict[str, Any] = field(default_factory=dict)
    messages: list[str | bytes] = field(default_factory=list)
    close: trio_websocket.CloseReason | None = None
    report: Any = None
    reported: trio.Event = field(default_factory=trio.Event)
    websocket_ended: trio.Event = field(default_factory=trio.Event)


def echo_site(seen: Seen) -> Callable[[trio_h2.Stream], Awaitable[None]]:
    async def handler(stream: trio_h2.Stream) -> None:
        if stream.is_websocket and stream.url_path == "/echo":
            seen.upgrade = {
                "http_version": stream.http_version,
                "method": stream.method,
                "protocol": stream.protocol,
                "origin": stream.header("origin"),
                "client": stream.client_address,
            }
            try:
                ws = await stream.accept_websocket()
                while True:
                    try:
                        message = await ws.get_message()
                    except trio_websocket.ConnectionClosed as closed:
                        seen.close = closed.reason
                        return
                    seen.messages.append(message)
                    await ws.send_message(message)
            finally:
                seen.websocket_ended.set()
        elif stream.method == "GET" and stream.url_path == "/":
            seen.pages.append((stream.http_version, stream.client_address))
            await stream.respond(200, [("content-type", "text/html; charset=utf-8")], PAGE)
        elif stream.method == "POST" and stream.url_path == "/result":
            seen.report = json.loads(await stream.read())
            await stream.respond(204)
            seen.reported.set()
        else:
            await stream.respond(404)

    return handler


async def run_page(binary: str, workdir: Path, url: str, seen: Seen, *flags: str) -> None:
    """Open ``url`` in Chromium and wait for the page's report and the WebSocket's end."""
    async with open_chromium(binary, workdir, *flags, url) as browser:
        try:
            with trio.fail_after(TIMEOUT):
                async with trio.open_nursery() as nursery:

                    async def browser_exits() -> None:
                        await browser.process.wait()
                        nursery.cancel_scope.cancel()

                    nursery.start_soon(browser_exits)
                    await seen.reported.wait()
                    await seen.websocket_ended.wait()
                    nursery.cancel_scope.cancel()
        except trio.TooSlowError:
            pytest.fail(f"no report from the page in {TIMEOUT} s; {browser.log()}")
        assert seen.reported.is_set(), (
            f"chromium exited ({browser.process.returncode}) first; {browser.log()}"
        )


def check_echoes(seen: Seen, origin: str) -> None:
    expected = [
        {
            "type": "text" if isinstance(m, str) else "binary",
            "bytes": len(m.encode() if isinstance(m, str) else m),
            "equal": True,
        }
        for m in MESSAGES
    ]
    assert seen.report == {
        "echoes": expected,
        "close": {"code": 1000, "reason": "done", "wasClean": True},
        "extensions": "",
        "protocol": "",
    }
    # Compared one by one: a failing comparison of the whole list would print 400 kB.
    assert len(seen.messages) == len(MESSAGES)
    for got, sent in zip(seen.messages, MESSAGES, strict=True):
        assert type(got) is type(sent)
        assert got == sent, f"a {type(sent).__name__} of length {len(sent)} arrived changed"
    assert seen.close is not None
    assert (seen.close.code, seen.close.reason) == (1000, "done")
    assert seen.upgrade["origin"] == origin


async def test_websocket_from_a_page_over_http11(chromium: str, tmp_path: Path) -> None:
    seen = Seen()
    async with running_server(echo_site(seen)) as address:
        origin = f"http://127.0.0.1:{address.port}"
        await run_page(chromium, tmp_path, origin + "/", seen)
    check_echoes(seen, origin)
    assert [version for version, _ in seen.pages] == ["1.1"]
    assert seen.upgrade["http_version"] == "1.1"
    assert (seen.upgrade["method"], seen.upgrade["protocol"]) == ("GET", "websocket")


async def test_websocket_from_a_page_over_http2_with_tls(
    chromium: str,
    tmp_path: Path,
    server_cert: trustme.LeafCert,
    server_ssl_context: ssl.SSLContext,
) -> None:
    seen = Seen()
    async with running_server(echo_site(seen), ssl_context=server_ssl_context) as address:
        origin = f"https://127.0.0.1:{address.port}"
        # Trusts this one key only, where --ignore-certificate-errors would take any.
        pin = f"--ignore-certificate-errors-spki-list={spki_pin(server_cert)}"
        await run_page(chromium, tmp_path, origin + "/", seen, pin)
    check_echoes(seen, origin)
    [(version, client)] = seen.pages
    assert version == "2"
    # RFC 8441: the page's HTTP/2 connection advertises SETTINGS_ENABLE_CONNECT_PROTOCOL,
    # so the WebSocket is an extended CONNECT on that same connection (without the
    # setting Chromium opens another TLS connection, with ALPN http/1.1, for it).
    assert seen.upgrade["http_version"] == "2"
    assert (seen.upgrade["method"], seen.upgrade["protocol"]) == ("CONNECT", "websocket")
    assert seen.upgrade["client"] == client
