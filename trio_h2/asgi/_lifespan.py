"""The lifespan protocol: the application's startup before serving, its shutdown after.

Theory of operation
-------------------
The application's lifespan call runs in a task of its own for as long as the
``async with lifespan(app)`` block: its first ``receive()`` says
``lifespan.startup``, and the block is entered once it answers
``lifespan.startup.complete``.  Leaving the block makes its pending ``receive()``
say ``lifespan.shutdown`` and waits (shielded, for at most ``shutdown_timeout``
seconds) for ``lifespan.shutdown.complete``; then the task is ended.

The spec asks servers to serve applications that do not speak the protocol: one
that raises (or returns) before it has even asked for ``lifespan.startup`` is taken
not to support it (``assert scope["type"] == "http"`` is the common way of saying
so), which is logged and otherwise ignored.  One that took ``lifespan.startup`` and
then failed, with ``lifespan.startup.failed`` or an exception, has failed its
startup: :class:`LifespanError`, with its message, and nothing is served.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._errors import single_exception
from ..server.interrupt import protected
from ._errors import ASGIError, LifespanError
from ._messages import get_str, message_type
from ._types import ASGI_VERSION, LIFESPAN_SPEC_VERSION, ASGIApp, Message

log = logging.getLogger("trio_h2.asgi")


class _Phase(enum.Enum):
    WAITING = "waiting"  # the application has not asked for lifespan.startup yet
    STARTING = "starting"  # lifespan.startup taken, no answer yet
    RUNNING = "running"  # startup complete
    STOPPING = "stopping"  # lifespan.shutdown taken, no answer yet
    DONE = "done"  # shutdown answered, or no lifespan at all


class _Lifespan:
    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self._app = app
        self.state = state
        self.phase = _Phase.WAITING
        #: Set when startup has an outcome: complete, failed, or unsupported.
        self.started = trio.Event()
        self.supported = True
        self.failure: str | None = None
        self._shutdown_requested = trio.Event()
        #: Set when shutdown has an outcome, or the application's call is over.
        self.stopped = trio.Event()
        self.shutdown_failure: str | None = None
        self._scope = trio.CancelScope(shield=True)

    def stop(self) -> None:
        """End the application's lifespan call (once its shutdown is over)."""
        self._scope.cancel()

    async def run(self) -> None:
        # Shielded: cancelling the server must not cancel the lifespan call before
        # its shutdown has run; stop() ends it.
        with self._scope:
            await self._run()

    async def _run(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": ASGI_VERSION, "spec_version": LIFESPAN_SPEC_VERSION},
            "state": self.state,
        }
        try:
            await self._app(scope, self.receive, self.send)
        except Exception as exc:
            self._ended(exc)
        else:
            self._ended(None)
        finally:
            self.started.set()
            self.stopped.set()

    def _ended(self, exc: Exception | None) -> None:
        phase = self.phase
        if phase is _Phase.WAITING:
            self.supported = False
            self.phase = _Phase.DONE
            if exc is None:
                log.debug("the application returned from the lifespan scope: no lifespan")
            else:
                log.info("the application does not support the lifespan protocol (%r)", exc)
        elif phase is _Phase.STARTING:
            self.failure = (
                f"{type(exc).__name__}: {exc}"
                if exc is not None
                else "the application returned without lifespan.startup.complete"
            )
            if exc is not None:
                log.error("lifespan startup failed", exc_info=exc)
        elif phase is _Phase.RUNNING or phase is _Phase.STOPPING:
            what = "shutdown" if phase is _Phase.STOPPING else "lifespan"
            if exc is not None:
                log.error("the application's %s failed", what, exc_info=exc)
                self.shutdown_failure = f"{type(exc).__name__}: {exc}"
            elif phase is _Phase.STOPPING:
                # Returning is as good an answer as lifespan.shutdown.complete.
                log.debug("the application returned from lifespan.shutdown")
        elif exc is not None:
            log.debug("the lifespan call raised after it was over: %r", exc)

    async def receive(self) -> Message:
        if self.phase is _Phase.WAITING:
            await trio.lowlevel.checkpoint_if_cancelled()
            self.phase = _Phase.STARTING
            await trio.lowlevel.cancel_shielded_checkpoint()
            return {"type": "lifespan.startup"}
        if self.phase is _Phase.STARTING:
            raise ASGIError("receive() before answering lifespan.startup")
        if self.phase is _Phase.RUNNING:
            await self._shutdown_requested.wait()
            self.phase = _Phase.STOPPING
            return {"type": "lifespan.shutdown"}
        raise ASGIError("receive() after lifespan.shutdown")

    async def send(self, message: Message) -> None:
        kind = message_type(message)
        await trio.lowlevel.checkpoint_if_cancelled()
        expected = {
            _Phase.STARTING: ("lifespan.startup.complete", "lifespan.startup.failed"),
            _Phase.STOPPING: ("lifespan.shutdown.complete", "lifespan.shutdown.failed"),
        }.get(self.phase, ())
        if kind not in expected:
            if kind.startswith("lifespan."):
                raise ASGIError(f"{kind} out of turn (the lifespan is {self.phase.value})")
            raise ASGIError(f"unknown message type {kind!r} for a lifespan scope")
        if kind == "lifespan.startup.complete":
            self.phase = _Phase.RUNNING
            self.started.set()
        elif kind == "lifespan.startup.failed":
            self.failure = get_str(message, "message", "") or "lifespan.startup.failed"
            self.phase = _Phase.DONE
            self.started.set()
        else:
            if kind == "lifespan.shutdown.failed":
                self.shutdown_failure = (
                    get_str(message, "message", "") or "lifespan.shutdown.failed"
                )
            self.phase = _Phase.DONE
            self.stopped.set()
        await trio.lowlevel.cancel_shielded_checkpoint()

    def request_shutdown(self) -> None:
        self._shutdown_requested.set()


