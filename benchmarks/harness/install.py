"""Installs what a full run needs: h2load and nghttpd (apt), and a venv of the servers."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

VENV_PACKAGES = (
    "hypercorn>=0.17",
    "granian>=1.6",
    # websockets-sansio, the WebSocket layer uvicorn picks when websockets is there.
    "uvicorn>=0.35",
    "httptools>=0.6",
    "websockets>=13",
    "matplotlib>=3.7",
    "trustme>=1.1",
)
_APT_PACKAGES = {"h2load": "nghttp2-client", "nghttpd": "nghttp2-server"}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_tools() -> None:
    """apt-get install nghttp2-client / nghttp2-server when h2load / nghttpd are missing."""
    missing = sorted({pkg for tool, pkg in _APT_PACKAGES.items() if not shutil.which(tool)})
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say(f"not installing {', '.join(missing)}: needs root and apt-get")
        return
    say(f"installing {', '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, check=False)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def in_venv(venv: Path) -> bool:
    return Path(sys.prefix).resolve() == venv.resolve()


def ensure_venv(venv: Path, repo_root: Path) -> Path:
    """Create ``venv`` with the servers and trio_h2 (editable) in it; skip if up to date."""
    python = venv_python(venv)
    stamp = venv / ".installed"
    want = _fingerprint(repo_root)
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    if not python.exists():
        say(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    say("installing " + ", ".join([*VENV_PACKAGES, "trio_h2 (editable)"]))
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *VENV_PACKAGES, "-e", str(repo_root)], check=True)
    stamp.write_text(want)
    return python


def _fingerprint(repo_root: Path) -> str:
    digest = hashlib.sha256("\n".join(VENV_PACKAGES).encode())
    digest.update((repo_root / "pyproject.toml").read_bytes())
    return digest.hexdigest()
