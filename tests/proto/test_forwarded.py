"""Trusted proxies, and what Forwarded and X-Forwarded-* say from them."""

from __future__ import annotations

import pytest

from trio_h2.proto.forwarded import Forwarded, TrustedProxies, resolve

PROXIES = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8:1::/48"])


def headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode("latin-1")) for name, value in pairs]


def fwd(*values: str, trusted: TrustedProxies = PROXIES) -> Forwarded:
    return resolve(headers(*(("forwarded", value) for value in values)), trusted)


def xff(value: str, trusted: TrustedProxies = PROXIES, **more: str) -> Forwarded:
    pairs = [("x-forwarded-for", value)]
    pairs += [(f"x-forwarded-{name}", v) for name, v in more.items()]
    return resolve(headers(*pairs), trusted)


# ------------------------------------------------------------------ trusted proxies


def test_trusted_addresses_and_networks() -> None:
    assert PROXIES.trusts_peer(("127.0.0.1", 5000))
    assert PROXIES.trusts_peer(("10.200.3.4", 1))
    assert PROXIES.trusts_peer(("::1", 1, 0, 0))
    assert PROXIES.trusts_peer(("2001:db8:1:ffff::1", 1, 0, 0))
    assert not PROXIES.trusts_peer(("2001:db8:2::1", 1, 0, 0))
    assert not PROXIES.trusts_peer(("127.0.0.2", 5000))
    assert not PROXIES.trusts_peer(("11.0.0.1", 1))
    assert not PROXIES.trusts_peer(None)
    assert not PROXIES.trusts_peer("/run/sock")
    assert not PROXIES.trusts_peer(("not an address", 1))


def test_ipv4_mapped_and_zoned_addresses() -> None:
    # How a dual-stack socket reports an IPv4 peer.
    assert PROXIES.trusts_peer(("::ffff:10.1.1.1", 1, 0, 0))
    assert not PROXIES.trusts_peer(("::ffff:11.1.1.1", 1, 0, 0))
    zoned = TrustedProxies(["fe80::/10"])
    assert zoned.trusts_peer(("fe80::1%eth0", 1, 0, 2))


def test_star_and_unix() -> None:
    anyone = TrustedProxies(["*"])
    assert anyone.trusts_peer(("192.0.2.1", 1))
    assert anyone.trusts_peer("")
    assert anyone.trusts_peer(None)
    # "*" trusts the peer, but walks past no hop in a header.
    assert not anyone.trusts_ip("192.0.2.1")
    unix = TrustedProxies(["unix"])
    assert unix.trusts_peer("")
    assert unix.trusts_peer(b"/run/balancer.sock")
    assert not unix.trusts_peer(("127.0.0.1", 1))


