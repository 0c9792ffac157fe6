"""The lifespan protocol: lifespan() in memory, and serve() around a real server."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

import trio_h2
from trio_h2.asgi import ASGIError, ASGIHandler, LifespanError, lifespan, serve
from trio_h2.testing import connect, open_client

Scope = dict[str, Any]


def lifespan_app(events: list[str], **behaviour: Any) -> Any:
    """An application whose lifespan records what happens, and serves the state."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
            message = await receive()
            assert message == {"type": "lifespan.startup"}
            events.append("startup")
            if behaviour.get("startup") == "fail":
                await send({"type": "lifespan.startup.failed", "message": "no database"})
                return
            if behaviour.get("startup") == "raise":
                raise ConnectionError("the database is down")
            scope["state"]["pool"] = ["connection"]
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message == {"type": "lifespan.shutdown"}
            events.append("shutdown")
            if behaviour.get("shutdown") == "fail":
                await send({"type": "lifespan.shutdown.failed", "message": "pool leaked"})
                return
            await send({"type": "lifespan.shutdown.complete"})
            return
        events.append(f"request {scope['path']}")
        if scope["path"] == "/slow":
            behaviour["arrived"].set()
            await behaviour["release"].wait()
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": repr(scope.get("state")).encode()})

    return app


async def test_startup_then_requests_with_the_state_then_shutdown() -> None:
    events: list[str] = []
    app = lifespan_app(events)
    async with lifespan(app) as state:
        assert events == ["startup"]
        assert state == {"pool": ["connection"]}
        async with connect(ASGIHandler(app, state=state)) as client:
            response = await client.get("/")
        assert response.body == b"{'pool': ['connection']}"
        assert events == ["startup", "request /"]
    assert events == ["startup", "request /", "shutdown"]


async def test_startup_failed_raises_with_the_applications_message() -> None:
    events: list[str] = []
    with pytest.raises(LifespanError, match="startup failed: no database"):
        async with lifespan(lifespan_app(events, startup="fail")):
            pytest.fail("the block must not run")
    assert events == ["startup"]


async def test_an_exception_during_startup_is_a_failed_startup() -> None:
    with pytest.raises(LifespanError, match="ConnectionError: the database is down"):
        async with lifespan(lifespan_app([], startup="raise")):
            pytest.fail("the block must not run")


async def test_shutdown_failed_raises_after_the_block() -> None:
    events: list[str] = []
    with pytest.raises(LifespanError, match="shutdown failed: pool leaked"):
        async with lifespan(lifespan_app(events, shutdown="fail")):
            pass
    assert events == ["startup", "shutdown"]


async def test_shutdown_runs_when_the_block_is_cancelled_or_fails() -> None:
    events: list[str] = []
    with trio.CancelScope() as scope:
        async with lifespan(lifespan_app(events)):
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert events == ["startup", "shutdown"]
    events.clear()
    with pytest.raises(KeyError):
        async with lifespan(lifespan_app(events, shutdown="fail")):
            raise KeyError("the block's own error wins")
    assert events == ["startup", "shutdown"]


async def raises_on_lifespan(scope: Scope, receive: Any, send: Any) -> None:
    assert scope["type"] == "http", "no lifespan here"
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"served anyway"})


async def returns_on_lifespan(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await raises_on_lifespan(scope, receive, send)


@pytest.mark.parametrize("app", [raises_on_lifespan, returns_on_lifespan])
async def test_an_application_without_lifespan_support_is_served(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "trio_h2.asgi")
    async with lifespan(app) as state, connect(ASGIHandler(app, state=state)) as client:
        assert (await client.get("/")).body == b"served anyway"
    assert "lifespan" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_lifespan_misuse_raises_asgi_error() -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        for message in (
            {"type": "lifespan.shutdown.complete"},
            {"type": "http.response.start", "status": 200},
        ):
            try:
                await send(message)
            except ASGIError as exc:
                errors.append(exc)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async with lifespan(app):
        pass
    assert [str(e) for e in errors] == [
        "lifespan.shutdown.complete out of turn (the lifespan is starting)",
        "unknown message type 'http.response.start' for a lifespan scope",
    ]


# ------------------------------------------------------------------------ serve()


async def test_serve_starts_up_before_listening_and_shuts_down_after_the_last_stream() -> None:
    events: list[str] = []
    arrived = trio.Event()
    release = trio.Event()
    app = lifespan_app(events, arrived=arrived, release=release)
    async with trio.open_nursery() as nursery:
        server_scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[trio_h2.ServerAddress]) -> None:
            with server_scope:
                await serve(app, "127.0.0.1", 0, task_status=task_status)

        address = await nursery.start(run)
        assert events == ["startup"]  # before started() reported an address
        transport = await trio.open_tcp_stream("127.0.0.1", address.port)
        async with open_client(transport) as client:
            stream_id = await client.start_request("GET", "/slow", end_stream=True)
            await arrived.wait()
            server_scope.cancel()  # a graceful shutdown, with /slow in flight
            await client.goaway_received.wait()
            await trio.testing.wait_all_tasks_blocked()
            assert "shutdown" not in events
            release.set()
            response = await client.wait_response(stream_id)
    assert response.status == 200
    assert response.body == b"{'pool': ['connection']}"
    assert events == ["startup", "request /slow", "shutdown"]


async def test_serve_reports_the_listening_address_as_server() -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")
        seen.append((scope["server"], scope["client"][0]))
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})

    async with trio.open_nursery() as nursery:
        address = await nursery.start(serve, app, "127.0.0.1", 0)
        transport = await trio.open_tcp_stream("127.0.0.1", address.port)
        async with open_client(transport) as client:
            await client.get("/")
        nursery.cancel_scope.cancel()
    assert seen == [(("127.0.0.1", address.port), "127.0.0.1")]


async def test_serve_with_a_failed_startup_raises_and_listens_not() -> None:
    started = False

    def report(address: object) -> None:
        nonlocal started
        started = True

    with pytest.raises(LifespanError, match="no database"):
        await serve(
            lifespan_app([], startup="fail"),
            "127.0.0.1",
            0,
            task_status=_Reporter(report),  # type: ignore[arg-type]
        )
    assert not started


class _Reporter:
    """A task_status that records started() (serve() must not call it here)."""

    def __init__(self, report: Any) -> None:
        self.started = report


async def test_a_graceful_shutdown_closes_websockets_with_1001_before_the_lifespan_ends() -> None:
    events: list[Any] = []
    accepted = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            events.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        await send({"type": "websocket.accept"})
        accepted.set()
        events.append(await receive())

    async with trio.open_nursery() as nursery:
        server_scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[trio_h2.ServerAddress]) -> None:
            with server_scope:
                await serve(app, "127.0.0.1", 0, task_status=task_status)

        address = await nursery.start(run)
        transport = await trio.open_tcp_stream("127.0.0.1", address.port)
        async with open_client(transport) as client, client.websocket("/live") as ws:
            await accepted.wait()
            server_scope.cancel()
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 1001
    assert events == [{"type": "websocket.disconnect", "code": 1001, "reason": ""}, "shutdown"]
