"""The HTTP2Server example of nghttp2's Python API reference: TLS and a push.

Pushes /css/style.css (with a request header) and answers with an io.BytesIO body.
Reads server.crt and server.key from the current directory.  Unchanged but for the
import (and the port, from the command line)::

    python examples/compat/nghttp2_tls_push.py [PORT]    # default 8443
    nghttp -v https://127.0.0.1:8443/
"""

import io
import ssl
import sys

from trio_h2.compat import nghttp2

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8443


class Handler(nghttp2.BaseRequestHandler):
    def on_headers(self):
        self.push(
            path="/css/style.css",
            request_headers=[("content-type", "text/css")],
            status=200,
            body="body{margin:0;}",
        )

        self.send_response(
            status=200,
            headers=[("content-type", "text/plain")],
            body=io.BytesIO(b"nghttp2-python FTW"),
        )


ctx = ssl.SSLContext(ssl.PROTOCOL_SSLv23)
ctx.options = ssl.OP_ALL | ssl.OP_NO_SSLv2 | ssl.OP_NO_SSLv3
ctx.load_cert_chain("server.crt", "server.key")

# give None to ssl to make the server non-SSL/TLS
server = nghttp2.HTTP2Server(("127.0.0.1", PORT), Handler, ssl=ctx)
server.serve_forever()
