"""The reverse proxy of nghttp2's Python API reference: a deferred response body.

For each request, on_headers() starts an asyncio task that fetches the same path
from an HTTP/1.0 upstream, and answers with a body generator that returns
DATA_DEFERRED until the task has the whole upstream body and calls resume().
Reads server.crt and server.key from the current directory::

    python examples/compat/nghttp2_reverse_proxy.py [PORT [UPSTREAM]]
    # defaults: 8443 and http://localhost
    curl --http2 -k https://127.0.0.1:8443/

Changed from the documented program: the import; ``@asyncio.coroutine`` / ``yield
from`` / ``asyncio.async`` written as ``async def`` / ``await`` /
``asyncio.ensure_future`` (whose task the handler keeps); ``import urllib.parse``;
``is None``; port and upstream from the command line; and one fix in
``Body.generate``, which reported DATA_EOF as soon as the upstream was done and so
ended every response after its first chunk (at most one frame, 16 KiB): it now
reports DATA_EOF once the buffer is drained.
"""

import asyncio
import io
import ssl
import sys
import urllib.parse

from trio_h2.compat import nghttp2

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8443
UPSTREAM = sys.argv[2] if len(sys.argv) > 2 else "http://localhost"


async def get_http_header(handler, url):
    url = urllib.parse.urlsplit(url)
    ssl = url.scheme == "https"
    if url.port is None:
        if url.scheme == "https":  # noqa: SIM108 - as documented
            port = 443
        else:
            port = 80
    else:
        port = url.port

    connect = asyncio.open_connection(url.hostname, port, ssl=ssl)
    reader, writer = await connect
    req = "GET {path} HTTP/1.0\r\n\r\n".format(path=url.path or "/")
    writer.write(req.encode("utf-8"))
    # skip response header fields
    while True:
        line = await reader.readline()
        line = line.rstrip()
        if not line:
            break
    # read body
    while True:
        b = await reader.read(4096)
        if not b:
            break
        handler.buf.write(b)
    writer.close()
    handler.buf.seek(0)
    handler.eof = True
    handler.resume()


class Body:
    def __init__(self, handler):
        self.handler = handler
        self.handler.eof = False
        self.handler.buf = io.BytesIO()

    def generate(self, n):
        buf = self.handler.buf
        data = buf.read1(n)
        if not data and not self.handler.eof:
            return None, nghttp2.DATA_DEFERRED
        drained = len(data) < n
        return data, nghttp2.DATA_EOF if self.handler.eof and drained else nghttp2.DATA_OK


class Handler(nghttp2.BaseRequestHandler):
    def on_headers(self):
        body = Body(self)
        # Kept on the handler: asyncio holds only weak references to its tasks.
        self.fetch = asyncio.ensure_future(
            get_http_header(self, UPSTREAM + self.path.decode("utf-8"))
        )
        self.send_response(status=200, body=body.generate)


ctx = ssl.SSLContext(ssl.PROTOCOL_SSLv23)
ctx.options = ssl.OP_ALL | ssl.OP_NO_SSLv2 | ssl.OP_NO_SSLv3
ctx.load_cert_chain("server.crt", "server.key")

server = nghttp2.HTTP2Server(("127.0.0.1", PORT), Handler, ssl=ctx)
server.serve_forever()