def test_nothing_trusted_is_false() -> None:
    assert not TrustedProxies([])
    assert TrustedProxies(["unix"])
    assert TrustedProxies(["*"])
    assert TrustedProxies(["::1"])
    assert TrustedProxies(["10.0.0.0/8"])


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("localhost", "'localhost' is not an IP address"),
        ("10.0.0.1/8", "has host bits set"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP network"),
        ("1.2.3", "not an IP address"),
        ("", "not an IP address"),
        ("**", "not an IP address"),
    ],
)
def test_bad_entries_are_named(entry: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrustedProxies(["127.0.0.1", entry])


# ------------------------------------------------------------------------ Forwarded


def test_rfc7239_examples() -> None:
    assert fwd('for="_gazonk"') == Forwarded(client=("_gazonk", 0))
    assert fwd('For="[2001:db8:cafe::17]:4711"') == Forwarded(client=("2001:db8:cafe::17", 4711))
    assert fwd("for=192.0.2.60;proto=http;by=203.0.113.43") == Forwarded(
        client=("192.0.2.60", 0), scheme="http"
    )
    assert fwd("for=192.0.2.43, for=198.51.100.17") == Forwarded(client=("198.51.100.17", 0))


def test_walks_from_the_right_past_trusted_proxies() -> None:
    value = (
        "for=198.51.100.1;proto=http;host=spoofed.example, "
        'for="[2001:db8::2]:1234";proto=https;host="shop.example:8443", '
        "for=10.0.0.7;proto=http;host=inner, for=127.0.0.1"
    )
    assert fwd(value) == Forwarded(
        client=("2001:db8::2", 1234), scheme="https", host="shop.example:8443"
    )


def test_every_hop_trusted_means_the_left_most() -> None:
    assert fwd("for=10.0.0.1;proto=https, for=10.0.0.2") == Forwarded(
        client=("10.0.0.1", 0), scheme="https"
    )


def test_star_believes_only_the_right_most_hop() -> None:
    anyone = TrustedProxies(["*"])
    assert fwd("for=1.1.1.1, for=2.2.2.2", trusted=anyone).client == ("2.2.2.2", 0)
    assert xff("1.1.1.1, 2.2.2.2", trusted=anyone).client == ("2.2.2.2", 0)


def test_several_header_lines_are_one_list() -> None:
    assert fwd("for=192.0.2.1", "for=10.0.0.1") == Forwarded(client=("192.0.2.1", 0))
    assert fwd("for=192.0.2.1", "for=192.0.2.2").client == ("192.0.2.2", 0)


def test_obfuscated_and_unknown_nodes() -> None:
    assert fwd("for=unknown").client == ("unknown", 0)
    assert fwd("for=UNKNOWN").client == ("unknown", 0)
    assert fwd('for="_hidden:_port"').client == ("_hidden", 0)
    assert fwd('for="192.0.2.1:_port"').client == ("192.0.2.1", 0)
    assert fwd('for="unknown:80"').client == ("unknown", 80)
    # An obfuscated hop is never a trusted proxy: the walk stops there.
    assert fwd("for=192.0.2.1, for=_proxy, for=10.0.0.1").client == ("_proxy", 0)


def test_quoting_and_case() -> None:
    assert fwd('FOR="192.0.2.1";PROTO="HTTPS";Host="Example.COM"') == Forwarded(
        client=("192.0.2.1", 0), scheme="https", host="Example.COM"
    )
    assert fwd(r'for="192.0.2.\1"').client == ("192.0.2.1", 0)  # a quoted-pair
    assert fwd('for="192.0.2.1" ; proto=https').scheme == "https"  # whitespace around ;
    assert fwd("for=192.0.2.1;;proto=https;").scheme == "https"  # empty pairs


def test_unquoted_ipv6_is_taken() -> None:
    # RFC 7239 says quote it; senders do not always.
    assert fwd("for=[2001:db8::1]:80").client == ("2001:db8::1", 80)
    assert fwd("for=2001:db8::1").client == ("2001:db8::1", 0)
    assert fwd('for="[::ffff:192.0.2.1]"').client == ("192.0.2.1", 0)


def test_trusted_ipv6_hops_are_walked_past() -> None:
    assert fwd('for=192.0.2.1, for="[2001:db8:1::5]:9"').client == ("192.0.2.1", 0)
    assert fwd('for=192.0.2.1, for="[::1]"').client == ("192.0.2.1", 0)


def test_an_element_without_for_leaves_the_address() -> None:
    assert fwd("proto=https;host=example.com") == Forwarded(
        client=None, scheme="https", host="example.com"
    )
    # ... and stops the walk: that hop's client is not known.
    assert fwd("for=192.0.2.1, proto=https") == Forwarded(scheme="https")


@pytest.mark.parametrize(
    "element",
    [
        'for="192.0.2.1',  # an unclosed quote
        "for=192.0.2.1 junk",
        "for",
        "for=",
        "=192.0.2.1",
        "for=192.0.2.1;for=192.0.2.2",  # a parameter twice
        'for="[2001:db8::1"',
        'for="[2001:db8::1]80"',
        'for="[192.0.2.1]"',
        "for=192.0.2.256",
        "for=192.0.2.1:65536",
        "for=192.0.2.1:http",
        'for="192.0.2.1:"',
        "for=01.2.3.4",
        "for=example.com",
        "for=_",
        "for=_a b",
        'for="_a:_"',
        "for=\x7f",
        "for=1.2.3.4;proto=https;x=\x01",
    ],
)
def test_a_malformed_client_hop_makes_the_client_unknown(element: str) -> None:
    assert fwd(f"{element}, for=10.0.0.1") == Forwarded(client=("unknown", 0))
    assert fwd(element) == Forwarded(client=("unknown", 0))


def test_junk_left_of_the_client_changes_nothing() -> None:
    assert fwd('for="unclosed, for=192.0.2.7;proto=https').client == ("192.0.2.7", 0)
    assert fwd("garbage;;;=, for=192.0.2.7").client == ("192.0.2.7", 0)
    assert fwd("for=1.2.3.4;for=5.6.7.8", "for=192.0.2.7").client == ("192.0.2.7", 0)


def test_proto_and_host_are_checked() -> None:
    assert fwd("for=192.0.2.1;proto=wss").scheme == "https"
    assert fwd("for=192.0.2.1;proto=ws").scheme == "http"
    assert fwd("for=192.0.2.1;proto=gopher").scheme is None
    assert fwd('for=192.0.2.1;host="a b"').host is None
    assert fwd('for=192.0.2.1;host="a/b"').host is None
    assert fwd('for=192.0.2.1;host="u@h"').host is None
    assert fwd('for=192.0.2.1;host="[2001:db8::1]:443"').host == "[2001:db8::1]:443"
    assert fwd("for=192.0.2.1;host=xn--bcher-kva.example").host == "xn--bcher-kva.example"


def test_empty_forwarded_falls_back_to_x_forwarded() -> None:
    found = resolve(headers(("forwarded", " , "), ("x-forwarded-for", "192.0.2.9")), PROXIES)
    assert found.client == ("192.0.2.9", 0)


def test_forwarded_wins_over_x_forwarded() -> None:
    found = resolve(
        headers(
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=192.0.2.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "other.example"),
        ),
        PROXIES,
    )
    assert found == Forwarded(client=("192.0.2.1", 0))


