"""Telling an ASGI application from a native handler by its signature."""

from __future__ import annotations

import inspect
from collections.abc import Callable


def takes(target: Callable[..., object], count: int) -> bool | None:
    """Whether ``target`` can be called with ``count`` positional arguments; None if
    its signature cannot be read (some callables written in C)."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*[None] * count)
    except TypeError:
        return False
    return True


def is_asgi_application(target: Callable[..., object]) -> bool:
    """True for a callable that takes three positional arguments and not one: an ASGI 3
    application ``app(scope, receive, send)`` rather than a handler ``handler(stream)``."""
    return takes(target, 1) is False and takes(target, 3) is True