@asynccontextmanager
@protected
async def lifespan(
    app: ASGIApp,
    *,
    state: dict[str, Any] | None = None,
    shutdown_timeout: float = 30.0,
) -> AsyncIterator[dict[str, Any]]:
    """Run the application's lifespan around the block: ``async with lifespan(app) as state``.

    The block is entered once the application has answered
    ``lifespan.startup.complete`` (or has shown it does not support the protocol);
    it gets the lifespan namespace, ``state`` or a new dict, to pass to
    :class:`ASGIHandler` so that each request sees a shallow copy of what startup
    put there.  A failed startup raises :class:`LifespanError` with the
    application's message instead.  Leaving the block sends ``lifespan.shutdown``
    and waits up to ``shutdown_timeout`` seconds for ``lifespan.shutdown.complete``,
    even when the block was cancelled; a failed shutdown is logged, and raised as
    :class:`LifespanError` unless the block is raising something already.
    """
    namespace: dict[str, Any] = state if state is not None else {}
    machine = _Lifespan(app, namespace)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(machine.run)
            try:
                await machine.started.wait()
                if machine.failure is not None:
                    raise LifespanError(f"the application's startup failed: {machine.failure}")
                try:
                    yield namespace
                except BaseException:
                    await _shut_down(machine, shutdown_timeout)
                    raise
                failure = await _shut_down(machine, shutdown_timeout)
            finally:
                machine.stop()
            if failure is not None:
                raise LifespanError(f"the application's shutdown failed: {failure}")
    except BaseExceptionGroup as group:
        single = single_exception(group)
        raise single from single.__cause__


async def _shut_down(machine: _Lifespan, seconds: float) -> str | None:
    """Send ``lifespan.shutdown`` and wait for the answer; the failure, if any."""
    if not machine.supported or machine.phase is _Phase.DONE:
        return None
    with trio.CancelScope(shield=True):
        machine.request_shutdown()
        with trio.move_on_after(seconds) as waited:
            await machine.stopped.wait()
    if waited.cancelled_caught:
        log.warning("the application's lifespan shutdown took over %g s; cancelled", seconds)
        return f"no lifespan.shutdown.complete in {seconds:g} s"
    if machine.shutdown_failure is not None:
        log.error("the application's lifespan shutdown failed: %s", machine.shutdown_failure)
    return machine.shutdown_failure
