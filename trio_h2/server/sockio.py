"""Reading and writing a plain TCP socket without a trip through trio's scheduler per call.

trio's socket methods try the system call at once and, when it succeeds, still yield to
the scheduler (``cancel_shielded_checkpoint``) so that every call is a schedule point.
For a connection that answers one small request at a time that is two extra task
switches per request: one after the read of the request, one after the write of the
response.  Here the socket's file descriptor is read and written directly
(non-blocking, as trio left it), waiting with ``wait_readable`` / ``wait_writable`` only
when the kernel says it would block.

Two rules keep trio's guarantees:

* a call that finds the task cancelled raises ``Cancelled`` before it reads anything,
  so no received byte is ever lost to a cancellation;
* :meth:`DirectSocket.receive_some` yields (without a cancellation point, so again
  nothing read is lost) whenever two reads in a row succeed without waiting, so a
  peer that keeps the socket full cannot starve the other tasks.

Only a :class:`trio.SocketStream` on a POSIX system qualifies (``os.read`` and
``os.write`` work on a socket there); TLS and in-memory transports use their own
methods.
"""

from __future__ import annotations

import os
import sys

import trio

_POSIX = sys.platform != "win32"


def socket_fd(transport: trio.abc.Stream) -> int | None:
    """The file descriptor under ``transport`` if it can be used directly, else None."""
    if not _POSIX or type(transport) is not trio.SocketStream:
        return None
    fd = transport.socket.fileno()
    return fd if fd >= 0 else None


class DirectSocket:
    """Non-blocking reads and writes on one connected socket's file descriptor.

    The owner must stop using it (:meth:`detach`) before the socket is closed: a file
    descriptor number is reused by the next socket the process opens.
    """

    __slots__ = ("_fd", "_owed")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        # True when the last receive_some() returned without waiting for the socket.
        self._owed = False

    def detach(self) -> None:
        """Refuse every later call: the socket is about to be closed."""
        self._fd = -1

    async def receive_some(self, max_bytes: int) -> bytes:
        """Like ``SocketStream.receive_some``: ``b""`` at EOF, at most ``max_bytes``."""
        await trio.lowlevel.checkpoint_if_cancelled()
        fd = self._fd
        if fd < 0:
            raise trio.ClosedResourceError("the socket was closed")
        try:
            data = os.read(fd, max_bytes)
        except BlockingIOError:
            pass
        except OSError as exc:
            raise trio.BrokenResourceError(exc) from exc
        else:
            if self._owed:
                await trio.lowlevel.cancel_shielded_checkpoint()
            self._owed = True
            return data
        self._owed = False
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                return os.read(fd, max_bytes)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(exc) from exc

    def try_send(self, data: bytes | bytearray | memoryview) -> int:
        """Write what the socket takes now, without waiting; return how many bytes."""
        if self._fd < 0:
            raise trio.ClosedResourceError("the socket was closed")
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise trio.BrokenResourceError(exc) from exc

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Like ``SocketStream.send_all``, without the yield when the socket takes it all."""
        await trio.lowlevel.checkpoint_if_cancelled()
        with memoryview(data) as view:
            sent = self.try_send(view)
            while sent < len(view):
                await trio.lowlevel.wait_writable(self._fd)
                with view[sent:] as rest:
                    sent += self.try_send(rest)
