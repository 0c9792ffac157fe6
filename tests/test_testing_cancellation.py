"""trio's cancellation rule on the test client's calls: Cancelled means no effect.

A call in an already-cancelled scope sends nothing at all (the server sees no
request, reset, PING or byte); a request cancelled after it went out is reset, so
the server sees it abandoned; a streamed body read that is cancelled takes no chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import trio_h2
from tests.test_cancellation import run_cancelled_at
from trio_h2.testing import Client, connect


class Recorder:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.outcomes: list[str] = []
        self.release = trio.Event()

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.requests.append(f"{stream.method} {stream.path}")
        try:
            if stream.path == "/wait":
                await self.release.wait()
            body = await stream.read()
            if stream.path == "/chunks":
                async with stream.start_response(200) as response:
                    for n in range(5):
                        await response.send(f"chunk{n};".encode())
                self.outcomes.append("done")
                return
            await stream.respond(200, body=body or b"ok")
        except BaseException as exc:
            self.outcomes.append(type(exc).__name__)
            raise
        self.outcomes.append("done")


@asynccontextmanager
async def served() -> AsyncIterator[tuple[Client, Recorder]]:
    recorder = Recorder()
    async with connect(recorder) as client:
        await client.ping()  # settings exchanged
        yield client, recorder


async def no_traffic_after(client: Client, recorder: Recorder) -> None:
    """The server saw nothing: no request and, by a PING round trip, no frame at all."""
    acks = len(client.ping_acks)
    assert await client.ping(b"no-op!!!") == b"no-op!!!"
    assert len(client.ping_acks) == acks + 1
    assert recorder.requests == []


CALLS = {
    "get": lambda c: c.get("/"),
    "post": lambda c: c.post("/", b"body"),
    "request": lambda c: c.request("PUT", "/", body=b"x"),
    "start_request": lambda c: c.start_request("GET", "/", end_stream=True),
    "send_raw": lambda c: c.send_raw(b"\x00\x00\x08\x06\x00\x00\x00\x00\x00raw-ping"),
    "ping": lambda c: c.ping(b"cancel!!"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_call_in_a_cancelled_scope_sends_nothing(name: str) -> None:
    async with served() as (client, recorder):
        acks = len(client.ping_acks)
        with trio.CancelScope() as scope:
            scope.cancel()
            await CALLS[name](client)
        assert scope.cancelled_caught
        assert len(client.ping_acks) == acks
        await no_traffic_after(client, recorder)
        assert client.ping_acks[acks:] == [b"no-op!!!"]


async def test_reset_and_send_data_in_a_cancelled_scope_send_nothing() -> None:
    async with served() as (client, _):
        stream_id = await client.start_request("POST", "/echo")
        await trio.testing.wait_all_tasks_blocked()
        with trio.CancelScope() as scope:
            scope.cancel()
            await client.reset(stream_id)
        with trio.CancelScope() as scope:
            scope.cancel()
            await client.send_data(stream_id, b"never", end_stream=True)
        # The stream is intact: the body that follows is the whole body.
        await client.send_data(stream_id, b"whole", end_stream=True)
        response = await client.wait_response(stream_id)
        assert (response.status, response.body) == (200, b"whole")


async def test_a_request_cancelled_while_waiting_is_reset_and_the_client_goes_on() -> None:
    async with served() as (client, recorder):
        with trio.move_on_after(1) as scope:
            await client.get("/wait")
        assert scope.cancelled_caught
        await trio.testing.wait_all_tasks_blocked()
        # The handler's stream was reset by the client: its task was cancelled.
        assert recorder.requests == ["GET /wait"]
        assert recorder.outcomes == ["Cancelled"]
        response = await client.get("/after")
        assert (response.status, response.body) == (200, b"ok")


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_request_cancelled_at_each_checkpoint_is_all_or_abandoned(method: str) -> None:
    # Cancelled before the request went out: the server saw nothing.  After: the
    # stream was reset (the handler cancelled, or already finished when the reset
    # came).  Not cancelled: the whole response.  The connection stays usable.
    body = b"payload" if method == "POST" else None
    abandoned = 0
    for k in range(40):
        async with served() as (client, recorder):
            cancelled, response = await run_cancelled_at(
                k, lambda: client.request(method, "/", body=body)
            )
            await trio.testing.wait_all_tasks_blocked()
            if cancelled:
                assert response is None
                if recorder.requests:
                    abandoned += 1
                    reset = (["Cancelled"], ["StreamReset"], ["done"])
                    assert recorder.outcomes in reset, (k, recorder.outcomes)
                    assert client.h2.streams[1].closed
            else:
                assert response.status == 200
                assert response.body == (body or b"ok")
            after = await client.get("/after")
            assert after.status == 200
        if k > 0 and not cancelled:
            # Some cancellations came after the request had gone out.
            assert abandoned
            return
    pytest.fail("the request still met a checkpoint at k=40")


async def test_a_cancelled_streamed_read_takes_no_chunk() -> None:
    async with served() as (client, _):
        async with client.stream("GET", "/chunks") as response:
            received = b""
            while True:
                with trio.CancelScope() as scope:
                    scope.cancel()
                    await anext(response)
                assert scope.cancelled_caught
                try:
                    received += await anext(response)
                except StopAsyncIteration:
                    break
        assert received == b"".join(f"chunk{n};".encode() for n in range(5))
