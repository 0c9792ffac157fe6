"""Stand-in for the ``nghttp2`` module of nghttp2's Python bindings.

``from trio_h2.compat import nghttp2`` replaces ``import nghttp2``; the rest of a
program stays as it is::

    from . import nghttp2

    class Handler(nghttp2.BaseRequestHandler):
        def on_headers(self):
            self.push(path="/style.css", body="body{margin:0;}")
            self.send_response(status=200, body=b"hello\\n")

    nghttp2.HTTP2Server(("127.0.0.1", 8080), Handler).serve_forever()

It holds the HPACK classes (:mod:`trio_h2.hpack`) and the server classes:
:class:`HTTP2Server`, :class:`BaseRequestHandler`, the body generator flags
:data:`DATA_OK`, :data:`DATA_EOF` and :data:`DATA_DEFERRED`.  The server is trio_h2's
own, reached through its Stream API; each handler callback is called from the
stream's trio task.

:meth:`HTTP2Server.serve_forever` runs an asyncio event loop with trio as its guest,
as nghttp2's server ran on asyncio: callbacks may call ``asyncio.get_event_loop()``,
``asyncio.ensure_future()`` and friends, and asyncio code may call
``send_response()`` and ``resume()`` later.

What differs from nghttp2: errors are :class:`trio_h2.LocalProtocolError` (an
``Exception``, as nghttp2's were); responses carry trio_h2's ``server`` and ``date``
headers and, for bodies of known length, ``content-length``; access-log lines go to
the ``trio_h2.access`` logger, one per stream; NPN is not offered, only ALPN.
"""

from __future__ import annotations

import ssl as _ssl
from collections.abc import Sequence
from typing import Any

from .._config import Config
from ..hpack import (
    DEFAULT_HEADER_TABLE_SIZE as DEFAULT_HEADER_TABLE_SIZE,
    DEFLATE_MAX_HEADER_TABLE_SIZE as DEFLATE_MAX_HEADER_TABLE_SIZE,
    HD_ENTRY_OVERHEAD as HD_ENTRY_OVERHEAD,
    HDDeflater as HDDeflater,
    HDInflater as HDInflater,
    HDTableEntry as HDTableEntry,
    print_hd_table as print_hd_table,
)
from ._nghttp2_handler import (
    DATA_DEFERRED as DATA_DEFERRED,
    DATA_EOF as DATA_EOF,
    DATA_OK as DATA_OK,
    BaseRequestHandler as BaseRequestHandler,
    stream_handler as stream_handler,
)
from ._serving import CompatServer


class HTTP2Server(CompatServer):
    """An HTTP/2 server for :class:`BaseRequestHandler` subclasses.

    ``address`` is ``(host, port)``; a host of None or ``""`` listens on every
    interface.  The socket is bound here, as nghttp2 did.  With an
    :class:`ssl.SSLContext` as ``ssl`` the server speaks TLS and negotiates ``h2``
    by ALPN; without one it speaks cleartext HTTP/2 with prior knowledge.

    ``config`` (a :class:`trio_h2.Config`) is a trio_h2 addition, as are
    :attr:`server_address`, :meth:`shutdown` and :meth:`server_close`.
    """

    def __init__(
        self,
        address: Sequence[Any],
        RequestHandlerClass: type[BaseRequestHandler],
        ssl: _ssl.SSLContext | None = None,
        *,
        config: Config | None = None,
    ) -> None:
        handler = stream_handler(RequestHandlerClass)
        super().__init__(address, handler, ssl, config, asyncio_host=True)

    def serve_forever(self) -> None:
        """Run the server (an asyncio loop hosting trio) until :meth:`shutdown`.

        The loop is closed afterwards, as nghttp2's was.
        """
        super().serve_forever()
