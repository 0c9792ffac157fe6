"""The hostile-peer suite runs over in-memory streams and over real sockets."""

from tests.conformance.conftest import peer_transport

__all__ = ["peer_transport"]
