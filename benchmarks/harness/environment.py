"""What the run works with: the Python that runs the servers, the cores, tool versions."""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .fixtures import Fixtures

_VERSIONS_SCRIPT = """
import importlib.metadata as m, json
out = {}
for name in (
    "trio_h2", "hypercorn", "granian", "uvicorn", "httptools", "websockets", "h2", "h11",
    "trio", "trio-websocket", "wsproto",
):
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
try:
    import trio_h2
    out.setdefault("trio_h2", trio_h2.__version__)
except ImportError:
    pass
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Environment:
    #: The interpreter that runs the Python servers (and this harness).
    python: str
    repo_root: Path
    #: benchmarks/servers: the two applications (and Hypercorn's HTTP/1.1 launcher).
    apps_dir: Path
    fixtures: Fixtures
    cpus: tuple[int, ...]

    @property
    def pinned(self) -> bool:
        """Server and h2load get a core each (with taskset) when there are two."""
        return len(self.cpus) >= 2 and shutil.which("taskset") is not None

    def server_prefix(self, pin: bool = True) -> list[str]:
        return ["taskset", "-c", str(self.cpus[0])] if pin and self.pinned else []

    def client_prefix(self, pin: bool = True) -> list[str]:
        return ["taskset", "-c", str(self.cpus[1])] if pin and self.pinned else []

    def server_env(self) -> dict[str, str]:
        """Servers import this checkout's trio_h2 and the apps, whatever is installed."""
        env = dict(os.environ)
        paths = [str(self.repo_root), str(self.apps_dir)]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def python_ok(self, code: str) -> str | None:
        """None if ``code`` runs in the servers' Python, else why it does not."""
        return _python_ok(self.python, code, tuple(sorted(self.server_env().items())))

    def versions(self) -> dict[str, str]:
        versions: dict[str, str] = {"python": platform.python_version()}
        try:
            done = subprocess.run(
                [self.python, "-c", _VERSIONS_SCRIPT],
                env=self.server_env(),
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            versions.update(json.loads(done.stdout))
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
        for tool in ("h2load", "nghttpd"):
            version = _tool_version(tool)
            if version:
                versions[tool] = version
        commit = _git_commit(self.repo_root)
        if commit:
            versions["trio_h2_commit"] = commit
        return versions


def available_cpus() -> tuple[int, ...]:
    return tuple(sorted(os.sched_getaffinity(0)))


@functools.cache
def _python_ok(python: str, code: str, env: tuple[tuple[str, str], ...]) -> str | None:
    try:
        done = subprocess.run(
            [python, "-c", code],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def _tool_version(tool: str) -> str | None:
    if shutil.which(tool) is None:
        return None
    try:
        done = subprocess.run(
            [tool, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip().split()[-1] if done.stdout.strip() else None


def _git_commit(repo: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None
