"""The HTTP20Server tutorial's server: "Hello, world!" for every request.

Unchanged but for the import (and the port, from the command line)::

    python examples/compat/hyper_hello.py [PORT]     # default 8443, cleartext h2
    curl --http2-prior-knowledge http://localhost:8443/
"""

import sys

from trio_h2.compat.hyper import HTTP20RequestHandler, HTTP20Server

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8443


class MyHTTP2RequestHandler(HTTP20RequestHandler):
    def handle_request(self, request):
        response_data = "Hello, world!"
        response_headers = (
            (b"content-length", str(len(response_data)).encode("utf8")),
            (b"content-type", b"text/plain"),
        )
        self.send_response(200, response_headers)
        self.send_data(response_data)


address = ("localhost", PORT)
httpd = HTTP20Server(address, MyHTTP2RequestHandler)
httpd.serve_forever()
