"""The protocol layer's one exception for a peer's violation, as RFC 9113 §5.4 sorts them."""

from __future__ import annotations


class ProtocolViolation(Exception):
    """The peer broke the protocol.

    A *stream error* (``stream_id`` set) ends that stream with RST_STREAM and
    ``error_code``; a *connection error* (``stream_id`` None) ends the connection with
    GOAWAY and ``error_code``.  For HTTP/1.1, ``error_code`` is the status of the
    answer (400, 431, ...), and every violation closes the connection.
    """

    def __init__(self, message: str, error_code: int, *, stream_id: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.stream_id = stream_id

    @property
    def is_connection_error(self) -> bool:
        return self.stream_id is None
