"""Config: defaults and validation."""

from __future__ import annotations

import dataclasses

import pytest

from trio_h2 import Config


def test_defaults_are_safe() -> None:
    config = Config()
    assert config.max_concurrent_streams == 100
    assert config.initial_window_size >= 65_535
    assert config.max_frame_size == 16_384
    assert 0 < config.idle_timeout < 3600
    assert 0 < config.handshake_timeout <= 60
    assert config.max_request_body_size > 0
    assert config.websocket_max_message_size == 16 * 1_048_576
    assert 0 < config.websocket_close_timeout <= 60


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().idle_timeout = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrent_streams", 0),
        ("max_concurrent_streams", -1),
        ("max_concurrent_streams", 1.5),
        ("max_concurrent_streams", True),
        ("initial_window_size", 2**31),
        ("initial_window_size", 1000),
        ("initial_connection_window_size", 2**31),
        ("max_frame_size", 16_383),
        ("max_frame_size", 2**24),
        ("max_header_list_size", 10),
        ("header_table_size", -1),
        ("max_request_body_size", -1),
        ("idle_timeout", 0),
        ("idle_timeout", -5),
        ("idle_timeout", float("nan")),
        ("handshake_timeout", "10"),
        ("graceful_shutdown_timeout", 0),
        ("send_timeout", 0),
        ("max_connections", 0),
        ("max_outbound_buffer", 100),
        ("server_header", "bad\nvalue"),
        ("server_header", 5),
        ("date_header", "yes"),
        ("websocket_max_message_size", 0),
        ("websocket_max_message_size", 1.5),
        ("websocket_close_timeout", 0),
        ("websocket_close_timeout", float("nan")),
    ],
)
def test_invalid_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"Config\.{field}"):
        Config(**{field: value})  # type: ignore[arg-type]


def test_replace_validates() -> None:
    config = Config().replace(idle_timeout=5)
    assert config.idle_timeout == 5
    with pytest.raises(ValueError, match="idle_timeout"):
        Config().replace(idle_timeout=-1)


def test_forwarded_allow_ips() -> None:
    assert Config().forwarded_allow_ips == ()
    assert Config().proxy_protocol is False
    config = Config(forwarded_allow_ips=["127.0.0.1", " 10.0.0.0/8", "::1", "*", "unix"])
    assert config.forwarded_allow_ips == ("127.0.0.1", "10.0.0.0/8", "::1", "*", "unix")
    # A list and a tuple of the same make equal Configs; a string is split on commas.
    assert config == Config(forwarded_allow_ips=("127.0.0.1", "10.0.0.0/8", "::1", "*", "unix"))
    assert Config(forwarded_allow_ips="127.0.0.1, ::1").forwarded_allow_ips == (  # type: ignore[arg-type]
        "127.0.0.1",
        "::1",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["127.0.0.1", "localhost"], "'localhost' is not an IP address"),
        (["10.0.0.1/8"], "'10.0.0.1/8' is not an IP network"),
        (["2001:db8::/129"], "'2001:db8::/129' is not an IP network"),
        ([5], "5 is not a string"),
        (5, "must be a list of addresses"),
    ],
)
def test_a_bad_trusted_proxy_is_named(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"Config\.forwarded_allow_ips") as caught:
        Config(forwarded_allow_ips=value)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_proxy_protocol_needs_trusted_proxies() -> None:
    with pytest.raises(ValueError, match=r"Config\.proxy_protocol needs"):
        Config(proxy_protocol=True)
    with pytest.raises(ValueError, match=r"Config\.proxy_protocol must be a bool"):
        Config(proxy_protocol="yes", forwarded_allow_ips=["127.0.0.1"])  # type: ignore[arg-type]
    assert Config(proxy_protocol=True, forwarded_allow_ips=["unix"]).proxy_protocol
