"""trio's cancellation rule on the HTTP/1.1 test client's calls: Cancelled means no effect.

The HTTP/1.1 mirror of test_testing_cancellation.py.  A call in an already-cancelled
scope writes no byte and the connection goes on; so does a request cancelled while it
waits for the connection.  A request cancelled after its head went out cannot be
abandoned halfway in HTTP/1.1: the connection is closed (the server sees the client
leave, as it sees an HTTP/2 reset) and every later call raises ConnectionClosed.  A
cancelled streamed read takes no chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import trio_h2
from tests.test_cancellation import run_cancelled_at
from tests.test_testing_h1 import Recording
from trio_h2.server.listen import Server
from trio_h2.testing import H1Client, open_client


class Recorder:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.outcomes: list[str] = []
        self.release = trio.Event()

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.requests.append(f"{stream.method} {stream.path}")
        try:
            if stream.is_websocket:
                ws = await stream.accept_websocket()
                while True:
                    await ws.send_message(await ws.get_message())
            if stream.path == "/wait":
                await self.release.wait()
            body = await stream.read()
            if stream.path == "/chunks":
                async with stream.start_response(200) as response:
                    for n in range(5):
                        await response.send(f"chunk{n};".encode())
            else:
                await stream.respond(200, body=body or b"ok")
        except BaseException as exc:
            self.outcomes.append(type(exc).__name__)
            raise
        self.outcomes.append("done")


@asynccontextmanager
async def served() -> AsyncIterator[tuple[H1Client, Recorder, Recording]]:
    recorder = Recorder()
    client_side, server_side = trio.testing.memory_stream_pair()
    transport = Recording(client_side)
    server = Server(recorder, trio_h2.Config(), None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve_transport, server_side, ("127.0.0.1", 1))
        async with open_client(transport, http_version="1.1") as client:
            yield client, recorder, transport
        nursery.cancel_scope.cancel()


async def upload() -> AsyncIterator[bytes]:
    yield b"pay"
    yield b"load"


async def enter_stream(client: H1Client) -> None:
    async with client.stream("GET", "/"):
        pass  # pragma: no cover


async def enter_websocket(client: H1Client) -> None:
    async with client.websocket("/"):
        pass  # pragma: no cover


CALLS: dict[str, Callable[[H1Client], Awaitable[Any]]] = {
    "get": lambda c: c.get("/"),
    "post": lambda c: c.post("/", b"body"),
    "post-iterable": lambda c: c.post("/", upload()),
    "request": lambda c: c.request("PUT", "/", body=b"x"),
    "stream": enter_stream,
    "websocket": enter_websocket,
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_a_call_in_a_cancelled_scope_sends_nothing(name: str) -> None:
    async with served() as (client, recorder, transport):
        with trio.CancelScope() as scope:
            scope.cancel()
            await CALLS[name](client)
        assert scope.cancelled_caught
        assert transport.sent == b""
        # The connection goes on; the server's first request is the next one.
        response = await client.get("/after")
        assert (response.status, response.stream_id) == (200, 1)
        assert recorder.requests == ["GET /after"]


async def test_a_request_cancelled_while_waiting_for_the_connection_is_never_sent() -> None:
    async with served() as (client, recorder, _):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.get, "/wait")
            await trio.testing.wait_all_tasks_blocked()
            with trio.CancelScope() as scope:

                async def cancel_once_blocked() -> None:
                    await trio.testing.wait_all_tasks_blocked()
                    scope.cancel()

                nursery.start_soon(cancel_once_blocked)
                await client.get("/never")  # waits for the connection, and is cancelled
            assert scope.cancelled_caught
            recorder.release.set()
        assert (await client.get("/after")).status == 200
        assert recorder.requests == ["GET /wait", "GET /after"]


async def cancelled_once_blocked(call: Awaitable[Any]) -> None:
    """Await ``call``, cancelled once every task is blocked."""
    with trio.CancelScope() as scope:

        async def cancel_once_blocked() -> None:
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_once_blocked)
            await call
    assert scope.cancelled_caught


async def test_a_request_cancelled_while_waiting_closes_the_connection() -> None:
    async with served() as (client, recorder, _):
        await cancelled_once_blocked(client.get("/wait"))
        assert recorder.requests == ["GET /wait"]
        for _ in range(2):
            with pytest.raises(trio_h2.ConnectionClosed, match="cancelled before its response"):
                await client.get("/after")


async def test_an_upload_cancelled_half_way_is_seen_by_the_server_as_cut_short() -> None:
    never = trio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"half"
        await never.wait()
        yield b"never"  # pragma: no cover

    async with served() as (client, recorder, _):
        await cancelled_once_blocked(client.post("/", stalled()))
        await trio.testing.wait_all_tasks_blocked()
        # The server saw the client leave before the body's end: the handler's read failed.
        assert recorder.requests == ["POST /"]
        assert recorder.outcomes == ["StreamReset"]
        with pytest.raises(trio_h2.ConnectionClosed, match="cancelled before its response"):
            await client.get("/after")


async def _read_streamed(client: H1Client) -> bytes:
    async with client.stream("GET", "/chunks") as response:
        return b"".join([chunk async for chunk in response])


OPS: dict[str, tuple[Callable[[H1Client], Awaitable[Any]], bytes]] = {
    "GET": (lambda c: c.request("GET", "/"), b"ok"),
    "POST": (lambda c: c.request("POST", "/", body=b"payload"), b"payload"),
    "POST-iterable": (lambda c: c.request("POST", "/", body=upload()), b"payload"),
    "POST-100-continue": (
        lambda c: c.request("POST", "/", [("expect", "100-continue")], b"payload"),
        b"payload",
    ),
    "stream": (_read_streamed, b"".join(f"chunk{n};".encode() for n in range(5))),
}


@pytest.mark.parametrize("op", sorted(OPS))
async def test_a_request_cancelled_at_each_checkpoint_is_all_or_nothing(op: str) -> None:
    # Cancelled before the head went out: the server saw nothing and the connection
    # goes on.  After: the connection is closed (the handler cancelled, or already
    # done), and later calls say why.  Not cancelled: the whole response.
    call, expected = OPS[op]
    abandoned = 0
    for k in range(60):
        async with served() as (client, recorder, transport):
            cancelled, result = await run_cancelled_at(k, lambda: call(client))
            await trio.testing.wait_all_tasks_blocked()
            if not cancelled:
                body = result if isinstance(result, bytes) else result.body
                assert body == expected
                assert (await client.get("/after")).status == 200
            elif transport.sent:
                abandoned += 1
                assert result is None
                # The handler had not started, saw its body cut short, or was done.
                ended: list[list[str]] = [[], ["StreamReset"], ["Cancelled"], ["done"]]
                assert recorder.outcomes in ended, (k, recorder.outcomes)
                with pytest.raises(trio_h2.ConnectionClosed, match="cancelled"):
                    await client.get("/after")
            else:
                assert recorder.requests == []
                assert (await client.get("/after")).status == 200
        if k > 0 and not cancelled:
            # Some cancellations came after the request had gone out.
            assert abandoned, op
            return
    pytest.fail("the request still met a checkpoint at k=60")


async def test_a_cancelled_streamed_read_takes_no_chunk() -> None:
    async with served() as (client, _, _):
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
        assert (await client.get("/")).status == 200  # read to its end: the connection goes on


WS_CALLS: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "send_message": lambda ws: ws.send_message("never"),
    "get_message": lambda ws: ws.get_message(),
    "close": lambda ws: ws.close(),
    "send_raw": lambda ws: ws.send_raw(b"never"),
    "receive_raw": lambda ws: ws.receive_raw(),
}


@pytest.mark.parametrize("name", sorted(WS_CALLS))
async def test_a_websocket_call_in_a_cancelled_scope_does_nothing(name: str) -> None:
    async with served() as (client, _, transport), client.websocket("/ws") as ws:
        await ws.send_message("first")
        assert await ws.get_message() == "first"
        sent = len(transport.sent)
        with trio.CancelScope() as scope:
            scope.cancel()
            await WS_CALLS[name](ws)
        assert scope.cancelled_caught
        assert len(transport.sent) == sent
        # The WebSocket is as it was: open, and nothing of the server's was taken.
        await ws.send_message("second")
        assert await ws.get_message() == "second"
        assert await ws.close() == 1000


async def test_a_get_message_cancelled_while_waiting_loses_no_message() -> None:
    async with served() as (client, _, _), client.websocket("/ws") as ws:
        await cancelled_once_blocked(ws.get_message())
        await ws.send_message("still here")
        assert await ws.get_message() == "still here"
