"""Several server processes on one port: SO_REUSEPORT listeners and their supervisor.

Each worker is a whole server in a process of its own, with its own listening
socket bound to the same address with ``SO_REUSEPORT``; the kernel spreads new
connections over them.  The supervisor (the parent process) chooses the port first,
by binding, but never listening on, a socket of its own: that turns port 0 into a
real port every worker can bind, and keeps the port reserved while they start.

Signals: a terminal sends Ctrl-C to the whole process group, and the supervisor
forwards SIGINT and SIGTERM to the workers as SIGTERM.  Workers therefore ignore
SIGINT and shut down gracefully on SIGTERM, so one Ctrl-C is one graceful shutdown,
not two.  A second signal to the supervisor kills the workers at once.  A worker
also shuts down when the supervisor dies, so none is ever left behind.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import trio

log = logging.getLogger("trio_h2.workers")

#: Whether this platform can share a port between processes.
HAVE_REUSE_PORT = hasattr(socket, "SO_REUSEPORT")

Address = tuple[str, int]


def _addresses(host: str | None, port: int) -> list[Any]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)


def _reuse_port_socket(family: int, kind: int, proto: int) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def reserve_port(host: str | None, port: int) -> Iterator[int]:
    """Bind (without listening) a SO_REUSEPORT socket; yield the port it got.

    A bound socket that does not listen gets no connections, so holding it while
    the workers run takes nothing from them.
    """
    family, kind, proto, _, address = _addresses(host, port)[0]
    sock = _reuse_port_socket(family, kind, proto)
    with sock:
        sock.bind(address)
        yield int(sock.getsockname()[1])


async def open_reuse_port_listeners(
    host: str | None, port: int, backlog: int = 4096
) -> list[trio.SocketListener]:
    """Like ``trio.open_tcp_listeners``, with ``SO_REUSEPORT`` on every socket."""
    listeners: list[trio.SocketListener] = []
    try:
        for family, kind, proto, _, address in await trio.to_thread.run_sync(
            _addresses, host, port
        ):
            try:
                sock = _reuse_port_socket(family, kind, proto)
            except OSError as exc:
                if exc.errno == errno.EAFNOSUPPORT:
                    continue
                raise
            try:
                sock.bind(address)
                sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
    except BaseException:
        for listener in listeners:
            listener.socket.close()
        raise
    if not listeners:
        raise OSError(errno.EAFNOSUPPORT, f"no usable address for {host!r}")
    return listeners


# ----------------------------------------------------------------- in the worker


def worker_signals() -> None:
    """Leave Ctrl-C to the supervisor, which forwards it as SIGTERM; and SIGHUP too,
    which the supervisor answers for all (a terminal's hangup reaches every process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


async def wait_for_supervisor_exit() -> None:
    """Return when the supervisor process has gone away."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        await trio.sleep_forever()
        return
    await trio.lowlevel.wait_readable(parent.sentinel)


def report_ready(ready: multiprocessing.connection.Connection, info: object) -> None:
    """Tell the supervisor this worker is listening (``info``: where, say)."""
    ready.send(_Ready(info))
    ready.close()


def report_failure(
    ready: multiprocessing.connection.Connection, message: str, status: int
) -> None:
    """Tell the supervisor this worker cannot start, and why (before it exits)."""
    ready.send(_Failed(message, status))
    ready.close()


@dataclass(frozen=True)
class _Ready:
    info: object


@dataclass(frozen=True)
class _Failed:
    message: str
    status: int


class WorkerFailed(Exception):
    """A worker could not start (the first time): its message and exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# ----------------------------------------------------------- in the supervisor


class _Worker:
    def __init__(self, process: BaseProcess, ready: multiprocessing.connection.Connection):
        self.process = process
        self.ready = ready
        self.exited = trio.Event()

    async def wait_ready(self) -> _Ready | _Failed | None:
        """What the worker says once it listens or fails; None if it died first."""
        await trio.lowlevel.wait_readable(self.ready.fileno())
        try:
            said: _Ready | _Failed = self.ready.recv()
        except EOFError:
            return None
        return said

    async def wait_exit(self) -> None:
        await trio.lowlevel.wait_readable(self.process.sentinel)
        self.process.join()
        self.exited.set()

    def signal(self, signum: int) -> None:
        if self.process.pid is not None and not self.exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)


async def supervise(
    count: int,
    target: Callable[..., object],
    args: tuple[object, ...],
    on_ready: Callable[[object], None],
    on_stop: Callable[[int], None],
) -> int:
    """Run ``count`` processes of ``target(*args, ready)`` until a signal stops them.

    ``target`` must call :func:`report_ready` once it listens; ``on_ready`` runs when
    all have.  SIGINT or SIGTERM (``on_stop`` is told which) make every worker shut
    down gracefully; a second one kills them.  If a worker exits by itself the others
    are stopped too.  Returns 0 if every worker exited with 0, else 1.
    """
    context = multiprocessing.get_context("spawn")
    workers: list[_Worker] = []
    stopping = False
    startup = trio.CancelScope()

    def stop(signum: int) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            worker.signal(signum)

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            for number in range(count):
                receive_end, send_end = context.Pipe(duplex=False)
                process = context.Process(
                    target=target, args=(*args, send_end), name=f"trio_h2-worker-{number}"
                )
                process.start()
                send_end.close()
                workers.append(_Worker(process, receive_end))
        except BaseException:
            stop(signal.SIGKILL)
            raise

        async def watch(worker: _Worker) -> None:
            await worker.wait_exit()
            if not stopping:
                log.error(
                    "worker %d exited with code %s; stopping the others",
                    worker.process.pid,
                    worker.process.exitcode,
                )
                stop(signal.SIGTERM)
                startup.cancel()

        async def handle_signals() -> None:
            async for signum in signals:
                if not stopping:
                    on_stop(signum)
                    stop(signal.SIGTERM)
                    startup.cancel()
                else:
                    stop(signal.SIGKILL)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(handle_signals)
            for worker in workers:
                nursery.start_soon(watch, worker)
            failed: _Failed | None = None
            with startup:
                found = []
                for worker in workers:
                    said = await worker.wait_ready()
                    if isinstance(said, _Failed):
                        failed = said
                        stop(signal.SIGTERM)
                        break
                    found.append(said)
                if failed is None and all(isinstance(said, _Ready) for said in found):
                    on_ready(typing.cast(_Ready, found[0]).info)
            for worker in workers:
                await worker.exited.wait()
            nursery.cancel_scope.cancel()
    for worker in workers:
        worker.ready.close()
    if failed is not None:
        raise WorkerFailed(failed.message, failed.status)
    return 0 if all(worker.process.exitcode == 0 for worker in workers) else 1
