"""The raw-peer suites run twice: over trio's in-memory streams and over real sockets."""

from __future__ import annotations

import pytest

from . import rawpeer


@pytest.fixture(autouse=True, params=["memory", "socket"])
def peer_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which transport open_peer() uses for this run of the test."""
    kind: str = request.param
    monkeypatch.setattr(rawpeer, "TRANSPORT", kind)
    return kind
