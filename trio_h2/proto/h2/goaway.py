"""h2's connection, corrected where its state machine departs from RFC 9113 §6.8."""

from __future__ import annotations

import h2.connection
import h2.events
from hyperframe.frame import Frame, GoAwayFrame


class H2Connection(h2.connection.H2Connection):
    """h2's connection, still usable after the peer's GOAWAY.

    On any GOAWAY h2 moves to its CLOSED state and drops the frames it had queued, so
    no stream could finish.  RFC 9113 §6.8 lets the streams up to the GOAWAY's
    last-stream-id complete; whether to close at once (a GOAWAY with an error) is
    the caller's decision, made on the ConnectionTerminated event.
    """

    def _receive_goaway_frame(
        self, frame: GoAwayFrame
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        state = self.state_machine.state
        frames, events = super()._receive_goaway_frame(frame)
        self.state_machine.state = state
        return frames, events

    def clear_outbound_data_buffer(self) -> None:
        # h2 calls this only on GOAWAY; what is queued (a SETTINGS ACK, responses) still goes.
        return None
