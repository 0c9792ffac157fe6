"""examples/grpc_service.py against grpcio, the reference gRPC client, and in memory.

The example's handler is served in this process on a loopback port, and grpcio calls
it through stubs that grpcio-tools compiles from ``examples/grpc_proto/greeter.proto``
(so the messages the server encodes by hand are read by protobuf itself).  grpcio
blocks, so each call runs in a worker thread, abandoned if ``trio.fail_after`` ends
the wait.  What grpcio cannot show (no ``content-length``, Trailers-Only frames,
the raw ``grpc-message``, a deadline the server enforces on its own) is checked with
the in-memory client on the same handler.  What the server did is read from the
example's log, which says how each call ended.  One test runs the example as a
program.
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import struct
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

import trio_h2
from tests.test_examples import example
from trio_h2.testing import Response, connect

grpc = pytest.importorskip("grpc", reason="grpcio is not installed (pip install -e '.[test]')")
protoc = pytest.importorskip(
    "grpc_tools.protoc", reason="grpcio-tools is not installed (pip install -e '.[test]')"
)

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "examples" / "grpc_proto" / "greeter.proto"
WAIT = 20  # seconds: the bound on every wait, far above what any of them takes
T = TypeVar("T")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the generated stubs import their messages by name
    spec.loader.exec_module(module)
    return module


service = _load("grpc_service", ROOT / "examples" / "grpc_service.py")
Status = service.Status


@dataclass
class Proto:
    pb: ModuleType  # the messages
    grpc: ModuleType  # the stubs


@pytest.fixture(scope="session")
def proto(tmp_path_factory: pytest.TempPathFactory) -> Proto:
    out = tmp_path_factory.mktemp("greeter")
    argv = ["protoc", f"-I{PROTO.parent}", f"--python_out={out}", f"--grpc_python_out={out}"]
    assert protoc.main([*argv, str(PROTO)]) == 0
    return Proto(
        _load("greeter_pb2", out / "greeter_pb2.py"),
        _load("greeter_pb2_grpc", out / "greeter_pb2_grpc.py"),
    )


def frame(message: bytes, *, compressed: bool = False) -> bytes:
    return struct.pack(">BI", compressed, len(message)) + message


def unframe(data: bytes) -> list[bytes]:
    messages = []
    while data:
        compressed, length = struct.unpack_from(">BI", data)
        assert compressed == 0
        messages.append(data[5 : 5 + length])
        data = data[5 + length :]
    return messages


# ------------------------------------------------------------ through grpcio


class Outcomes(logging.Handler):
    """The example's log lines, as they come, for a test to wait for."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        # The example logs from its handlers, which run in trio's thread.
        self.lines.append(record.getMessage())
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, *texts: str) -> str:
        """The first line that contains one of ``texts``, once it has been logged."""
        with trio.fail_after(WAIT):
            while True:
                for line in self.lines:
                    if any(text in line for text in texts):
                        return line
                await self._changed.wait()


@dataclass
class Greeter:
    channel: Any
    stub: Any
    outcomes: Outcomes


async def blocking(call: Callable[[], T]) -> T:
    """Run a blocking grpcio call in a worker thread, bounded by trio.fail_after."""
    with trio.fail_after(WAIT):
        return await trio.to_thread.run_sync(call, abandon_on_cancel=True)


@asynccontextmanager
async def greeter(proto: Proto) -> AsyncIterator[Greeter]:
    """The example's handler on a loopback port, and a grpcio channel to it."""
    outcomes = Outcomes()
    service.log.addHandler(outcomes)
    service.log.setLevel(logging.INFO)
    try:
        async with trio.open_nursery() as nursery:
            address = await nursery.start(
                partial(trio_h2.serve, service.handler, "127.0.0.1", 0, config=service.CONFIG)
            )
            channel = grpc.insecure_channel(f"127.0.0.1:{address.port}")
            try:
                yield Greeter(channel, proto.grpc.GreeterStub(channel), outcomes)
            finally:
                # Ends the calls still open, so no abandoned thread is left waiting.
                await blocking(channel.close)
                nursery.cancel_scope.cancel()
    finally:
        service.log.removeHandler(outcomes)


