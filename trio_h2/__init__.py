"""trio_h2: an HTTP/2 server for trio."""

from ._config import Config as Config
from ._errors import (
    ConnectionClosed as ConnectionClosed,
    H2Error as H2Error,
    LocalProtocolError as LocalProtocolError,
    RemoteProtocolError as RemoteProtocolError,
    RequestBodyTooLarge as RequestBodyTooLarge,
    StreamReset as StreamReset,
)

__version__ = "0.1.0"
