"""Representative conformance checks, in memory (h2c) and over a real TLS socket."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import DataFrame, RstStreamFrame

from .rawpeer import GET, POST, RawPeer, echo, open_peer, open_tls_peer

OpenPeer = Callable[..., AbstractAsyncContextManager[RawPeer]]


@pytest.fixture(params=["h2c", "tls"])
def connect(
    request: pytest.FixtureRequest, server_ssl_context: ssl.SSLContext, ca_file: str
) -> OpenPeer:
    if request.param == "h2c":
        return open_peer

    def tls(handshake: bool = True) -> AbstractAsyncContextManager[RawPeer]:
        return open_tls_peer(echo, server_ssl_context, ca_file, handshake=handshake)

    return tls


async def test_invalid_preface(connect: OpenPeer) -> None:
    async with connect(handshake=False) as peer:
        await peer.send(b"PRI * HTTP/2.0\r\n\r\nXY\r\n\r\n")
        await peer.expect_goaway(ErrorCodes.PROTOCOL_ERROR)


async def test_malformed_request_is_a_stream_error(connect: OpenPeer) -> None:
    async with connect() as peer:
        await peer.request(1, [*GET, ("connection", "close")])
        await peer.expect_rst(1, ErrorCodes.PROTOCOL_ERROR)
        await peer.request(3)
        assert (await peer.expect_response(3)).body == b"ok:"


async def test_content_length_mismatch(connect: OpenPeer) -> None:
    async with connect() as peer:
        await peer.request(1, [*POST, ("content-length", "1")], end_stream=False)
        await peer.send(DataFrame(1, b"test", flags=["END_STREAM"]))
        await peer.expect_rst(1, ErrorCodes.PROTOCOL_ERROR)


async def test_rst_stream_on_idle_stream(connect: OpenPeer) -> None:
    async with connect() as peer:
        await peer.send(RstStreamFrame(5, error_code=ErrorCodes.CANCEL))
        await peer.expect_goaway(ErrorCodes.PROTOCOL_ERROR, last_stream_id=0)


async def test_request_and_ping(connect: OpenPeer) -> None:
    async with connect() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(DataFrame(1, b"body", flags=["END_STREAM"]))
        assert (await peer.expect_response(1)).body == b"ok:body"
        await peer.ping(b"tls-ping")
