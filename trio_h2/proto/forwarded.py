"""Who the client is, by the proxies in front of the server (sans-IO).

:class:`TrustedProxies` is ``Config.forwarded_allow_ips`` made into something that
answers "is this address one of our proxies?".  :func:`resolve` reads the headers a
trusted proxy sets, ``Forwarded`` (RFC 7239) or else ``X-Forwarded-For``,
``X-Forwarded-Proto`` and ``X-Forwarded-Host``, into a :class:`Forwarded`: the
client's address, the scheme and the host it used, each None where the headers say
nothing.

Each proxy appends the address it got the request from, so the list reads from the
client on the left to the proxy nearest the server on the right, and only its right
end is known to be true: anything further left may have been written by the client
itself.  So the list is walked from the right, past every address that is a trusted
proxy; the first one that is not is the client (RFC 7239 §7.4, and what uvicorn's
ProxyHeadersMiddleware does).  When every address is a trusted proxy, the left-most
is the client.  ``"*"`` makes every peer trusted, but only the listed addresses and
networks are walked past: with ``"*"`` alone the right-most entry, the one the proxy
in front of the server wrote, is the client, so that a client cannot pick its address
by sending a header of its own (uvicorn takes the left-most one instead).

An entry that cannot be parsed where the walk reaches it means the chain is broken
there: the client is then ``("unknown", 0)``, RFC 7239's name for a node not known,
rather than the address of a proxy that would be believed in its place.  Entries
further left are never looked at, so the client's own junk there changes nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: A client address: ``(host, port)``, the host an IP address, an RFC 7239
#: obfuscated identifier (``"_hidden"``) or ``"unknown"``; the port 0 when not given.
ClientAddress = tuple[str, int]

_UNKNOWN: ClientAddress = ("unknown", 0)
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_NETWORK = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 9110 §5.6.2 token and §5.6.4 quoted-string; a value may also hold ":", "[" and
# "]" unquoted, as ``for=[2001:db8::1]:80`` is often sent although RFC 7239 says quote it.
_PAIR_RE = re.compile(
    r"[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=([!#$%&'*+\-.^_`|~0-9A-Za-z:\[\]]+"
    r'|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*")[ \t]*'
)
_QUOTED_PAIR_RE = re.compile(r"\\(.)")
# RFC 7239 §6: obfnode and obfport.
_OBFUSCATED_RE = re.compile(r"_[A-Za-z0-9._-]+")
_PORT_RE = re.compile(r"[0-9]{1,5}")
# RFC 3986 authority without userinfo: reg-name or IPv4 or [IPv6], then a port.
_HOST_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]+)(?::[0-9]{0,5})?")
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class TrustedProxies:
    """The proxies whose word is taken: addresses, networks, ``"*"`` and ``"unix"``.

    Built from ``Config.forwarded_allow_ips``; an entry that is none of those raises
    ``ValueError`` naming it.  ``"*"`` trusts every peer; ``"unix"`` trusts peers on
    a Unix socket.  IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``, as a dual-stack
    socket reports IPv4 peers) match their IPv4 entries.
    """

    __slots__ = ("_addresses", "_networks", "any", "unix")

    def __init__(self, entries: Iterable[str]) -> None:
        self._addresses: set[_IP] = set()
        self._networks: list[_NETWORK] = []
        #: True when ``"*"`` is listed: every peer is trusted.
        self.any = False
        #: True when ``"unix"`` is listed: peers on a Unix socket are trusted.
        self.unix = False
        for entry in entries:
            if not isinstance(entry, str):
                raise ValueError(f"{entry!r} is not a string")
            text = entry.strip()
            if text == "*":
                self.any = True
            elif text.lower() == "unix":
                self.unix = True
            elif "/" in text:
                try:
                    self._networks.append(ipaddress.ip_network(text))
                except ValueError as exc:
                    raise ValueError(f"{entry!r} is not an IP network: {exc}") from None
            else:
                address = _parse_ip(text)
                if address is None:
                    raise ValueError(f"{entry!r} is not an IP address, a network, '*' or 'unix'")
                self._addresses.add(address)

    def __bool__(self) -> bool:
        return self.any or self.unix or bool(self._addresses or self._networks)

    def trusts_peer(self, address: Any) -> bool:
        """Whether a socket address (as ``getpeername()`` gives it) is a trusted proxy."""
        if self.any:
            return True
        if isinstance(address, str | bytes):
            return self.unix  # AF_UNIX: a path, or "" for an unnamed socket
        if isinstance(address, tuple) and address and isinstance(address[0], str):
            return self.trusts_ip(address[0])
        return False

    def trusts_ip(self, host: str) -> bool:
        """Whether ``host`` is a listed address or in a listed network (not by ``"*"``)."""
        address = _parse_ip(host)
        if address is None:
            return False
        if address in self._addresses:
            return True
        return any(address in network for network in self._networks)


def _parse_ip(text: str) -> _IP | None:
    """An IP address (its zone dropped, IPv4-mapped made IPv4), or None."""
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What the forwarding headers say; None where they say nothing."""

    #: The client's address (see :data:`ClientAddress`).
    client: ClientAddress | None = None
    #: ``"http"`` or ``"https"``: the scheme the client used.
    scheme: str | None = None
    #: The host (and port) the client asked for.
    host: str | None = None


