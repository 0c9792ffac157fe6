"""gRPC-style trailers: the call's outcome is sent after the body, as grpc-status.

    python examples/trailers.py [--port 8080]
    printf '\\0\\0\\0\\0\\7\\n\\5world' > hello.bin
    nghttp -v -d hello.bin -H 'content-type: application/grpc' -H 'te: trailers' \\
        http://127.0.0.1:8080/helloworld.Greeter/SayHello

It implements the ``helloworld.Greeter/SayHello`` method of the gRPC examples, with
the two one-field protobuf messages it needs encoded by hand.  A gRPC response is a
200 whose real status comes last, in trailers: ``grpc-status`` (0 is OK) and
``grpc-message``.  A failure before any message is a "trailers-only" response: one
HEADERS frame carrying the status, with END_STREAM.
"""

from __future__ import annotations

import argparse
import struct
import sys
from functools import partial

import trio

import trio_h2

OK, INVALID_ARGUMENT, UNIMPLEMENTED = 0, 3, 12
GRPC_HEADERS = [("content-type", "application/grpc")]


def frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: no compression flag, 4-byte length, payload."""
    return struct.pack(">?I", False, len(message)) + message


def unframe(data: bytes) -> list[bytes]:
    messages = []
    while data:
        if len(data) < 5:
            raise ValueError("truncated message prefix")
        compressed, length = struct.unpack(">?I", data[:5])
        if compressed or len(data) < 5 + length:
            raise ValueError("compressed or truncated message")
        messages.append(data[5 : 5 + length])
        data = data[5 + length :]
    return messages


def encode_string_field(value: str) -> bytes:
    """Field 1 (``string name`` / ``string message``) of a protobuf message."""
    raw = value.encode("utf-8")
    length = bytearray()
    size = len(raw)
    while True:
        byte, size = size & 0x7F, size >> 7
        length.append(byte | (0x80 if size else 0))
        if not size:
            break
    return b"\x0a" + bytes(length) + raw


def decode_string_field(message: bytes) -> str:
    if not message:
        return ""  # every field at its default
    if message[0] != 0x0A:
        raise ValueError("expected field 1, length-delimited")
    size, shift, position = 0, 0, 1
    while True:
        byte = message[position]
        size |= (byte & 0x7F) << shift
        position += 1
        shift += 7
        if not byte & 0x80:
            break
    return message[position : position + size].decode("utf-8")


async def handler(stream: trio_h2.Stream) -> None:
    if stream.path != "/helloworld.Greeter/SayHello":
        await stream.respond(
            200,
            [*GRPC_HEADERS, ("grpc-status", str(UNIMPLEMENTED)), ("grpc-message", "unknown")],
        )
        return
    try:
        (request,) = unframe(await stream.read())
        name = decode_string_field(request)
    except (ValueError, IndexError, UnicodeDecodeError):
        await stream.respond(
            200,
            [*GRPC_HEADERS, ("grpc-status", str(INVALID_ARGUMENT)), ("grpc-message", "bad")],
        )
        return
    async with stream.start_response(200, GRPC_HEADERS) as body:
        await body.send(frame(encode_string_field(f"Hello {name}")))
        body.set_trailers([("grpc-status", str(OK)), ("grpc-message", "OK")])


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(partial(trio_h2.serve, handler, "127.0.0.1", port))
        print(f"Serving on http://{address.host}:{address.port}/", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="gRPC-style status in trailers.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    args = parser.parse_args()
    try:
        trio.run(main, args.port)
    except* KeyboardInterrupt:
        # serve() has shut down gracefully by now; the KeyboardInterrupt comes
        # wrapped in the nursery's exception group, which except* looks inside.
        print("Stopped.", file=sys.stderr)
