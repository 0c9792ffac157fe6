"""nghttp2's Python tutorial, second step: push /push along with the answer.

Unchanged but for the import (and the port, from the command line)::

    python examples/compat/nghttp2_push.py [PORT]    # default 8080
    nghttp -v http://127.0.0.1:8080/                  # shows the PUSH_PROMISE

As with nghttp2, push() raises when the client disabled push (curl does), and the
exception resets the stream: use a client that accepts pushes, like nghttp.
"""

import sys

from trio_h2.compat import nghttp2

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080


class Handler(nghttp2.BaseRequestHandler):
    def on_headers(self):
        self.push(path="/push", status=200, body="pushed content")

        res = b"nghttp2-python FTW\n"
        self.send_response(status=200, headers=[("content-length", str(len(res)))], body=res)


server = nghttp2.HTTP2Server(("127.0.0.1", PORT), Handler, ssl=None)
server.serve_forever()
