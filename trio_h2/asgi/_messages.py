"""Reading the application's messages: each key checked, each error naming its message.

ASGI messages are plain dicts, so everything the application sends is checked here
before it reaches the Stream: a wrong type or a missing key raises
:class:`~trio_h2.asgi.ASGIError` saying which message and which key, at the
``send()`` that carried it, rather than a confusing failure further down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import LocalProtocolError
from .._headers import CONNECTION_SPECIFIC, RawHeaders, check_headers
from ._errors import ASGIError
from ._types import Message

log = logging.getLogger("trio_h2.asgi")

_MISSING: Any = object()


def message_type(message: object) -> str:
    """The ``type`` of a message sent by the application."""
    if not isinstance(message, Mapping):
        raise ASGIError(f"send() takes a message dict, not {type(message).__name__}")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ASGIError(f"a message needs a 'type' that is a str, not {kind!r}")
    return kind


def _get(message: Message, key: str, default: Any) -> Any:
    value = message.get(key, default)
    if value is _MISSING:
        raise ASGIError(f"{message['type']}: the {key!r} key is missing")
    return value


def _wrong(message: Message, key: str, expected: str, value: object) -> ASGIError:
    return ASGIError(f"{message['type']}: {key!r} must be {expected}, not {type(value).__name__}")


def get_bool(message: Message, key: str, default: bool = False) -> bool:
    value = _get(message, key, default)
    if not isinstance(value, bool):
        raise _wrong(message, key, "a bool", value)
    return value


def get_int(message: Message, key: str, default: int = _MISSING) -> int:
    value = _get(message, key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(message, key, "an int", value)
    return value


def get_str(message: Message, key: str, default: str = _MISSING) -> str:
    value = _get(message, key, default)
    if not isinstance(value, str):
        raise _wrong(message, key, "a str", value)
    return value


def get_optional_str(message: Message, key: str) -> str | None:
    value = message.get(key)
    if value is not None and not isinstance(value, str):
        raise _wrong(message, key, "a str or None", value)
    return value


def get_bytes(message: Message, key: str, default: bytes = _MISSING) -> bytes:
    value = _get(message, key, default)
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise _wrong(message, key, "bytes", value)


def get_optional_bytes(message: Message, key: str) -> bytes | None:
    value = message.get(key)
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise _wrong(message, key, "bytes or None", value)


def get_headers(message: Message, key: str = "headers") -> RawHeaders:
    """The header pairs of a message, checked as every response header is.

    Names are lowercased (HTTP/2 allows no other case, and applications written for
    HTTP/1.1 do not always send them so).  Fields that belong to one HTTP/1.1 hop
    (``transfer-encoding``, ``connection``...) are dropped: the spec leaves framing to
    the server, and HTTP/2 forbids them.
    """
    value = message.get(key, ())
    if isinstance(value, bytes | str) or not isinstance(value, Iterable):
        raise _wrong(message, key, "an iterable of [name, value] pairs", value)
    pairs: RawHeaders = []
    for item in value:
        try:
            name, field = item
        except (TypeError, ValueError):
            raise ASGIError(
                f"{message['type']}: each of {key!r} is a [name, value] pair, not {item!r}"
            ) from None
        if not isinstance(name, bytes) or not isinstance(field, bytes):
            raise ASGIError(
                f"{message['type']}: header names and values are bytes, not "
                f"{type(name).__name__} and {type(field).__name__} ({name!r})"
            )
        name = name.lower()
        if name in CONNECTION_SPECIFIC:
            log.debug("%s: dropped the connection-specific field %r", message["type"], name)
            continue
        pairs.append((name, field))
    try:
        return check_headers(pairs)
    except LocalProtocolError as exc:
        raise ASGIError(f"{message['type']}: {exc}") from None
