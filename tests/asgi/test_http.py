"""The http scope, receive() and send() with raw ASGI applications, in memory over HTTP/2."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import trio_h2
from trio_h2.asgi import ASGIError, ClientDisconnected

from .conftest import served

Scope = dict[str, Any]


async def test_scope_of_an_http2_request() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})

    async with served(app) as client:
        response = await client.get(
            "/caf%C3%A9/a%20b%2Fc?q=%20x&r=1",
            [("x-b", "1"), ("host", "example.test"), ("x-b", "2"), ("cookie", "a=1")],
        )
    assert response.status == 204
    (scope,) = seen
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["http_version"] == "2"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    # Decoded, UTF-8 included; an encoded "/" is a "/" here and stays %2F in raw_path.
    assert scope["path"] == "/café/a b/c"
    assert scope["raw_path"] == b"/caf%C3%A9/a%20b%2Fc"
    assert scope["query_string"] == b"q=%20x&r=1"
    assert scope["root_path"] == ""
    # :authority becomes the host field, first, in place of the client's own.
    assert scope["headers"] == [
        (b"host", b"example.test"),
        (b"x-b", b"1"),
        (b"x-b", b"2"),
        (b"cookie", b"a=1"),
    ]
    assert scope["client"] == ("127.0.0.1", 50000)
    assert scope["server"] is None
    assert set(scope["extensions"]) == {
        "http.response.trailers",
        "http.response.early_hint",
        "http.response.push",
        "http.response.pathsend",
    }
    assert "state" not in scope


async def test_root_path_prefixes_path_and_raw_path() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body"})

    async with served(app, root_path="/api/", server=("127.0.0.1", 8080)) as client:
        await client.get("/items?x=1")
    assert seen[0]["root_path"] == "/api"
    assert seen[0]["path"] == "/api/items"
    assert seen[0]["raw_path"] == b"/api/items"
    assert seen[0]["server"] == ("127.0.0.1", 8080)


async def test_state_is_a_shallow_copy_per_request() -> None:
    shared = {"hits": [], "name": "original"}

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        scope["state"]["hits"].append(scope["path"])
        scope["state"]["name"] = "changed by " + scope["path"]
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": scope["state"]["name"].encode()})

    async with served(app, state=shared) as client:
        assert (await client.get("/a")).body == b"changed by /a"
        assert (await client.get("/b")).body == b"changed by /b"
    assert shared == {"hits": ["/a", "/b"], "name": "original"}


# ----------------------------------------------------------------- request body


async def echo(scope: Scope, receive: Any, send: Any) -> None:
    """Answers with the body and the messages it came in."""
    parts = []
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        parts.append(message["body"])
        if not message["more_body"]:
            break
    summary = f"{len(parts)} messages, last empty: {parts[-1] == b''}\n".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": summary + b"".join(parts)})


async def test_get_has_one_empty_request_message() -> None:
    async with served(echo) as client:
        response = await client.get("/")
    assert response.body == b"1 messages, last empty: True\n"


async def test_body_chunks_and_the_last_one_says_no_more() -> None:
    async def upload() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"part {i};".encode()
            await trio.sleep(0)

    async with served(echo) as client:
        whole = await client.post("/", b"x" * 100)
        streamed = await client.post("/", upload())
    assert whole.body == b"1 messages, last empty: False\n" + b"x" * 100
    assert streamed.body.endswith(b"part 0;part 1;part 2;")


async def test_credit_goes_back_only_as_the_application_receives() -> None:
    sent = 0
    taken = trio.Event()
    release = trio.Event()

    async def slow_reader(scope: Scope, receive: Any, send: Any) -> None:
        first = await receive()
        assert first["more_body"]
        taken.set()
        await release.wait()
        size = len(first["body"])
        while True:
            message = await receive()
            size += len(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": str(size).encode()})

    async def upload() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):
            sent += 16_384
            yield b"u" * 16_384

    config = trio_h2.Config(initial_window_size=65_535, initial_connection_window_size=65_535)
    async with served(slow_reader, config=config) as client, trio.open_nursery() as nursery:
        results: list[trio_h2.testing.Response] = []

        async def post() -> None:
            results.append(await client.post("/", upload()))

        nursery.start_soon(post)
        await taken.wait()
        await trio.testing.wait_all_tasks_blocked()
        # The window and one chunk that waits for credit, not the megabyte.
        assert sent <= 65_535 + 2 * 16_384
        release.set()
    assert results[0].body == str(64 * 16_384).encode()


async def test_receive_after_the_body_waits_for_the_response_then_disconnect() -> None:
    order: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.request"

        async def listen() -> None:
            message = await receive()
            order.append(message["type"])
            order.append((await receive())["type"])  # at once, ever after

        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            await trio.testing.wait_all_tasks_blocked()
            order.append("responding")
            await send({"type": "http.response.start", "status": 200})
            await send({"type": "http.response.body", "body": b"done"})

    async with served(app) as client:
        assert (await client.get("/")).body == b"done"
    assert order == ["responding", "http.disconnect", "http.disconnect"]


async def test_cancelled_receive_takes_nothing() -> None:
    waiting = trio.Event()
    scopes: list[trio.CancelScope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        with trio.CancelScope() as cancelled:
            scopes.append(cancelled)
            waiting.set()
            await receive()  # the body is held back by the client: this waits
        assert cancelled.cancelled_caught
        message = await receive()
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": message["body"]})

    gate = trio.Event()

    async def upload() -> AsyncIterator[bytes]:
        await gate.wait()
        yield b"all of it"

    async with served(app) as client, trio.open_nursery() as nursery:
        results: list[trio_h2.testing.Response] = []

        async def post() -> None:
            results.append(await client.post("/", upload()))

        nursery.start_soon(post)
        await waiting.wait()
        await trio.testing.wait_all_tasks_blocked()
        scopes[0].cancel()
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert results[0].body == b"all of it"


# --------------------------------------------------------------------- responses


async def test_streamed_response_and_its_headers() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"Content-Type", b"text/plain"),  # lowercased
                    (b"transfer-encoding", b"chunked"),  # the server's business: dropped
                    (b"set-cookie", b"a=1"),
                    (b"set-cookie", b"b=2"),
                ],
            }
        )
        for i in range(3):
            await send({"type": "http.response.body", "body": b"%d," % i, "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})

    async with served(app) as client:
        response = await client.get("/")
    assert response.status == 201
    assert response.body == b"0,1,2,end"
    assert response.header("content-type") == "text/plain"
    assert [v for n, v in response.headers if n == "set-cookie"] == ["a=1", "b=2"]
    assert response.header("transfer-encoding") is None
    assert response.header("content-length") is None  # streamed: no length known


async def test_one_body_gets_a_content_length_and_the_applications_own_stands() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"5")] if scope["path"] == "/own" else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if scope["path"] == "/own":
            await send({"type": "http.response.body", "body": b"he", "more_body": True})
            await send({"type": "http.response.body", "body": b"llo"})
        else:
            await send({"type": "http.response.body", "body": b"hello"})

    async with served(app) as client:
        auto = await client.get("/auto")
        own = await client.get("/own")
    assert auto.body == own.body == b"hello"
    assert [v for n, v in auto.headers if n == "content-length"] == ["5"]
    assert [v for n, v in own.headers if n == "content-length"] == ["5"]


async def test_head_gets_the_headers_alone() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"twelve bytes"})

    async with served(app) as client:
        response = await client.request("HEAD", "/")
    assert response.body == b""
    assert response.header("content-length") == "12"


async def test_trailers() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"payload"})
        await send(
            {"type": "http.response.trailers", "headers": [(b"x-a", b"1")], "more_trailers": True}
        )
        await send({"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]})

    async with served(app) as client:
        response = await client.get("/", [("te", "trailers")])
    assert response.body == b"payload"
    assert response.trailers == [("x-a", "1"), ("grpc-status", "0")]


async def test_trailers_with_no_body_message() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"grpc-status", b"13")]})

    async with served(app) as client:
        response = await client.get("/")
    assert (response.status, response.body) == (200, b"")
    assert response.trailers == [("grpc-status", "13")]


async def test_early_hints_go_before_the_response() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.early_hint", "links": [b"</a.css>; rel=preload"]})
        await send({"type": "http.response.start", "status": 200})
        # After the start, still before the headers are out: sent too.
        await send({"type": "http.response.early_hint", "links": [b" </b.js>; rel=preload "]})
        await send({"type": "http.response.body", "body": b"page", "more_body": True})
        # Once the headers are out a 1xx cannot follow: dropped, not an error.
        await send({"type": "http.response.early_hint", "links": [b"</c.js>"]})
        await send({"type": "http.response.body"})

    async with served(app) as client:
        response = await client.get("/")
    assert response.informational == [
        (103, [("link", "</a.css>; rel=preload")]),
        (103, [("link", "</b.js>; rel=preload")]),
    ]
    assert response.body == b"page"


async def pusher(scope: Scope, receive: Any, send: Any) -> None:
    if scope["path"] == "/":
        await send({"type": "http.response.start", "status": 200})
        await send(
            {"type": "http.response.push", "path": "/style sheet.css", "headers": [(b"x-p", b"1")]}
        )
        await send({"type": "http.response.body", "body": b"<link rel=stylesheet>"})
        return
    assert "http.response.push" not in scope["extensions"]  # a pushed stream pushes not
    headers = dict(scope["headers"])
    await send({"type": "http.response.start", "status": 200})
    body = f"{scope['path']} {headers[b'x-p'].decode()} {headers[b'host'].decode()}"
    await send({"type": "http.response.body", "body": body.encode()})


async def test_push_serves_the_promised_request_with_the_application() -> None:
    async with served(pusher) as client:
        response = await client.get("/")
    assert response.body == b"<link rel=stylesheet>"
    (pushed,) = response.pushed
    assert pushed.path == "/style%20sheet.css"
    assert pushed.body == b"/style sheet.css 1 example.test"


async def test_push_to_a_client_that_refuses_pushes_is_skipped() -> None:
    async with served(pusher, enable_push=False) as client:
        response = await client.get("/")
    assert response.body == b"<link rel=stylesheet>"
    assert response.pushed == []


async def test_pathsend_sends_the_file(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    (tmp_path / "blob").write_bytes(data)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.pathsend", "path": str(tmp_path / "blob")})

    async with served(app) as client:
        response = await client.get("/")
        head = await client.request("HEAD", "/")
    assert response.body == data
    assert response.header("content-length") == str(len(data))
    assert (head.body, head.header("content-length")) == (b"", str(len(data)))


async def test_pathsend_with_trailers(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"file body")

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.pathsend", "path": str(tmp_path / "f")})
        await send({"type": "http.response.trailers", "headers": [(b"x-sum", b"9")]})

    async with served(app) as client:
        response = await client.get("/")
    assert (response.body, response.trailers) == (b"file body", [("x-sum", "9")])


async def test_cancelled_send_sent_nothing() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        for message in (
            {"type": "http.response.early_hint", "links": [b"</never>"]},
            START,  # not taken: a second one below is no error
            None,
            {"type": "http.response.body", "body": b"never"},
            {"type": "http.response.body", "body": b"never", "more_body": True},
        ):
            if message is None:
                await send(START)
                continue
            with trio.CancelScope() as cancelled:
                cancelled.cancel()
                await send(message)
            assert cancelled.cancelled_caught
        await send({"type": "http.response.body", "body": b"sent once"})

    async with served(app) as client:
        response = await client.get("/")
    assert (response.status, response.body, response.informational) == (200, b"sent once", [])


async def test_send_cancelled_mid_body_resets_and_ends_the_response() -> None:
    after: list[Any] = []
    sending = trio.Event()
    done = trio.Event()
    scopes: list[trio.CancelScope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send(START)
        with trio.CancelScope() as cancelled:
            scopes.append(cancelled)
            sending.set()
            # The client reads nothing yet: part of this waits for credit.
            await send({"type": "http.response.body", "body": b"b" * 100_000, "more_body": True})
        after.append(await receive())
        try:
            await send(BODY)
        except ASGIError as exc:
            after.append(str(exc))
        done.set()

    async with served(app) as client, client.stream("GET", "/") as response:
        await sending.wait()
        await trio.testing.wait_all_tasks_blocked()
        scopes[0].cancel()
        await done.wait()
        with pytest.raises(trio_h2.StreamReset) as reset:
            async for _ in response:
                pass
    assert reset.value.error_code == trio_h2.ErrorCode.CANCEL
    assert after == [
        {"type": "http.disconnect"},
        "http.response.body after the response completed",
    ]


# ------------------------------------------------------------------------ misuse


def _misuse_app(messages: list[Any], errors: list[BaseException]) -> Any:
    """Sends ``messages`` in order, keeping what the last one raised, then answers."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        try:
            for message in messages:
                await send(message)
        except ASGIError as exc:
            errors.append(exc)

    return app


