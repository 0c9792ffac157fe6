"""Hypercorn with a reason phrase in its HTTP/1.1 status lines, for the ``h2load --h1`` rows.

    python hypercorn_reason.py <the arguments of python -m hypercorn>

Hypercorn leaves h11's reason phrase empty (``HTTP/1.1 200 \\r\\n``, which RFC 9112 §4
allows), and h2load (1.52) takes an HTTP/1.1 status code from the reason phrase's callback
only, so it counts every such answer as failed and the row would measure nothing.  This fills
the phrase in from ``http.HTTPStatus``, as trio_h2, uvicorn and Granian send it: two bytes
more per answer and one Python call per response, nothing else changed.
"""

from __future__ import annotations

import http
import sys
from typing import Any

import h11
from hypercorn.__main__ import main

_response_init = h11.Response.__init__


def _init_with_reason(self: h11.Response, *, status_code: int, **kwargs: Any) -> None:
    if not kwargs.get("reason"):
        try:
            kwargs["reason"] = http.HTTPStatus(status_code).phrase.encode()
        except ValueError:
            pass
    _response_init(self, status_code=status_code, **kwargs)


h11.Response.__init__ = _init_with_reason  # type: ignore[method-assign, assignment]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
