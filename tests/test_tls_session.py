"""A request's own TLS session: ``stream.tls``, and the ASGI ``tls`` scope extension.

Over real TLS on loopback, with and without a client certificate, over HTTP/2 and
HTTP/1.1.  What the server reports is checked against what the client saw of the
same session and against the certificate itself, read with ``cryptography``.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import pytest
import trio
import trustme
from cryptography import x509

import trio_h2
import trio_h2.asgi
from tests.support import running_server
from trio_h2.server.tls import rfc4514_name
from trio_h2.testing import connect, open_client

#: IANA numbers of the TLS 1.3 suites (RFC 8446 §B.4), as the extension gives them.
TLS13_SUITES = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
}


@pytest.fixture(scope="module")
def client_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("alice@example.org", common_name="Alice, the tester")


@pytest.fixture
def verifying_context(server_cert: trustme.LeafCert, ca: trustme.CA) -> ssl.SSLContext:
    """The server's context, asking clients for a certificate signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context(ca: trustme.CA, cert: trustme.LeafCert | None, alpn: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    context.set_alpn_protocols([alpn])
    return context


async def describe(stream: trio_h2.Stream) -> None:
    session = stream.tls
    if session is None:
        await stream.respond(200, body=b"null")
        return
    fields = {
        "version": session.version,
        "version_number": session.version_number,
        "cipher": session.cipher,
        "cipher_suite": session.cipher_suite,
        "alpn": session.alpn,
        "client_certificate": session.client_certificate_pem,
        "client_subject": session.client_subject,
    }
    await stream.respond(200, [("content-type", "application/json")], json.dumps(fields))


async def asgi_describe(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    body = json.dumps(scope["extensions"].get("tls")).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def fetch_over_tls(
    address: trio_h2.ServerAddress, context: ssl.SSLContext, http_version: str
) -> tuple[Any, trio.SSLStream[trio.SocketStream]]:
    tcp = await trio.open_tcp_stream(address.host, address.port)
    tls = trio.SSLStream(tcp, context, server_hostname="localhost", https_compatible=True)
    await tls.do_handshake()
    async with open_client(tls, http_version=http_version) as client:
        response = await client.get("/")
    assert response.status == 200
    return response.json(), tls


def subject_of(cert: trustme.LeafCert) -> str:
    loaded = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    return loaded.subject.rfc4514_string()


@pytest.mark.parametrize(("alpn", "http_version"), [("h2", "2"), ("http/1.1", "1.1")])
async def test_a_handler_sees_the_session_and_the_client_certificate(
    alpn: str,
    http_version: str,
    ca: trustme.CA,
    client_cert: trustme.LeafCert,
    verifying_context: ssl.SSLContext,
) -> None:
    async with running_server(describe, ssl_context=verifying_context) as address:
        seen, tls = await fetch_over_tls(
            address, client_context(ca, client_cert, alpn), http_version
        )
    cipher, version, _ = tls.cipher()  # type: ignore[misc]
    assert seen["version"] == version == "TLSv1.3"
    assert seen["version_number"] == 0x0304
    assert seen["cipher"] == cipher
    assert seen["cipher_suite"] == TLS13_SUITES[cipher]
    assert seen["alpn"] == alpn
    assert seen["client_certificate"] == ssl.DER_cert_to_PEM_cert(
        ssl.PEM_cert_to_DER_cert(client_cert.cert_chain_pems[0].bytes().decode())
    )
    # The comma in the common name is escaped; the relative names go last to first.
    assert seen["client_subject"] == subject_of(client_cert)
    assert seen["client_subject"].startswith("CN=Alice\\, the tester,")


async def test_without_a_client_certificate(
    ca: trustme.CA, verifying_context: ssl.SSLContext
) -> None:
    async with running_server(describe, ssl_context=verifying_context) as address:
        seen, _ = await fetch_over_tls(address, client_context(ca, None, "h2"), "2")
    assert seen["client_certificate"] is None
    assert seen["client_subject"] is None
    assert seen["version_number"] == 0x0304


async def test_cleartext_has_no_session() -> None:
    async with running_server(describe) as address:
        tcp = await trio.open_tcp_stream(address.host, address.port)
        async with open_client(tcp) as client:
            assert (await client.get("/")).json() is None


@pytest.mark.parametrize(("alpn", "http_version"), [("h2", "2"), ("http/1.1", "1.1")])
async def test_the_asgi_tls_extension(
    alpn: str,
    http_version: str,
    ca: trustme.CA,
    client_cert: trustme.LeafCert,
    verifying_context: ssl.SSLContext,
) -> None:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(
            lambda task_status: trio_h2.asgi.serve(
                asgi_describe,
                "127.0.0.1",
                0,
                ssl_context=verifying_context,
                task_status=task_status,
            )
        )
        extension, tls = await fetch_over_tls(
            address, client_context(ca, client_cert, alpn), http_version
        )
        nursery.cancel_scope.cancel()
    cipher = tls.cipher()[0]  # type: ignore[index]
    pem = client_cert.cert_chain_pems[0].bytes().decode()
    assert extension == {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(pem))],
        "client_cert_name": subject_of(client_cert),
        "client_cert_error": None,
        "tls_version": 0x0304,
        "cipher_suite": TLS13_SUITES[cipher],
    }


@pytest.mark.parametrize("http_version", ["2", "1.1"])
async def test_the_asgi_tls_extension_is_absent_on_cleartext(http_version: str) -> None:
    # The spec forbids it for a connection that is not TLS.
    async with connect(asgi_describe, http_version=http_version) as client:
        assert (await client.get("/")).json() is None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ((), ""),
        (((("commonName", "a"),),), "CN=a"),
        (
            ((("countryName", "GB"),), (("organizationName", "Ex, Ltd"),), (("commonName", "b"),)),
            "CN=b,O=Ex\\, Ltd,C=GB",
        ),
        # Several names in one RDN; an attribute type without a short name.
        (
            ((("commonName", "c"), ("userId", "7")), (("emailAddress", "c@x"),)),
            "emailAddress=c@x,CN=c+UID=7",
        ),
        # The characters RFC 4514 §2.4 escapes.
        (((("commonName", '#lead"+;<>\\ trail '),),), 'CN=\\#lead\\"\\+\\;\\<\\>\\\\ trail\\ '),
        (((("commonName", " x\0"),),), "CN=\\ x\\00"),
    ],
)
def test_rfc4514_names(subject: Any, expected: str) -> None:
    assert rfc4514_name(subject) == expected
