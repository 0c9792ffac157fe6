"""The logging options: where the access log goes, its formats, and --log-config."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli import cli, fetch, run_cli
from trio_h2._logging import (
    ACCESS_FIELDS,
    LogConfigError,
    access_formatter,
    configure,
    load_log_config,
)


def access_record(**fields: object) -> logging.LogRecord:
    values: dict[str, object] = {
        "client": "192.0.2.7",
        "method": "GET",
        "target": "/a?b=1",
        "protocol": "1.1",
        "status": "200",
        "bytes": 1234,
        "duration": 0.0125,
        "user_agent": "curl/8.0",
        "referer": "https://example.test/",
        "outcome": "",
    }
    values.update(fields)
    record = logging.LogRecord(
        "trio_h2.access", logging.INFO, __file__, 0, "the default line", None, None
    )
    record.created = 1_700_000_000.5
    record.msecs = 500.0
    record.__dict__.update(values)
    return record


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_common_and_combined_are_the_apache_layouts(utc: None) -> None:
    record = access_record()
    assert access_formatter("common").format(record) == (
        '192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] "GET /a?b=1 HTTP/1.1" 200 1234'
    )
    assert access_formatter("combined").format(record) == (
        '192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] "GET /a?b=1 HTTP/1.1" 200 1234 '
        '"https://example.test/" "curl/8.0"'
    )


def test_json_has_every_field_and_the_time_in_utc() -> None:
    line = access_formatter("json").format(access_record(outcome="connection lost"))
    fields = json.loads(line)
    assert list(fields) == ["time", *ACCESS_FIELDS]
    assert fields["time"] == "2023-11-14T22:13:20.500Z"
    assert fields["status"] == "200"
    assert fields["bytes"] == 1234
    assert fields["duration"] == 0.0125
    assert fields["outcome"] == "connection lost"


def test_a_custom_format_names_fields_and_a_wrong_one_is_refused() -> None:
    custom = access_formatter("%(client)s %(status)s %(duration).3f")
    assert custom.format(access_record()) == "192.0.2.7 200 0.013"
    with pytest.raises(LogConfigError, match="neither one of default, common"):
        access_formatter("apache")
    with pytest.raises(LogConfigError, match=r"'nope'.*its fields: client, method"):
        access_formatter("%(nope)s")


def test_log_config_files_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "log.toml"
    good.write_text('version = 1\n[root]\nlevel = "WARNING"\n')
    assert load_log_config(str(good)) == {"version": 1, "root": {"level": "WARNING"}}
    (tmp_path / "log.json").write_text('{"version": 1}')
    assert load_log_config(str(tmp_path / "log.json")) == {"version": 1}
    (tmp_path / "log.yaml").write_text("version: 1")
    with pytest.raises(LogConfigError, match=r"must end in \.json or \.toml"):
        load_log_config(str(tmp_path / "log.yaml"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LogConfigError, match="does not parse"):
        load_log_config(str(tmp_path / "bad.json"))
    (tmp_path / "v2.json").write_text('{"version": 2}')
    with pytest.raises(LogConfigError, match="version = 1"):
        load_log_config(str(tmp_path / "v2.json"))
    with pytest.raises(LogConfigError, match="cannot read"):
        load_log_config(str(tmp_path / "missing.json"))
    (tmp_path / "broken.json").write_text(
        '{"version": 1, "handlers": {"h": {"class": "no.Such"}}}'
    )
    with pytest.raises(LogConfigError, match=r"broken\.json"):
        configure("info", log_config=str(tmp_path / "broken.json"))


def test_an_access_log_that_cannot_be_opened_says_which(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "access.log"
    with pytest.raises(LogConfigError, match=re.escape(f"cannot open the access log '{target}'")):
        configure("info", access_log=str(target))


async def test_access_log_to_a_file_as_json(tmp_path: Path, curl: str) -> None:
    (tmp_path / "hello.txt").write_text("hello\n")
    log_file = tmp_path / "access.log"
    async with cli(
        "--access-log", str(log_file), "--access-log-format", "json", cwd=tmp_path
    ) as server:
        await server.wait_serving()
        body, status = await fetch(curl, "-A", "tester/1", server.url + "/hello.txt")
        assert (body, status) == ("hello\n", "200 1.1")
        await server.stop()
    [line] = log_file.read_text().splitlines()
    fields = json.loads(line)
    assert fields["method"] == "GET"
    assert fields["target"] == "/hello.txt"
    assert fields["protocol"] == "1.1"
    assert fields["status"] == "200"
    assert fields["bytes"] == 6
    assert fields["user_agent"] == "tester/1"
    # Nothing of it on stderr.
    assert "/hello.txt" not in server.stderr.text


async def test_access_log_to_stdout_in_common_format(tmp_path: Path, curl: str) -> None:
    async with cli("--access-log", "-", "--access-log-format", "common", cwd=tmp_path) as server:
        await server.wait_serving()
        await fetch(curl, "--http2-prior-knowledge", server.url + "/missing")
        await server.stdout.wait_for(r'^127\.0\.0\.1 - - \[.*\] "GET /missing HTTP/2" 404 \d+$')
        await server.stop()


async def test_log_config_replaces_the_set_up(tmp_path: Path, curl: str) -> None:
    config = tmp_path / "logging.toml"
    log_file = tmp_path / "all.log"
    config.write_text(
        "version = 1\n"
        "[formatters.plain]\n"
        'format = "%(name)s|%(levelname)s|%(message)s"\n'
        "[handlers.file]\n"
        'class = "logging.FileHandler"\n'
        f"filename = {json.dumps(str(log_file))}\n"
        'formatter = "plain"\n'
        "[root]\n"
        'level = "INFO"\n'
        'handlers = ["file"]\n'
    )
    async with cli("--log-config", str(config), cwd=tmp_path) as server:
        await server.wait_serving()
        await fetch(curl, server.url + "/nothing-here")
        await server.stop()
    text = log_file.read_text()
    assert re.search(
        r'^trio_h2\.access\|INFO\|127\.0\.0\.1 "GET /nothing-here HTTP/1\.1" 404', text, re.M
    )


async def test_bad_logging_options_are_usage_errors(tmp_path: Path) -> None:
    result = await run_cli("--access-log-format", "%(nope)s", cwd=tmp_path)
    assert result.returncode == 2
    assert b"access log format '%(nope)s' does not work" in result.stderr
    result = await run_cli("--log-config", "missing.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert b"cannot read --log-config 'missing.toml'" in result.stderr
