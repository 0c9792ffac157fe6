"""The client going away, told to the application instead of cancelling it.

Theory of operation
-------------------
A native handler is cancelled when its client goes: the connection cancels the
stream's task on a reset (and on a dropped connection, with all the others).  An
ASGI application expects something else: ``receive()`` returns ``http.disconnect``
(or ``websocket.disconnect``), ``send()`` raises an OSError, and the application
cleans up and returns by itself.

So the application runs in a cancel scope shielded from the connection's
cancellation (:func:`run_app`), beside a watcher task that is not shielded.  When the
connection cancels the request's task, only the watcher sees it: it marks the
:class:`Disconnect`, which interrupts whatever ``receive()`` or ``send()`` is waiting
(each waits inside :meth:`Disconnect.interruptible`), and it gives the application
``grace`` seconds to return.  An application that ignores the news is cancelled
then, as a native handler would have been at once; after that the request's task
goes on unwinding the connection's cancellation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import trio

from .._errors import single_exception
from ..server.interrupt import call_handler, protected


class Disconnect:
    """Whether the client has gone, and the waits that are to stop when it does."""

    def __init__(self) -> None:
        self._event = trio.Event()
        self._waits: set[trio.CancelScope] = set()
        #: The WebSocket close code to report, when a WebSocket is what went away.
        self.code = 1006

    @property
    def happened(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        """The client is gone: interrupt every wait in progress."""
        if self._event.is_set():
            return
        self._event.set()
        for scope in self._waits:
            scope.cancel()

    async def wait(self) -> None:
        await self._event.wait()

    def interruptible(self) -> _Interruptible:
        """A scope cancelled when the client goes; check ``cancelled_caught`` after it.

        What is awaited inside must follow trio's rule (a cancelled call did
        nothing), so that an interrupted wait is as if it had never started.
        """
        return _Interruptible(self)


class _Interruptible:
    """What :meth:`Disconnect.interruptible` gives: a CancelScope the Disconnect cancels.

    A class rather than a ``@contextmanager`` generator: every ``receive()`` and
    ``send()`` enters one, and the generator's machinery cost three times as much.
    """

    __slots__ = ("_disconnect", "_scope")

    def __init__(self, disconnect: Disconnect) -> None:
        self._disconnect = disconnect
        self._scope = trio.CancelScope()

    def __enter__(self) -> trio.CancelScope:
        scope = self._scope
        disconnect = self._disconnect
        if disconnect.happened:
            scope.cancel()
        disconnect._waits.add(scope)
        try:
            return scope.__enter__()
        except BaseException:
            disconnect._waits.discard(scope)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        try:
            return self._scope.__exit__(exc_type, exc, traceback)
        finally:
            self._disconnect._waits.discard(self._scope)


@protected
async def _watch(
    disconnect: Disconnect, app_scope: trio.CancelScope, own: trio.CancelScope, grace: float
) -> None:
    try:
        await trio.sleep_forever()
    finally:
        if not own.cancel_called:
            # Cancelled from outside: the stream was reset, or the connection is gone.
            disconnect.set()
            app_scope.deadline = min(app_scope.deadline, trio.current_time() + grace)


@protected
async def run_app(
    call: Callable[[], Awaitable[None]], disconnect: Disconnect, grace: float
) -> Exception | None:
    """Run ``await call()`` shielded, turning outside cancellation into ``disconnect``.

    Returns the exception the application raised (None if it returned); a
    cancellation from outside is raised again once the application is done, so the
    request's task still ends as the connection asked.
    """
    failure: Exception | None = None
    app_scope = trio.CancelScope(shield=True)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch, disconnect, app_scope, nursery.cancel_scope, grace)
            with app_scope:
                try:
                    await call_handler(call)
                except Exception as exc:
                    failure = exc
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        single = single_exception(group)
        raise single from single.__cause__
    return failure


#: Seconds an application has to return once its client has gone (see run_app).
DEFAULT_GRACE = 2.0

__all__ = ["DEFAULT_GRACE", "Disconnect", "run_app"]
