"""HTTP20RequestHandler on trio_h2, in memory."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.compat.hyper import HTTP20Request, HTTP20RequestHandler, stream_handler
from trio_h2.testing import connect


class Echo(HTTP20RequestHandler):
    requests: list[HTTP20Request] = []

    def handle_request(self, request: HTTP20Request) -> None:
        self.requests.append(request)
        self.send_response(200, [(b"content-type", b"text/plain"), ("x-method", request.method)])
        self.send_data(f"{request.method} {request.path}\n")
        self.send_data(request.body)


async def test_request_and_streamed_response() -> None:
    Echo.requests = []
    async with connect(stream_handler(Echo), client_address=("10.0.0.1", 99)) as client:
        response = await client.post("/echo?x=1", b"payload", [("x-a", "1")])
    assert response.status == 200
    assert response.body == b"POST /echo?x=1\npayload"
    assert response.header("x-method") == "POST"
    assert response.header("content-type") == "text/plain"
    (request,) = Echo.requests
    assert (request.method, request.path, request.body) == ("POST", "/echo?x=1", b"payload")
    assert request.headers == [("x-a", "1")]
    assert request.client_address == ("10.0.0.1", 99)
    assert request.authority == "example.test"


async def test_handle_request_runs_in_a_worker_thread() -> None:
    threads: list[threading.Thread] = []

    class Where(HTTP20RequestHandler):
        def handle_request(self, request: HTTP20Request) -> None:
            threads.append(threading.current_thread())
            self.send_response(204)

    async with connect(stream_handler(Where)) as client:
        response = await client.get("/")
    assert response.status == 204
    assert threads[0] is not threading.main_thread()


async def test_send_data_waits_for_flow_control() -> None:
    sent: list[int] = []
    third = trio.Event()

    class Big(HTTP20RequestHandler):
        def handle_request(self, request: HTTP20Request) -> None:
            self.send_response(200)
            for i in range(8):
                if i == 2:
                    trio.from_thread.run_sync(third.set)
                self.send_data(b"x" * 1000)
                sent.append(i)

    async with (
        connect(stream_handler(Big), initial_window_size=2500) as client,
        client.stream("GET", "/") as response,
    ):
        await third.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert sent == [0, 1]  # the third chunk waits for the window
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert body == b"x" * 8000
    assert sent == list(range(8))


async def test_misuse_raises() -> None:
    errors: list[Exception] = []

    class Misuse(HTTP20RequestHandler):
        def handle_request(self, request: HTTP20Request) -> None:
            for call in (lambda: self.send_data(b"early"),):
                try:
                    call()
                except trio_h2.LocalProtocolError as exc:
                    errors.append(exc)
            self.send_response(200, [("content-length", "2")])
            for call in (
                lambda: self.send_response(200),
                lambda: self.send_data(42),  # type: ignore[arg-type]
                lambda: self.send_data(b"too long"),
            ):
                try:
                    call()
                except trio_h2.LocalProtocolError as exc:
                    errors.append(exc)
            self.send_data("ok")

    async with connect(stream_handler(Misuse)) as client:
        response = await client.get("/")
    assert response.body == b"ok"
    messages = [str(e) for e in errors]
    assert messages[0] == "send_data() needs send_response() first"
    assert messages[1] == "send_response() was called already"
    assert messages[2] == "send_data() takes str or bytes, not int"
    assert "content-length" in messages[3]


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_failing_handler(when: str, caplog: pytest.LogCaptureFixture) -> None:
    class Failing(HTTP20RequestHandler):
        def handle_request(self, request: HTTP20Request) -> None:
            if request.path == "/ok":
                self.send_response(200)
                return
            if when == "after":
                self.send_response(200)
                self.send_data(b"partial")
            raise RuntimeError("handler bug")

    async with connect(stream_handler(Failing)) as client:
        response = await client.get("/boom", raise_on_reset=False)
        ok = await client.get("/ok")  # the connection is fine
    if when == "before":
        assert response.status == 500
    else:
        assert response.reset_code == ErrorCodes.INTERNAL_ERROR
    assert ok.status == 200
    assert "handler bug" in caplog.text


async def test_base_handler_and_no_response() -> None:
    class Silent(HTTP20RequestHandler):
        def handle_request(self, request: HTTP20Request) -> None:
            pass

    async with connect(stream_handler(HTTP20RequestHandler)) as client:
        response = await client.get("/")
    assert response.status == 501
    async with connect(stream_handler(Silent)) as client:
        response = await client.get("/")
    assert response.status == 500
    with pytest.raises(TypeError):
        stream_handler(object)  # type: ignore[arg-type]


async def test_client_reset_while_the_handler_sends() -> None:
    finished = threading.Event()
    errors: list[BaseException] = []

    class Endless(HTTP20RequestHandler):
        def handle_request(self, request: HTTP20Request) -> None:
            self.send_response(200)
            try:
                while True:
                    self.send_data(b"x" * 1000)
            except BaseException as exc:
                errors.append(exc)
                raise
            finally:
                finished.set()

    async with (
        connect(stream_handler(Endless), initial_window_size=3000) as client,
        client.stream("GET", "/") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        await client.reset(response.response.stream_id, ErrorCodes.CANCEL)
        with trio.fail_after(5):
            await trio.to_thread.run_sync(finished.wait)
    assert len(errors) == 1
