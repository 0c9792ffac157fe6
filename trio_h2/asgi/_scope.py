"""A request as an ASGI connection scope (HTTP and WebSocket spec 2.5)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import wsproto.utilities

from .._headers import RawHeaders
from ..server.stream import Stream
from ..server.tls import TLSSession
from ._types import ASGI_VERSION, HTTP_SPEC_VERSION, Scope

Address = tuple[str, int]
#: ``scope["server"]``: ``(host, port)``, or ``(path, None)`` for a Unix socket.
ServerAddress = tuple[str, int | None]


def _address(address: Any) -> Address | None:
    """``(host, port)`` from a socket address; None for anything else (memory, AF_UNIX)."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[:2]
        if isinstance(host, str) and isinstance(port, int):
            return host, port
    return None


def request_headers(stream: Stream, authority: bytes | None) -> RawHeaders:
    """The request's fields for the scope: as received, with ``host`` from ``:authority``.

    Over HTTP/2 the authority travels as a pseudo-header; the spec asks for it as a
    ``host`` field at the start, replacing any the client sent.  Over HTTP/1.1 the
    ``host`` field is the client's own, and stays where it came.
    """
    headers = stream.raw_headers
    if stream.http_version != "2" or authority is None:
        return list(headers)
    return [(b"host", authority), *((n, v) for n, v in headers if n != b"host")]


def tls_extension(session: TLSSession) -> dict[str, Any]:
    """The ``tls`` scope extension (ASGI TLS extension 0.2) for a TLS connection.

    ``server_cert`` is None: the ssl module does not give back the certificate a
    context was loaded with.  Only the client's own certificate is in
    ``client_cert_chain``, the ssl module keeping the rest of the chain to itself.
    A client whose certificate fails verification never gets this far (the
    handshake fails), so ``client_cert_error`` is always None.
    """
    pem = session.client_certificate_pem
    return {
        "server_cert": None,
        "client_cert_chain": [pem] if pem is not None else [],
        "client_cert_name": session.client_subject,
        "client_cert_error": None,
        "tls_version": session.version_number,
        "cipher_suite": session.cipher_suite,
    }


def _split_target(target: bytes, root_path: str) -> tuple[str, bytes, bytes]:
    raw_path, _, query = target.partition(b"?")
    path = urllib.parse.unquote_to_bytes(raw_path).decode("utf-8", "replace")
    if root_path:
        # As uvicorn does: the path the application sees is the full one, under the
        # prefix a proxy removed (frameworks strip root_path again to route).
        path = root_path + path
        raw_path = root_path.encode("utf-8") + raw_path
    return path, raw_path, query


def http_scope(
    stream: Stream,
    *,
    root_path: str,
    server: ServerAddress | None,
    state: dict[str, Any] | None,
) -> Scope:
    """The ``http`` scope of a request."""
    pseudo = dict(stream.raw_pseudo_headers)
    path, raw_path, query = _split_target(pseudo.get(b":path", b""), root_path)
    http_version = stream.http_version
    extensions: dict[str, Any] = {"http.response.pathsend": {}}
    if http_version != "1.0":
        # HTTP/1.0 has neither 1xx responses nor chunked trailers.
        extensions["http.response.trailers"] = {}
        extensions["http.response.early_hint"] = {}
    if http_version == "2" and not stream.pushed:
        extensions["http.response.push"] = {}
    session = stream.tls
    if session is not None:
        extensions["tls"] = tls_extension(session)
    scope: Scope = {
        "type": "http",
        "asgi": {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION},
        "http_version": http_version,
        "method": stream.method,
        "scheme": stream.scheme or "http",
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": root_path,
        "headers": request_headers(stream, pseudo.get(b":authority")),
        "client": _address(stream.client_address),
        "server": server,
        "extensions": extensions,
    }
    if state is not None:
        scope["state"] = dict(state)
    return scope


def subprotocols(stream: Stream) -> list[str]:
    """The subprotocols a WebSocket request offers, in its order."""
    offered: list[str] = []
    for name, value in stream.raw_headers:
        if name == b"sec-websocket-protocol":
            offered += wsproto.utilities.split_comma_header(value)
    return offered


def websocket_scope(
    stream: Stream,
    *,
    root_path: str,
    server: ServerAddress | None,
    state: dict[str, Any] | None,
) -> Scope:
    """The ``websocket`` scope of a WebSocket request (an Upgrade or RFC 8441)."""
    pseudo = dict(stream.raw_pseudo_headers)
    path, raw_path, query = _split_target(pseudo.get(b":path", b""), root_path)
    extensions: dict[str, Any] = {"websocket.http.response": {}}
    session = stream.tls
    if session is not None:
        extensions["tls"] = tls_extension(session)
    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": ASGI_VERSION, "spec_version": HTTP_SPEC_VERSION},
        "http_version": stream.http_version,
        "scheme": "wss" if stream.scheme == "https" else "ws",
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": root_path,
        "headers": request_headers(stream, pseudo.get(b":authority")),
        "client": _address(stream.client_address),
        "server": server,
        "subprotocols": subprotocols(stream),
        "extensions": extensions,
    }
    if state is not None:
        scope["state"] = dict(state)
    return scope
