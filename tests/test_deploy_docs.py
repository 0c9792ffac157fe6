"""The README's "Deploying" section shows the files in examples/deploy/, verbatim, and
the command lines in them are ones the command line accepts.

(The HAProxy and nginx configurations are run by the interop tests, test_haproxy.py,
test_haproxy_drain.py and test_nginx.py, from these same files.)
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from trio_h2._cli import parse_options

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "examples" / "deploy"
FILES = sorted(path.name for path in DEPLOY.iterdir())


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```[a-z]*\n(.*?)^```$", text, re.S | re.M)


@pytest.mark.parametrize("name", FILES)
def test_the_readme_shows_the_file_as_it_is(name: str) -> None:
    assert (DEPLOY / name).read_text() in readme_blocks()


def trio_h2_arguments(command: list[str]) -> list[str]:
    """What follows ``-m trio_h2`` in ``command``."""
    start = command.index("trio_h2")
    assert command[start - 1] == "-m"
    return command[start + 1 :]


def test_the_service_s_command_line_is_valid() -> None:
    text = (DEPLOY / "app.service").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    _, options, _ = parse_options(trio_h2_arguments(shlex.split(line.removeprefix("ExecStart="))))
    assert options.config().health_path == "/healthz"
    assert options.grace == 25
    # The stop timeout is above the grace period, or systemd cuts the drain short.
    timeout = re.search(r"^TimeoutStopSec=(\d+)$", text, re.M)
    assert timeout is not None
    assert int(timeout.group(1)) > options.grace


def test_the_image_s_command_line_is_valid() -> None:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("CMD ")]
    _, options, _ = parse_options(trio_h2_arguments(json.loads(line.removeprefix("CMD "))))
    assert options.config().health_path == "/healthz"
    assert [str(bind) for bind in options.binds] == ["0.0.0.0:8080"]


def test_kubernetes_gives_the_drain_its_time() -> None:
    text = (DEPLOY / "kubernetes.yaml").read_text()
    period = re.search(r"terminationGracePeriodSeconds: (\d+)", text)
    wait = re.search(r'command: \["sleep", "(\d+)"\]', text)
    assert period is not None
    assert wait is not None
    image = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    grace = re.search(r'"--grace", "(\d+)"', image)
    assert grace is not None
    assert int(period.group(1)) > int(wait.group(1)) + int(grace.group(1))
    assert "path: /healthz" in text
    assert "port: 8080" in text


def test_the_haproxy_instances_command_lines_are_valid() -> None:
    # The comment above each backend says how its instances are started.
    text = re.sub(r"\\\n#\s+", " ", (DEPLOY / "haproxy.cfg").read_text())
    commands = re.findall(r"^#\s+(python -m trio_h2 .*)\n(backend \w+)", text, re.M)
    assert [backend for _, backend in commands] == ["backend app_h2", "backend app_h1"]
    for command, backend in commands:
        _, options, _ = parse_options(trio_h2_arguments(shlex.split(command)))
        config = options.config()
        assert config.health_path == "/healthz"
        assert config.forwarded_allow_ips == ("127.0.0.1",)
        assert config.proxy_protocol == (backend == "backend app_h1")
