"""nghttp2's BaseRequestHandler on trio_h2, in memory: callbacks, bodies, pushes, errors."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from h2.errors import ErrorCodes

import trio_h2
from trio_h2.compat import nghttp2
from trio_h2.testing import connect


class Recorder(nghttp2.BaseRequestHandler):
    """Records its callbacks in ``self.log``; subclasses answer."""

    instances: list[Recorder]
    closed: trio.Event

    def __init__(self, http2: Any, stream_id: int) -> None:
        super().__init__(http2, stream_id)
        self.log: list[object] = []
        type(self).instances.append(self)

    def on_headers(self) -> None:
        self.log.append("headers")

    def on_data(self, data: bytes) -> None:
        self.log.append(("data", data))

    def on_request_done(self) -> None:
        self.log.append("done")

    def on_close(self, error_code: int) -> None:
        self.log.append(("close", error_code))
        type(self).closed.set()


def recorder(base: type[Recorder] = Recorder, **methods: Any) -> type[Recorder]:
    cls = type("Handler", (base,), dict(methods))
    cls.instances = []
    cls.closed = trio.Event()
    return cls


async def wait_closed(cls: type[Recorder], count: int = 1) -> None:
    with trio.fail_after(5):
        while sum(("close" in str(h.log)) for h in cls.instances) < count:
            await cls.closed.wait()
            cls.closed = trio.Event()


async def test_request_attributes_have_nghttp2_types() -> None:
    def on_headers(self: Recorder) -> None:
        self.seen = {
            "scheme": self.scheme,
            "method": self.method,
            "host": self.host,
            "path": self.path,
            "headers": list(self.headers),
            "stream_id": self.stream_id,
            "status": self.status,
            "pushed": self.pushed,
            "client_address": self.client_address,
            "client_certificate": self.client_certificate,
        }
        self.send_response(status=200, body=b"ok")

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls), client_address=("10.1.2.3", 4567)) as c:
        response = await c.get(
            "/a?b=1",
            [("cookie", "a=1"), ("x-one", "1"), ("cookie", "b=2"), ("host", "example.test")],
        )
    assert response.status == 200
    (handler,) = cls.instances
    seen = handler.seen  # type: ignore[attr-defined]
    assert seen["scheme"] == b"http"
    assert seen["method"] == b"GET"
    assert seen["host"] == b"example.test"
    assert seen["path"] == b"/a?b=1"
    assert seen["headers"] == [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"example.test"),
        (b":path", b"/a?b=1"),
        (b"x-one", b"1"),
        (b"host", b"example.test"),
        (b"cookie", b"a=1; b=2"),
    ]
    assert seen["stream_id"] == 1
    assert type(seen["stream_id"]) is int
    assert seen["status"] is None
    assert seen["pushed"] is False
    assert seen["client_address"] == ("10.1.2.3", 4567)
    assert seen["client_certificate"] is None
    assert handler.status == 200


async def test_callback_order_with_request_body() -> None:
    def on_request_done(self: Recorder) -> None:
        Recorder.on_request_done(self)
        body = b"".join(e[1] for e in self.log if isinstance(e, tuple) and e[0] == "data")
        self.send_response(200, [("content-type", "text/plain")], body[::-1])

    cls = recorder(on_request_done=on_request_done)
    payload = bytes(range(256)) * 300
    async with connect(nghttp2.stream_handler(cls)) as client:
        response = await client.post("/upload", payload)
        await wait_closed(cls)
    assert response.body == payload[::-1]
    (handler,) = cls.instances
    assert handler.log[0] == "headers"
    assert handler.log[-2:] == ["done", ("close", 0)]
    data = handler.log[1:-2]
    assert all(isinstance(e, tuple) and e[0] == "data" for e in data)
    assert b"".join(e[1] for e in data) == payload  # type: ignore[index]


async def test_request_done_right_after_headers_without_body() -> None:
    def on_headers(self: Recorder) -> None:
        Recorder.on_headers(self)
        self.send_response(body="hi")

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client:
        response = await client.get("/")
        await wait_closed(cls)
    assert response.body == b"hi"
    assert cls.instances[0].log == ["headers", "done", ("close", 0)]


async def test_on_close_gets_the_client_reset_code() -> None:
    cls = recorder()
    async with connect(nghttp2.stream_handler(cls)) as client:
        stream_id = await client.start_request("POST", "/slow")
        await client.send_data(stream_id, b"part", end_stream=False)
        await trio.testing.wait_all_tasks_blocked()
        await client.reset(stream_id, ErrorCodes.ENHANCE_YOUR_CALM)
        await wait_closed(cls)
    assert cls.instances[0].log == [
        "headers",
        ("data", b"part"),
        ("close", ErrorCodes.ENHANCE_YOUR_CALM),
    ]


async def test_on_close_internal_error_for_every_stream_when_connection_is_lost() -> None:
    cls = recorder()
    async with connect(nghttp2.stream_handler(cls)) as client:
        await client.start_request("GET", "/one", end_stream=True)
        await client.start_request("POST", "/two")
        await trio.testing.wait_all_tasks_blocked()
        await client.transport.aclose()
        await wait_closed(cls, 2)
    logs = sorted((h.stream_id, h.log) for h in cls.instances)
    assert logs == [
        (1, ["headers", "done", ("close", ErrorCodes.INTERNAL_ERROR)]),
        (3, ["headers", ("close", ErrorCodes.INTERNAL_ERROR)]),
    ]


@pytest.mark.parametrize("where", ["on_headers", "on_data", "on_request_done"])
async def test_a_failing_callback_resets_only_its_stream(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    def maybe_fail(self: Recorder, name: str) -> None:
        if name == where and self.path == b"/boom":
            raise RuntimeError(f"{name} failed")

    def on_headers(self: Recorder) -> None:
        Recorder.on_headers(self)
        maybe_fail(self, "on_headers")

    def on_data(self: Recorder, data: bytes) -> None:
        Recorder.on_data(self, data)
        maybe_fail(self, "on_data")

    def on_request_done(self: Recorder) -> None:
        Recorder.on_request_done(self)
        maybe_fail(self, "on_request_done")
        self.send_response(body=b"fine")

    cls = recorder(on_headers=on_headers, on_data=on_data, on_request_done=on_request_done)
    async with connect(nghttp2.stream_handler(cls)) as client:
        boom = await client.post("/boom", b"x", raise_on_reset=False)
        ok = await client.post("/ok", b"body")
        await wait_closed(cls, 2)
    assert boom.reset_code == ErrorCodes.INTERNAL_ERROR
    assert ok.body == b"fine"
    failing, fine = sorted(cls.instances, key=lambda h: h.stream_id)
    assert failing.log[-1] == ("close", ErrorCodes.INTERNAL_ERROR)
    assert fine.log == ["headers", ("data", b"body"), "done", ("close", 0)]
    assert f"{where}() of stream 1 failed" in caplog.text
    assert f"RuntimeError: {where} failed" in caplog.text


async def test_second_send_response_and_late_push_raise() -> None:
    errors: list[BaseException] = []

    def on_headers(self: Recorder) -> None:
        self.send_response(body=b"first")
        for call in (lambda: self.send_response(body=b"second"), lambda: self.push("/late")):
            try:
                call()
            except trio_h2.LocalProtocolError as exc:
                errors.append(exc)

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client:
        response = await client.get("/")
    assert response.body == b"first"
    assert [str(e) for e in errors] == [
        "response has already been sent",
        "push() must be called before send_response()",
    ]
    assert all(isinstance(e, Exception) for e in errors)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, b""),
        ("héllo", "héllo".encode()),
        (b"\x00\x01bytes", b"\x00\x01bytes"),
        (io.BytesIO(b"from BytesIO " * 10_000), b"from BytesIO " * 10_000),
    ],
)
async def test_response_bodies(body: object, expected: bytes) -> None:
    def on_headers(self: Recorder) -> None:
        self.send_response(status=201, headers=[(b"x-bytes", b"1"), ("x-str", "é")], body=body)

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client:
        response = await client.get("/")
    assert response.status == 201
    assert response.body == expected
    assert response.header("x-bytes") == "1"
    assert response.header("x-str") == "é"


async def test_file_body_is_read_in_a_worker_thread(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * 1024)

    def on_headers(self: Recorder) -> None:
        self.send_response(body=open(path, "rb"))  # noqa: SIM115 - the server closes it

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client:
        response = await client.get("/")
    assert response.body == path.read_bytes()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"body": 42}, "body must be None, str, bytes"),
        ({"status": 0}, "status must not be empty"),
        ({"status": 1000}, "a final status is between 200 and 599"),
        ({"headers": [("Bad-Name", "x")]}, "lowercase"),
        ({"headers": [("x", 1)]}, "must be str or bytes"),
    ],
)
async def test_invalid_response_arguments_raise(kwargs: dict[str, Any], message: str) -> None:
    errors: list[Exception] = []

    def on_headers(self: Recorder) -> None:
        try:
            self.send_response(**kwargs)
        except trio_h2.LocalProtocolError as exc:
            errors.append(exc)
            self.send_response(status=400)

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client:
        response = await client.get("/")
    assert response.status == 400
    assert message in str(errors[0])


async def test_send_response_later_from_another_task() -> None:
    cls = recorder()
    async with connect(nghttp2.stream_handler(cls)) as client:
        async with trio.open_nursery() as nursery:
            result: list[trio_h2.testing.Response] = []

            async def get() -> None:
                result.append(await client.get("/later"))

            nursery.start_soon(get)
            await trio.testing.wait_all_tasks_blocked()
            (handler,) = cls.instances
            assert handler.log == ["headers", "done"]
            handler.send_response(body=b"at last")
        await wait_closed(cls)
    assert result[0].body == b"at last"
    assert cls.instances[0].log[-1] == ("close", 0)


class Generated(Recorder):
    """Answers with a body generator fed by the test through ``feed()``."""

    def on_headers(self) -> None:
        Recorder.on_headers(self)
        self.asked: list[int] = []
        self.buf = bytearray()
        self.eof = False
        self.send_response(body=self.generate)

    def generate(self, n: int) -> tuple[bytes | None, int]:
        self.asked.append(n)
        if not self.buf and not self.eof:
            return None, nghttp2.DATA_DEFERRED
        data = bytes(self.buf[:n])
        del self.buf[:n]
        last = self.eof and not self.buf
        return data, nghttp2.DATA_EOF if last else nghttp2.DATA_OK

    def feed(self, data: bytes, eof: bool = False) -> None:
        self.buf += data
        self.eof = eof
        self.resume()


async def test_deferred_body_resumes_and_respects_a_closed_window() -> None:
    cls = recorder(Generated)
    async with (
        connect(nghttp2.stream_handler(cls), initial_window_size=1000) as client,
        client.stream("GET", "/gen") as response,
    ):
        await trio.testing.wait_all_tasks_blocked()
        (handler,) = cls.instances
        assert isinstance(handler, Generated)
        assert handler.asked == [1000]  # DATA_DEFERRED: paused until resume()
        handler.resume()
        handler.resume()  # nothing is paused any more: harmless
        await trio.testing.wait_all_tasks_blocked()
        assert handler.asked == [1000, 1000]  # asked again, deferred again
        handler.feed(b"a" * 2500)
        await trio.testing.wait_all_tasks_blocked()
        # The window (1000) is spent: the generator is not asked again until credit comes.
        assert handler.asked == [1000, 1000, 1000]
        chunks = response.aiter_bytes()
        got = await chunks.__anext__()
        assert got == b"a" * 1000
        await trio.testing.wait_all_tasks_blocked()
        assert all(n <= 1000 for n in handler.asked)
        handler.feed(b"", eof=True)
        rest = b"".join([chunk async for chunk in chunks])
    assert got + rest == b"a" * 2500
    await wait_closed(cls)
    assert handler.log[-1] == ("close", 0)


async def test_generator_is_asked_for_at_most_one_frame() -> None:
    cls = recorder(Generated)
    result: list[trio_h2.testing.Response] = []
    async with (
        connect(nghttp2.stream_handler(cls), initial_window_size=1_000_000) as client,
        trio.open_nursery() as nursery,
    ):

        async def get() -> None:
            result.append(await client.get("/"))

        nursery.start_soon(get)
        await trio.testing.wait_all_tasks_blocked()
        (handler,) = cls.instances
        assert isinstance(handler, Generated)
        handler.feed(b"z" * 100_000, eof=True)
    assert result[0].body == b"z" * 100_000
    assert max(handler.asked) == 16_384  # the client's SETTINGS_MAX_FRAME_SIZE


async def test_data_eof_with_data_ends_the_body_and_refuses_the_open_upload() -> None:
    def on_headers(self: Recorder) -> None:
        Recorder.on_headers(self)
        self.send_response(body=lambda n: (b"only this", nghttp2.DATA_EOF))

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client:
        stream_id = await client.start_request("POST", "/upload")
        response = await client.wait_response(stream_id)
        await wait_closed(cls)
        await trio.testing.wait_all_tasks_blocked()
        # The server reset the request side with NO_ERROR: the client may not send more.
        assert stream_id not in client.h2.streams or client.h2.streams[stream_id].closed
    assert response.body == b"only this"
    assert response.reset_code is None
    assert cls.instances[0].log == ["headers", ("close", 0)]


@pytest.mark.parametrize(
    "generator",
    [
        lambda n: 1 / 0,
        lambda n: (b"x", 7),
        lambda n: (b"x" * (n + 1), nghttp2.DATA_OK),
        lambda n: ("text", nghttp2.DATA_OK),
    ],
    ids=["raises", "bad-flag", "too-much", "not-bytes"],
)
async def test_broken_generator_resets_with_internal_error(
    generator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def on_headers(self: Recorder) -> None:
        self.send_response(body=generator)

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client:
        response = await client.get("/", raise_on_reset=False)
        await wait_closed(cls)
    assert response.reset_code == ErrorCodes.INTERNAL_ERROR
    assert cls.instances[0].log[-1] == ("close", ErrorCodes.INTERNAL_ERROR)
    assert "body generator" in caplog.text


async def test_push_returns_the_pushed_handler() -> None:
    pushed: list[nghttp2.BaseRequestHandler] = []

    def on_headers(self: Recorder) -> None:
        Recorder.on_headers(self)
        if self.pushed:  # pragma: no cover - pushed handlers get no on_headers
            raise AssertionError
        pushed.append(
            self.push(
                path="/style.css",
                request_headers=[("accept", "text/css")],
                headers=[("content-type", "text/css")],
                body="body{margin:0;}",
            )
        )
        self.send_response(body=b"page")

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client:
        response = await client.get("/")
        await wait_closed(cls, 2)
    (promised,) = pushed
    assert type(promised) is cls
    assert promised.stream_id == 2
    assert promised.pushed is True
    assert promised.method == b"GET"
    assert promised.path == b"/style.css"
    assert promised.scheme == b"http"
    assert promised.host == b"example.test"
    assert promised.status == 200
    assert promised.headers == [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"example.test"),
        (b":path", b"/style.css"),
        (b"accept", b"text/css"),
    ]
    assert promised.log == [("close", 0)]  # type: ignore[attr-defined]
    assert response.body == b"page"
    (push,) = response.pushed
    assert push.path == "/style.css"
    assert ("accept", "text/css") in push.request_headers
    assert push.status == 200
    assert push.header("content-type") == "text/css"
    assert push.body == b"body{margin:0;}"


async def test_pushed_body_generator_can_be_deferred_and_resumed() -> None:
    def on_headers(self: Recorder) -> None:
        self.chunks = [b"pushed ", None, b"later"]

        def generate(n: int) -> tuple[bytes | None, int]:
            chunk = self.chunks.pop(0) if self.chunks else b""
            if chunk is None:
                return None, nghttp2.DATA_DEFERRED
            return chunk, nghttp2.DATA_OK if self.chunks else nghttp2.DATA_EOF

        self.promised = self.push("/gen", body=generate)
        self.send_response(body=b"main")

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls)) as client, trio.open_nursery() as nursery:
        result: list[trio_h2.testing.Response] = []

        async def get() -> None:
            result.append(await client.get("/"))

        nursery.start_soon(get)
        await trio.testing.wait_all_tasks_blocked()
        main = cls.instances[0]
        assert main.chunks == [b"later"]  # type: ignore[attr-defined]
        main.promised.resume()  # type: ignore[attr-defined]
    (push,) = result[0].pushed
    assert push.body == b"pushed later"


async def test_push_raises_when_the_client_disabled_push() -> None:
    errors: list[Exception] = []

    def on_headers(self: Recorder) -> None:
        try:
            self.push("/style.css", body="x")
        except trio_h2.LocalProtocolError as exc:
            errors.append(exc)
        if self.path == b"/caught":
            self.send_response(body=b"no push")
        else:
            self.push("/style.css", body="x")

    cls = recorder(on_headers=on_headers)
    async with connect(nghttp2.stream_handler(cls), enable_push=False) as client:
        caught = await client.get("/caught")
        uncaught = await client.get("/uncaught", raise_on_reset=False)
    assert caught.body == b"no push"
    assert "client disabled server push" in str(errors[0])
    # As with nghttp2, an uncaught push failure resets the stream.
    assert uncaught.reset_code == ErrorCodes.INTERNAL_ERROR
    # The handlers made for the failed pushes never serve anything.
    assert [h.log for h in cls.instances if h.pushed] == [[], [], []]


async def test_one_access_log_line_per_response(caplog: pytest.LogCaptureFixture) -> None:
    def on_headers(self: Recorder) -> None:
        self.push("/pushed", body="p")
        self.send_response(body="main")

    cls = recorder(on_headers=on_headers)
    with caplog.at_level(logging.INFO, logger="trio_h2.access"):
        async with connect(nghttp2.stream_handler(cls)) as client:
            await client.get("/page")
            await wait_closed(cls, 2)
    records = [r for r in caplog.records if r.name == "trio_h2.access"]
    lines = sorted((r.target, r.status, r.bytes) for r in records)  # type: ignore[attr-defined]
    assert lines == [("/page", "200", 4), ("/pushed", "200", 1)]


async def test_handler_not_serving_a_stream_cannot_respond() -> None:
    class Session:
        def _get_remote_address(self) -> tuple[str, int]:
            return ("127.0.0.1", 1)

        def _get_client_certificate(self) -> None:
            return None

    handler = nghttp2.BaseRequestHandler(Session(), 1)
    handler.resume()  # harmless
    with pytest.raises(trio_h2.LocalProtocolError, match="not serving a stream"):
        handler.send_response()
    with pytest.raises(TypeError):
        nghttp2.stream_handler(object)  # type: ignore[arg-type]
