"""open_unix_listener() and serve_listeners() on a Unix socket, in one process."""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import pytest
import trio

import trio_h2


async def handler(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], repr(stream.client_address))


async def get(path: str) -> bytes:
    with trio.fail_after(10):
        stream = await trio.open_unix_socket(path)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            answer = b""
            while chunk := await stream.receive_some():
                answer += chunk
    return answer


async def test_serve_listeners_on_a_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    listener = await trio_h2.open_unix_listener(path, mode=0o600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    async with trio.open_nursery() as nursery:
        address = await nursery.start(trio_h2.serve_listeners, handler, [listener])
        assert address == trio_h2.ServerAddress(path, 0)
        answer = await get(path)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"\r\n\r\n''")  # an unnamed client socket
        nursery.cancel_scope.cancel()
    assert listener.socket.fileno() == -1
    # The file stays, as a Unix socket's does; the next listener replaces it.
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    again = await trio_h2.open_unix_listener(path)
    async with again, trio.open_nursery() as nursery:
        await nursery.start(trio_h2.serve_listeners, handler, [again])
        assert (await get(path)).startswith(b"HTTP/1.1 200 OK\r\n")
        nursery.cancel_scope.cancel()


async def test_a_live_socket_and_other_files_are_not_taken(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(path)
        live.listen()
        with pytest.raises(OSError, match="another server is listening") as caught:
            await trio_h2.open_unix_listener(path)
        assert caught.value.errno == errno.EADDRINUSE
    other = tmp_path / "data"
    other.write_text("x")
    with pytest.raises(OSError, match="exists and is not a socket") as caught:
        await trio_h2.open_unix_listener(str(other))
    assert caught.value.errno == errno.EEXIST
    assert other.read_text() == "x"
