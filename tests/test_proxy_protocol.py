"""Config.proxy_protocol over real sockets: a PROXY header, then HTTP/1.1, HTTP/2 or TLS;
whom handlers and the access log see; and every connection that must be refused."""

from __future__ import annotations

import logging
import ssl
import struct

import pytest
import trio
import trio.testing
import trustme

import trio_h2
from tests.support import ForwardingStream, running_server
from trio_h2.proto.proxy import (
    PP2_CLIENT_SSL,
    PP2_SUBTYPE_SSL_VERSION,
    PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY,
    PP2_TYPE_SSL,
    V2_SIGNATURE,
    build_v1,
    build_v2,
)
from trio_h2.server.listen import Server
from trio_h2.server.proxied import PrefixedStream
from trio_h2.testing import open_client

LOCAL = trio_h2.Config(proxy_protocol=True, forwarded_allow_ips=["127.0.0.1"])
REQUEST = b"GET /who HTTP/1.1\r\nhost: example.test\r\nconnection: close\r\n\r\n"


class Seen:
    """What the handler saw of each request."""

    def __init__(self) -> None:
        self.streams: list[trio_h2.Stream] = []

    async def __call__(self, stream: trio_h2.Stream) -> None:
        self.streams.append(stream)
        address = stream.client_address
        host = address if isinstance(address, str) else address[0]  # a path for Unix
        body = f"{host} {stream.scheme} {stream.http_version}"
        await stream.respond(200, [("content-type", "text/plain")], body)


