"""trio's cancellation rule on every public awaitable of the handler API.

If an awaitable raises ``Cancelled`` it had no effect; if it had its effect it does
not raise ``Cancelled``.  Two kinds of test:

* every awaitable run inside an already-cancelled scope has no effect;
* a sweep cancels each awaitable at its first, second, third... checkpoint (an
  instrument counts the handler task's steps and cancels the scope after the k-th),
  and the client checks that the effect happened exactly once, or not at all when
  ``Cancelled`` came out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.lowlevel
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.testing import Response, connect


class _CancelAfterSteps(trio.abc.Instrument):
    """Cancels ``scope`` once ``task`` has run ``steps`` more steps."""

    def __init__(self, task: trio.lowlevel.Task, scope: trio.CancelScope, steps: int) -> None:
        self.task = task
        self.scope = scope
        self.left = steps

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task and self.left > 0:
            self.left -= 1
            if self.left == 0:
                self.scope.cancel()


async def run_cancelled_at(k: int, op: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
    """Run ``op()``, cancelled at its k-th checkpoint (k=0: already cancelled).

    Returns (whether Cancelled came out, the result or None).  ``reached`` tells the
    sweep whether the op got as far as its k-th step.
    """
    result = None
    with trio.CancelScope() as scope:
        if k == 0:
            scope.cancel()
            result = await op()
        else:
            instrument = _CancelAfterSteps(trio.lowlevel.current_task(), scope, k)
            trio.lowlevel.add_instrument(instrument)
            try:
                result = await op()
            finally:
                trio.lowlevel.remove_instrument(instrument)
    return scope.cancelled_caught, result


Check = Callable[[bool, Response], None]
Case = Callable[[int, list[bool]], Callable[[trio_h2.Stream], Awaitable[None]]]


async def sweep(
    make_handler: Case,
    check: Check,
    *,
    body: bytes | None = None,
    max_k: int = 12,
) -> None:
    """For k = 0, 1, 2...: a fresh connection, the op cancelled at its k-th checkpoint.

    Stops once the op runs to its end without being cancelled at k (it has fewer
    than k checkpoints); every k must satisfy ``check``.
    """
    for k in range(max_k):
        outcome: list[bool] = []
        async with connect(make_handler(k, outcome)) as client:
            with trio.fail_after(5):
                if body is None:
                    response = await client.get("/", raise_on_reset=False)
                else:
                    response = await client.post("/", body, raise_on_reset=False)
        assert outcome, f"k={k}: the handler did not run the op"
        cancelled = outcome[0]
        check(cancelled, response)
        if k > 0 and not cancelled:
            return
    pytest.fail(f"the op still met a checkpoint at k={max_k}")


# ------------------------------------------------------------------ request body


def _receive_some_case(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
    async def handler(stream: trio_h2.Stream) -> None:
        cancelled, first = await run_cancelled_at(k, stream.receive_some)
        outcome.append(cancelled)
        rest = await stream.read()
        await stream.respond(200, body=(first or b"") + rest)

    return handler


async def test_receive_some_loses_no_chunk() -> None:
    body = b"0123456789" * 100

    def check(cancelled: bool, response: Response) -> None:
        assert response.reset_code is None
        assert response.body == body

    await sweep(_receive_some_case, check, body=body)


def _read_case(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
    async def handler(stream: trio_h2.Stream) -> None:
        cancelled, first = await run_cancelled_at(k, stream.read)
        outcome.append(cancelled)
        if cancelled:
            assert first is None
            first = await stream.read()
        await stream.respond(200, body=first)

    return handler


async def test_read_loses_no_chunk() -> None:
    # Bigger than the client's frames, so read() takes it in several goes.
    body = bytes(range(256)) * 600

    def check(cancelled: bool, response: Response) -> None:
        assert response.reset_code is None
        assert response.body == body

    await sweep(_read_case, check, body=body)


async def test_async_for_loses_no_chunk() -> None:
    body = b"abcdefgh" * 5000

    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            iterator = stream.__aiter__()
            cancelled, first = await run_cancelled_at(k, iterator.__anext__)
            outcome.append(cancelled)
            parts = [first or b""]
            async for chunk in stream:
                parts.append(chunk)
            await stream.respond(200, body=b"".join(parts))

        return handler

    def check(cancelled: bool, response: Response) -> None:
        assert response.body == body

    await sweep(make, check, body=body)


# ----------------------------------------------------------------- response side


def _respond_case(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
    async def handler(stream: trio_h2.Stream) -> None:
        cancelled, _ = await run_cancelled_at(
            k, lambda: stream.respond(200, [("x-try", "first")], b"hello")
        )
        outcome.append(cancelled)
        if cancelled:
            assert not stream.response_started
            await stream.respond(201, [("x-try", "second")], b"again")

    return handler


async def test_respond_is_all_or_nothing() -> None:
    def check(cancelled: bool, response: Response) -> None:
        # Never a reset after a complete response (the bug: RST_STREAM(CANCEL)).
        assert response.reset_code is None
        if cancelled:
            assert (response.status, response.body) == (201, b"again")
        else:
            assert (response.status, response.body) == (200, b"hello")

    await sweep(_respond_case, check)


async def test_respond_with_trailers_is_all_or_nothing() -> None:
    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            cancelled, _ = await run_cancelled_at(
                k, lambda: stream.respond(200, body=b"hello", trailers=[("x-t", "1")])
            )
            outcome.append(cancelled)
            if cancelled:
                await stream.respond(201, body=b"again")

        return handler

    def check(cancelled: bool, response: Response) -> None:
        assert response.reset_code is None
        if cancelled:
            assert (response.status, response.trailers) == (201, None)
        else:
            assert (response.status, response.trailers) == (200, [("x-t", "1")])

    await sweep(make, check)


async def test_send_informational_is_all_or_nothing() -> None:
    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            cancelled, _ = await run_cancelled_at(
                k, lambda: stream.send_informational(103, [("link", "</a.css>")])
            )
            outcome.append(cancelled)
            await stream.respond(200, body=b"page")

        return handler

    def check(cancelled: bool, response: Response) -> None:
        assert response.status == 200
        expected = [] if cancelled else [(103, [("link", "</a.css>")])]
        assert response.informational == expected

    await sweep(make, check)


async def test_push_is_all_or_nothing() -> None:
    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            cancelled, pushed = await run_cancelled_at(
                k, lambda: stream.push("/a.css", body=b"css")
            )
            outcome.append(cancelled)
            assert (pushed is None) == cancelled
            await stream.respond(200, body=b"page")

        return handler

    def check(cancelled: bool, response: Response) -> None:
        assert response.status == 200
        assert len(response.pushed) == (0 if cancelled else 1)

    await sweep(make, check)


async def test_reset_is_all_or_nothing() -> None:
    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            cancelled, _ = await run_cancelled_at(
                k, lambda: stream.reset(ErrorCodes.REFUSED_STREAM)
            )
            outcome.append(cancelled)
            if cancelled:
                assert stream.reset_code is None
                await stream.respond(200, body=b"not reset")

        return handler

    def check(cancelled: bool, response: Response) -> None:
        if cancelled:
            assert (response.status, response.reset_code) == (200, None)
        else:
            assert response.reset_code == ErrorCodes.REFUSED_STREAM

    await sweep(make, check)


async def test_start_response_entry_is_all_or_nothing() -> None:
    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            started = stream.start_response(200, [("x-try", "first")])
            cancelled, body = await run_cancelled_at(k, started.__aenter__)
            outcome.append(cancelled)
            if cancelled:
                assert not stream.response_started
                await stream.respond(201, body=b"again")
                return
            await body.send(b"streamed")
            await started.__aexit__(None, None, None)

        return handler

    def check(cancelled: bool, response: Response) -> None:
        assert response.reset_code is None
        if cancelled:
            assert (response.status, response.body) == (201, b"again")
        else:
            assert (response.status, response.body) == (200, b"streamed")

    await sweep(make, check)


async def test_body_send_is_all_or_nothing() -> None:
    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            async with stream.start_response(200) as body:
                cancelled, _ = await run_cancelled_at(k, lambda: body.send(b"one,"))
                outcome.append(cancelled)
                await body.send(b"two")

        return handler

    def check(cancelled: bool, response: Response) -> None:
        assert response.reset_code is None
        assert response.body == (b"two" if cancelled else b"one,two")

    await sweep(make, check)


async def test_body_end_is_all_or_nothing() -> None:
    def make(k: int, outcome: list[bool]) -> Callable[[trio_h2.Stream], Awaitable[None]]:
        async def handler(stream: trio_h2.Stream) -> None:
            started = stream.start_response(200)
            body = await started.__aenter__()
            await body.send(b"data")
            body.set_trailers([("x-end", "1")])
            cancelled, _ = await run_cancelled_at(k, lambda: started.__aexit__(None, None, None))
            outcome.append(cancelled)
            if cancelled:
                assert not stream.response_ended
                await started.__aexit__(None, None, None)

        return handler

    def check(cancelled: bool, response: Response) -> None:
        assert response.reset_code is None
        assert (response.body, response.trailers) == (b"data", [("x-end", "1")])

    await sweep(make, check)


async def test_wait_send_window_in_a_cancelled_scope_raises() -> None:
    outcome: list[bool] = []

    async def handler(stream: trio_h2.Stream) -> None:
        cancelled, _ = await run_cancelled_at(0, stream.wait_send_window)
        outcome.append(cancelled)
        await stream.respond(200)

    async with connect(handler) as client:
        response = await client.get("/")
    assert outcome == [True]
    assert response.status == 200
