"""Helpers shared by the tests: a server on a real socket, real-client lookup."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import trio_h2

#: In CI every real client must be present: a missing one fails instead of skipping.
IN_CI = os.environ.get("CI") == "true"


def have_ipv6_loopback() -> bool:
    """Whether this machine can bind ``::1`` (some containers have no IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def stop_process(process: trio.Process) -> None:
    """SIGTERM to a process the test started (by its PID), then SIGKILL after 10 s."""
    process.terminate()
    with trio.move_on_after(10):
        await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()


def require_tool(name: str) -> str:
    """The path of an external client, or skip the test (fail in CI) without it.

    Call it from a sync test or fixture (conftest.py has ``curl``, ``nghttp`` and
    ``h2load``): inside a trio test pytest-trio re-raises the skip without its reason.
    """
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; .ci/run installs it")
        pytest.skip(f"{name} is not installed")
    return path


@asynccontextmanager
async def running_server(handler: Any, **kwargs: Any) -> AsyncIterator[trio_h2.ServerAddress]:
    """Serve ``handler`` on a free loopback port for the body of the block.

    Keyword arguments go to :func:`trio_h2.serve` (``host``, ``ssl_context``,
    ``config``).  Leaving the block cancels the server (a graceful shutdown).
    """
    host = kwargs.pop("host", "127.0.0.1")
    async with trio.open_nursery() as nursery:

        async def run(task_status: trio.TaskStatus[trio_h2.ServerAddress]) -> None:
            await trio_h2.serve(handler, host, 0, task_status=task_status, **kwargs)

        address = await nursery.start(run)
        try:
            yield address
        finally:
            nursery.cancel_scope.cancel()


class ForwardingStream(trio.abc.Stream):
    """A transport that passes every call to ``inner``; tests override what they watch."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose connections are in-memory stream pairs (for autojump tests)."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](100)

    async def connect(self) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        await self._send.send(server)
        return client

    async def accept(self) -> trio.abc.Stream:
        return await self._receive.receive()

    async def aclose(self) -> None:
        await self._receive.aclose()
