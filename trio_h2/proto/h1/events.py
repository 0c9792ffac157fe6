"""Events only an HTTP/1.1 connection reports; the shared ones are in :mod:`.events`.

An HTTP/2 peer ends a request with END_STREAM or RST_STREAM; an HTTP/1.1 peer can
only stop sending.  A request that asks to leave HTTP/1.1 (a WebSocket handshake, an
``h2c`` upgrade) needs no event of its own: its :class:`~.events.RequestReceived`
carries ``:protocol``, as an RFC 8441 extended CONNECT does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..events import Event


@dataclass(frozen=True, slots=True)
class PeerClosed(Event):
    """The peer closed its sending side, and everything it sent before has been read.

    ``stream_id`` is the request it cut short (its head had arrived, its body had
    not ended), or None.  A request the peer had sent in full is still answered;
    after that the connection closes.
    """

    stream_id: int | None
