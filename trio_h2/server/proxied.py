"""Connections through proxies: the PROXY header, and what streams believe of their headers.

With ``Config.proxy_protocol`` every accepted connection must start with a PROXY
header (``proto/proxy.py``), before TLS, since the proxy relays the client's bytes,
ClientHello and all, after its own header.  Only a peer in
``Config.forwarded_allow_ips`` may send one (the spec: a receiver must not let anyone
else pick the address it is seen under); any other peer is closed without a byte read
or written, and so is one whose header is missing, malformed or late
(``handshake_timeout``, counted from the accept).  What came after the header goes
on, untouched, to the TLS handshake or to the HTTP protocol sniffing.

A believed header stands for the socket from then on: the client it names is the
connection's peer, for the access log, ``Stream.client_address`` and the forwarded
headers alike.  So those headers are believed only when *that* address is a trusted
proxy.  Behind a TCP balancer (an AWS NLB, HAProxy in ``mode tcp``) the request's
headers are the client's own, and the trusted balancer's address must not make them
believed; an HTTP proxy that also sends a PROXY header (HAProxy ``mode http`` with
``send-proxy-v2``) names the client in it already.

:class:`Proxied` is what a connection's streams get when there is something to
believe (a PROXY header, or a trusted peer); for every other connection they get None
and pay nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from .._headers import RawHeaders
from ..proto.forwarded import Forwarded, TrustedProxies, resolve
from ..proto.proxy import ProxyHeader, ProxyHeaderError, ProxyHeaderParser

log = logging.getLogger("trio_h2")

_NOTHING = Forwarded()


class Proxied:
    """What the streams of a connection through a proxy may believe.

    ``header`` is the connection's PROXY header (None without one); ``trusted`` is
    set when the connection's peer (the client the header names, else the socket's
    peer) is a trusted proxy, whose forwarded headers are then read with it.
    """

    __slots__ = ("header", "trusted")

    def __init__(self, header: ProxyHeader | None, trusted: TrustedProxies | None) -> None:
        self.header = header
        self.trusted = trusted

    def forwarded(self, headers: RawHeaders) -> Forwarded:
        """What a request's forwarded headers say, if they are to be believed."""
        if self.trusted is None:
            return _NOTHING
        return resolve(headers, self.trusted)

    @property
    def scheme(self) -> str | None:
        """``"https"`` when the PROXY header says the client spoke TLS to the proxy."""
        header = self.header
        if header is not None and header.ssl is not None and header.ssl.client_ssl:
            return "https"
        return None


def connection_origin(
    peer: Any, header: ProxyHeader | None, trusted: TrustedProxies
) -> Proxied | None:
    """The :class:`Proxied` for a connection from ``peer``, or None if nothing is to
    be believed (no PROXY header and a peer that is not a trusted proxy)."""
    believed = bool(trusted) and trusted.trusts_peer(peer)
    if header is None and not believed:
        return None
    return Proxied(header, trusted if believed else None)


def client_of(header: ProxyHeader, peer: Any) -> Any:
    """The address a connection is from, by its PROXY header (else the socket's)."""
    return header.source if header.addresses_known else peer


async def receive_proxy_header(
    stream: trio.abc.Stream, peer: Any, trusted: TrustedProxies, deadline: float
) -> tuple[ProxyHeader, bytes] | None:
    """Read a connection's PROXY header: it, and the bytes read after it.

    None when the connection is to be closed: ``peer`` is not a trusted proxy, or
    the header is missing, malformed or not complete by ``deadline`` (logged).
    """
    if not trusted.trusts_peer(peer):
        log.info("refusing a connection from %s: not in forwarded_allow_ips", peer)
        return None
    parser = ProxyHeaderParser()
    with trio.move_on_at(deadline):
        try:
            while True:
                try:
                    chunk = await stream.receive_some(parser.bytes_wanted)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    chunk = b""
                header = parser.receive_data(chunk)
                if header is not None:
                    break
        except ProxyHeaderError as exc:
            log.debug("closing the connection from %s: %s", peer, exc)
            return None
        if header.addresses_known:
            log.debug("connection from %s through the proxy at %s", header.source, peer)
        return header, parser.trailing_data
    log.debug("closing the connection from %s: no PROXY header in time", peer)
    return None


class PrefixedStream(trio.abc.Stream):
    """A transport whose first received bytes are ``prefix``, then the inner stream's.

    For the bytes read with a PROXY header that belong to the TLS handshake after it.
    """

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        self.inner = inner
        self._prefix = prefix

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        prefix = self._prefix
        if not prefix:
            return await self.inner.receive_some(max_bytes)
        await trio.lowlevel.checkpoint_if_cancelled()
        size = len(prefix) if max_bytes is None else max_bytes
        self._prefix = prefix[size:]
        await trio.lowlevel.cancel_shielded_checkpoint()
        return prefix[:size]

    async def aclose(self) -> None:
        await self.inner.aclose()