_NOTHING = Forwarded()


@dataclass(frozen=True, slots=True)
class _Hop:
    node: ClientAddress | None
    proto: str | None = None
    host: str | None = None


def resolve(headers: Sequence[tuple[bytes, bytes]], trusted: TrustedProxies) -> Forwarded:
    """What ``headers`` (a request's, lowercase names) from a trusted peer say.

    ``Forwarded`` is used when present (with at least one element); else the
    ``X-Forwarded-*`` headers.  See the module docstring for the rules.
    """
    forwarded: list[str] = []
    x_for: list[str] = []
    x_proto: list[str] = []
    x_host: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            forwarded.append(value.decode("latin-1"))
        elif name[:12] == b"x-forwarded-":
            if name == b"x-forwarded-for":
                x_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                x_proto.append(value.decode("latin-1"))
            elif name == b"x-forwarded-host":
                x_host.append(value.decode("latin-1"))
    if forwarded:
        hops = [_parse_element(piece) for piece in _list(forwarded)]
        if hops:
            return _from_forwarded(hops, trusted)
    if x_for or x_proto or x_host:
        return _from_x_forwarded(_list(x_for), _list(x_proto), _list(x_host), trusted)
    return _NOTHING


def _list(lines: list[str]) -> list[str]:
    """The elements of a comma-separated list over all its lines; empty ones dropped.

    Split on every comma, quoted or not: a quoted comma is legal in RFC 7239 but
    never needed by its parameters, and splitting blindly keeps an unclosed quote
    the client sent from swallowing the elements the proxies appended after it.
    """
    return [piece for line in lines for piece in (p.strip() for p in line.split(",")) if piece]


def _walk(nodes: Sequence[ClientAddress | bool | None], trusted: TrustedProxies) -> int:
    """The index of the client's entry: the right-most that is not a trusted proxy.

    An entry is a node, None for one that says nothing of its node, or False for one
    that does not parse.
    """
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if not isinstance(node, tuple) or not trusted.trusts_ip(node[0]):
            return index
    return 0


def _from_forwarded(hops: list[_Hop | None], trusted: TrustedProxies) -> Forwarded:
    chosen = hops[_walk([False if hop is None else hop.node for hop in hops], trusted)]
    if chosen is None:
        return Forwarded(client=_UNKNOWN)
    return Forwarded(client=chosen.node, scheme=chosen.proto, host=chosen.host)