# ------------------------------------------------------------------ X-Forwarded-*


def test_x_forwarded_for_walk() -> None:
    assert xff("192.0.2.1").client == ("192.0.2.1", 0)
    assert xff("198.51.100.9, 192.0.2.1, 10.0.0.3, 127.0.0.1").client == ("192.0.2.1", 0)
    assert xff("10.0.0.1, 10.0.0.2").client == ("10.0.0.1", 0)
    assert xff("192.0.2.1,10.0.0.2").client == ("192.0.2.1", 0)  # no space


def test_x_forwarded_for_forms() -> None:
    assert xff("192.0.2.1:4711").client == ("192.0.2.1", 4711)
    assert xff("2001:db8::1").client == ("2001:db8::1", 0)
    assert xff("[2001:db8::1]").client == ("2001:db8::1", 0)
    assert xff("[2001:db8::1]:4711").client == ("2001:db8::1", 4711)
    assert xff("unknown").client == ("unknown", 0)
    assert xff("::ffff:192.0.2.1").client == ("192.0.2.1", 0)


@pytest.mark.parametrize(
    "entry", ["example.com", "_hidden", "192.0.2.1:x", "1.2.3.4.5", "", '"192.0.2.1"', "[::1"]
)
def test_x_forwarded_for_junk_makes_the_client_unknown(entry: str) -> None:
    value = f"192.0.2.50, {entry}, 10.0.0.1" if entry else "10.0.0.1, junk!"
    assert xff(value).client == ("unknown", 0)


def test_x_forwarded_for_junk_left_of_the_client_is_never_read() -> None:
    assert xff("not-an-address, 192.0.2.1").client == ("192.0.2.1", 0)


def test_several_x_forwarded_for_lines() -> None:
    found = resolve(
        headers(("x-forwarded-for", "192.0.2.1"), ("x-forwarded-for", "10.0.0.1")), PROXIES
    )
    assert found.client == ("192.0.2.1", 0)


def test_x_forwarded_proto_and_host() -> None:
    assert xff("192.0.2.1", proto="https", host="shop.example") == Forwarded(
        client=("192.0.2.1", 0), scheme="https", host="shop.example"
    )
    # In step with X-Forwarded-For: the client's own entry.
    assert xff("192.0.2.1, 10.0.0.1", proto="https, http", host="shop.example, inner") == (
        Forwarded(client=("192.0.2.1", 0), scheme="https", host="shop.example")
    )
    # Not in step: the right-most, set by the proxy in front.
    assert xff("192.0.2.1, 10.0.0.1", proto="http, https, http").scheme == "http"
    assert xff("192.0.2.1", proto="HTTPS").scheme == "https"
    assert xff("192.0.2.1", proto="ftp").scheme is None
    assert xff("192.0.2.1", host="bad host").host is None


def test_x_forwarded_proto_alone() -> None:
    found = resolve(headers(("x-forwarded-proto", "https")), PROXIES)
    assert found == Forwarded(scheme="https")


def test_no_headers_say_nothing() -> None:
    assert resolve(headers(("host", "example.com"), ("x-forwarded", "1")), PROXIES) == Forwarded()


def test_a_huge_list_is_linear() -> None:
    # The header size limits bound it; the walk stays linear in the list.
    value = ", ".join(["10.0.0.1"] * 5000)
    assert xff(f"192.0.2.1, {value}").client == ("192.0.2.1", 0)
    assert fwd(", ".join(["for=10.0.0.1"] * 5000)).client == ("10.0.0.1", 0)
