"""trio_h2: an HTTP/2 server for trio, built on the sans-IO h2 library.

::

    import trio, trio_h2

    async def hello(stream: trio_h2.Stream) -> None:
        await stream.respond(200, [("content-type", "text/plain")], b"hello\\n")

    trio.run(trio_h2.serve, hello)
"""

from ._config import Config as Config
from ._errors import (
    ConnectionClosed as ConnectionClosed,
    ErrorCode as ErrorCode,
    H2Error as H2Error,
    HPACKError as HPACKError,
    LocalProtocolError as LocalProtocolError,
    RemoteProtocolError as RemoteProtocolError,
    RequestBodyTimeout as RequestBodyTimeout,
    RequestBodyTooLarge as RequestBodyTooLarge,
    StreamReset as StreamReset,
)
from ._files import serve_directory as serve_directory
from .proto.proxy import ProxyHeader as ProxyHeader, ProxySSL as ProxySSL
from .server.listen import (
    ServerAddress as ServerAddress,
    serve as serve,
    serve_listeners as serve_listeners,
)
from .server.response import ResponseBody as ResponseBody
from .server.stream import Handler as Handler, Stream as Stream
from .server.tls import TLSSession as TLSSession
from .server.unix import open_unix_listener as open_unix_listener

__version__ = "0.1.0"