async def test_unary(proto: Proto) -> None:
    async with greeter(proto) as g:
        reply = await blocking(lambda: g.stub.SayHello(proto.pb.HelloRequest(name="world")))
        assert await g.outcomes.wait_for("SayHello:") == "SayHello: OK"
    assert reply.message == "Hello world"


async def test_server_streaming_yields_every_reply(proto: Proto) -> None:
    request = proto.pb.RepeatHelloRequest(name="trio", count=5)
    async with greeter(proto) as g:
        replies = await blocking(lambda: list(g.stub.SayHelloStream(request)))
    assert [reply.message for reply in replies] == [f"Hello trio, {i} of 5" for i in range(1, 6)]


async def test_client_streaming_sums_what_it_was_sent(proto: Proto) -> None:
    values = [1, 2, -10, 2**40, 0, -(2**63)]
    async with greeter(proto) as g:
        numbers = [proto.pb.Number(value=value) for value in values]
        total = await blocking(lambda: g.stub.SumNumbers(iter(numbers)))
        empty = await blocking(lambda: g.stub.SumNumbers(iter([])))
    assert (total.total, total.count) == (sum(values), len(values))
    assert (empty.total, empty.count) == (0, 0)


async def test_bidirectional_replies_come_before_the_requests_end(proto: Proto) -> None:
    names = ["ada", "grace", "barbara"]

    def chat(stub: Any) -> list[str]:
        answered: queue.Queue[None] = queue.Queue()

        def requests() -> Iterator[Any]:
            for name in names:
                yield proto.pb.HelloRequest(name=name)
                # The next request only once this one is answered: a server that
                # waited for the end of the requests would never answer.
                answered.get(timeout=WAIT)

        replies = []
        for reply in stub.Chat(requests()):
            replies.append(reply.message)
            answered.put(None)
        return replies

    async with greeter(proto) as g:
        replies = await blocking(lambda: chat(g.stub))
    assert replies == [f"Hello {name}" for name in names]


async def test_an_error_after_replies_comes_in_the_trailers(proto: Proto) -> None:
    requests = [proto.pb.HelloRequest(name="ada"), proto.pb.HelloRequest(name="")]

    def chat(stub: Any) -> tuple[list[str], Any]:
        replies: list[str] = []
        try:
            for reply in stub.Chat(iter(requests)):
                replies.append(reply.message)
        except grpc.RpcError as error:
            return replies, error
        raise AssertionError("the call ended OK")

    async with greeter(proto) as g:
        replies, error = await blocking(lambda: chat(g.stub))
    assert replies == ["Hello ada"]
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "name is required"


async def test_a_deadline_ends_the_call_and_the_server_stops_waiting(proto: Proto) -> None:
    request = proto.pb.DelayedHelloRequest(name="slow", delay_ms=60_000)

    def call(stub: Any) -> Any:
        with pytest.raises(grpc.RpcError) as caught:
            stub.SayHelloAfter(request, timeout=0.2)
        return caught.value

    async with greeter(proto) as g:
        started = trio.current_time()
        error = await blocking(lambda: call(g.stub))
        took = trio.current_time() - started
        # The client gives up at its deadline and resets the stream, and the server
        # ends the call at the same deadline: whichever comes first, the method's
        # wait is over long before its 60 s.
        outcome = await g.outcomes.wait_for(
            "SayHelloAfter: DEADLINE_EXCEEDED", "SayHelloAfter: cancelled by the client"
        )
        assert trio.current_time() - started < 10
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.15 < took < 10
    assert outcome


