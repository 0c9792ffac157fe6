"""Unix stream sockets to serve on: opening one where a stale one may lie, removing it.

A Unix socket's path outlives the socket: a server that dies leaves the file
behind, and ``bind()`` then fails with EADDRINUSE although nobody listens.  So an
existing path is looked at first: a socket file that refuses connections is stale
and replaced; one that accepts them belongs to a live server (EADDRINUSE, as for a
TCP port in use); anything else (a regular file, a directory) is never removed.

The file's mode is set while it is created (by the umask around ``bind()``), so it
is never reachable by more users than asked, not even for a moment.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat

import trio

#: The mode of a new socket file: anyone who can reach the directory may connect
#: (what a proxy running as another user needs); a stricter directory restricts it.
DEFAULT_MODE = 0o666
#: The listen backlog, as trio.open_tcp_listeners chooses it.
DEFAULT_BACKLOG = 0xFFFF


class NotASocketError(OSError):
    """The path exists and is not a socket: it is left alone."""


def _remove_if_stale(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise NotASocketError(errno.EEXIST, f"{path!r} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with probe:
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            pass  # nobody listens: the file of a server that is gone
        else:
            raise OSError(errno.EADDRINUSE, "another server is listening on it")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def unix_socket(
    path: str, *, mode: int = DEFAULT_MODE, backlog: int = DEFAULT_BACKLOG
) -> socket.socket:
    """A listening ``AF_UNIX`` stream socket at ``path`` (blocking; see module docstring).

    Raises :class:`NotASocketError` if ``path`` is something else, and ``OSError``
    with EADDRINUSE if a server is listening there.
    """
    _remove_if_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old_umask = os.umask(0o777 & ~mode)
        try:
            sock.bind(path)
        finally:
            os.umask(old_umask)
        os.chmod(path, mode)  # the umask only takes bits away
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def file_identity(path: str) -> tuple[int, int] | None:
    """The ``(device, inode)`` of the file at ``path``, to know it again later."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def remove_socket_file(path: str, identity: tuple[int, int] | None) -> None:
    """Remove ``path`` if it is still the file of that ``identity`` (see file_identity).

    A path another server has bound since (after a restart, say) is left alone.
    """
    if identity is not None and file_identity(path) == identity:
        with contextlib.suppress(OSError):
            os.unlink(path)


async def open_unix_listener(
    path: str, *, mode: int = DEFAULT_MODE, backlog: int | None = None
) -> trio.SocketListener:
    """A :class:`trio.SocketListener` on a Unix stream socket at ``path``.

    A stale socket file (one nobody listens on, left by a server that died) is
    replaced; a path that exists and is not a socket raises ``OSError`` (EEXIST),
    and one a live server listens on raises ``OSError`` (EADDRINUSE).  The file is
    created with ``mode`` (default ``0o666``: whoever can reach the directory may
    connect).  Serve on it with :func:`trio_h2.serve_listeners`; the file stays when
    the listener closes, as every Unix socket's does (the next call replaces it, or
    remove it with ``os.unlink``).
    """
    sock = await trio.to_thread.run_sync(
        lambda: unix_socket(path, mode=mode, backlog=backlog or DEFAULT_BACKLOG)
    )
    return trio.SocketListener(trio.socket.from_stdlib_socket(sock))
