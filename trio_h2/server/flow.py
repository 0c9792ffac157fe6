"""Waiting for flow-control credit: one trio.Event per waiting stream, never reused."""

from __future__ import annotations

import trio


class WindowWaiters:
    """Streams parked until the peer opens a flow-control window.

    A sender checks the windows synchronously, and only when one is closed parks
    here, on its own stream's window or in line for the connection's.
    WINDOW_UPDATE on a stream wakes that stream.  WINDOW_UPDATE on the connection
    wakes only the first in line: a hundred streams woken for one update would each
    find the credit gone but the first's.  Whoever is woken passes leftover credit on
    (:meth:`wake_connection` again) once it has sent, or if it gives up.  A SETTINGS
    change of the initial window wakes everyone.  An Event is set once and then
    dropped, so a waiter never sees a stale wake-up.
    """

    __slots__ = ("_line", "_streams")

    def __init__(self) -> None:
        self._streams: dict[int, trio.Event] = {}
        self._line: dict[int, trio.Event] = {}  # in arrival order

    async def wait(self, stream_id: int, *, connection: bool = False) -> None:
        """Park until woken; ``connection`` queues for the connection's window."""
        waiters = self._line if connection else self._streams
        event = waiters.get(stream_id)
        if event is None:
            event = waiters[stream_id] = trio.Event()
        await event.wait()

    def wake(self, stream_id: int) -> None:
        for waiters in (self._streams, self._line):
            event = waiters.pop(stream_id, None)
            if event is not None:
                event.set()

    def wake_connection(self) -> None:
        """Wake the first stream in line for the connection's window."""
        if self._line:
            stream_id = next(iter(self._line))
            self._line.pop(stream_id).set()

    @property
    def in_line(self) -> bool:
        return bool(self._line)

    def wake_all(self) -> None:
        for waiters in (self._streams, self._line):
            for event in waiters.values():
                event.set()
            waiters.clear()

    def __len__(self) -> int:
        return len(self._streams) + len(self._line)