async def test_a_cancelled_call_cancels_the_handler(proto: Proto) -> None:
    request = proto.pb.DelayedHelloRequest(name="patient", delay_ms=60_000)
    async with greeter(proto) as g:
        future = await blocking(lambda: g.stub.SayHelloAfter.future(request))
        # Cancelled only once the server is in the method, waiting.
        await g.outcomes.wait_for("SayHelloAfter: waiting 60.000 s")
        assert await blocking(future.cancel)
        outcome = await g.outcomes.wait_for("SayHelloAfter: cancelled")
        # The connection goes on serving.
        reply = await blocking(lambda: g.stub.SayHello(proto.pb.HelloRequest(name="again")))
    assert outcome.startswith("SayHelloAfter: cancelled by the client after ")
    assert future.cancelled()
    assert reply.message == "Hello again"


async def test_error_statuses(proto: Proto) -> None:
    def status(call: Callable[[], Any]) -> tuple[Any, str]:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        return caught.value.code(), caught.value.details()

    async with greeter(proto) as g:
        unknown_method = await blocking(
            lambda: status(lambda: g.channel.unary_unary("/helloworld.Greeter/Nope")(b""))
        )
        unknown_service = await blocking(
            lambda: status(lambda: g.channel.unary_unary("/other.Service/Call")(b""))
        )
        no_name = await blocking(
            lambda: status(lambda: g.stub.SayHello(proto.pb.HelloRequest(name="")))
        )
        too_many = await blocking(
            lambda: status(
                lambda: list(g.stub.SayHelloStream(proto.pb.RepeatHelloRequest(count=1000)))
            )
        )
        not_a_message = await blocking(
            lambda: status(lambda: g.channel.unary_unary("/helloworld.Greeter/SayHello")(b"\xff"))
        )
    assert unknown_method == (
        grpc.StatusCode.UNIMPLEMENTED,
        "unknown method /helloworld.Greeter/Nope",
    )
    assert unknown_service == (grpc.StatusCode.UNIMPLEMENTED, "unknown method /other.Service/Call")
    assert no_name == (grpc.StatusCode.INVALID_ARGUMENT, "name is required")
    # Sent percent-encoded (see below), read back as it was written.
    assert too_many == (grpc.StatusCode.INVALID_ARGUMENT, "count must be 1…100, not 1000")
    assert not_a_message[0] == grpc.StatusCode.INTERNAL
    assert not_a_message[1].startswith("cannot parse the request")


async def test_the_program_serves_grpcio(proto: Proto) -> None:
    async with example("grpc_service") as url:
        channel = grpc.insecure_channel(url.removeprefix("http://"))
        try:
            stub = proto.grpc.GreeterStub(channel)
            reply = await blocking(lambda: stub.SayHello(proto.pb.HelloRequest(name="you")))
            request = proto.pb.RepeatHelloRequest(name="you", count=2)
            replies = await blocking(lambda: list(stub.SayHelloStream(request)))
        finally:
            await blocking(channel.close)
    assert reply.message == "Hello you"
    assert [r.message for r in replies] == ["Hello you, 1 of 2", "Hello you, 2 of 2"]


# ------------------------------------------------------------------ in memory

GRPC = [("content-type", "application/grpc"), ("te", "trailers")]
SAY_HELLO = "/helloworld.Greeter/SayHello"


async def call(
    path: str,
    body: bytes,
    headers: list[tuple[str, str]] = GRPC,
) -> Response:
    async with connect(service.handler, config=service.CONFIG) as client:
        with trio.fail_after(WAIT):
            return await client.post(path, body, headers)


def names(response: Response) -> list[str]:
    return [name for name, _ in response.headers]


def trailers_only(response: Response) -> tuple[str | None, str | None]:
    """The status of a Trailers-Only response: one HEADERS frame, no body, no length."""
    assert response.status == 200
    assert response.arrival == ["headers"]
    assert (response.body, response.trailers) == (b"", None)
    assert response.header("content-type") == "application/grpc"
    assert "content-length" not in names(response)
    return response.header("grpc-status"), response.header("grpc-message")