START = {"type": "http.response.start", "status": 200}
BODY = {"type": "http.response.body", "body": b"x"}


@pytest.mark.parametrize(
    ("messages", "text"),
    [
        ([{"type": "http.response.strat", "status": 200}], "unknown message type"),
        (["not a dict"], "send() takes a message dict, not str"),
        ([{"status": 200}], "a message needs a 'type'"),
        ([{"type": "http.response.start"}], "http.response.start: the 'status' key is missing"),
        ([{"type": "http.response.start", "status": "200"}], "'status' must be an int, not str"),
        (
            [{"type": "http.response.start", "status": 103}],
            "send 103 with http.response.early_hint",
        ),
        ([{"type": "http.response.start", "status": 700}], "between 200 and 599"),
        (
            [{"type": "http.response.start", "status": 200, "headers": [("a", "b")]}],
            "header names and values are bytes, not str and str",
        ),
        (
            [{"type": "http.response.start", "status": 200, "headers": [(b":status", b"1")]}],
            "pseudo-header",
        ),
        (
            [{"type": "http.response.start", "status": 200, "headers": [(b"a", b"b\r\nc")]}],
            "invalid value",
        ),
        ([START, {"type": "http.response.body", "body": "text"}], "'body' must be bytes"),
        ([START, {"type": "http.response.body", "more_body": 1}], "'more_body' must be a bool"),
        ([START, START], "http.response.start: the response has started already"),
        ([BODY], "http.response.body before http.response.start"),
        ([START, BODY, BODY], "http.response.body after the response completed"),
        ([START, BODY, START], "http.response.start after the response completed"),
        (
            [START, {"type": "http.response.trailers", "headers": []}],
            "without 'trailers': True",
        ),
        (
            [
                {"type": "http.response.start", "status": 200, "trailers": True},
                {"type": "http.response.body", "more_body": True},
                {"type": "http.response.trailers", "headers": []},
            ],
            "before the last body message",
        ),
        (
            [{**START, "headers": [(b"content-length", b"3")]}, {**BODY, "body": b"four"}],
            "content-length header says 3, the body has 4 bytes",
        ),
        ([START, {"type": "http.response.pathsend", "path": "rel/ative"}], "must be absolute"),
        (
            [START, {"type": "http.response.pathsend", "path": "/no/such/file"}],
            "cannot open '/no/such/file'",
        ),
        (
            [START, {**BODY, "more_body": True}, {"type": "http.response.pathsend", "path": "/"}],
            "after a body message",
        ),
        ([{"type": "http.response.push", "path": "relative"}], "starts with '/'"),
        ([{"type": "http.response.early_hint", "links": "</a>"}], "'links' must be"),
        ([{"type": "websocket.accept"}], "unknown message type 'websocket.accept'"),
    ],
)
async def test_a_malformed_message_raises_asgi_error_naming_it(
    messages: list[Any], text: str
) -> None:
    errors: list[BaseException] = []
    async with served(_misuse_app(messages, errors)) as client:
        await client.get("/", raise_on_reset=False)
    assert len(errors) == 1, errors
    assert text in str(errors[0])
    assert isinstance(errors[0], trio_h2.LocalProtocolError)