def _parse_element(text: str) -> _Hop | None:
    """One forwarded-element (``for=...;proto=...``); None if it is malformed."""
    params: dict[str, str] = {}
    at = 0
    while at < len(text):
        match = _PAIR_RE.match(text, at)
        if match is None:
            if text[at:].strip(" \t;") == "" or text[at] == ";":
                at += 1  # empty pairs are allowed: "for=a;;proto=b"
                continue
            return None
        name = match.group(1).lower()
        if name in params:
            return None  # RFC 7239 §4: a parameter occurs at most once per element
        value = match.group(2)
        if value[:1] == '"':
            value = _QUOTED_PAIR_RE.sub(r"\1", value[1:-1])
        params[name] = value
        at = match.end()
        if at < len(text):
            if text[at] != ";":
                return None
            at += 1
    node: ClientAddress | None = None
    if "for" in params:
        node = _parse_node(params["for"])
        if node is None:
            return None
    proto = params.get("proto")
    host = params.get("host")
    return _Hop(node, _scheme(proto), _host(host))


def _parse_node(text: str) -> ClientAddress | None:
    """An RFC 7239 node: ``192.0.2.1``, ``"[2001:db8::1]:4711"``, ``_hidden``, ``unknown``."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        ipv6, rest = _ipv6(text[1:close]), text[close + 1 :]
        if ipv6 is None:
            return None
        name = ipv6
    else:
        if text.count(":") > 1:
            # An IPv6 address without its brackets: malformed by the RFC, but not
            # ambiguous as long as no port follows.
            ipv6 = _ipv6(text)
            return (ipv6, 0) if ipv6 is not None else None
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if host.lower() == "unknown":
            name = "unknown"
        elif _OBFUSCATED_RE.fullmatch(host):
            name = host
        else:
            address = _parse_ip(host)
            if not isinstance(address, ipaddress.IPv4Address) or host != str(address):
                return None
            name = host
    if not rest:
        return (name, 0)
    if rest[0] != ":":
        return None
    port_text = rest[1:]
    if _OBFUSCATED_RE.fullmatch(port_text):
        return (name, 0)
    if not _PORT_RE.fullmatch(port_text) or int(port_text) > 65_535:
        return None
    return (name, int(port_text))


def _ipv6(text: str) -> str | None:
    """An IPv6 address in its short form (IPv4-mapped ones as IPv4), or None."""
    try:
        address = ipaddress.IPv6Address(text.partition("%")[0])
    except ValueError:
        return None
    return str(address.ipv4_mapped or address)


def _parse_x_node(text: str) -> ClientAddress | None:
    """An X-Forwarded-For entry: an IP address, maybe with a port, or ``unknown``."""
    if text.lower() == "unknown":
        return _UNKNOWN
    if text.count(":") > 1 and not text.startswith("["):
        ipv6 = _ipv6(text)
        return (ipv6, 0) if ipv6 is not None else None
    node = _parse_node(text)
    if node is None or node[0][:1] == "_":
        return None  # obfuscated identifiers are Forwarded's, not X-Forwarded-For's
    return node


def _from_x_forwarded(
    x_for: list[str], x_proto: list[str], x_host: list[str], trusted: TrustedProxies
) -> Forwarded:
    client: ClientAddress | None = None
    index = -1
    if x_for:
        nodes = [_parse_x_node(entry) for entry in x_for]
        index = _walk([False if node is None else node for node in nodes], trusted)
        client = nodes[index] or _UNKNOWN

    def pick(values: list[str]) -> str | None:
        # Proxies that append to X-Forwarded-Proto keep it in step with
        # X-Forwarded-For: then the client's entry is the one at the same place.
        # Otherwise the right-most, set by the proxy in front of the server.
        if not values:
            return None
        if len(values) == len(x_for):
            return values[index]
        return values[-1]

    return Forwarded(client=client, scheme=_scheme(pick(x_proto)), host=_host(pick(x_host)))


def _scheme(value: str | None) -> str | None:
    return _SCHEMES.get(value.lower()) if value is not None else None


def _host(value: str | None) -> str | None:
    return value if value is not None and _HOST_RE.fullmatch(value) else None
