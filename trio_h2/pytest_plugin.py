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

``trio_h2_config`` (None: the defaults) is the :class:`trio_h2.Config` it serves with,
and ``trio_h2_http_version`` (``"2"``) the protocol it speaks: return ``"1.1"`` for an
HTTP/1.1 client (a :class:`trio_h2.testing.H1Client`), or run every test on both::

    @pytest.fixture(params=["2", "1.1"])
    def trio_h2_http_version(request: pytest.FixtureRequest) -> str:
        return request.param

``trio_h2_connect`` serves any number of handlers in one test:
``client = await trio_h2_connect(handler, enable_push=False)`` takes the keywords of
:func:`trio_h2.testing.connect`, ``http_version="1.1"`` among them.  Every connection
is closed, and its server side finished, when the test ends.

pytest loads this module in every run where trio_h2 is installed, whether or not a
test uses it, so the test client (h2's client side) is imported only when a fixture
runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, overload

import pytest
import trio

if TYPE_CHECKING:
    from ._config import Config
    from .server.stream import Handler
    from .testing import Client, H1Client


class Connect(Protocol):
    """The type of the ``trio_h2_connect`` fixture."""

    @overload
    async def __call__(
        self, handler: Handler, /, *, http_version: Literal["2"] = "2", **options: Any
    ) -> Client: ...
    @overload
    async def __call__(
        self, handler: Handler, /, *, http_version: Literal["1.1", "1.0"], **options: Any
    ) -> H1Client: ...
    @overload
    async def __call__(
        self, handler: Handler, /, *, http_version: str, **options: Any
    ) -> Client | H1Client: ...


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
def trio_h2_http_version() -> str:
    """What ``trio_h2_client`` speaks: ``"2"`` (the default), ``"1.1"`` or ``"1.0"``."""
    return "2"


@pytest.fixture
async def trio_h2_client(
    trio_h2_handler: Handler, trio_h2_config: Config | None, trio_h2_http_version: str
) -> AsyncIterator[Client | H1Client]:
    """A client connected to ``trio_h2_handler``, in memory.

    A :class:`trio_h2.testing.Client` (HTTP/2), or a :class:`trio_h2.testing.H1Client`
    if ``trio_h2_http_version`` says ``"1.1"`` or ``"1.0"``.
    """
    from .testing import connect

    async with connect(
        trio_h2_handler, config=trio_h2_config, http_version=trio_h2_http_version
    ) as client:
        yield client


@pytest.fixture
async def trio_h2_connect() -> AsyncIterator[Connect]:
    """``await trio_h2_connect(handler, **options)``: a client for one more handler.

    The options are :func:`trio_h2.testing.connect`'s (``http_version="1.1"`` gives an
    HTTP/1.1 client).  Each connection is held by a task of this fixture's nursery,
    so the test may open as many as it likes, in any order, without nesting
    ``async with`` blocks; they all end with the test.
    """
    from .testing import connect

    async def hold(
        handler: Handler,
        options: dict[str, Any],
        done: trio.Event,
        task_status: trio.TaskStatus[Client | H1Client],
    ) -> None:
        async with connect(handler, **options) as client:
            task_status.started(client)
            await done.wait()

    done = trio.Event()
    async with trio.open_nursery() as nursery:

        async def open_connection(handler: Handler, /, **options: Any) -> Client | H1Client:
            client: Client | H1Client = await nursery.start(hold, handler, options, done)
            return client

        yield cast("Connect", open_connection)
        done.set()