# ---------------------------------------------------------------------- failures


async def test_failure_before_the_response_is_a_500_with_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["path"] == "/started":
            await send(START)  # held back until a body message, so a 500 can replace it
        raise RuntimeError("broken application")

    async with served(app) as client:
        before = await client.get("/")
        started = await client.get("/started")
    assert before.status == started.status == 500
    failures = [r for r in caplog.records if r.exc_info and r.levelno == logging.ERROR]
    assert len(failures) == 2
    assert all("broken application" in str(r.exc_info[1]) for r in failures)  # type: ignore[index]


async def test_failure_mid_body_resets_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        await send({**BODY, "more_body": True})
        raise RuntimeError("mid-body")

    async with served(app) as client:
        response = await client.get("/", raise_on_reset=False)
    assert response.status == 200
    assert response.reset_code == trio_h2.ErrorCode.INTERNAL_ERROR
    assert any("mid-body" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


@pytest.mark.parametrize(
    ("messages", "log_text"),
    [
        ([], "returned without responding"),
        ([START], "returned after http.response.start without its body"),
    ],
)
async def test_returning_without_a_response_is_a_500(
    messages: list[Any], log_text: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(_misuse_app(messages, [])) as client:
        response = await client.get("/")
    assert response.status == 500
    assert log_text in caplog.text


async def test_returning_mid_body_resets(caplog: pytest.LogCaptureFixture) -> None:
    async with served(_misuse_app([START, {**BODY, "more_body": True}], [])) as client:
        response = await client.get("/", raise_on_reset=False)
    assert response.reset_code == trio_h2.ErrorCode.INTERNAL_ERROR
    assert "returned before its response was complete" in caplog.text


# ------------------------------------------------------------------- disconnects


async def test_reset_mid_upload_is_http_disconnect_and_send_raises_oserror(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        try:
            seen.append(await receive())
            seen.append(await receive())  # the client resets while this waits
            try:
                await send(START)
            except OSError as exc:
                seen.append(exc)
        finally:
            done.set()

    async with served(app) as client:
        stream_id = await client.start_request("POST", "/")
        await client.send_data(stream_id, b"first", end_stream=False)
        await trio.testing.wait_all_tasks_blocked()
        await client.reset(stream_id)
        await done.wait()
    assert seen[0] == {"type": "http.request", "body": b"first", "more_body": True}
    assert seen[1] == {"type": "http.disconnect"}
    assert isinstance(seen[2], ClientDisconnected)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_reset_while_waiting_after_the_body_is_http_disconnect() -> None:
    seen: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())  # long-polling: waits for the client to go
        done.set()

    async with served(app) as client:
        stream_id = await client.start_request("GET", "/", end_stream=True)
        await trio.testing.wait_all_tasks_blocked()
        await client.reset(stream_id)
        await done.wait()
    assert seen == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]


async def test_reset_while_sending_raises_client_disconnected() -> None:
    seen: list[BaseException] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send(START)
        try:
            while True:  # the client never reads: this waits for credit
                await send({**BODY, "body": b"z" * 16_384, "more_body": True})
        except OSError as exc:
            seen.append(exc)
        done.set()

    async with served(app) as client:
        async with client.stream("GET", "/") as response:
            await trio.testing.wait_all_tasks_blocked()
            await client.reset(response.response.stream_id)
            await done.wait()
    assert isinstance(seen[0], ClientDisconnected)


async def test_lost_connection_is_http_disconnect() -> None:
    seen: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())
        done.set()

    async with served(app) as client:
        await client.start_request("GET", "/", end_stream=True)
        await trio.testing.wait_all_tasks_blocked()
        await client.transport.aclose()
        await done.wait()
    assert seen[1] == {"type": "http.disconnect"}


async def test_an_application_deaf_to_the_disconnect_is_cancelled_after_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outcome: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        start = trio.current_time()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            outcome.append(f"cancelled after {trio.current_time() - start:g} s")
            raise

    async with served(app, disconnect_grace=3.0) as client:
        stream_id = await client.start_request("GET", "/", end_stream=True)
        await trio.sleep(1)
        await client.reset(stream_id)
        await trio.sleep(10)
    assert outcome == ["cancelled after 4 s"]


async def test_body_timeout_is_a_408_and_a_disconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())  # the client stops sending
        try:
            await send(START)
        except OSError as exc:
            seen.append(type(exc))

    async with served(app, config=trio_h2.Config(body_timeout=5)) as client:
        stream_id = await client.start_request("POST", "/")
        await client.send_data(stream_id, b"some", end_stream=False)
        response = await client.wait_response(stream_id)
    assert response.status == 408
    assert seen[1:] == [{"type": "http.disconnect"}, ClientDisconnected]