async def test_a_reply_is_headers_data_trailers_without_content_length(proto: Proto) -> None:
    response = await call(
        SAY_HELLO, frame(proto.pb.HelloRequest(name="world").SerializeToString())
    )
    assert response.status == 200
    assert response.arrival[0] == "headers"
    assert response.arrival[-1] == "trailers"
    assert response.header("content-type") == "application/grpc"
    assert "content-length" not in names(response)
    assert "grpc-status" not in names(response)
    assert response.trailers == [("grpc-status", "0")]
    (message,) = unframe(response.body)
    assert proto.pb.HelloReply.FromString(message).message == "Hello world"


async def test_errors_before_a_reply_are_trailers_only(proto: Proto) -> None:
    unknown = await call("/helloworld.Greeter/Nope", frame(b""))
    invalid = await call(
        "/helloworld.Greeter/SayHelloStream",
        frame(proto.pb.RepeatHelloRequest(name="x", count=1000).SerializeToString()),
    )
    assert trailers_only(unknown) == ("12", "unknown method /helloworld.Greeter/Nope")
    # The spec's Percent-Encoded: UTF-8, what is not printable ASCII as %XX.
    assert trailers_only(invalid) == ("3", "count must be 1%E2%80%A6100, not 1000")


def test_grpc_message_percent_encoding() -> None:
    fields = service.status_fields(Status.INTERNAL, "50% done, é\n")
    assert fields == [("grpc-status", "13"), ("grpc-message", "50%25 done, %C3%A9%0A")]
    assert service.status_fields(Status.OK) == [("grpc-status", "0")]


async def test_a_deadline_the_client_does_not_keep_is_kept_by_the_server(
    proto: Proto, autojump_clock: trio.testing.MockClock
) -> None:
    request = frame(proto.pb.DelayedHelloRequest(name="x", delay_ms=60_000).SerializeToString())
    started = trio.current_time()
    response = await call(
        "/helloworld.Greeter/SayHelloAfter", request, [*GRPC, ("grpc-timeout", "250m")]
    )
    assert trailers_only(response) == ("4", "deadline exceeded")
    assert trio.current_time() - started == pytest.approx(0.25, abs=0.01)


async def test_a_deadline_after_replies_ends_them_with_trailers(
    proto: Proto, autojump_clock: trio.testing.MockClock
) -> None:
    never = trio.Event()

    async def one_request_then_silence() -> AsyncIterator[bytes]:
        yield frame(proto.pb.HelloRequest(name="ada").SerializeToString())
        await never.wait()

    headers = [*GRPC, ("grpc-timeout", "2S")]
    async with connect(service.handler, config=service.CONFIG) as client:
        with trio.fail_after(WAIT):
            async with client.stream(
                "POST", "/helloworld.Greeter/Chat", headers, one_request_then_silence()
            ) as streaming:
                body = b"".join([chunk async for chunk in streaming])
                ended = trio.current_time()
    response = streaming.response
    assert "content-length" not in names(response)
    assert [proto.pb.HelloReply.FromString(m).message for m in unframe(body)] == ["Hello ada"]
    assert response.trailers == [("grpc-status", "4"), ("grpc-message", "deadline exceeded")]
    assert ended == pytest.approx(2, abs=0.01)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1H", 3600), ("2M", 120), ("3S", 3), ("40m", 0.04), ("5u", 5e-6), ("99999999n", 0.1)],
)
def test_grpc_timeout_units(value: str, seconds: float) -> None:
    assert service.parse_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "S", "1", "1s", "123456789S", "-1S", "1.5S", "\u0661S"])
