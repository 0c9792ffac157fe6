"""Ctrl-C stops each program in examples/, and ``python -m trio_h2``, cleanly.

Each program runs as a subprocess on a free port (``--port 0``) in a directory of
its own; once it has printed where it serves and answered one request over TCP it
gets SIGINT, and must exit with status 0, its last line on stderr a short notice
and no traceback anywhere.  (The programs in examples/compat/ are the documented
programs of other libraries, kept as written: their Ctrl-C is tested with them.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from trio_h2.testing import open_client

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
URL = re.compile(r"^Serving .*?on http://(127\.0\.0\.1):(\d+)")
#: The access log's default line for the one request the test makes.
ACCESS_LINE = re.compile(r'^[\d-]+ [\d:,]+ 127\.0\.0\.1 "GET /hello\.txt HTTP/2" (200|404) ')

#: name -> (command after the interpreter, what its last line on stderr starts with)
PROGRAMS: dict[str, tuple[list[str], str]] = {
    **{path.stem: ([str(path), "--port", "0"], "Stopped.") for path in EXAMPLES},
    "python -m trio_h2": (["-m", "trio_h2", "--port", "0"], "SIGINT: shutting down;"),
}


def test_every_example_is_covered() -> None:
    # The list is read from the directory, so a new example is covered as it lands.
    assert {"hello", "file_server", "sse"} <= set(PROGRAMS)


async def first_line(stdout: trio.abc.ReceiveStream) -> str:
    """The first line a process writes; raises EOFError if it exits first."""
    buffer = b""
    while b"\n" not in buffer:
        data = await stdout.receive_some()
        if not data:
            raise EOFError(buffer.decode("utf-8", "replace"))
        buffer += data
    return buffer.partition(b"\n")[0].decode("utf-8")


@pytest.mark.parametrize("name", list(PROGRAMS))
async def test_sigint_exits_0_with_one_line_and_no_traceback(name: str, tmp_path: Path) -> None:
    arguments, last_line = PROGRAMS[name]
    (tmp_path / "hello.txt").write_text("hello\n")  # something for the file servers
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "wb") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, *arguments],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            # A shell may start us with SIGINT ignored; the program gets the default.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            assert process.stdout is not None
            with trio.fail_after(60):
                try:
                    line = await first_line(process.stdout)
                except EOFError:
                    pytest.fail(f"{name} exited before serving: {stderr_path.read_text()}")
                match = URL.match(line)
                assert match, line
                # Serving means answering: one request, over TCP, before the signal.
                transport = await trio.open_tcp_stream(match[1], int(match[2]))
                async with open_client(transport) as client:
                    response = await client.get("/hello.txt")
                assert response.status in (200, 404)
                process.send_signal(signal.SIGINT)
                returncode = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    output = stderr_path.read_text()
    assert returncode == 0, output
    assert "Traceback" not in output
    lines = output.splitlines()
    notices = [i for i, line in enumerate(lines) if line.startswith(last_line)]
    assert len(notices) == 1, output
    # After the notice, only the access line of the request made before the signal
    # may come: its handler's task can still be finishing (the client has had its
    # response) when the signal arrives, and the graceful shutdown lets it finish.
    assert all(ACCESS_LINE.match(line) for line in lines[notices[0] + 1 :]), output
