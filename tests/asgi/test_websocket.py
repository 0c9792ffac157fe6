"""The websocket scope and its messages with raw ASGI applications, in memory over RFC 8441."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

import trio_h2
from trio_h2.asgi import ASGIError, ClientDisconnected

from .conftest import served

Scope = dict[str, Any]


async def echo(scope: Scope, receive: Any, send: Any) -> None:
    """Accepts (with the first subprotocol offered) and echoes until the client goes."""
    assert (await receive()) == {"type": "websocket.connect"}
    offered = scope["subprotocols"]
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": offered[0] if offered else None,
            "headers": [(b"x-accepted", b"yes")],
        }
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            scope["state"]["disconnect"] = message
            scope["state"].get("gone", trio.Event()).set()
            return
        if message["text"] is not None:
            await send({"type": "websocket.send", "text": "echo " + message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})


async def test_scope_accept_messages_and_the_clients_close() -> None:
    state: dict[str, Any] = {}
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)
        await echo(scope, receive, send)
        state.update(scope["state"])

    gone = trio.Event()
    async with served(app, state={"gone": gone}) as client:
        async with client.websocket("/chat%20room?x=1", subprotocols=["chat", "v2"]) as ws:
            assert ws.response.status == 200
            assert ws.response.header("sec-websocket-protocol") == "chat"
            assert ws.response.header("x-accepted") == "yes"
            await ws.send_message("hello")
            assert await ws.get_message() == "echo hello"
            await ws.send_message(b"\x01\x02\x03")
            assert await ws.get_message() == b"\x03\x02\x01"
            await ws.close(4001, "bye now")
        await gone.wait()
    (scope,) = seen
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["http_version"] == "2"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/chat room"
    assert scope["raw_path"] == b"/chat%20room"
    assert scope["query_string"] == b"x=1"
    assert scope["subprotocols"] == ["chat", "v2"]
    assert scope["headers"][0] == (b"host", b"example.test")
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert "method" not in scope
    assert state["disconnect"] == {
        "type": "websocket.disconnect",
        "code": 4001,
        "reason": "bye now",
    }


async def test_close_before_accept_is_a_403() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        assert (await receive())["type"] == "websocket.disconnect"

    async with served(app) as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with client.websocket("/"):
                pass
    assert rejected.value.status_code == 403


async def test_returning_without_accepting_is_a_403() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()

    async with served(app) as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with client.websocket("/"):
                pass
    assert rejected.value.status_code == 403


async def test_failing_before_accepting_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise RuntimeError("no WebSockets today")

    async with served(app) as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with client.websocket("/"):
                pass
    assert rejected.value.status_code == 500
    assert "no WebSockets today" in caplog.text


async def test_denial_response_extension() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"www-authenticate", b"Bearer"), (b"content-type", b"text/plain")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"log in ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"first"})

    async with served(app) as client:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with client.websocket("/"):
                pass
    assert rejected.value.status_code == 401
    assert rejected.value.body == b"log in first"
    assert (b"www-authenticate", b"Bearer") in rejected.value.headers


async def test_application_close_after_accept_sends_its_code() -> None:
    seen: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "done here"})
        seen.append(await receive())
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except OSError as exc:
            seen.append(exc)
        done.set()

    async with served(app) as client, client.websocket("/") as ws:
        with pytest.raises(trio_websocket.ConnectionClosed) as closed:
            await ws.get_message()
        assert closed.value.reason.code == 4000
        assert closed.value.reason.reason == "done here"
        await done.wait()
    assert seen[0] == {"type": "websocket.disconnect", "code": 4000, "reason": "done here"}
    assert isinstance(seen[1], ClientDisconnected)


async def test_returning_after_accept_closes_with_1000_and_failing_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        if scope["path"] == "/fail":
            raise RuntimeError("handler broke")

    async with served(app) as client:
        for path, code in (("/ok", 1000), ("/fail", 1011)):
            async with client.websocket(path) as ws:
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
            assert closed.value.reason.code == code
    assert "handler broke" in caplog.text


async def test_send_after_the_client_closed_raises_client_disconnected() -> None:
    seen: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen.append(await receive())
        try:
            await send({"type": "websocket.send", "text": "anyone?"})
        except OSError as exc:
            seen.append(exc)
        done.set()

    async with served(app) as client:
        async with client.websocket("/") as ws:
            await ws.close(1001)
        await done.wait()
    assert seen[0] == {"type": "websocket.disconnect", "code": 1001, "reason": ""}
    assert isinstance(seen[1], ClientDisconnected)


async def test_reset_stream_is_a_1006_disconnect(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen.append(await receive())
        done.set()

    async with served(app) as client:
        async with client.websocket("/") as ws:
            await trio.testing.wait_all_tasks_blocked()
            await client.reset(ws.stream_id)
            await done.wait()
    assert seen == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_receive_before_the_answer_waits_for_it() -> None:
    order: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()

        async def reader() -> None:
            message = await receive()  # waits until the accept below
            order.append(message["type"])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            order.append("accepting")
            await send({"type": "websocket.accept"})

    async with served(app) as client, client.websocket("/") as ws:
        await ws.send_message("first")
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()
    assert order == ["accepting", "websocket.receive"]


ACCEPT = {"type": "websocket.accept"}


@pytest.mark.parametrize(
    ("messages", "text"),
    [
        ([{"type": "websocket.send", "text": "x"}], "websocket.send before websocket.accept"),
        ([ACCEPT, ACCEPT], "accepted already"),
        ([ACCEPT, {"type": "websocket.send"}], "exactly one of 'bytes' and 'text'"),
        (
            [ACCEPT, {"type": "websocket.send", "text": "a", "bytes": b"b"}],
            "exactly one of 'bytes' and 'text'",
        ),
        ([ACCEPT, {"type": "websocket.send", "text": b"x"}], "'text' must be a str"),
        ([{"type": "websocket.accept", "subprotocol": "nope"}], "was not offered by the client"),
        (
            [{"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"x")]}],
            "give the subprotocol as 'subprotocol'",
        ),
        ([ACCEPT, {"type": "websocket.close", "code": 1006}], "not a close code"),
        ([ACCEPT, {"type": "websocket.close", "reason": "r" * 124}], "over 123 bytes"),
        (
            [ACCEPT, {"type": "websocket.http.response.start", "status": 403}],
            "after websocket.accept",
        ),
        ([{"type": "websocket.http.response.start", "status": 200}], "not 2xx"),
        ([{"type": "websocket.http.response.body"}], "before websocket.http.response.start"),
        ([{"type": "http.response.start", "status": 200}], "for a websocket scope"),
    ],
)
async def test_a_malformed_message_raises_asgi_error_naming_it(
    messages: list[Any], text: str
) -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        try:
            for message in messages:
                await send(message)
        except ASGIError as exc:
            errors.append(exc)

    async with served(app) as client:
        try:
            async with client.websocket("/", subprotocols=["chat"]):
                pass
        except (trio_websocket.ConnectionRejected, trio_h2.StreamReset):
            pass
    assert len(errors) == 1, errors
    assert text in str(errors[0])
