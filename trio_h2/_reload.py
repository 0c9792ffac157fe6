"""``--reload``: serve from a child process, and start a new one when Python files change.

For development only.  The watcher (watchfiles, ``pip install 'trio_h2[reload]'``)
runs in this process; the server runs as ``python -m trio_h2`` with the same
arguments but ``--reload``, so that each restart imports the handler afresh.  A
change stops the child as SIGTERM does (a graceful shutdown, cut short after
RESTART_GRACE seconds) and starts another; a child that fails (a syntax error in the
handler's module) is started again at the next change.  Ctrl-C (or SIGTERM) stops
both, gracefully; a second one stops the server at once.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("trio_h2.reload")

#: Seconds a stopping child gets before it is told again (which stops it at once).
RESTART_GRACE = 5.0

#: Options of the watcher itself, left out of the child's command line.
_OWN_FLAGS = ("--reload",)
_OWN_OPTIONS = ("--reload-dir",)


class ReloadUnavailable(Exception):
    """watchfiles is not installed."""


def child_arguments(argv: Sequence[str]) -> list[str]:
    """``argv`` without the watcher's own options."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _OWN_FLAGS:
            pass
        elif arg in _OWN_OPTIONS:
            skip = True
        elif any(arg.startswith(option + "=") for option in _OWN_OPTIONS):
            pass
        else:
            out.append(arg)
    return out


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    # A session of its own: a Ctrl-C at the terminal reaches only the watcher, which
    # passes one signal on, so that the first Ctrl-C is a graceful shutdown and only
    # a second one is abrupt, as without --reload.
    return subprocess.Popen(command, start_new_session=True)


def _stop(child: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    """Stop as that signal does (gracefully), then at once if it takes too long."""
    if child.poll() is not None:
        return
    child.send_signal(signum)
    try:
        child.wait(RESTART_GRACE)
        return
    except subprocess.TimeoutExpired:
        pass
    child.send_signal(signum)  # a second one stops it at once
    try:
        child.wait(RESTART_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


class _Stop(Exception):
    """SIGINT, SIGTERM or SIGHUP reached the watcher."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def run(argv: Sequence[str], directories: Sequence[str]) -> int:
    """Serve with ``argv`` in a child, restarted on changes under ``directories``."""
    try:
        import watchfiles
    except ImportError:
        raise ReloadUnavailable(
            "--reload needs watchfiles: pip install 'trio_h2[reload]' (or watchfiles)"
        ) from None
    roots = [str(Path(d).resolve()) for d in directories]
    command = [sys.executable, "-m", "trio_h2", *child_arguments(argv)]
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    print(f"Watching {', '.join(roots)} for changes to Python files (--reload)", flush=True)
    child = _start(command)
    try:
        for changes in watchfiles.watch(
            *roots,
            watch_filter=watchfiles.PythonFilter(),
            yield_on_timeout=True,
            rust_timeout=1000,
            raise_interrupt=False,
        ):
            if not changes:
                continue  # a timeout: nothing changed
            names = sorted({os.path.relpath(path) for _, path in changes})
            log.warning("%s changed: restarting", ", ".join(names))
            _stop(child)
            if child.returncode not in (0, None):
                log.warning("the server had exited with status %d", child.returncode)
            child = _start(command)
    except _Stop as stop:
        # Passed on as it came (SIGINT or SIGTERM: a graceful shutdown); a second one
        # while the child drains stops it at once.
        forward = signal.SIGTERM if stop.signum == signal.SIGHUP else stop.signum
        child.send_signal(forward)
        while True:
            try:
                child.wait()
                break
            except _Stop:
                child.send_signal(forward)
        return 0
    finally:
        if child.poll() is None:
            _stop(child)
    return 0
