"""Waiting for flow-control credit: one trio.Event per waiting stream, never reused."""

from __future__ import annotations

import trio


class WindowWaiters:
    """Streams parked until the peer opens a flow-control window.

    A sender checks the window synchronously, and only when it is closed calls
    :meth:`wait`.  WINDOW_UPDATE on a stream wakes that stream; WINDOW_UPDATE on the
    connection, or a SETTINGS change of the initial window, wakes them all, and each
    checks its window again.  An Event is set once and then dropped, so a waiter can
    never see a stale wake-up.
    """

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: dict[int, trio.Event] = {}

    async def wait(self, stream_id: int) -> None:
        event = self._events.get(stream_id)
        if event is None:
            event = self._events[stream_id] = trio.Event()
        await event.wait()

    def wake(self, stream_id: int) -> None:
        event = self._events.pop(stream_id, None)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()

    def __len__(self) -> int:
        return len(self._events)
