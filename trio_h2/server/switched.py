"""The socket of an HTTP/1.1 connection that switched protocols, as the new protocol sees it.

After a 101 the connection's reader lets go of the socket, but its writer stays: what
the new protocol sends is queued there, so that the frames written in one scheduling
round (a WebSocket echoing a burst of messages) leave in one ``send_all`` instead of a
system call each, and the outbound buffer stays bounded by ``max_outbound_buffer``
exactly as before the switch.  Reads go straight to the socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from .writer import Writer


class SwitchedTransport(trio.abc.Stream):
    """A trio Stream over a connection's socket (reads) and its writer (writes)."""

    def __init__(
        self,
        transport: trio.abc.Stream,
        writer: Writer,
        receive_some: Callable[[int], Awaitable[bytes | bytearray]],
        receive_size: int,
    ) -> None:
        self._transport = transport
        self._writer = writer
        self._receive = receive_some
        self._receive_size = receive_size
        self._closed = False
        self._sending = False

    def _check(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        if self._writer.broken:
            raise trio.BrokenResourceError("the connection was lost")

    @property
    def can_queue(self) -> bool:
        """Whether :meth:`queue` may be called: room in the buffer, no send waiting."""
        writer = self._writer
        return not (self._sending or self._closed or writer.broken or writer.full)

    def queue(self, data: bytes) -> None:
        """Queue ``data`` at once (only while :attr:`can_queue`)."""
        self._writer.queue(data)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data``; wait only while the outbound buffer is over its bound."""
        if self._sending:
            raise trio.BusyResourceError("another task is writing to the connection")
        self._check()
        await trio.lowlevel.checkpoint_if_cancelled()
        self._writer.queue(bytes(data))
        if not self._writer.full:
            # Queued: from here on it has had its effect, so it is not cancelled.
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        self._sending = True
        try:
            while self._writer.full and not self._writer.broken:
                await self._writer.wait_drained()
        finally:
            self._sending = False
        if self._writer.broken:
            raise trio.BrokenResourceError("the connection was lost")

    async def wait_send_all_might_not_block(self) -> None:
        self._check()
        while self._writer.full and not self._writer.broken:
            await self._writer.wait_drained()
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        return bytes(await self._receive(max_bytes or self._receive_size))

    async def aclose(self) -> None:
        """Send what is queued (for at most as long as a send may take), then close."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        try:
            await self._writer.wait_sent()
        finally:
            self._writer.detach()
            await trio.aclose_forcefully(self._transport)
