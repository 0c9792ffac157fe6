"""Several server processes on the same sockets, and the supervisor that keeps them.

Each worker is a whole server in a process of its own (spawned: it imports the
application, the supervisor never does).  The sockets are shared in one of two ways:

* SO_REUSEPORT (the default for TCP): each worker opens its own listening socket,
  bound to the same address; the kernel spreads new connections over them.  The
  supervisor chooses the port first, by binding, but never listening on, a socket of
  its own: that turns port 0 into a real port every worker can bind, and keeps the
  port reserved while they come and go.  The kernel resets the connections still in
  a closing socket's accept queue (unless ``net.ipv4.tcp_migrate_req`` is on); a
  worker stops accepting before it drains, so only those that arrive in that
  instant are lost.
* inherited (``--no-reuse-port``, and always for Unix sockets, ``--fd``, systemd's
  sockets and where SO_REUSEPORT is missing): the supervisor opens every socket once
  and each worker gets a duplicate (passed by multiprocessing's spawn, like any
  socket argument); a worker that stops leaves the socket open for the others.

The supervisor keeps the workers running (see :class:`_Supervisor`): one that dies
is replaced, after a backoff that doubles while they keep dying; SIGHUP replaces
them one at a time, each once its successor is ready.

Signals: a terminal sends Ctrl-C to the whole process group, and the supervisor
forwards SIGINT and SIGTERM to the workers as SIGTERM.  Workers therefore ignore
SIGINT (and SIGHUP, which is the supervisor's) and shut down gracefully on SIGTERM,
so one Ctrl-C is one graceful shutdown, not two.  A second signal to the supervisor
kills the workers at once.  A worker also shuts down when the supervisor dies, so
none is ever left behind.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

import trio

log = logging.getLogger("trio_h2.workers")

#: Whether this platform can share a port between processes.
HAVE_REUSE_PORT = hasattr(socket, "SO_REUSEPORT")


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

#: Seconds before a worker that died is replaced, the first time; the wait doubles
#: with each death in a row, up to RESTART_BACKOFF_MAX.
RESTART_BACKOFF = 0.5
RESTART_BACKOFF_MAX = 30.0
#: A worker that ran this long before it died was healthy: the wait starts over.
HEALTHY_AFTER = 30.0


def _exit_status(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class _Worker:
    def __init__(
        self, number: int, process: BaseProcess, ready: multiprocessing.connection.Connection
    ):
        self.number = number
        self.process = process
        self.ready = ready
        self.started_at = trio.current_time()
        self.exited = trio.Event()
        #: Replaced by a new worker (a rolling restart): its exit is expected.
        self.retiring = False

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    async def wait_ready(self) -> _Ready | _Failed | None:
        """What the worker says once it listens or fails; None if it died first.

        Called once per worker (the pipe is closed after).
        """
        try:
            await trio.lowlevel.wait_readable(self.ready.fileno())
            said: _Ready | _Failed = self.ready.recv()
        except EOFError:
            return None
        finally:
            self.ready.close()
        return said

    async def wait_exit(self) -> None:
        await trio.lowlevel.wait_readable(self.process.sentinel)
        self.process.join()
        self.exited.set()

    def signal(self, signum: int) -> None:
        if self.process.pid is not None and not self.exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)


class _Supervisor:
    """The workers of one ``supervise()`` call: one slot per worker, kept filled.

    Theory of operation.  ``slots[n]`` is the worker that serves for slot ``n``.  A
    task per process waits for it to exit; when the process was ``slots[n]``, not
    retiring, and nobody is stopping, it died: a new one is started for the slot
    after the backoff.  A rolling restart (SIGHUP) goes slot by slot: it starts a
    candidate, waits for it to report ready, makes it ``slots[n]``, and only then
    tells the old one to drain (SIGTERM); a candidate that fails to start ends the
    rolling restart, and the old workers keep serving.  Stopping sends SIGTERM to
    every process alive, candidates and retiring ones included, and waits for all.
    """

    def __init__(
        self,
        count: int,
        target: Callable[..., object],
        args: tuple[object, ...],
        nursery: trio.Nursery,
    ) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.target = target
        self.args = args
        self.nursery = nursery
        self.slots: list[_Worker] = []
        self.backoff = [RESTART_BACKOFF] * count
        self.alive: set[_Worker] = set()
        self.all_exited = trio.Event()
        self.all_exited.set()
        self.stopping = False
        self.stopped = trio.Event()
        #: Set once every first worker is ready: deaths from then on are restarted.
        self.started = False
        self.rolling = False
        self.roll_again = False
        self.stopped_workers: list[_Worker] = []

    def spawn(self, number: int) -> _Worker:
        receive_end, send_end = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=self.target, args=(*self.args, send_end), name=f"trio_h2-worker-{number}"
        )
        try:
            process.start()
        finally:
            send_end.close()
        worker = _Worker(number, process, receive_end)
        if not self.alive:
            self.all_exited = trio.Event()
        self.alive.add(worker)
        self.nursery.start_soon(self._reap, worker)
        if self.stopping:
            worker.signal(signal.SIGTERM)
        return worker

    async def _reap(self, worker: _Worker) -> None:
        await worker.wait_exit()
        self.alive.discard(worker)
        if not self.alive:
            self.all_exited.set()
        if self.stopping or worker.retiring or not self.started:
            return
        if self.slots[worker.number] is worker:
            self.nursery.start_soon(self._replace, worker)

    async def _replace(self, dead: _Worker) -> None:
        """Start a worker in the place of one that died, after the backoff."""
        number = dead.number
        if trio.current_time() - dead.started_at >= HEALTHY_AFTER:
            self.backoff[number] = RESTART_BACKOFF
        delay = self.backoff[number]
        self.backoff[number] = min(delay * 2, RESTART_BACKOFF_MAX)
        log.error(
            "worker %d %s; starting another in %.1f s",
            dead.pid,
            _exit_status(dead.process.exitcode),
            delay,
        )
        with trio.move_on_after(delay):
            await self.stopped.wait()
        if self.stopping or self.slots[number] is not dead:
            return  # stopping, or a rolling restart has filled the slot meanwhile
        worker = self.slots[number] = self.spawn(number)
        said = await worker.wait_ready()
        if isinstance(said, _Failed):
            log.error("worker %d could not start: %s", worker.pid, said.message)

    async def start(self, count: int) -> _Ready | _Failed | None:
        """Start every worker; what the first said, unless one failed or died first."""
        for number in range(count):
            self.slots.append(self.spawn(number))
        first: _Ready | _Failed | None = None
        for worker in self.slots:
            said = await worker.wait_ready()
            if not isinstance(said, _Ready):
                if said is None and not self.stopping:
                    # Let it be reaped, for its exit code.
                    await worker.exited.wait()
                    log.error(
                        "worker %d %s before it was ready; stopping the others",
                        worker.pid,
                        _exit_status(worker.process.exitcode),
                    )
                return said
            first = first or said
        self.started = True
        for worker in self.slots:
            if worker.exited.is_set():  # died between its report and the last one's
                self.nursery.start_soon(self._replace, worker)
        return first

    async def roll(self) -> None:
        """Replace every worker, one at a time, each only once its successor is ready."""
        if self.rolling:
            self.roll_again = True
            return
        self.rolling = True
        try:
            while True:
                self.roll_again = False
                log.info("replacing the %d workers one at a time", len(self.slots))
                for number in range(len(self.slots)):
                    if self.stopping:
                        return
                    candidate = self.spawn(number)
                    said = await candidate.wait_ready()
                    if self.stopping:
                        return
                    if not isinstance(said, _Ready):
                        why = said.message if isinstance(said, _Failed) else "it died"
                        log.error(
                            "worker %d could not start (%s); the rolling restart stops "
                            "here, and the workers running keep serving",
                            candidate.pid,
                            why,
                        )
                        candidate.retiring = True
                        candidate.signal(signal.SIGTERM)
                        return
                    old = self.slots[number]
                    self.slots[number] = candidate
                    self.backoff[number] = RESTART_BACKOFF
                    old.retiring = True
                    old.signal(signal.SIGTERM)
                    log.info(
                        "worker %d serves in the place of %d, which drains", candidate.pid, old.pid
                    )
                log.info(
                    "rolling restart done: workers %s",
                    ", ".join(str(worker.pid) for worker in self.slots),
                )
                if not self.roll_again:
                    return
        finally:
            self.rolling = False

    def stop(self, signum: int) -> None:
        if not self.stopping:
            self.stopping = True
            self.stopped.set()
            self.stopped_workers = list(self.alive)
        for worker in list(self.alive):
            # One draining already (replaced) would take a second SIGTERM as "now".
            if signum != signal.SIGTERM or not worker.retiring:
                worker.signal(signum)


async def supervise(
    count: int,
    target: Callable[..., object],
    args: tuple[object, ...],
    on_ready: Callable[[object], None],
    on_stop: Callable[[int], None],
) -> int:
    """Run ``count`` processes of ``target(*args, ready)`` until a signal stops them.

    ``target`` must call :func:`report_ready` once it listens (or
    :func:`report_failure`); ``on_ready`` runs with the first one's report when all
    have.  A worker that dies is replaced (see :class:`_Supervisor`); SIGHUP replaces
    them all, one at a time.  SIGINT or SIGTERM (``on_stop`` is told which) make
    every worker shut down gracefully; a second one kills them.  Raises
    :class:`WorkerFailed` if a worker reports a failure before all have started.
    Returns 0 if every worker stopped exited with 0, else 1.
    """
    failed: _Failed | None = None
    said: _Ready | _Failed | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            supervisor = _Supervisor(count, target, args, nursery)

            async def handle_signals() -> None:
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        if supervisor.started:
                            log.info("SIGHUP: a rolling restart")
                            nursery.start_soon(supervisor.roll)
                        else:
                            log.warning("SIGHUP: ignored, the workers are still starting")
                    elif not supervisor.stopping:
                        on_stop(signum)
                        supervisor.stop(signal.SIGTERM)
                    else:
                        supervisor.stop(signal.SIGKILL)

            nursery.start_soon(handle_signals)
            try:
                said = await supervisor.start(count)
            except BaseException:
                supervisor.stop(signal.SIGKILL)
                raise
            if isinstance(said, _Ready):
                on_ready(said.info)
            else:
                failed = said
                supervisor.stop(signal.SIGTERM)
            await supervisor.stopped.wait()
            await supervisor.all_exited.wait()
            nursery.cancel_scope.cancel()
    if isinstance(failed, _Failed):
        raise WorkerFailed(failed.message, failed.status)
    if not isinstance(said, _Ready):
        return 1  # a worker died before it was ready, or the start was interrupted
    codes = [worker.process.exitcode for worker in supervisor.stopped_workers]
    return 0 if all(code == 0 for code in codes) else 1
