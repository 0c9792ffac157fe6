"""Where h2's connection state machine departs from RFC 9113, and how we correct it."""

from __future__ import annotations

from typing import Any

import h2.connection
import h2.events
from h2.errors import ErrorCodes


class H2Connection(h2.connection.H2Connection):
    """h2's connection, keeping the connection usable after a graceful GOAWAY.

    On any GOAWAY h2 moves to its CLOSED state and drops the frames it had queued, so
    no stream could finish.  RFC 9113 §6.8 says the streams up to the GOAWAY's
    last-stream-id may still complete; only a GOAWAY with an error ends everything.
    """

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        try:
            code: ErrorCodes | int = ErrorCodes(frame.error_code)
        except ValueError:
            code = frame.error_code
        if code != ErrorCodes.NO_ERROR:
            return super()._receive_goaway_frame(frame)
        event = h2.events.ConnectionTerminated()
        event.error_code = code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]