async def test_a_malformed_grpc_timeout_is_internal(value: str, proto: Proto) -> None:
    with pytest.raises(ValueError, match="invalid grpc-timeout"):
        service.parse_timeout(value)
    if value.isascii():
        response = await call(SAY_HELLO, frame(b""), [*GRPC, ("grpc-timeout", value)])
        assert trailers_only(response)[0] == "13"


@pytest.mark.parametrize(
    ("headers", "path", "expected"),
    [
        ([("content-type", "application/json")], SAY_HELLO, 415),
        ([("content-type", "application/grpc+json"), ("te", "trailers")], SAY_HELLO, 415),
        ([], "/", 404),
        ([("content-type", "text/plain")], "/index.html", 404),
    ],
)
async def test_requests_that_are_not_calls_get_http_answers(
    headers: list[tuple[str, str]], path: str, expected: int
) -> None:
    response = await call(path, b"{}", headers)
    assert response.status == expected
    assert "grpc-status" not in names(response)
    assert response.text.startswith("This is a gRPC service")


async def test_the_call_needs_te_trailers_and_the_identity_encoding(proto: Proto) -> None:
    message = frame(proto.pb.HelloRequest(name="x").SerializeToString())
    no_te = await call(SAY_HELLO, message, [("content-type", "application/grpc")])
    gzip = await call(SAY_HELLO, message, [*GRPC, ("grpc-encoding", "gzip")])
    proto_suffix = await call(
        SAY_HELLO, message, [("content-type", "application/grpc+proto"), ("te", "trailers")]
    )
    assert trailers_only(no_te) == ("13", "the request has no 'te: trailers'")
    assert trailers_only(gzip) == ("12", "grpc-encoding 'gzip' is not supported")
    assert gzip.header("grpc-accept-encoding") == "identity"
    assert proto_suffix.trailers == [("grpc-status", "0")]


async def test_broken_framing(proto: Proto) -> None:
    hello = proto.pb.HelloRequest(name="x").SerializeToString()
    cases = {
        "compressed": frame(hello, compressed=True),
        "truncated": frame(hello)[:-1],
        "two for a unary call": frame(hello) * 2,
        "none for a unary call": b"",
        "too large": struct.pack(">BI", 0, 4 * 1024 * 1024 + 1),
        "not protobuf": frame(b"\x0a\x05ab"),
    }
    statuses = {name: trailers_only(await call(SAY_HELLO, body)) for name, body in cases.items()}
    assert statuses == {
        "compressed": ("13", "compressed message, but no grpc-encoding"),
        "truncated": ("13", "the request ended inside a message"),
        "two for a unary call": ("13", "a unary call takes exactly one request message"),
        "none for a unary call": ("13", "a unary call takes exactly one request message"),
        "too large": ("8", "a message of 4194305 bytes, over the limit of 4194304"),
        "not protobuf": (
            "13",
            "cannot parse the request: invalid field number or truncated field",
        ),
    }


def test_the_hand_encoding_is_protobufs(proto: Proto) -> None:
    pb = proto.pb
    for value in (0, 1, 127, 128, -1, 2**63 - 1, -(2**63)):
        number = pb.Number(value=value).SerializeToString()
        assert service.encode_message((1, value)) == number
        assert service.Message(number).integer(1) == value
    reply = service.encode_message((1, "héllo"))
    assert pb.HelloReply.FromString(reply).message == "héllo"
    total = pb.Sum.FromString(service.encode_message((1, -5), (2, 3)))
    assert (total.total, total.count) == (-5, 3)
    delayed = pb.DelayedHelloRequest(name="n", delay_ms=2**32 - 1).SerializeToString()
    parsed = service.Message(delayed)
    assert (parsed.string(1), parsed.integer(2, signed=False)) == ("n", 2**32 - 1)
    # Fields the server does not know (a newer client's) are skipped.
    newer = delayed + b"\x18\x07" + b"\x21" + b"\0" * 8 + b"\x2a\x02hi" + b"\x35" + b"\0" * 4
    assert service.Message(newer).string(1) == "n"
