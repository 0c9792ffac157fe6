"""Recognising a request that asks to leave HTTP/1.1: a WebSocket handshake or h2c.

Such a request is served like any other unless the handler accepts the switch, so
only one that qualifies fully is marked (with ``:protocol``); an Upgrade that does
not qualify is left for the application to decline (RFC 9110 §7.8: a server may
ignore it).
"""

from __future__ import annotations

import binascii
import re

from .gate import Fields, Head, field_tokens

_BASE64URL = re.compile(rb"[A-Za-z0-9_\-]*=*")


def upgrade_protocol(head: Head, scheme: bytes) -> bytes | None:
    """``b"websocket"`` or ``b"h2c"`` for a valid request to switch, else None.

    An HTTP/1.0 request's Upgrade must be ignored (RFC 9110 §7.8); ``h2c`` is for
    cleartext connections only (RFC 7540 §3.2).
    """
    fields = head.fields
    if head.http_version != "1.1" or b"upgrade" not in field_tokens(fields, b"connection"):
        return None
    for offered in field_tokens(fields, b"upgrade"):
        if offered == b"websocket" and _is_websocket(head):
            return b"websocket"
        if offered == b"h2c" and scheme == b"http" and _is_h2c(head):
            return b"h2c"
    return None


def _only(fields: Fields, name: bytes) -> bytes | None:
    values = [value for field, value in fields if field == name]
    return values[0] if len(values) == 1 else None


def _is_websocket(head: Head) -> bool:
    # RFC 6455 §4.2.1: a GET with no body, version 13, a key of 16 octets in base64.
    if head.method != b"GET" or head.content_length != 0:
        return False
    if _only(head.fields, b"sec-websocket-version") != b"13":
        return False
    key = _only(head.fields, b"sec-websocket-key")
    if key is None or len(key) != 24:
        return False
    try:
        return len(binascii.a2b_base64(key, strict_mode=True)) == 16
    except binascii.Error:
        return False


def _is_h2c(head: Head) -> bool:
    # RFC 7540 §3.2.1: exactly one HTTP2-Settings, named in Connection, base64url.
    settings = _only(head.fields, b"http2-settings")
    return (
        settings is not None
        and _BASE64URL.fullmatch(settings) is not None
        and b"http2-settings" in field_tokens(head.fields, b"connection")
    )
