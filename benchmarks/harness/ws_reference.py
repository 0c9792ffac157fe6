#!/usr/bin/env python3
"""The cheapest WebSocket echo there can be, to find how fast ``ws_client.py`` itself goes.

    python ws_reference.py --port 8080

It is not a WebSocket server for anything else: it expects the client's ``--null-mask``
frames, all text of one size, whose payloads are sent as they are, so an echo is the same
bytes with the header rewritten -- one ``bytes.replace`` per read, with nothing done per
message in Python.  Against it the client does nearly all the work there is.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import select
import socket
import sys
from collections.abc import Sequence

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
READ_SIZE = 65536
NULL_KEY = bytes(4)


class Echo:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.upgraded = False
        self.frame = 0
        self.header = b""
        self.answer = b""

    def received(self, data: bytes) -> bool:
        """Answer what has come; False once the connection is to be closed."""
        self.buffer += data
        if not self.upgraded:
            return self.handshake()
        if not self.frame and len(self.buffer) >= 2:
            if self.buffer[0] == 0x88:
                return self.close()
            size = self.buffer[1] & 0x7F
            if self.buffer[0] != 0x81 or size >= 126:
                return False
            self.frame = 6 + size
            self.header = self.buffer[:2] + NULL_KEY
            self.answer = bytes([0x81, size])
        if not self.frame:
            return True
        whole = len(self.buffer) - len(self.buffer) % self.frame
        if whole and not self.buffer.startswith(self.header):
            return self.close() if self.buffer[0] == 0x88 else False
        if whole:
            self.sock.sendall(self.buffer[:whole].replace(self.header, self.answer))
            self.buffer = self.buffer[whole:]
        return True

    def handshake(self) -> bool:
        if b"\r\n\r\n" not in self.buffer:
            return True
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self.sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.upgraded = True
        return self.received(b"") if self.buffer else True

    def close(self) -> bool:
        self.sock.sendall(b"\x88\x02\x03\xe8")
        return False


def serve(host: str, port: int) -> None:
    listener = socket.create_server((host, port), backlog=128)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    echoes: dict[int, Echo] = {}
    while True:
        for fd, _ in poller.poll():
            if fd == listener.fileno():
                sock, _ = listener.accept()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                echoes[sock.fileno()] = Echo(sock)
                poller.register(sock.fileno(), select.EPOLLIN)
                continue
            echo = echoes[fd]
            try:
                data = echo.sock.recv(READ_SIZE)
                keep = bool(data) and echo.received(data)
            except OSError:
                keep = False
            if not keep:
                poller.unregister(fd)
                del echoes[fd]
                echo.sock.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        serve(args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
