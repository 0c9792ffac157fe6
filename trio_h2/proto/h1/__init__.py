"""HTTP/1.1, sans I/O: h11's state machine behind a strict request gate (RFC 9112)."""

from .connection import (
    H1Limits as H1Limits,
    H1Server as H1Server,
    error_response as error_response,
)
