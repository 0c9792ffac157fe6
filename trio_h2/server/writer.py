"""The writer: the one task that sends a connection's bytes.

Every other task only appends whole frames to the outbound buffer, synchronously.  The
writer takes the whole buffer at once, so the frames of every stream that had
something to say leave in one ``send_all``, and a cancelled handler can never cut a
frame in half.  The buffer is bounded: senders (and the reader) wait in
:meth:`Writer.wait_drained` while it is over ``max_outbound_buffer``, and a peer that
stops reading is dropped after ``send_timeout``.

On a plain TCP socket (``_sockio.py``) there is one shortcut: while only one stream is
active and nothing is queued or being sent, :meth:`Writer.queue` writes the frames
straight to the socket, synchronously, so they cannot be cut by a cancellation either;
only what the kernel does not take at once is left to the writer task.  A connection
answering one request at a time then needs no wake-up of the writer per response,
while several streams' frames are still gathered into one write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from .interrupt import protected
from .sockio import DirectSocket

log = logging.getLogger("trio_h2")

#: Octets a gathering writer waits for at most before it writes.
GATHER_LIMIT = 65_536
#: Scheduling rounds without a new frame after which a gathering writer writes: a
#: message takes a few rounds from the socket to its echo (reader, channel, handler).
GATHER_ROUNDS = 3


class Writer:
    """The outbound buffer of one connection, and the task that empties it."""

    def __init__(
        self,
        transport: trio.abc.Stream,
        *,
        max_buffer: int,
        send_timeout: float,
        peer: Any,
        several_streams: Callable[[], bool],
        on_lost: Callable[[], None],
        direct: DirectSocket | None = None,
    ) -> None:
        self._transport = transport
        self._direct = direct
        self._max_buffer = max_buffer
        self._send_timeout = send_timeout
        self._peer = peer
        self._several_streams = several_streams
        self._on_lost = on_lost
        self._buffer = bytearray()
        self._in_flight = 0
        self._wakeup = trio.Event()
        self._drained: trio.Event | None = None
        #: True once a send failed or timed out; nothing more will be sent.
        self.broken = False
        #: Whether to wait, before a write, while other tasks keep adding to it.
        self.gathering = False

    def queue(self, data: bytearray | bytes) -> None:
        """Add whole frames to what goes out next."""
        direct = self._direct
        if (
            direct is not None
            and not self._buffer
            and not self._in_flight
            and not self.broken
            and not self._several_streams()
        ):
            try:
                sent = direct.try_send(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._lost(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
        if self._buffer:
            self._buffer += data
        elif isinstance(data, bytearray):
            self._buffer = data  # taken over, uncopied (h2 hands over its buffer)
        else:
            self._buffer = bytearray(data)
        self._wakeup.set()

    @property
    def pending(self) -> int:
        """Bytes queued or being sent."""
        return len(self._buffer) + self._in_flight

    @property
    def full(self) -> bool:
        return self.pending >= self._max_buffer

    async def wait_drained(self) -> None:
        """Wait until the buffer has gone down to half its bound (or the peer is gone)."""
        if self._drained is None:
            self._drained = trio.Event()
        await self._drained.wait()

    async def wait_sent(self) -> None:
        """Wait until everything queued has been handed to the transport."""
        while self.pending and not self.broken:
            await self.wait_drained()

    def detach(self) -> None:
        """Stop writing to the socket directly: it is about to be closed."""
        if self._direct is not None:
            self._direct.detach()
            self._direct = None

    @protected
    async def run(self) -> None:
        # Each send may block for at most send_timeout.  A scope per send_all costs
        # about as much as answering a small request, so one scope covers many
        # sends: its deadline moves forward at most once a second while sending, and
        # when it passes while there is nothing to send, a new scope takes over.
        while True:
            deadline = trio.current_time() + self._send_timeout
            with trio.CancelScope(deadline=deadline) as scope:
                await self._write(scope)
                return
            if self._in_flight:
                # The deadline passed during a send: the peer is not reading.
                self._lost(trio.TooSlowError())
                return

    async def _write(self, scope: trio.CancelScope) -> None:
        send = self._direct.send_all if self._direct is not None else self._transport.send_all
        send_timeout = self._send_timeout
        low_water = self._max_buffer // 2
        while True:
            if not self._buffer:
                self._wakeup = trio.Event()
                await self._wakeup.wait()
                if self._several_streams():
                    # Let the other tasks woken with us add their frames to this write.
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    if self.gathering:
                        await self._gather()
                continue
            now = trio.current_time()
            if now + send_timeout - scope.deadline > 1.0:
                scope.deadline = now + send_timeout
            data = self._buffer
            self._buffer = bytearray()
            self._in_flight = len(data)
            try:
                await send(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._lost(exc)
                return
            self._in_flight = 0
            if self._drained is not None and len(self._buffer) <= low_water:
                self._drained.set()
                self._drained = None

    async def _gather(self) -> None:
        # A producer that writes a frame per scheduling round (a WebSocket echoing a
        # burst) is waited for while it keeps adding, up to GATHER_LIMIT octets.
        size = len(self._buffer)
        idle = 0
        while size < GATHER_LIMIT and idle < GATHER_ROUNDS:
            await trio.lowlevel.cancel_shielded_checkpoint()
            if len(self._buffer) == size:
                idle += 1
            else:
                idle = 0
                size = len(self._buffer)

    def _lost(self, exc: BaseException) -> None:
        log.debug("connection to %s lost while sending: %r", self._peer, exc)
        self.broken = True
        self._in_flight = 0
        self._buffer.clear()
        if self._drained is not None:
            self._drained.set()
        self._on_lost()
