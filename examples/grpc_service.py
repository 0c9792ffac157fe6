r"""A gRPC service on the handler API alone: no gRPC or protobuf library on the server.

    python examples/grpc_service.py [--port 50051]
    grpcurl -plaintext -proto examples/grpc_proto/greeter.proto -d '{"name": "you"}' \
        127.0.0.1:50051 helloworld.Greeter/SayHello
    printf '\0\0\0\0\5\n\3you' > hello.bin  # HelloRequest{name: "you"}, framed
    nghttp -v -d hello.bin -H 'content-type: application/grpc' -H 'te: trailers' \
        http://127.0.0.1:50051/helloworld.Greeter/SayHello

It serves ``helloworld.Greeter`` as ``examples/grpc_proto/greeter.proto`` defines it,
to any gRPC client over cleartext HTTP/2 (what ``grpc.insecure_channel`` speaks):

- ``SayHello``: unary (the method of gRPC's own helloworld examples);
- ``SayHelloStream``: server streaming, ``count`` replies;
- ``SumNumbers``: client streaming, one reply once the client has sent every number;
- ``Chat``: bidirectional, a reply to each request as it arrives;
- ``SayHelloAfter``: unary, answered after ``delay_ms``, to try deadlines and
  cancellation on.

Each call's outcome is logged on stderr ("SayHello: OK", "SayHelloAfter: cancelled
by the client"...).  What gRPC over HTTP/2 asks of a server
(https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md), and how it is met:

- A call is a POST with ``content-type: application/grpc`` (``+proto`` too); other
  requests are not calls, and get plain HTTP answers: 415 at a method's path, 404
  elsewhere.  ``te: trailers`` must be there (INTERNAL otherwise, as gRPC's C core
  answers).  HTTP/1.1 is off: gRPC is HTTP/2 only.
- Messages, both ways, are length-prefixed: a compressed flag, a 4-byte length, the
  protobuf bytes.  Only the identity encoding is spoken: a ``grpc-encoding`` of
  another kind is UNIMPLEMENTED (with ``grpc-accept-encoding: identity``), a
  compressed flag without it INTERNAL, a message over 4 MiB RESOURCE_EXHAUSTED.
- A response is HEADERS, DATA, then trailers with ``grpc-status`` (0 is OK).  A call
  that fails before its first reply gets "Trailers-Only": one HEADERS frame with the
  status and END_STREAM.  Neither carries ``content-length``
  (``respond(..., content_length=False)``).  ``grpc-message`` is percent-encoded.
- ``grpc-timeout`` (up to 8 digits, unit H, M, S, m, u or n) sets a deadline from
  the request's arrival: the method runs under ``trio.move_on_at``, and a call still
  running then ends DEADLINE_EXCEEDED.
- A client that cancels a call resets its stream (RST_STREAM CANCEL); the server then
  cancels the handler's task, so a method waiting in ``trio.sleep`` stops there.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import logging
import struct
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from types import TracebackType

import trio

import trio_h2

log = logging.getLogger("grpc_service")

SERVICE = "/helloworld.Greeter/"
MAX_MESSAGE_SIZE = 4 * 1024 * 1024  # gRPC's default limit for a received message
MAX_REPLIES = 100
# gRPC is HTTP/2 only.  In-flight calls get a few seconds when the server stops,
# not the default 30: a waiting SayHelloAfter should not hold up Ctrl-C for long.
CONFIG = trio_h2.Config(http1=False, graceful_shutdown_timeout=5.0)


class Status(enum.IntEnum):
    """The gRPC status codes this service answers with."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    RESOURCE_EXHAUSTED = 8
    UNIMPLEMENTED = 12
    INTERNAL = 13


