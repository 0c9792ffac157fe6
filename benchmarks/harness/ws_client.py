#!/usr/bin/env python3
"""A WebSocket echo load generator: messages per second, each echo checked.

    python ws_client.py --port 8080 --path /ws -n 100000 -c 10 -w 32 -s 32 --timeout 60

Each connection does the RFC 6455 handshake over HTTP/1.1, then keeps ``-w`` text messages of
``-s`` bytes in flight until it has had its share of the ``-n`` echoes back.  It prints one
JSON object: messages requested and echoed correctly, seconds, the mean time from sending a
batch of messages to having all their echoes, the client's own CPU seconds over that time,
and the errors.

Python is cheap enough here because nothing is done per message.  The masked frames are built
before the clock starts, and a top-up is one slice of them.  An echo server's answer to a
sequence of text frames is fully determined -- the same payloads, each behind an unmasked
header -- so what arrives is compared with that stream as it comes, one ``bytes`` comparison
per read: the count, the lengths and the content of every echo are checked, and a message
counts once all its bytes have arrived and matched.  Only on a mismatch are the server's
bytes parsed as frames: a ping or pong is answered or dropped, anything else is reported and
ends the connection.  Standard library only: it runs under any Python the harness has.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import select
import socket
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Distinct payloads before the sequence repeats: a misordered or duplicated echo shows.
PERIOD = 64
READ_SIZE = 65536
#: Errors kept in the output; the rest are only counted.
MAX_ERRORS = 5
_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def payload(index: int, size: int) -> bytes:
    """The text of message ``index`` (mod PERIOD): its number, then letters that vary with it."""
    head = b"%04d " % index
    body = bytes(_ALPHABET[(index * 7 + i) % len(_ALPHABET)] for i in range(size))
    return (head + body)[:size]


def frame_header(opcode: int, size: int, masked: bool) -> bytes:
    mask_bit = 0x80 if masked else 0
    if size < 126:
        return bytes([0x80 | opcode, mask_bit | size])
    if size < 65536:
        return bytes([0x80 | opcode, mask_bit | 126]) + size.to_bytes(2, "big")
    return bytes([0x80 | opcode, mask_bit | 127]) + size.to_bytes(8, "big")


def masked_frame(opcode: int, data: bytes, null_mask: bool = False) -> bytes:
    # A null key leaves the payload as it is: only for the reference echo, which relies on it.
    key = bytes(4) if null_mask else os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return frame_header(opcode, len(data), masked=True) + key + masked


@dataclass(frozen=True)
class Streams:
    """What every connection sends and expects back, precomputed for one message size."""

    size: int
    #: Bytes of one frame, client to server (masked) and back (unmasked).
    sent_frame: int
    echo_frame: int
    #: The PERIOD masked frames, repeated so that any window of them is one slice.
    outgoing: bytes
    #: The PERIOD echoes, repeated so that any read is compared with one slice.
    expected: bytes

    @classmethod
    def build(cls, size: int, window: int, null_mask: bool = False) -> Streams:
        texts = [payload(i, size) for i in range(PERIOD)]
        frames = [masked_frame(0x1, text, null_mask) for text in texts]
        echoes = [frame_header(0x1, size, masked=False) + text for text in texts]
        period_out, period_in = b"".join(frames), b"".join(echoes)
        out_copies = 1 + -(-window // PERIOD)
        in_copies = 1 + -(-READ_SIZE // len(period_in))
        return cls(
            size=size,
            sent_frame=len(frames[0]),
            echo_frame=len(echoes[0]),
            outgoing=period_out * out_copies,
            expected=period_in * in_copies,
        )

    def frames(self, first: int, count: int) -> bytes:
        start = (first % PERIOD) * self.sent_frame
        return self.outgoing[start : start + count * self.sent_frame]

    def expected_at(self, offset: int, length: int) -> bytes:
        start = offset % (PERIOD * self.echo_frame)
        return self.expected[start : start + length]


class HandshakeError(Exception):
    pass


def handshake(host: str, port: int, path: str, timeout: float) -> tuple[socket.socket, bytes]:
    """An upgraded connection, and whatever the server sent after its 101."""
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise HandshakeError(f"closed during the handshake after {data[:80]!r}")
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        if lines[0].split(b" ")[1:2] != [b"101"]:
            raise HandshakeError(f"answered {lines[0].decode(errors='replace')!r}")
        fields = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(b":") for line in lines[1:])
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        if fields.get(b"sec-websocket-accept") != accept:
            raise HandshakeError(
                f"wrong Sec-WebSocket-Accept {fields.get(b'sec-websocket-accept')!r}"
            )
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock, rest


@dataclass
class Connection:
    number: int
    sock: socket.socket
    #: Messages this connection sends, in all.
    total: int
    #: Messages sent (queued in ``pending`` or written) and echoes matched.
    sent: int = 0
    echoed: int = 0
    #: Bytes of the echo stream matched so far.
    matched: int = 0
    pending: bytes = b""
    #: The start of a control frame the last read cut short.
    carry: bytes = b""
    writing: bool = False
    done: bool = False
    #: (messages sent once these are echoed, when they were sent, how many) per top-up.
    batches: deque[tuple[int, float, int]] = field(default_factory=deque)


@dataclass
class Client:
    streams: Streams
    window: int
    #: Messages echoed before the next top-up: fewer writes than one per echo.
    refill: int
    poller: select.epoll
    null_mask: bool = False
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    latency_sum: float = 0.0

    def fail(self, conn: Connection, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"connection {conn.number}: {message}")
        self.finish(conn)

    def finish(self, conn: Connection) -> None:
        conn.done = True
        self.poller.unregister(conn.sock.fileno())

    def top_up(self, conn: Connection, now: float) -> None:
        count = min(conn.echoed + self.window, conn.total) - conn.sent
        if count <= 0:
            return
        conn.pending += self.streams.frames(conn.sent, count)
        conn.sent += count
        conn.batches.append((conn.sent, now, count))
        self.flush(conn)

    def flush(self, conn: Connection) -> None:
        try:
            written = conn.sock.send(conn.pending)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            self.fail(conn, f"send failed after {conn.echoed} echoes: {exc}")
            return
        conn.pending = conn.pending[written:]
        # Waiting to write only while a write is stuck: the common case costs no epoll_ctl.
        wants_out = bool(conn.pending)
        if wants_out != conn.writing:
            conn.writing = wants_out
            mask = select.EPOLLIN | (select.EPOLLOUT if wants_out else 0)
            self.poller.modify(conn.sock.fileno(), mask)

    def received(self, conn: Connection, data: bytes, now: float) -> None:
        streams = self.streams
        if conn.carry:
            data, conn.carry = conn.carry + data, b""
        while True:
            expected = streams.expected_at(conn.matched, len(data))
            if data == expected:
                conn.matched += len(data)
                break
            first = next(i for i, (a, b) in enumerate(zip(data, expected, strict=True)) if a != b)
            index, into = divmod(conn.matched + first, streams.echo_frame)
            # A ping (uvicorn sends one every 20 s) or pong between two echoes is skipped.
            if into == 0 and data[first] in (0x89, 0x8A):
                conn.matched += first
                control = data[first:]
                if len(control) < 2 or len(control) < 2 + (control[1] & 0x7F):
                    conn.carry = control
                    break
                end = 2 + (control[1] & 0x7F)
                if control[0] == 0x89:
                    conn.pending += masked_frame(0xA, control[2:end], self.null_mask)
                    self.flush(conn)
                    if conn.done:
                        return
                data = control[end:]
                continue
            self.fail(conn, f"echo {index}: " + self.mismatch(data, first, index, into))
            return
        echoed = min(conn.matched // streams.echo_frame, conn.total)
        if echoed > conn.sent:
            self.fail(conn, f"{echoed - conn.sent} echoes more than messages sent")
            return
        conn.echoed = echoed
        while conn.batches and conn.batches[0][0] <= echoed:
            _, sent_at, count = conn.batches.popleft()
            self.latency_sum += (now - sent_at) * count
        if echoed == conn.total:
            if conn.matched > conn.total * streams.echo_frame:
                self.fail(conn, "bytes after the last echo")
            else:
                self.finish(conn)
        elif conn.sent - echoed <= self.window - self.refill:
            self.top_up(conn, now)

    def mismatch(self, data: bytes, first: int, index: int, into: int) -> str:
        """What echo ``index`` is instead, its first wrong byte ``into`` it, at ``data[first]``."""
        streams = self.streams
        header = streams.echo_frame - streams.size
        start = first - into
        if into < header:
            if start < 0:
                return "its frame header differs from a text frame's"
            return f"expected a {streams.size}-byte text frame, got {describe_frame(data[start:])}"
        text = f"its payload differs from the message sent at byte {into - header}"
        if start >= 0:
            got = data[start + header : start + streams.echo_frame]
            text += f": sent {payload(index % PERIOD, streams.size)!r}, got {got!r}"
        return text


def describe_frame(data: bytes) -> str:
    """What a server frame at the start of ``data`` is, as far as ``data`` shows."""
    if len(data) < 2:
        return f"{data.hex()} (a partial header)"
    opcode, length = data[0] & 0x0F, data[1] & 0x7F
    names = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
    name = names.get(opcode, f"opcode {opcode:#x}")
    fin = "" if data[0] & 0x80 else " without FIN"
    masked = " masked" if data[1] & 0x80 else ""
    text = f"a {name} frame{fin}{masked} of length {length}"
    if opcode == 8 and length >= 2 and len(data) >= 4:
        code = int.from_bytes(data[2:4], "big")
        reason = data[4 : 2 + length].decode(errors="replace")
        text += f" (close code {code}{': ' + reason if reason else ''})"
    elif opcode == 1:
        text += f": {data[2 : 2 + min(length, 40)]!r}"
    return text


def run(args: argparse.Namespace) -> dict[str, object]:
    streams = Streams.build(args.size, args.window, args.null_mask)
    poller = select.epoll()
    client = Client(streams, args.window, max(1, args.window // 4), poller, args.null_mask)
    conns: list[Connection] = []
    early: dict[int, bytes] = {}
    # A connection with nothing to send would never finish.
    connections = min(args.connections, args.messages)
    share, extra = divmod(args.messages, connections)
    deadline = time.monotonic() + args.timeout
    for number in range(connections):
        total = share + (number < extra)
        try:
            sock, rest = handshake(args.host, args.port, args.path, args.timeout)
        except (OSError, HandshakeError) as exc:
            client.error_count += 1
            if len(client.errors) < MAX_ERRORS:
                client.errors.append(f"connection {number}: handshake: {exc}")
            continue
        conn = Connection(number, sock, total)
        conns.append(conn)
        poller.register(sock.fileno(), select.EPOLLIN)
        if rest:
            early[sock.fileno()] = rest
    by_fd = {conn.sock.fileno(): conn for conn in conns}

    started = time.perf_counter()
    cpu_started = time.process_time()
    for conn in conns:
        client.top_up(conn, started)
        first_bytes = early.get(conn.sock.fileno())
        if first_bytes and not conn.done:
            client.received(conn, first_bytes, started)
    active = sum(not conn.done for conn in conns)
    while active:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for fd, events in poller.poll(min(left, 1.0)):
            conn = by_fd[fd]
            if conn.done:
                continue
            if events & select.EPOLLOUT:
                client.flush(conn)
                if conn.done:
                    continue
            if events & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                try:
                    data = conn.sock.recv(READ_SIZE)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    client.fail(conn, f"read failed after {conn.echoed} echoes: {exc}")
                    continue
                if not data:
                    client.fail(conn, f"closed by the server after {conn.echoed} echoes")
                    continue
                client.received(conn, data, time.perf_counter())
        active = sum(not conn.done for conn in conns)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    for conn in conns:
        if not conn.done:
            client.fail(conn, f"timed out after {args.timeout:g} s with {conn.echoed} echoes")
    close_all(conns, args.null_mask)
    succeeded = sum(conn.echoed for conn in conns)
    return {
        "requested": args.messages,
        "succeeded": succeeded,
        "elapsed_s": elapsed,
        "latency_mean_ms": client.latency_sum / succeeded * 1e3 if succeeded else None,
        "cpu_s": cpu,
        "errors": client.errors,
        "error_count": client.error_count,
    }


def close_all(conns: Sequence[Connection], null_mask: bool) -> None:
    """Close handshakes, after the clock: the servers get two seconds in all to close."""
    close = masked_frame(0x8, (1000).to_bytes(2, "big"), null_mask)
    poller = select.epoll()
    open_ = {}
    for conn in conns:
        try:
            conn.sock.send(conn.pending + close)
        except OSError:
            conn.sock.close()
            continue
        poller.register(conn.sock.fileno(), select.EPOLLIN)
        open_[conn.sock.fileno()] = conn.sock
    deadline = time.monotonic() + 2.0
    while open_ and (left := deadline - time.monotonic()) > 0:
        for fd, _ in poller.poll(left):
            try:
                # Whatever comes before the end: echoes still under way, the server's Close.
                data = open_[fd].recv(READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                poller.unregister(fd)
                open_.pop(fd).close()
    for sock in open_.values():
        sock.close()
    poller.close()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ws")
    parser.add_argument("-n", "--messages", type=int, default=10_000)
    parser.add_argument("-c", "--connections", type=int, default=10)
    parser.add_argument("-w", "--window", type=int, default=32, help="messages in flight")
    parser.add_argument("-s", "--size", type=int, default=32, help="bytes of text each")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds in all")
    parser.add_argument(
        "--null-mask",
        action="store_true",
        help="mask with a zero key (payload unchanged), for the reference echo only",
    )
    args = parser.parse_args(argv)
    if min(args.messages, args.connections, args.window, args.size) < 1:
        parser.error("-n, -c, -w and -s must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
