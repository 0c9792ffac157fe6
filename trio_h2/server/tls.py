"""What a request's own TLS session was: version, cipher suite, ALPN, client certificate.

Read once per connection from its ``trio.SSLStream`` (see :func:`session_of`), and
shown to handlers as ``stream.tls`` and to ASGI applications as the ``tls`` scope
extension.  A connection whose TLS a proxy terminated has none of its own; what the
proxy said of the client's TLS is in ``stream.proxy_info``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import trio

__all__ = ["TLSSession", "rfc4514_name", "session_of"]

#: ``SSLObject.version()`` names and the numbers the TLS specifications give them.
_VERSION_NUMBERS = {
    "SSLv3": 0x0300,
    "TLSv1": 0x0301,
    "TLSv1.1": 0x0302,
    "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
}

#: Attribute types that RFC 4514 §3 writes by a short name; the rest keep the name
#: Python's ssl module reports.
_SHORT_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


@dataclass(frozen=True, slots=True)
class TLSSession:
    """The TLS session a connection runs over (``stream.tls``)."""

    #: The protocol version as OpenSSL names it, e.g. ``"TLSv1.3"``.
    version: str
    #: Its number in the TLS specifications, e.g. ``0x0304``; None if unknown.
    version_number: int | None
    #: The cipher suite as OpenSSL names it, e.g. ``"TLS_AES_256_GCM_SHA384"``.
    cipher: str
    #: Its IANA number, e.g. ``0x1302``; None if the context does not list it.
    cipher_suite: int | None
    #: The protocol ALPN chose (``"h2"``, ``"http/1.1"``), or None.
    alpn: str | None
    #: The client's certificate, DER-encoded, or None if it sent none (the server
    #: asks for one only when its context's ``verify_mode`` is not ``CERT_NONE``).
    client_certificate: bytes | None
    #: The Subject of the client's certificate as an RFC 4514 string, e.g.
    #: ``"CN=alice,O=Example"``; None without a verified certificate.
    client_subject: str | None

    @property
    def client_certificate_pem(self) -> str | None:
        """:attr:`client_certificate` in PEM, or None."""
        if self.client_certificate is None:
            return None
        return ssl.DER_cert_to_PEM_cert(self.client_certificate)


def session_of(transport: trio.abc.Stream) -> TLSSession | None:
    """The TLS session of a connection's transport; None for one that is not TLS."""
    if not isinstance(transport, trio.SSLStream):
        return None
    version = transport.version() or ""
    cipher = transport.cipher()
    name = cipher[0] if cipher else ""
    verified = transport.getpeercert()
    return TLSSession(
        version=version,
        version_number=_VERSION_NUMBERS.get(version),
        cipher=name,
        cipher_suite=_suite_numbers(transport.context).get(name),
        alpn=transport.selected_alpn_protocol(),
        client_certificate=transport.getpeercert(binary_form=True),
        client_subject=rfc4514_name(verified["subject"]) if verified else None,
    )


def _suite_numbers(context: ssl.SSLContext) -> dict[str, int]:
    """OpenSSL's cipher names and their IANA numbers, for the ciphers ``context`` has."""
    # OpenSSL's cipher id carries the IANA number in its low 16 bits.  Worked out
    # once per connection, and only when asked for: some tens of microseconds.
    return {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}


def rfc4514_name(rdns: Any) -> str:
    """A Subject as ``ssl.getpeercert()`` gives it, written as RFC 4514 says.

    The relative names go in reverse order, those of one RDN joined by ``+``; the
    special characters of a value are escaped with a backslash.
    """
    parts = []
    for rdn in reversed(rdns):
        parts.append("+".join(f"{_SHORT_NAMES.get(t, t)}={_escape(v)}" for t, v in rdn))
    return ",".join(parts)


def _escape(value: str) -> str:
    out = []
    last = len(value) - 1
    for i, char in enumerate(value):
        if char in '"+,;<>\\' or (i == 0 and char in " #") or (i == last and char == " "):
            out.append("\\" + char)
        elif char == "\0":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)
