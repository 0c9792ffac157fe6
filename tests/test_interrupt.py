"""Ctrl-C: the server's own code takes it at a checkpoint, the application's at once.

A KeyboardInterrupt that trio raises in the middle of the server's bookkeeping (a
nursery half entered, a stream half forgotten) would break the connection it lands
in and everything on it.  The server marks its tasks protected, so that a Ctrl-C
arriving there is delivered to the program's main task instead, which cancels
``serve()``: a graceful shutdown that finishes the requests in flight.  Handlers
and ASGI applications stay unprotected, as any trio code is, so that Ctrl-C still
stops one that never reaches a checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_h2
from trio_h2.testing import connect

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("http_version", ["2", "1.1"])
async def test_a_handler_runs_unprotected(http_version: str) -> None:
    seen: list[bool] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(trio.lowlevel.currently_ki_protected())
        await stream.respond(200, body=b"ok")

    async with connect(handler, http_version=http_version) as client:
        assert (await client.get("/")).status == 200
    assert seen == [False]


async def test_a_tunnel_handler_runs_unprotected() -> None:
    seen: list[bool] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(trio.lowlevel.currently_ki_protected())
        await stream.respond(200, body=b"ok")

    async with connect(handler) as client:
        headers = [(":protocol", "websocket"), ("sec-websocket-version", "13")]
        response = await client.request("CONNECT", "/chat", headers=headers)
        assert response.status == 200
    assert seen == [False]


@pytest.mark.parametrize("http_version", ["2", "1.1"])
async def test_an_asgi_app_runs_unprotected(http_version: str) -> None:
    seen: list[bool] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rpartition(".")[2]
                await send({"type": f"{message['type']}.complete"})
                if kind == "shutdown":
                    return
        seen.append(trio.lowlevel.currently_ki_protected())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with connect(app, http_version=http_version) as client:
        assert (await client.get("/")).status == 200
    assert seen == [False]


#: Two requests in flight; the server's code raises SIGINT, for itself, while it
#: finishes the first.  Unprotected, the KeyboardInterrupt would escape from that
#: spot and take the connection (HTTP/2: the second request too) with it.
SCRIPT = textwrap.dedent(
    """
    import signal
    import sys

    import trio

    import trio_h2
    from trio_h2.server import h1conn, h2conn
    from trio_h2.testing import open_client

    HTTP_VERSION = sys.argv[1]
    slow_started = trio.Event()
    released = trio.Event()
    statuses = {}


    def interrupt_after(original):
        def log_exchange(stream, *args, **kwargs):
            original(stream, *args, **kwargs)
            if stream.path == "/fast":
                signal.raise_signal(signal.SIGINT)
                released.set()

        return log_exchange


    h1conn.log_exchange = interrupt_after(h1conn.log_exchange)
    h2conn.log_exchange = interrupt_after(h2conn.log_exchange)


    async def handler(stream):
        if stream.path == "/slow":
            slow_started.set()
            await released.wait()
        await stream.respond(200, body=stream.path.encode())


    async def clients(address):
        # Shielded: the main task's nursery is cancelled by the KeyboardInterrupt,
        # and the clients are to see what the server does, not be cancelled.
        with trio.CancelScope(shield=True):
            async with trio.open_nursery() as connections:

                async def new_client():
                    transport = await trio.open_tcp_stream(address.host, address.port)
                    return await connections.start(client_on, transport)

                # HTTP/2: both requests on one connection; HTTP/1.1: one each.
                shared = await new_client() if HTTP_VERSION == "2" else None

                async def fetch(path):
                    client = shared or await new_client()
                    response = await client.get(path)
                    statuses[path] = (response.status, response.body)

                async with trio.open_nursery() as requests:
                    requests.start_soon(fetch, "/slow")
                    await slow_started.wait()
                    requests.start_soon(fetch, "/fast")
                connections.cancel_scope.cancel()


    async def client_on(transport, task_status):
        async with open_client(transport, http_version=HTTP_VERSION) as client:
            task_status.started(client)
            await trio.sleep_forever()


    async def main():
        async with trio.open_nursery() as nursery:
            address = await nursery.start(trio_h2.serve, handler, "127.0.0.1", 0)
            nursery.start_soon(clients, address)


    try:
        trio.run(main)
    except* KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    print(sorted(statuses.items()))
    """
)


@pytest.mark.parametrize("http_version", ["2", "1.1"])
def test_ctrl_c_in_server_code_is_a_graceful_shutdown(http_version: str, tmp_path: Path) -> None:
    script = tmp_path / "interrupted.py"
    script.write_text(SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-X", "dev", str(script), http_version],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('/fast', (200, b'/fast')), ('/slow', (200, b'/slow'))]"
    assert result.stderr.splitlines()[-1:] == ["interrupted"], result.stderr
    for marker in ("Traceback", "corrupted", "RuntimeWarning", "never awaited"):
        assert marker not in result.stderr, result.stderr