def access_clients(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.client for r in caplog.records if r.name == "trio_h2.access"]  # type: ignore[attr-defined]


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` in one write and read until the server closes."""
    with trio.fail_after(10):
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        await tcp.send_all(data)
        received = b""
        while chunk := await tcp.receive_some():
            received += chunk
        await tcp.aclose()
    return received


class Prefixed(ForwardingStream):
    """A client transport that sends ``prefix`` in the same write as its first bytes."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        super().__init__(inner)
        self.prefix = prefix

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        prefix, self.prefix = self.prefix, b""
        await self.inner.send_all(prefix + bytes(data))


@pytest.mark.parametrize("version", [1, 2])
async def test_http1_after_the_header(version: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    seen = Seen()
    src, dst = ("203.0.113.9", 4711), ("192.0.2.1", 80)
    header = build_v1(src, dst) if version == 1 else build_v2("PROXY", src, dst)
    async with running_server(seen, config=LOCAL) as address:
        # The header and the request in one segment: what follows the header is the
        # request's, untouched.
        answer = await exchange(address.port, header + REQUEST)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\n203.0.113.9 http 1.1")
    (stream,) = seen.streams
    assert stream.client_address == ("203.0.113.9", 4711)
    assert stream.proxy_info is not None
    assert stream.proxy_info.version == version
    assert stream.proxy_info.destination == ("192.0.2.1", 80)
    assert access_clients(caplog) == ["203.0.113.9"]


@pytest.mark.parametrize("same_write", [False, True])
async def test_http2_prior_knowledge_after_the_header(
    same_write: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    seen = Seen()
    header = build_v2(
        "PROXY", ("2001:db8::5", 50000), ("2001:db8::1", 443), [(PP2_TYPE_ALPN, b"h2")]
    )
    async with running_server(seen, config=LOCAL) as address:
        with trio.fail_after(10):
            tcp: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", address.port)
            if same_write:
                tcp = Prefixed(tcp, header)  # the preface sniffed from the leftover
            else:
                await tcp.send_all(header)
            async with open_client(tcp) as client:
                first = await client.get("/")
                second = await client.get("/again")
    assert first.body == second.body == b"2001:db8::5 http 2"
    assert [s.client_address for s in seen.streams] == [("2001:db8::5", 50000)] * 2
    info = seen.streams[0].proxy_info
    assert info is not None
    assert info.alpn == b"h2"
    assert access_clients(caplog) == ["2001:db8::5"] * 2


@pytest.mark.parametrize(
    "header", [V2_SIGNATURE + b"\x20\x00\x00\x00", b"PROXY UNKNOWN\r\n"], ids=["local", "unknown"]
)
async def test_local_and_unknown_use_the_socket_s_address(header: bytes) -> None:
    seen = Seen()
    async with running_server(seen, config=LOCAL) as address:
        answer = await exchange(address.port, header + REQUEST)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    (stream,) = seen.streams
    assert stream.client_address[0] == "127.0.0.1"
    assert stream.proxy_info is not None
    assert not stream.proxy_info.addresses_known


@pytest.mark.parametrize(
    "data",
    [
        REQUEST,  # no header at all
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + REQUEST,  # LF alone
        b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n" + REQUEST,
        b"PROXY " + b"x" * 200,
        V2_SIGNATURE + b"\x21\x11\xff\xff" + b"\x00" * 100,  # TLVs over the bound
        V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12) + REQUEST,  # version 3
        b"PROXY TCP4 1.2.3.4",  # cut short
    ],
)
async def test_without_a_valid_header_the_connection_closes_unanswered(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_h2")
    seen = Seen()
    async with running_server(seen, config=LOCAL) as address:
        with trio.fail_after(10):
            tcp = await trio.open_tcp_stream("127.0.0.1", address.port)
            await tcp.send_all(data)
            if data == b"PROXY TCP4 1.2.3.4":
                await tcp.send_eof()
            received = b""
            try:
                while chunk := await tcp.receive_some():
                    received += chunk
            except trio.BrokenResourceError:
                pass  # closed with our bytes unread: a reset
            await tcp.aclose()
    assert received == b""
    assert seen.streams == []
    assert any("closing the connection from" in r.getMessage() for r in caplog.records)


async def test_an_untrusted_peer_is_refused_before_it_is_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2")
    seen = Seen()
    config = trio_h2.Config(proxy_protocol=True, forwarded_allow_ips=["10.0.0.0/8"])
    async with running_server(seen, config=config) as address:
        with trio.fail_after(10):
            tcp = await trio.open_tcp_stream("127.0.0.1", address.port)
            # Nothing sent: the refusal does not wait for a header.
            assert await tcp.receive_some() == b""
            await tcp.aclose()
    assert seen.streams == []
    assert any("not in forwarded_allow_ips" in r.getMessage() for r in caplog.records)


async def test_the_header_is_bounded_in_time(autojump_clock: trio.testing.MockClock) -> None:
    config = trio_h2.Config(proxy_protocol=True, forwarded_allow_ips=["*"], handshake_timeout=3)
    server = Server(Seen(), config, None)
    client, server_end = trio.testing.memory_stream_pair()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.handle_stream, server_end)
            await client.send_all(b"PROXY TCP4 1.2.3.4 ")  # and never the rest
            assert await client.receive_some() == b""
    assert trio.current_time() == pytest.approx(3, abs=0.5)


async def test_forwarded_headers_are_believed_for_a_trusted_client_only() -> None:
    # The PROXY header's client stands for the peer: its forwarded headers are
    # believed only if it is a trusted proxy itself (a TCP balancer passes the
    # client's own headers through).
    seen = Seen()
    config = trio_h2.Config(proxy_protocol=True, forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"])
    forged = REQUEST.replace(b"host:", b"x-forwarded-for: 198.51.100.1\r\nhost:")
    async with running_server(seen, config=config) as address:
        untrusted = build_v1(("203.0.113.9", 1), ("192.0.2.1", 80))
        trusted = build_v1(("10.1.2.3", 1), ("192.0.2.1", 80))
        await exchange(address.port, untrusted + forged)
        await exchange(address.port, trusted + forged)
    assert [s.client_address for s in seen.streams] == [("203.0.113.9", 1), ("198.51.100.1", 0)]
    assert all(s.header("x-forwarded-for") == "198.51.100.1" for s in seen.streams)


def client_context(ca: trustme.CA, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(alpn)
    return context


@pytest.mark.parametrize(
    ("header", "alpn"),
    [
        (build_v1(("198.51.100.7", 443), ("192.0.2.1", 8443)), "h2"),
        (build_v1(("198.51.100.7", 443), ("192.0.2.1", 8443)), "http/1.1"),
        (build_v2("PROXY", ("198.51.100.7", 443), ("192.0.2.1", 8443)), "h2"),
        (build_v2("PROXY", ("198.51.100.7", 443), ("192.0.2.1", 8443)), "http/1.1"),
    ],
)
@pytest.mark.parametrize("same_write", [False, True])
async def test_tls_after_the_header(
    ca: trustme.CA,
    server_ssl_context: ssl.SSLContext,
    header: bytes,
    alpn: str,
    same_write: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    seen = Seen()
    prefixes: list[bytes] = []

    class Watched(PrefixedStream):
        def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
            prefixes.append(prefix)
            super().__init__(inner, prefix)

    monkeypatch.setattr(trio_h2.server.listen, "PrefixedStream", Watched)
    async with running_server(seen, ssl_context=server_ssl_context, config=LOCAL) as address:
        with trio.fail_after(10):
            tcp: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", address.port)
            if same_write:
                # The ClientHello in the header's segment: the server reads part of
                # it with a version 1 line, and hands it on to the TLS handshake.
                tcp = Prefixed(tcp, header)
            else:
                await tcp.send_all(header)
            tls = trio.SSLStream(
                tcp, client_context(ca, [alpn]), server_hostname="localhost", https_compatible=True
            )
            await tls.do_handshake()
            assert tls.selected_alpn_protocol() == alpn
            async with open_client(tls, http_version="2" if alpn == "h2" else "1.1") as client:
                response = await client.get("/")
    if same_write and header.startswith(b"PROXY"):
        # The bytes read past the line were the ClientHello's first ones.
        (prefix,) = prefixes
        assert prefix[:1] == b"\x16"  # a TLS handshake record
    else:
        # A version 2 header is read exactly: nothing past it.
        assert prefixes == []
    # (The HTTP/2 test client always sends ":scheme http".)
    expected = "http 2" if alpn == "h2" else "https 1.1"
    assert response.body == f"198.51.100.7 {expected}".encode()
    assert access_clients(caplog) == ["198.51.100.7"]


async def test_the_proxy_s_tls_record_makes_the_scheme_https() -> None:
    seen = Seen()
    ssl_record = struct.pack("!BI", PP2_CLIENT_SSL, 0) + bytes([PP2_SUBTYPE_SSL_VERSION, 0, 7])
    ssl_record += b"TLSv1.3"
    header = build_v2(
        "PROXY",
        ("198.51.100.7", 50000),
        ("192.0.2.1", 443),
        [(PP2_TYPE_SSL, ssl_record), (PP2_TYPE_AUTHORITY, b"shop.example")],
    )
    async with running_server(seen, config=LOCAL) as address:
        answer = await exchange(address.port, header + REQUEST)
    assert answer.endswith(b"198.51.100.7 https 1.1")
    (stream,) = seen.streams
    info = stream.proxy_info
    assert info is not None
    assert info.ssl is not None
    assert info.ssl.version == "TLSv1.3"
    assert info.authority == "shop.example"
    assert stream.authority == "example.test"  # the SNI is not the Host


async def test_a_unix_socket_peer(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_h2.access")
    seen = Seen()
    config = trio_h2.Config(proxy_protocol=True, forwarded_allow_ips=["unix"])
    server = Server(seen, config, None)
    server_sock, client_sock = trio.socket.socketpair()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.handle_stream, trio.SocketStream(server_sock))
            client = trio.SocketStream(client_sock)
            await client.send_all(build_v2("PROXY", "/run/app.sock", "/run/lb.sock") + REQUEST)
            answer = b""
            while chunk := await client.receive_some():
                answer += chunk
            await client.aclose()
    assert answer.endswith(b"/run/app.sock http 1.1")
    assert access_clients(caplog) == ["/run/app.sock"]


async def test_reclaimed_while_waiting_for_the_header() -> None:
    # A connection that has not sent its header is idle: a newcomer at the
    # connection limit takes its place.
    seen = Seen()
    config = LOCAL.replace(max_connections=1)
    async with running_server(seen, config=config) as address:
        with trio.fail_after(10):
            # Accepted before the next one (the listen queue is in order), so it
            # holds the one slot when the next one comes.
            silent = await trio.open_tcp_stream("127.0.0.1", address.port)
            await silent.send_all(b"PROXY ")
            answer = await exchange(address.port, b"PROXY UNKNOWN\r\n" + REQUEST)
            assert await silent.receive_some() == b""
            await silent.aclose()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