class GrpcError(Exception):
    """Ends a call with a status other than OK."""

    def __init__(
        self, code: Status, message: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        #: Fields for a Trailers-Only answer besides the status.
        self.headers = headers or []


# ---------------------------------------------------------------- protobuf, by hand

# The wire format (https://protobuf.dev/programming-guides/encoding/): each field is
# a varint key (field number << 3 | wire type), then a varint (type 0) or a
# length-prefixed run of bytes (type 2).  Fields at their default are left out.
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int32/int64 goes as its 64-bit two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        shift += 7
        if not byte & 0x80:
            return value, position


def encode_message(*fields: tuple[int, str | int]) -> bytes:
    """A message from ``(field number, value)`` pairs: str fields and integer fields."""
    out = bytearray()
    for number, value in fields:
        if isinstance(value, str):
            if value:
                raw = value.encode("utf-8")
                out += encode_varint(number << 3 | LENGTH_DELIMITED)
                out += encode_varint(len(raw)) + raw
        elif value:
            out += encode_varint(number << 3 | VARINT) + encode_varint(value)
    return bytes(out)


class Message:
    """A decoded message: its fields by number, the last occurrence winning (proto3)."""

    def __init__(self, data: bytes) -> None:
        self._fields: dict[int, tuple[int, int | bytes]] = {}
        position = 0
        while position < len(data):
            key, position = read_varint(data, position)
            number, wire_type = key >> 3, key & 7
            value: int | bytes
            if wire_type == VARINT:
                value, position = read_varint(data, position)
            elif wire_type == LENGTH_DELIMITED:
                size, position = read_varint(data, position)
                value, position = data[position : position + size], position + size
            elif wire_type in (FIXED64, FIXED32):  # no such field here: skipped
                size = 8 if wire_type == FIXED64 else 4
                value, position = data[position : position + size], position + size
            else:
                raise ValueError(f"wire type {wire_type} is not supported")
            if number == 0 or position > len(data):
                raise ValueError("invalid field number or truncated field")
            self._fields[number] = (wire_type, value)

    def string(self, number: int) -> str:
        wire_type, value = self._fields.get(number, (LENGTH_DELIMITED, b""))
        if wire_type != LENGTH_DELIMITED or not isinstance(value, bytes):
            raise ValueError(f"field {number} is not a string")
        return value.decode("utf-8")

    def integer(self, number: int, *, signed: bool = True) -> int:
        wire_type, value = self._fields.get(number, (VARINT, 0))
        if wire_type != VARINT or not isinstance(value, int):
            raise ValueError(f"field {number} is not an integer")
        return value - (1 << 64) if signed and value >= 1 << 63 else value


# ------------------------------------------------------------------------ a call


def frame(message: bytes) -> bytes:
    """A length-prefixed message: compressed flag 0, 4-byte big-endian length, payload."""
    return struct.pack(">BI", 0, len(message)) + message


# grpc-message is percent-encoded: what is not printable ASCII, and "%" itself.
_UNENCODED = "".join(chr(c) for c in range(0x20, 0x7F) if c != ord("%"))


def status_fields(code: Status, message: str = "") -> list[tuple[str, str]]:
    fields = [("grpc-status", str(int(code)))]
    if message:
        fields.append(("grpc-message", urllib.parse.quote(message, safe=_UNENCODED)))
    return fields


GRPC_HEADERS = [("content-type", "application/grpc")]


async def trailers_only(
    stream: trio_h2.Stream, code: Status, message: str, extra: Sequence[tuple[str, str]] = ()
) -> None:
    """The whole answer in one HEADERS frame with END_STREAM, and no content-length."""
    fields = [*GRPC_HEADERS, *status_fields(code, message), *extra]
    await stream.respond(200, fields, content_length=False)


class Call:
    """One call as a method sees it: ``async for`` the request messages, ``send`` replies.

    The response starts with the first reply, so that a call failing before it can
    still answer Trailers-Only; :meth:`finish` ends it with its status.
    """

    def __init__(self, stream: trio_h2.Stream) -> None:
        self.stream = stream
        self._pending = bytearray()
        self._ended = False
        self._body: trio_h2.ResponseBody | None = None
        # Holds the streamed response once it started, so that leaving the call
        # (normally, or by an exception) always closes it.
        self._response = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Call:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return await self._response.__aexit__(exc_type, exc, traceback)

    def __aiter__(self) -> Call:
        return self

    async def __anext__(self) -> bytes:
        message = await self.receive()
        if message is None:
            raise StopAsyncIteration
        return message

    async def receive(self) -> bytes | None:
        """The next request message, or None once the client has sent them all."""
        while True:
            message = self._take()
            if message is not None:
                return message
            if self._ended:
                if self._pending:
                    raise GrpcError(Status.INTERNAL, "the request ended inside a message")
                return None
            chunk = await self.stream.receive_some()
            self._ended = not chunk
            self._pending += chunk

    async def receive_one(self) -> Message:
        """The request of a unary call: exactly one message, decoded."""
        first = await self.receive()
        if first is None or await self.receive() is not None:
            raise GrpcError(Status.INTERNAL, "a unary call takes exactly one request message")
        return decode(first)

    def _take(self) -> bytes | None:
        if len(self._pending) < 5:
            return None
        compressed, length = struct.unpack_from(">BI", self._pending)
        if compressed:
            raise GrpcError(Status.INTERNAL, "compressed message, but no grpc-encoding")
        if length > MAX_MESSAGE_SIZE:
            # Refused from its prefix alone: it is never buffered.
            raise GrpcError(
                Status.RESOURCE_EXHAUSTED,
                f"a message of {length} bytes, over the limit of {MAX_MESSAGE_SIZE}",
            )
        if len(self._pending) < 5 + length:
            return None
        message = bytes(self._pending[5 : 5 + length])
        del self._pending[: 5 + length]
        return message

    async def send(self, message: bytes) -> None:
        """Send a reply, waiting for the client's flow-control window."""
        if self._body is None:
            self._body = await self._response.enter_async_context(
                self.stream.start_response(200, GRPC_HEADERS)
            )
        await self._body.send(frame(message))

    async def finish(self, code: Status, message: str = "") -> None:
        """End the call: the status in trailers after replies, else Trailers-Only."""
        if self.stream.response_ended:
            # Reset, by the client or by a deadline that cut a reply in half.
            self._response.pop_all()
            return
        if self._body is None:
            await trailers_only(self.stream, code, message)
            return
        self._body.set_trailers(status_fields(code, message))
        await self._response.aclose()


def decode(message: bytes) -> Message:
    try:
        return Message(message)
    except ValueError as exc:
        # What gRPC libraries answer when a request does not parse.
        raise GrpcError(Status.INTERNAL, f"cannot parse the request: {exc}") from None


# ---------------------------------------------------------------------- the methods


async def say_hello(call: Call) -> None:
    request = await call.receive_one()
    name = request.string(1)
    if not name:
        raise GrpcError(Status.INVALID_ARGUMENT, "name is required")
    await call.send(encode_message((1, f"Hello {name}")))


async def say_hello_stream(call: Call) -> None:
    request = await call.receive_one()
    name, count = request.string(1), request.integer(2)
    if not 1 <= count <= MAX_REPLIES:
        raise GrpcError(Status.INVALID_ARGUMENT, f"count must be 1…{MAX_REPLIES}, not {count}")
    for i in range(1, count + 1):
        await call.send(encode_message((1, f"Hello {name}, {i} of {count}")))


async def sum_numbers(call: Call) -> None:
    total = count = 0
    async for message in call:
        total += decode(message).integer(1)
        count += 1
    await call.send(encode_message((1, total), (2, count)))


async def chat(call: Call) -> None:
    async for message in call:
        name = decode(message).string(1)
        if not name:
            raise GrpcError(Status.INVALID_ARGUMENT, "name is required")
        await call.send(encode_message((1, f"Hello {name}")))


async def say_hello_after(call: Call) -> None:
    request = await call.receive_one()
    name, delay = request.string(1), request.integer(2, signed=False) / 1000
    log.info("SayHelloAfter: waiting %.3f s", delay)
    await trio.sleep(delay)
    await call.send(encode_message((1, f"Hello {name}, after {delay:.3f} s")))


Method = Callable[[Call], Awaitable[None]]
METHODS: dict[str, Method] = {
    SERVICE + "SayHello": say_hello,
    SERVICE + "SayHelloStream": say_hello_stream,
    SERVICE + "SumNumbers": sum_numbers,
    SERVICE + "Chat": chat,
    SERVICE + "SayHelloAfter": say_hello_after,
}


# --------------------------------------------------------------------- the handler

_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_timeout(value: str) -> float:
    """``grpc-timeout`` in seconds: 1 to 8 ASCII digits, then a unit (H M S m u n)."""
    digits, unit = value[:-1], value[-1:]
    if not (0 < len(digits) <= 8 and digits.isascii() and digits.isdigit()):
        raise ValueError(f"invalid grpc-timeout {value!r}")
    if unit not in _TIMEOUT_UNITS:
        raise ValueError(f"invalid grpc-timeout unit in {value!r}")
    return int(digits) * _TIMEOUT_UNITS[unit]


def is_grpc(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type in ("application/grpc", "application/grpc+proto")


async def handler(stream: trio_h2.Stream) -> None:
    """Serve one gRPC call, or answer a request that is not one."""
    method = METHODS.get(stream.path)
    if stream.method != "POST" or not is_grpc(stream.header("content-type") or ""):
        # Not a call: a plain HTTP answer, which no gRPC client takes for a success.
        status = 404 if method is None else 415
        text = "This is a gRPC service (helloworld.Greeter); call it with a gRPC client.\n"
        await stream.respond(status, [("content-type", "text/plain; charset=utf-8")], text)
        return
    name = stream.path.removeprefix(SERVICE)
    try:
        deadline = check_call(stream, method)
    except GrpcError as error:
        log.info("%s: %s", name, error)
        await trailers_only(stream, error.code, error.message, error.headers)
        return
    assert method is not None
    await run_call(stream, name, method, deadline)


def check_call(stream: trio_h2.Stream, method: Method | None) -> float:
    """What is wrong with the call before it runs, as a GrpcError; else its deadline."""
    if stream.header("te") != "trailers":
        raise GrpcError(Status.INTERNAL, "the request has no 'te: trailers'")
    encoding = stream.header("grpc-encoding") or "identity"
    if encoding != "identity":
        raise GrpcError(
            Status.UNIMPLEMENTED,
            f"grpc-encoding {encoding!r} is not supported",
            [("grpc-accept-encoding", "identity")],
        )
    if method is None:
        raise GrpcError(Status.UNIMPLEMENTED, f"unknown method {stream.path}")
    timeout = stream.header("grpc-timeout")
    if timeout is None:
        return float("inf")
    try:
        return stream.arrived + parse_timeout(timeout)
    except ValueError as exc:
        raise GrpcError(Status.INTERNAL, str(exc)) from None


async def run_call(stream: trio_h2.Stream, name: str, method: Method, deadline: float) -> None:
    code, message = Status.OK, ""
    try:
        async with Call(stream) as call:
            with trio.move_on_at(deadline) as scope:
                try:
                    await method(call)
                except GrpcError as error:
                    code, message = error.code, error.message
                except trio_h2.StreamReset:
                    raise  # nothing left to answer
                except Exception:
                    log.exception("%s failed", name)
                    code, message = Status.UNKNOWN, "the method failed"
            if scope.cancelled_caught:
                code, message = Status.DEADLINE_EXCEEDED, "deadline exceeded"
            await call.finish(code, message)
    except trio.Cancelled:
        log.info("%s: %s", name, _why_cancelled(stream))
        raise
    except trio_h2.StreamReset:
        log.info("%s: %s", name, _why_cancelled(stream))
        return
    log.info("%s: %s%s", name, code.name, f" ({message})" if message else "")


def _why_cancelled(stream: trio_h2.Stream) -> str:
    took = trio.current_time() - stream.arrived
    if stream.reset_code is not None:
        return f"cancelled by the client after {took:.3f} s"
    return f"cancelled after {took:.3f} s (connection lost, or the server is stopping)"


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(
            partial(trio_h2.serve, handler, "127.0.0.1", port, config=CONFIG)
        )
        print(f"Serving helloworld.Greeter on http://{address.host}:{address.port}/", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A gRPC service on trio_h2.")
    parser.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")
    log.setLevel(logging.INFO)
    try:
        trio.run(main, args.port)
    except* KeyboardInterrupt:
        # serve() has shut down gracefully by now; the KeyboardInterrupt comes
        # wrapped in the nursery's exception group, which except* looks inside.
        print("Stopped.", file=sys.stderr)
