"""--reload: a change to the handler's module is served without a manual restart."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.test_cli import SERVING, cli, fetch, run_cli
from trio_h2._reload import child_arguments

pytest.importorskip("watchfiles", reason="--reload needs watchfiles")

VERSION = """\
import trio_h2

async def handler(stream: trio_h2.Stream) -> None:
    await stream.respond(200, [("content-type", "text/plain")], b"{text}")
"""


def test_the_child_gets_the_arguments_without_the_watcher_s_own() -> None:
    argv = ["app:handler", "--reload", "--reload-dir", "src", "--reload-dir=lib", "-p", "0"]
    assert child_arguments(argv) == ["app:handler", "-p", "0"]


async def test_a_change_is_served_and_ctrl_c_stops_both(tmp_path: Path, curl: str) -> None:
    app = tmp_path / "app.py"
    app.write_text(VERSION.format(text="one"))
    async with cli("app:handler", "--reload", cwd=tmp_path) as server:
        await server.stdout.wait_for("for changes to Python files")
        await server.wait_serving()
        assert await fetch(curl, server.url + "/") == ("one", "200 1.1")
        app.write_text(VERSION.format(text="two"))
        # A new server: a second "Serving" line (on a new port, as --port 0 asks).
        match = await server.stdout.wait_for(SERVING, count=2)
        url = f"{match['scheme']}://{match['host']}:{match['port']}"
        assert await fetch(curl, url + "/") == ("two", "200 1.1")
        assert await server.stop(signal.SIGINT) == 0
        # The server stopped gracefully, as it says when asked to.
        await server.stderr.wait_for("shutting down")


async def test_a_broken_module_waits_for_the_next_change(tmp_path: Path, curl: str) -> None:
    app = tmp_path / "app.py"
    app.write_text(VERSION.format(text="one"))
    async with cli("app:handler", "--reload", cwd=tmp_path) as server:
        await server.wait_serving()
        app.write_text("def broken(:\n")
        await server.stderr.wait_for("SyntaxError")
        app.write_text(VERSION.format(text="fixed"))
        match = await server.stdout.wait_for(SERVING, count=2)
        url = f"{match['scheme']}://{match['host']}:{match['port']}"
        assert await fetch(curl, url + "/") == ("fixed", "200 1.1")
        assert await server.stop(signal.SIGTERM) == 0


async def test_reload_options_are_checked(tmp_path: Path) -> None:
    result = await run_cli("--reload-dir", ".", cwd=tmp_path)
    assert b"--reload-dir needs --reload" in result.stderr
    result = await run_cli("--reload", "--workers", "2", cwd=tmp_path)
    assert b"--reload serves from one process" in result.stderr
    result = await run_cli("--reload", "--reload-dir", "nowhere", cwd=tmp_path)
    assert b"--reload-dir 'nowhere' is not a directory" in result.stderr
