"""pytest fixtures for testing handlers in memory (loaded by pytest's ``pytest11`` entry point).

Installing trio_h2 makes them available to every test; the tests are trio tests, so
they need pytest-trio: ``trio_mode = true`` in the pytest configuration, or
``@pytest.mark.trio`` on each test.

``trio_h2_client`` serves the handler that the ``trio_h2_handler`` fixture returns
(a project defines that one) and is a :class:`trio_h2.testing.Client` connected to it::

    @pytest.fixture
    def trio_h2_handler() -> trio_h2.Handler:
        return myapp.handler


    async def test_home(trio_h2_client: trio_h2.testing.Client) -> None:
        response = await trio_h2_client.get("/")
        assert response.status == 200

``trio_h2_config`` (None: the defaults) is the :class:`trio_h2.Config` it serves with.
``trio_h2_connect`` serves any number of handlers in one test:
``client = await trio_h2_connect(handler, enable_push=False)`` takes the keywords of
:func:`trio_h2.testing.connect`.  Every connection is closed, and its server side
finished, when the test ends.

pytest loads this module in every run where trio_h2 is installed, whether or not a
test uses it, so the test client (h2's client side) is imported only when a fixture
runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest
import trio

if TYPE_CHECKING:
    from ._config import Config
    from .server.stream import Handler
    from .testing import Client


class Connect(Protocol):
    """The type of the ``trio_h2_connect`` fixture."""

    async def __call__(self, handler: Handler, /, **options: Any) -> Client: ...


@pytest.fixture
def trio_h2_handler() -> Handler:
    """The handler ``trio_h2_client`` serves: define this fixture to return yours."""
    pytest.fail(
        "trio_h2_client serves the handler of the trio_h2_handler fixture: "
        "define that fixture (in the test module or a conftest.py) to return your handler",
        pytrace=False,
    )


@pytest.fixture
def trio_h2_config() -> Config | None:
    """The :class:`trio_h2.Config` ``trio_h2_client`` serves with; None for the defaults."""
    return None


@pytest.fixture
async def trio_h2_client(
    trio_h2_handler: Handler, trio_h2_config: Config | None
) -> AsyncIterator[Client]:
    """A :class:`trio_h2.testing.Client` connected to ``trio_h2_handler``, in memory."""
    from .testing import connect

    async with connect(trio_h2_handler, config=trio_h2_config) as client:
        yield client


@pytest.fixture
async def trio_h2_connect() -> AsyncIterator[Connect]:
    """``await trio_h2_connect(handler, **options)``: a client for one more handler.

    The options are :func:`trio_h2.testing.connect`'s.  Each connection is held by a
    task of this fixture's nursery, so the test may open as many as it likes, in any
    order, without nesting ``async with`` blocks; they all end with the test.
    """
    from .testing import connect

    async def hold(
        handler: Handler,
        options: dict[str, Any],
        done: trio.Event,
        task_status: trio.TaskStatus[Client],
    ) -> None:
        async with connect(handler, **options) as client:
            task_status.started(client)
            await done.wait()

    done = trio.Event()
    async with trio.open_nursery() as nursery:

        async def open_connection(handler: Handler, /, **options: Any) -> Client:
            client: Client = await nursery.start(hold, handler, options, done)
            return client

        yield open_connection
        done.set()
