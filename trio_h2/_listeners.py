"""Where the command line listens: ``--bind``, ``--fd``, systemd sockets; opening them.

Three sources of listening sockets, served together:

* ``--bind ADDRESS`` (repeatable): ``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` (every
  interface) or ``unix:PATH``.  ``--host``/``--port`` are the same as one
  ``--bind HOST:PORT``, used only when nothing else says where to listen.
* ``--fd N`` (repeatable): a socket already listening, inherited from the parent.
* systemd socket activation: ``LISTEN_FDS`` sockets from fd 3 on, when ``LISTEN_PID``
  is this process.  As ``sd_listen_fds()`` does, the variables are removed once
  read (a child must not take the sockets for its own) and the descriptors made
  non-inheritable.

Everything here is blocking and runs before the event loop, in the process that
opens the sockets: the server itself, or the worker supervisor, whose workers then
inherit them (see _workers.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .server.unix import (
    DEFAULT_BACKLOG,
    NotASocketError,
    file_identity,
    remove_socket_file,
    unix_socket as _unix_socket,
)

#: Where a socket listens: ``(host, port)``, or ``(path, None)`` for a Unix socket.
Where = tuple[str, int | None]

#: The first descriptor systemd passes (SD_LISTEN_FDS_START).
LISTEN_FDS_START = 3

_BIND_FORMS = "HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH"


class ListenError(Exception):
    """A socket that cannot be opened; ``usage`` when the command line is at fault."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Bind:
    """One address to listen on: TCP ``host`` and ``port``, or a Unix socket ``path``."""

    #: The TCP host; None for every interface.
    host: str | None = None
    port: int = 0
    #: A Unix socket's path (then ``host`` and ``port`` are unused).
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        host = self.host or ""
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def parse_bind(text: str) -> Bind:
    """A ``--bind`` value as a :class:`Bind`; ``ValueError`` saying what is wrong."""
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path:
            raise ValueError(f"--bind {text!r} needs a path after 'unix:'")
        return Bind(path=path)
    match = re.fullmatch(r"\[([0-9A-Fa-f:.%\w]*)\]:(\d+)|([^\[\]:]*):(\d+)", text)
    if match is None:
        if re.fullmatch(r"\d+", text):
            hint = f"; for port {text} on every interface, --bind :{text}"
        elif text.count(":") > 1 and "[" not in text:
            address, _, port = text.rpartition(":")
            hint = f"; an IPv6 address goes in brackets: [{address}]:{port}"
        else:
            hint = ""
        raise ValueError(f"--bind {text!r} is not {_BIND_FORMS}{hint}")
    host = match[1] if match[1] is not None else match[3]
    number = int(match[2] or match[4])
    if number > 65535:
        raise ValueError(f"--bind {text!r}: the port must be between 0 and 65535")
    if match[1] is not None and ":" not in host:
        raise ValueError(f"--bind {text!r}: brackets are for IPv6 addresses")
    return Bind(host=host or None, port=number)


def activated_fds(environ: dict[str, str] | os._Environ[str] = os.environ) -> tuple[int, ...]:
    """The sockets systemd passed this process (``LISTEN_FDS``), if it passed any.

    Reads and removes ``LISTEN_PID``, ``LISTEN_FDS`` and ``LISTEN_FDNAMES`` (when they
    are for this process), as ``sd_listen_fds(1)`` does.
    """
    pid, count = environ.get("LISTEN_PID"), environ.get("LISTEN_FDS")
    if pid is None or count is None or not pid.isdigit() or int(pid) != os.getpid():
        return ()  # not for us: a parent's, left in the environment
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    if not count.isdigit():
        raise ListenError(f"LISTEN_FDS={count!r} is not a number of sockets", usage=True)
    fds = tuple(range(LISTEN_FDS_START, LISTEN_FDS_START + int(count)))
    for fd in fds:
        with contextlib.suppress(OSError):
            os.set_inheritable(fd, False)
    return fds


def check_fd(fd: int, what: str) -> None:
    """Raise ListenError (usage) unless ``fd`` is a listening stream socket."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise ListenError(f"{what} is not an open file descriptor", usage=True) from None
        if exc.errno == errno.ENOTSOCK:
            raise ListenError(f"{what} is not a socket", usage=True) from None
        raise ListenError(f"{what}: {exc.strerror or exc}", usage=True) from None
    try:
        if sock.type != socket.SOCK_STREAM:
            raise ListenError(f"{what} is not a stream (SOCK_STREAM) socket", usage=True)
        try:
            listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        except OSError:
            listening = 1  # the platform cannot tell: trust the caller
        if not listening:
            raise ListenError(f"{what} is a socket that is not listening", usage=True)
    finally:
        sock.detach()  # it stays open, to be served


def _tcp_sockets(bind: Bind, *, reuse_port: bool, backlog: int) -> list[socket.socket]:
    """What ``trio.open_tcp_listeners`` opens, blocking (and with SO_REUSEPORT if asked)."""
    found = socket.getaddrinfo(
        bind.host, bind.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in found:
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                if exc.errno == errno.EAFNOSUPPORT:
                    continue  # an address family this host lacks (IPv6, say)
                raise
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            # As trio_h2.serve() does: Nagle off on the listener too.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(errno.EAFNOSUPPORT, "no usable address")
    return sockets


@dataclass
class OpenSockets:
    """Listening sockets, and the Unix socket files to remove once they are done."""

    sockets: list[socket.socket] = field(default_factory=list)
    _files: list[tuple[str, tuple[int, int] | None]] = field(default_factory=list)

    def close(self) -> None:
        """Close every socket (those a server took over are closed already)."""
        for sock in self.sockets:
            sock.close()

    def remove_files(self) -> None:
        """Remove the Unix socket files this process created (if still theirs)."""
        for path, identity in self._files:
            remove_socket_file(path, identity)
        self._files.clear()


@contextlib.contextmanager
def open_sockets(
    binds: Sequence[Bind],
    fds: Sequence[int] = (),
    *,
    reuse_port: bool = False,
    unix_mode: int = 0o666,
    backlog: int = DEFAULT_BACKLOG,
) -> Iterator[OpenSockets]:
    """Open every ``--bind`` address and take every inherited ``fd``; yield them.

    On the way out the sockets are closed and the Unix socket files removed.
    Raises :class:`ListenError` naming the address that failed.
    """
    opened = OpenSockets()
    try:
        for bind in binds:
            try:
                if bind.path is not None:
                    opened.sockets.append(_unix_socket(bind.path, mode=unix_mode, backlog=backlog))
                    opened._files.append((bind.path, file_identity(bind.path)))
                else:
                    opened.sockets += _tcp_sockets(bind, reuse_port=reuse_port, backlog=backlog)
            except NotASocketError:
                raise ListenError(
                    f"cannot listen on {bind}: the path exists and is not a socket", usage=True
                ) from None
            except OSError as exc:
                raise ListenError(f"cannot listen on {bind}: {exc.strerror or exc}") from None
        for fd in fds:
            opened.sockets.append(socket.socket(fileno=fd))
        yield opened
    finally:
        opened.close()
        opened.remove_files()


def where(sock: socket.socket) -> Where:
    """Where a listening socket listens."""
    name = sock.getsockname()
    if isinstance(name, tuple):
        return str(name[0]), int(name[1])
    if isinstance(name, bytes):
        return name.decode("utf-8", "backslashreplace"), None
    return str(name), None
