"""The first server of nghttp2's Python tutorial: "nghttp2 FTW" for every request.

Unchanged but for the import (and the port, taken from the command line so tests
can pick a free one)::

    python examples/compat/nghttp2_ftw.py [PORT]     # default 8080
    nghttp http://127.0.0.1:8080/
"""

import sys

from trio_h2.compat import nghttp2

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080


class Handler(nghttp2.BaseRequestHandler):
    def on_headers(self):
        res = b"nghttp2 FTW\n"
        self.send_response(status=200, headers=[("content-length", str(len(res)))], body=res)


# To enable SSL/TLS, save the certificate as server.crt and its key as server.key,
# enable the following 3 lines, and give ctx as the ssl parameter of HTTP2Server.
# ctx = ssl.SSLContext(ssl.PROTOCOL_SSLv23)
# ctx.options = ssl.OP_ALL | ssl.OP_NO_SSLv2
# ctx.load_cert_chain('server.crt', 'server.key')

server = nghttp2.HTTP2Server(("127.0.0.1", PORT), Handler, ssl=None)
server.serve_forever()
