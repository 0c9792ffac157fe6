"""The accept loop: errors from accept()."""

from __future__ import annotations

import errno
import logging
import os

import pytest
import trio
import trio.testing

import trio_h2
from tests.support import MemoryListener
from trio_h2._server import Server
from trio_h2.testing import open_client


async def hello(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], b"hello\n")


# ---------------------------------------------------------------- accept() errors


class FlakyListener(MemoryListener):
    """accept() fails with the scripted errnos first (None: a normal accept)."""

    def __init__(self, script: list[int | None]) -> None:
        super().__init__()
        self.script = script
        self.calls: list[float] = []

    async def accept(self) -> trio.abc.Stream:
        self.calls.append(trio.current_time())
        if self.script:
            code = self.script.pop(0)
            if code is not None:
                await trio.lowlevel.checkpoint()
                raise OSError(code, os.strerror(code))
        return await super().accept()


async def test_accept_backs_off_on_capacity_errors_and_recovers(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2")
    capacity = [errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS]
    first_run = [capacity[i % 4] for i in range(14)]
    listener = FlakyListener([*first_run, None, errno.EMFILE, errno.EMFILE, None])
    server = Server(hello, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server._accept_loop, listener, nursery)
        for _ in range(2):
            async with open_client(await listener.connect()) as client:
                assert (await client.get("/")).body == b"hello\n"
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 6) for a, b in zip(listener.calls, listener.calls[1:], strict=False)]
    # 100 ms at first (as trio.serve_listeners), doubling up to 1 s while the errors
    # go on; after a success (the first client, served at once) from 100 ms again.
    assert gaps[:14] == [0.1, 0.2, 0.4, 0.8, *[1.0] * 10]
    assert gaps[14:17] == [0.0, 0.1, 0.2]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # Rate-limited: one warning when the errors start, one more 10 s later.
    assert len(warnings) == 2
    assert warnings[0].startswith("accept() failed: EMFILE (Too many open files), 1 time(s)")
    assert warnings[1].startswith("accept() failed: ENFILE (Too many open files in system), 14")
    infos = [r.getMessage() for r in caplog.records if "works again" in r.getMessage()]
    assert infos == [
        "accept() works again, after 14 failure(s)",
        "accept() works again, after 2 failure(s)",
    ]


@pytest.mark.parametrize("code", [errno.ENOTSOCK, errno.EINVAL, errno.EBADF])
async def test_other_accept_errors_end_serve(code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    async def failing_accept(self: trio.SocketListener) -> trio.SocketStream:
        nonlocal calls
        calls += 1
        await trio.lowlevel.checkpoint()
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(trio.SocketListener, "accept", failing_accept)
    with trio.fail_after(5), pytest.raises(OSError, match=os.strerror(code)) as raised:
        await trio_h2.serve(hello, "127.0.0.1", 0)
    assert type(raised.value) is OSError  # itself, not in an exception group
    assert raised.value.errno == code
    assert calls == 1  # not retried
