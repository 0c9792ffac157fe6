"""Every Config field on the command line, and --config FILE."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import trio

import trio_h2
from tests.test_cli import cli, run_cli
from trio_h2._cli import build_parser, parse_options
from trio_h2._cli_config import ConfigFileError, field_help, load_config_file


def test_every_field_is_a_flag_with_its_help() -> None:
    text = build_parser().format_help()
    helps = field_help()
    for field in dataclasses.fields(trio_h2.Config):
        flag = "--" + field.name.replace("_", "-")
        assert flag in text, flag
        assert helps.get(field.name), f"{field.name} has no #: comment"
    assert "--no-http2" in text
    assert "--no-date-header" in text


def test_flags_become_the_config() -> None:
    _, options, _ = parse_options(
        [
            "--max-connections", "5",
            "--no-http2",
            "--max-requests-per-connection", "none",
            "--server-header", "none",
            "--body-timeout", "2.5",
            "--keep-alive-timeout", "3",
        ]
    )  # fmt: skip
    config = options.config()
    assert config == trio_h2.Config(
        max_connections=5,
        http2=False,
        max_requests_per_connection=None,
        server_header=None,
        body_timeout=2.5,
        keep_alive_timeout=3.0,
    )
    # Fields not given keep their defaults.
    _, plain, _ = parse_options([])
    assert plain.config() == trio_h2.Config()


def test_flags_win_over_the_file_and_grace_over_both(tmp_path: Path) -> None:
    file = tmp_path / "server.toml"
    file.write_text(
        "max-connections = 50\nidle_timeout = 5\ngraceful_shutdown_timeout = 9\n"
        'server_header = "none"\nhttp1 = false\n'
    )
    _, options, _ = parse_options(["--config", str(file), "--max-connections", "7"])
    config = options.config()
    assert config.max_connections == 7
    assert config.idle_timeout == 5.0
    assert config.server_header is None
    assert config.http1 is False
    _, graced, _ = parse_options(["--config", str(file), "--grace", "2"])
    assert graced.config().graceful_shutdown_timeout == 2.0


def test_a_list_field_is_comma_separated() -> None:
    _, options, _ = parse_options(
        ["--forwarded-allow-ips", "127.0.0.1, 10.0.0.0/8,::1", "--proxy-protocol"]
    )
    config = options.config()
    assert config.forwarded_allow_ips == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert config.proxy_protocol
    _, cleared, _ = parse_options(["--forwarded-allow-ips", ""])
    assert cleared.config().forwarded_allow_ips == ()
    text = build_parser().format_help()
    assert "--forwarded-allow-ips LIST" in text
    assert "(comma-separated; default: empty)" in " ".join(text.split())


def test_a_list_field_in_the_file(tmp_path: Path) -> None:
    file = tmp_path / "server.toml"
    file.write_text('forwarded_allow_ips = ["10.0.0.0/8", "unix"]\nproxy_protocol = true\n')
    assert load_config_file(str(file)) == {
        "forwarded_allow_ips": ("10.0.0.0/8", "unix"),
        "proxy_protocol": True,
    }
    file.write_text('forwarded-allow-ips = "127.0.0.1,::1"\n')
    _, options, _ = parse_options(["--config", str(file)])
    assert options.config().forwarded_allow_ips == ("127.0.0.1", "::1")
    # Flags win over the file, here too.
    _, options, _ = parse_options(["--config", str(file), "--forwarded-allow-ips", "*"])
    assert options.config().forwarded_allow_ips == ("*",)


def test_a_trio_h2_table_is_read_too(tmp_path: Path) -> None:
    file = tmp_path / "pyproject.toml"
    file.write_text('[project]\nname = "x"\n[trio_h2]\nmax_header_count = 20\n')
    assert load_config_file(str(file)) == {"max_header_count": 20}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "max_conections = 5\n",
            "'max_conections' is not a Config field (did you mean max_connections?)",
        ),
        ('max_connections = "5"\n', "max_connections must be int, not '5'"),
        ("max_connections = true\n", "max_connections must be int, not True"),
        ("http2 = 1\n", "http2 must be bool, not 1"),
        ("forwarded_allow_ips = [1]\n", "forwarded_allow_ips must be a list of strings, not [1]"),
        ("forwarded_allow_ips = 1\n", "forwarded_allow_ips must be a list of strings, not 1"),
        ("max_connections = \n", "is not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_with_its_fault(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "c.toml"
    file.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        load_config_file(str(file))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-connections", "0"], b"max_connections must be"),
        (["--max-connections", "many"], b"expected an integer, not 'many'"),
        (["--body-timeout", "-1"], b"body_timeout must be"),
        (["--max-requests-per-connection", "x"], b"expected an integer or none, not 'x'"),
        (["--config", "missing.toml"], b"cannot read --config 'missing.toml'"),
        (["--no-http1", "--no-http2"], b"cannot both be off"),
        (["--forwarded-allow-ips", "10.0.0.1,nope"], b"'nope' is not an IP address"),
        (["--proxy-protocol"], b"proxy_protocol needs"),
    ],
)
async def test_bad_values_are_usage_errors(
    tmp_path: Path, args: list[str], message: bytes
) -> None:
    result = await run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


async def test_a_limit_from_the_command_line_is_served(tmp_path: Path, curl: str) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    file = tmp_path / "server.toml"
    file.write_text("max_requests_per_connection = 1\n")
    async with cli("--config", str(file), "--no-date-header", cwd=tmp_path) as server:
        await server.wait_serving()
        with trio.fail_after(60):
            result = await trio.run_process(
                [curl, "-s", "-D", "-", server.url + "/a.txt", server.url + "/a.txt"],
                capture_stdout=True,
                capture_stderr=True,
            )
        await server.stop()
    heads = re.findall(rb"HTTP/1\.1 200 OK\r\n.*?\r\n\r\n", result.stdout, re.S)
    assert len(heads) == 2
    for head in heads:
        assert b"connection: close" in head.lower()
        assert b"date:" not in head.lower()


def test_the_readme_s_config_file_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = re.search(r"```toml\n(# server\.toml\n.*?)```", readme, re.S)
    assert block is not None
    file = tmp_path / "server.toml"
    file.write_text(block.group(1))
    config = trio_h2.Config(**load_config_file(str(file)))  # type: ignore[arg-type]
    assert config.max_connections == 500
    assert config.server_header is None


async def test_behind_a_proxy_from_the_command_line(tmp_path: Path, curl: str) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    args = ["--proxy-protocol", "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8"]
    async with cli(*args, cwd=tmp_path) as server:
        await server.wait_serving()
        with trio.fail_after(60):
            tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
            await tcp.send_all(
                b"PROXY TCP4 203.0.113.5 192.0.2.1 4711 80\r\n"
                b"GET /a.txt HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            )
            answer = b""
            while chunk := await tcp.receive_some():
                answer += chunk
            await tcp.aclose()
            await server.stderr.wait_for(r'\b203\.0\.113\.5 "GET /a\.txt HTTP/1\.1" 200 ')
            # A client that sends no PROXY header gets no answer.
            plain = await trio.run_process(
                [curl, "-s", "--max-time", "30", server.url + "/a.txt"],
                capture_stdout=True,
                check=False,
            )
        await server.stop()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\na\n")
    # curl: an empty reply (52), or a reset (56) as the request was left unread.
    assert plain.returncode in (52, 56)
    assert plain.stdout == b""
