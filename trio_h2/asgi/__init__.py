"""ASGI 3 applications on trio_h2: FastAPI, Starlette (through anyio) and Quart-trio.

::

    import trio, trio_h2.asgi
    from myapp import app

    trio.run(trio_h2.asgi.serve, app)             # 127.0.0.1:8080

:class:`ASGIHandler` is the application as a native handler, so everything that
takes a handler takes it.  ``trio_h2.testing.connect(app)`` tests an application in
memory, its lifespan (startup and shutdown) around the connection; elsewhere,
``async with lifespan(app) as state`` does that part.  Supported: the HTTP and
WebSocket spec 2.5 and lifespan 2.0, with the extensions ``http.response.trailers``,
``http.response.early_hint``, ``http.response.push`` (HTTP/2),
``http.response.pathsend`` and ``websocket.http.response``.
"""

from ._detect import is_asgi_application as is_asgi_application
from ._errors import (
    ASGIError as ASGIError,
    ClientDisconnected as ClientDisconnected,
    LifespanError as LifespanError,
)
from ._handler import ASGIHandler as ASGIHandler
from ._lifespan import lifespan as lifespan
from ._serve import serve as serve
from ._types import (
    ASGIApp as ASGIApp,
    Message as Message,
    Receive as Receive,
    Scope as Scope,
    Send as Send,
)
