"""trio_h2: an HTTP/2 server for trio."""

from ._config import Config as Config
from ._errors import ConnectionClosed as ConnectionClosed
from ._errors import H2Error as H2Error
from ._errors import HPACKError as HPACKError
from ._errors import LocalProtocolError as LocalProtocolError
from ._errors import RemoteProtocolError as RemoteProtocolError
from ._errors import RequestBodyTooLarge as RequestBodyTooLarge
from ._errors import StreamReset as StreamReset

__version__ = "0.1.0"
