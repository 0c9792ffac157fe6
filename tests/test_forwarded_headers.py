"""Forwarded and X-Forwarded-* headers from trusted and untrusted peers, over HTTP/1.1 and
HTTP/2 alike: what Stream.client_address, scheme and authority become."""

from __future__ import annotations

import logging

import pytest

import trio_h2
from trio_h2.testing import connect

TRUSTING = trio_h2.Config(forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"])
PROTOCOLS = pytest.mark.parametrize("http_version", ["2", "1.1"])


class Seen:
    def __init__(self) -> None:
        self.streams: list[trio_h2.Stream] = []

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.streams.append(stream)
        await stream.respond(200, [("content-type", "text/plain")], b"ok")


async def one_request(
    http_version: str,
    headers: list[tuple[str, str]],
    *,
    config: trio_h2.Config = TRUSTING,
    client_address: object = ("127.0.0.1", 50000),
) -> trio_h2.Stream:
    seen = Seen()
    async with connect(
        seen, http_version=http_version, config=config, client_address=client_address
    ) as client:
        response = await client.get("/", headers)
    assert response.status == 200
    (stream,) = seen.streams
    return stream


@PROTOCOLS
async def test_x_forwarded_from_a_trusted_proxy(http_version: str) -> None:
    sent = [
        ("x-forwarded-for", "198.51.100.1, 192.0.2.7, 10.0.0.2"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "shop.example"),
    ]
    stream = await one_request(http_version, sent)
    assert stream.client_address == ("192.0.2.7", 0)
    assert stream.scheme == "https"
    assert stream.authority == "shop.example"
    # The headers themselves are left as they came.
    assert [(k, v) for k, v in stream.headers if k.startswith("x-forwarded")] == sent
    assert stream.proxy_info is None


@PROTOCOLS
async def test_forwarded_from_a_trusted_proxy(http_version: str) -> None:
    stream = await one_request(
        http_version,
        [
            ("forwarded", 'for="[2001:db8::9]:4711";proto=https;host="shop.example:8443"'),
            ("x-forwarded-for", "203.0.113.1"),
            ("x-forwarded-proto", "http"),
        ],
    )
    assert stream.client_address == ("2001:db8::9", 4711)
    assert stream.scheme == "https"
    assert stream.authority == "shop.example:8443"


@PROTOCOLS
@pytest.mark.parametrize("client_address", [("192.0.2.50", 1234), ("11.0.0.1", 1), None], ids=str)
async def test_from_anyone_else_nothing_changes(http_version: str, client_address: object) -> None:
    stream = await one_request(
        http_version,
        [
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "admin.example"),
            ("forwarded", "for=127.0.0.1;proto=https;host=admin.example"),
        ],
        client_address=client_address,
    )
    assert stream.client_address == client_address
    assert stream.scheme == "http"
    assert stream.authority == "example.test"


@PROTOCOLS
async def test_by_default_nobody_is_trusted(http_version: str) -> None:
    stream = await one_request(
        http_version,
        [("x-forwarded-for", "192.0.2.1"), ("x-forwarded-proto", "https")],
        config=trio_h2.Config(),
    )
    assert stream.client_address == ("127.0.0.1", 50000)
    assert stream.scheme == "http"


@PROTOCOLS
async def test_a_trusted_proxy_s_own_request(http_version: str) -> None:
    # No forwarding headers: the request is the proxy's (a health check, say).
    stream = await one_request(http_version, [])
    assert stream.client_address == ("127.0.0.1", 50000)
    assert stream.scheme == "http"
    assert stream.authority == "example.test"


@PROTOCOLS
async def test_a_broken_chain_is_unknown_not_the_proxy(http_version: str) -> None:
    stream = await one_request(http_version, [("x-forwarded-for", "192.0.2.1, ::not::an::ip")])
    assert stream.client_address == ("unknown", 0)


@PROTOCOLS
async def test_the_access_log_shows_the_forwarded_client(
    http_version: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    await one_request(http_version, [("x-forwarded-for", "192.0.2.33")])
    (record,) = [r for r in caplog.records if r.name == "trio_h2.access"]
    assert record.client == "192.0.2.33"  # type: ignore[attr-defined]
    assert record.getMessage().startswith("192.0.2.33 ")


async def test_pushes_keep_the_request_s_own_scheme_and_authority() -> None:
    pushed: list[trio_h2.Stream | None] = []

    async def handler(stream: trio_h2.Stream) -> None:
        pushed.append(await stream.push("/style.css", body=b"css"))
        await stream.respond(200, body=b"page")

    async with connect(handler, config=TRUSTING) as client:
        response = await client.get(
            "/", [("x-forwarded-proto", "https"), ("x-forwarded-host", "shop.example")]
        )
    (promise,) = response.pushed
    assert dict(promise.request_headers)[":authority"] == "example.test"
    assert dict(promise.request_headers)[":scheme"] == "http"
    assert promise.body == b"css"


async def test_an_untrusted_request_computes_nothing() -> None:
    stream = await one_request("2", [("x-forwarded-for", "192.0.2.1")], config=trio_h2.Config())
    # A plain attribute, set when the stream was made: nothing parsed, now or later.
    assert "client_address" in vars(stream)
    assert "_forwarded" not in vars(stream)
    assert stream.scheme == "http"
    assert "_forwarded" not in vars(stream)
