"""A request body as the handler reads it: a buffer the connection fills, credit as it drains.

The connection calls :meth:`RequestBody.feed` and :meth:`RequestBody.end`
synchronously as frames (or HTTP/1.1 body bytes) arrive; the handler takes chunks out
with :meth:`receive_some` or :meth:`read`.  The buffer is bounded by the stream's
flow-control window, because credit goes back to the peer (``acknowledge``) only when
the handler takes a chunk out.

Both readers follow trio's cancellation rule: a cancelled call has taken nothing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import trio

from .._errors import RequestBodyTimeout, RequestBodyTooLarge
from .._headers import RawHeaders, decode
from ..proto.state import StreamState

#: receive_some() joins buffered frames into chunks of up to about this many bytes.
RECEIVE_COALESCE = 65_536


class RequestBody:
    """The unread part of one request's body, and the end of it (trailers)."""

    __slots__ = (
        "_acknowledge",
        "_buffer",
        "_data_event",
        "_pending_trailers",
        "_reading",
        "_state",
        "_timeout",
        "trailers",
    )

    def __init__(
        self,
        state: StreamState,
        acknowledge: Callable[[int], None],
        reading: Callable[[], None] | None = None,
        timeout: float = math.inf,
    ) -> None:
        self._state = state
        #: How long one wait for more of the body may last (Config.body_timeout).
        self._timeout = timeout
        self._acknowledge = acknowledge
        # Told when a reader first waits for bytes (an HTTP/1.1 client may be waiting
        # for 100 Continue before it sends the body).
        self._reading = reading
        self._buffer: deque[tuple[bytes, int]] = deque()
        self._data_event: trio.Event | None = None
        self._pending_trailers: list[tuple[str, str]] | None = None
        #: Request trailers, shown once the body has been read to its end.
        self.trailers: list[tuple[str, str]] | None = None

    # -------------------------------------------------- the connection's side

    def feed(self, data: bytes, flow_length: int) -> None:
        """Add a chunk that carried ``flow_length`` bytes of flow-control credit."""
        self._buffer.append((data, flow_length))
        self.wake()

    def end(self, trailers: RawHeaders | None = None) -> None:
        """The peer has sent the whole request, with ``trailers`` if it had any."""
        if trailers is not None:
            # Shown only once the handler has read up to them: what it sees must not
            # depend on how fast they happened to arrive.
            self._pending_trailers = [(decode(n), decode(v)) for n, v in trailers]
        # The state itself was moved on by the protocol layer, which owns it.
        self.wake()

    def wake(self) -> None:
        """Let a waiting reader look again (data, the end, or a reset)."""
        if self._data_event is not None:
            self._data_event.set()
            self._data_event = None

    @property
    def buffered(self) -> int:
        """Flow-controlled bytes received and not yet read."""
        return sum(n for _, n in self._buffer)

    def take_unread(self) -> int:
        """Drop what was never read; return its flow-control credit."""
        total = self.buffered
        self._buffer.clear()
        return total

    # ------------------------------------------------------ the handler's side

    async def _wait(self) -> None:
        if self._reading is not None:
            reading, self._reading = self._reading, None
            reading()
        if self._data_event is None:
            self._data_event = trio.Event()
        with trio.move_on_after(self._timeout) as waited:
            await self._data_event.wait()
        if waited.cancelled_caught:
            raise RequestBodyTimeout(
                f"no more of the request body came in {self._timeout:g} seconds"
            )

    async def receive_some(self) -> bytes:
        state = self._state
        buffer = self._buffer
        if state.reset_code is not None and not buffer:
            # Said before the cancellation the reset itself caused: it tells more.
            raise state.reset_error()
        await trio.lowlevel.checkpoint_if_cancelled()
        while not buffer:
            if state.reset_code is not None:
                raise state.reset_error()
            if state.request_ended:
                self.trailers = self._pending_trailers
                await trio.lowlevel.cancel_shielded_checkpoint()
                return b""
            await self._wait()
        data, flow_length = buffer.popleft()
        if buffer and len(data) < RECEIVE_COALESCE:
            # The connection may buffer several frames per scheduling round: hand them
            # over together, so that the buffer drains as fast as it fills.
            parts = [data]
            size = len(data)
            while buffer and size < RECEIVE_COALESCE:
                more, more_flow = buffer.popleft()
                parts.append(more)
                size += len(more)
                flow_length += more_flow
            data = b"".join(parts)
        self._acknowledge(flow_length)
        # The chunk is taken: from here on nothing may raise Cancelled.
        await trio.lowlevel.cancel_shielded_checkpoint()
        return data

    async def read(self, limit: int) -> bytes:
        state = self._state
        if state.reset_code is not None:
            raise state.reset_error()
        await trio.lowlevel.checkpoint_if_cancelled()
        parts: list[bytes] = []
        total = 0
        buffer = self._buffer
        while True:
            if buffer:
                # Take everything buffered at once and return its credit in one go.
                credit = 0
                while buffer:
                    data, flow_length = buffer.popleft()
                    credit += flow_length
                    total += len(data)
                    if total > limit:
                        self._acknowledge(credit)
                        raise RequestBodyTooLarge(f"request body is over {limit} bytes")
                    parts.append(data)
                self._acknowledge(credit)
            elif state.reset_code is not None:
                raise state.reset_error()
            elif state.request_ended:
                self.trailers = self._pending_trailers
                break
            else:
                try:
                    await self._wait()
                except (trio.Cancelled, RequestBodyTimeout):
                    # Credit already returned: put the chunks back as credit-free.
                    buffer.extendleft((part, 0) for part in reversed(parts))
                    raise
        await trio.lowlevel.cancel_shielded_checkpoint()
        return b"".join(parts)
