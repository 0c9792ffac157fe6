"""Shared fixtures: a server on a real socket, TLS material, and real-client lookup."""

from __future__ import annotations

import os
import shutil
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trustme

import trio_h2

#: In CI every real client must be present: a missing one fails instead of skipping.
IN_CI = os.environ.get("CI") == "true"


def require_tool(name: str) -> str:
    """The path of an external client, or skip the test (fail in CI) without it."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; .ci/run installs it")
        pytest.skip(f"{name} is not installed")
    return path


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


ServeFactory = Callable[..., "AsyncIterator[trio_h2.ServerAddress]"]


@asynccontextmanager
async def running_server(
    handler: trio_h2._connection.Handler, **kwargs: object
) -> AsyncIterator[trio_h2.ServerAddress]:
    """Serve ``handler`` on a free loopback port for the body of the block."""
    host = kwargs.pop("host", "127.0.0.1")
    async with trio.open_nursery() as nursery:
        address = await nursery.start(
            lambda task_status: trio_h2.serve(
                handler,
                host,
                0,
                task_status=task_status,
                **kwargs,  # type: ignore[arg-type]
            )
        )
        try:
            yield address
        finally:
            nursery.cancel_scope.cancel()
