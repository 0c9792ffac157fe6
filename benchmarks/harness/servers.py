"""The servers under test: how each is started and stopped, and how much memory it took."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .environment import Environment
from .workloads import WORKLOADS, Workload

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0

#: The workloads of each protocol, for the servers that do not speak them all.
HTTP2_ROWS = tuple(w.id for w in WORKLOADS if w.protocol == "h2")
HTTP1_ROWS = tuple(w.id for w in WORKLOADS if w.protocol != "h2")

Command = Callable[[Environment, int, Workload], list[str]]


@dataclass(frozen=True)
class ServerSpec:
    id: str
    label: str
    #: argv that serves ``workload`` (its protocol, TLS or not) on (environment, port).
    command: Command
    #: None if the server can run here, else why not.
    check: Callable[[Environment], str | None]
    #: Workload ids this server runs; None for all.
    only: tuple[str, ...] | None = None
    #: Whether server and load generator are pinned to a core each.
    pinned: bool = True

    def runs(self, workload_id: str) -> bool:
        return self.only is None or workload_id in self.only


class ServerStartError(Exception):
    """The server exited, or did not listen, before it could be measured."""


def _tls_args(env: Environment, tls: bool, cert_flag: str, key_flag: str) -> list[str]:
    if not tls:
        return []
    return [cert_flag, str(env.fixtures.certfile), key_flag, str(env.fixtures.keyfile)]


def _trio_h2(env: Environment, port: int, workload: Workload) -> list[str]:
    # One command for every row: trio_h2 tells HTTP/1.1 from h2c by the first bytes.
    app = str(env.apps_dir / "trio_h2_app.py")
    tls_args = _tls_args(env, workload.tls, "--certfile", "--keyfile")
    return [env.python, app, "--host", HOST, "--port", str(port), *tls_args]


def _trio_h2_workers(workers: int) -> Command:
    def command(env: Environment, port: int, workload: Workload) -> list[str]:
        # No access log: the other servers here write none either.
        return [
            env.python, "-m", "trio_h2", "--host", HOST, "--port", str(port),
            "--workers", str(workers), "--no-access-log", "trio_h2_app:handler",
        ]  # fmt: skip

    return command


def _trio_h2_asgi(env: Environment, port: int, workload: Workload) -> list[str]:
    # The ASGI app the other servers run, through the command line; no access log,
    # as the others.
    return [
        env.python, "-m", "trio_h2", "--asgi", "asgi_app:app", "--host", HOST,
        "--port", str(port), "--no-access-log", "--log-level", "warning",
        *_tls_args(env, workload.tls, "--certfile", "--keyfile"),
    ]  # fmt: skip


def _hypercorn(worker_class: str) -> Command:
    def command(env: Environment, port: int, workload: Workload) -> list[str]:
        # h2load cannot read Hypercorn's HTTP/1.1 status lines: see hypercorn_reason.py.
        if workload.protocol == "h1":
            launch = [env.python, str(env.apps_dir / "hypercorn_reason.py")]
        else:
            launch = [env.python, "-m", "hypercorn"]
        # --workers 0 serves in the main process, as the other Python servers do.
        return [
            *launch, "--worker-class", worker_class, "--workers", "0",
            "--config", str(env.fixtures.hypercorn_config), "--bind", f"{HOST}:{port}",
            *_tls_args(env, workload.tls, "--certfile", "--keyfile"), "asgi_app:app",
        ]  # fmt: skip

    return command


def _granian(env: Environment, port: int, workload: Workload) -> list[str]:
    # The row's protocol only: with "auto" Granian would sniff every connection.
    http = "2" if workload.protocol == "h2" else "1"
    return [
        env.python, "-m", "granian", "--interface", "asgi", "--http", http, "--workers", "1",
        "--host", HOST, "--port", str(port), "--log-level", "warning",
        *_tls_args(env, workload.tls, "--ssl-certificate", "--ssl-keyfile"), "asgi_app:app",
    ]  # fmt: skip


def _uvicorn(parser: str) -> Command:
    def command(env: Environment, port: int, workload: Workload) -> list[str]:
        # Its WebSocket default (websockets' sans-I/O layer) named, so that a missing
        # websockets fails the check rather than falling back to wsproto unseen; plain
        # asyncio, as Hypercorn's asyncio worker, not uvloop; no access log, as the others.
        return [
            env.python, "-m", "uvicorn", "--http", parser, "--ws", "websockets-sansio",
            "--loop", "asyncio", "--no-access-log", "--log-level", "warning",
            "--host", HOST, "--port", str(port), "asgi_app:app",
        ]  # fmt: skip

    return command


def _nghttpd(env: Environment, port: int, workload: Workload) -> list[str]:
    # Stream and connection windows as trio_h2's defaults (1 MiB, 4 MiB), not 64 KiB.
    argv = ["nghttpd", "--htdocs", str(env.fixtures.docroot), "-w", "20", "-W", "22"]
    if workload.tls:
        return [*argv, str(port), str(env.fixtures.keyfile), str(env.fixtures.certfile)]
    return [*argv, "--no-tls", str(port)]


def _python_check(code: str, missing: str) -> Callable[[Environment], str | None]:
    def check(env: Environment) -> str | None:
        reason = env.python_ok(code)
        return None if reason is None else f"{missing} ({reason})"

    return check


#: uvicorn with the WebSocket implementation its command names.
_UVICORN_CHECK = (
    "import uvicorn, websockets; from uvicorn.config import WS_PROTOCOLS; "
    "WS_PROTOCOLS['websockets-sansio']"
)


def _nghttpd_check(env: Environment) -> str | None:
    return None if shutil.which("nghttpd") else "nghttpd is not installed"


def _workers_check(env: Environment) -> str | None:
    """The extra row runs once ``python -m trio_h2`` has ``--workers``."""
    try:
        done = subprocess.run(
            [env.python, "-m", "trio_h2", "--help"],
            env=env.server_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"python -m trio_h2 --help: {exc}"
    return None if "--workers" in done.stdout else "python -m trio_h2 has no --workers yet"


def _trio_h2_at(checkout: Path) -> Command:
    """The same application on the trio_h2 of another checkout, imported before ours."""

    def command(env: Environment, port: int, workload: Workload) -> list[str]:
        app = str(env.apps_dir / "trio_h2_app.py")
        run = (
            "import runpy, sys; "
            f"sys.path.insert(0, {str(checkout.resolve())!r}); "
            f"runpy.run_path({app!r}, run_name='__main__')"
        )
        tls_args = _tls_args(env, workload.tls, "--certfile", "--keyfile")
        return [env.python, "-c", run, "--host", HOST, "--port", str(port), *tls_args]

    return command


def server_specs(workers: int, base: Path | None = None) -> list[ServerSpec]:
    """Every server, in the order each round runs them; Hypercorn (trio) is the baseline."""
    trio_h2_check = _python_check("import trio_h2; trio_h2.serve", "no trio_h2.serve")
    extra = []
    if base is not None:
        found = (base / "trio_h2" / "__init__.py").is_file()
        extra.append(
            ServerSpec(
                "trio_h2-base",
                f"trio_h2 ({base.name})",
                _trio_h2_at(base),
                lambda env: None if found else f"no trio_h2 package in {base}",
            )
        )
    return [
        ServerSpec("trio_h2", "trio_h2", _trio_h2, trio_h2_check),
        *extra,
        ServerSpec(
            "trio_h2-asgi",
            "trio_h2 (ASGI)",
            _trio_h2_asgi,
            _python_check("import trio_h2.asgi; trio_h2.asgi.serve", "no trio_h2.asgi.serve"),
        ),
        ServerSpec(
            "hypercorn-trio",
            "Hypercorn (trio)",
            _hypercorn("trio"),
            _python_check("import hypercorn.trio", "Hypercorn is not installed"),
        ),
        ServerSpec(
            "hypercorn-asyncio",
            "Hypercorn (asyncio)",
            _hypercorn("asyncio"),
            _python_check("import hypercorn.asyncio", "Hypercorn is not installed"),
        ),
        ServerSpec(
            "granian",
            "Granian",
            _granian,
            _python_check("import granian", "Granian is not installed"),
        ),
        *(
            ServerSpec(
                f"uvicorn-{parser}",
                f"uvicorn ({parser})",
                _uvicorn(parser),
                _python_check(f"{_UVICORN_CHECK}; import {parser}", missing),
                # No HTTP/2 in uvicorn.
                only=HTTP1_ROWS,
            )
            for parser, missing in (
                ("h11", "uvicorn or websockets is not installed"),
                ("httptools", "uvicorn, websockets or httptools is not installed"),
            )
        ),
        ServerSpec("nghttpd", "nghttpd (C)", _nghttpd, _nghttpd_check, only=HTTP2_ROWS),
        ServerSpec(
            "trio_h2-workers",
            f"trio_h2 --workers {workers}",
            _trio_h2_workers(workers),
            _workers_check,
            only=("W1",),
            pinned=False,
        ),
    ]


BASELINE = "hypercorn-trio"


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int

    def peak_rss_kib(self) -> int | None:
        """Peak resident memory (VmHWM), summed over the server's processes."""
        total = 0
        for pid in _process_tree(self.process.pid):
            total += _vm_hwm_kib(pid) or 0
        return total or None


@contextlib.contextmanager
def running(
    spec: ServerSpec, env: Environment, workload: Workload, *, log_path: Path
) -> Iterator[RunningServer]:
    """Start ``spec`` for ``workload`` on a free port, yield once it listens, then stop it."""
    port = _free_port()
    argv = [*env.server_prefix(spec.pinned), *spec.command(env, port, workload)]
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                argv,
                cwd=env.apps_dir,
                env=env.server_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServerStartError(f"could not start: {exc}") from None
    try:
        _wait_listening(process, port, log_path)
        yield RunningServer(process, port)
    finally:
        _stop(process)


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return " | ".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"exited with status {process.returncode}: {log_tail(log_path)}"
            )
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerStartError(f"not listening after {START_TIMEOUT:.0f} s: {log_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the server's process group (it runs in a session of its own), then SIGKILL."""
    for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Children that outlived the leader (a worker still shutting down) go too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        status = Path("/proc", str(pid), "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None
