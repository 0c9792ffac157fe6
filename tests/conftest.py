"""Shared fixtures: TLS material.  Shared helpers live in tests/support.py."""

from __future__ import annotations

import os
import ssl

import pytest
import trustme


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1", "::1")


@pytest.fixture
def server_ssl_context(server_cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: object) -> str:
    path = os.path.join(str(tmp_path), "ca.pem")
    ca.cert_pem.write_to_path(path)
    return path


# Re-exported for tests that import them from here.
from tests.support import IN_CI, require_tool, running_server  # noqa: E402

# The real clients, as sync fixtures: a skip raised inside a trio test loses its
# reason (pytest-trio re-raises it bare), one raised while a fixture is set up keeps it.


@pytest.fixture(scope="session")
def curl() -> str:
    """The path of curl; without it the test is skipped (a failure in CI)."""
    return require_tool("curl")


@pytest.fixture(scope="session")
def nghttp() -> str:
    """The path of nghttp; without it the test is skipped (a failure in CI)."""
    return require_tool("nghttp")


@pytest.fixture(scope="session")
def h2load() -> str:
    """The path of h2load; without it the test is skipped (a failure in CI)."""
    return require_tool("h2load")


__all__ = ["IN_CI", "require_tool", "running_server"]
