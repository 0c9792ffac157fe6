"""The exception hierarchy: one root, then who is at fault."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """The HTTP/2 error codes of RFC 9113 §7, as RST_STREAM and GOAWAY carry them."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


class H2Error(Exception):
    """Root of every exception trio_h2 raises."""


class LocalProtocolError(H2Error):
    """The application misused the API (respond twice, send after the end, a bad header...)."""


class StreamReset(H2Error):
    """The stream was reset (by the peer or by the server); ``error_code`` says why."""

    def __init__(self, error_code: int, *, remote: bool = True) -> None:
        try:
            code: int = ErrorCode(error_code)
        except ValueError:
            code = error_code
        self.error_code = code
        self.remote = remote
        who = "peer" if remote else "server"
        super().__init__(f"stream reset by the {who} with {_code_name(code)}")


class RemoteProtocolError(StreamReset):
    """The peer broke the protocol on this stream, so the server reset it.

    A :class:`StreamReset` with ``remote`` False, whose message says what the peer
    did wrong (for example, a request body longer or shorter than its
    content-length); ``error_code`` is the code the stream was reset with.
    """

    def __init__(self, message: str, error_code: int = ErrorCode.PROTOCOL_ERROR) -> None:
        super().__init__(error_code, remote=False)
        self.args = (f"{message} (stream reset with {_code_name(self.error_code)})",)


class ConnectionClosed(H2Error):
    """The connection is gone: the peer closed it, it broke, or the server shut it down."""


class RequestBodyTooLarge(H2Error):
    """:meth:`Stream.read` met more than its limit; the client is answered with 413."""


class RequestBodyTimeout(H2Error):
    """The peer sent nothing more of the request body for ``Config.body_timeout`` seconds
    while the handler waited for it; the client is answered with 408."""


class HPACKError(H2Error):
    """HPACK failed: a header the deflater cannot encode, or a bad header block.

    The inflater raises it for blocks that are malformed, decode to more than its
    header list limit, or break the table-size rules; after that the inflater's table
    no longer matches the peer's and every later call fails too.
    """


def _code_name(code: int) -> str:
    return code.name if isinstance(code, ErrorCode) else str(code)


def single_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The lone exception inside (nested) one-member groups, else the group itself.

    At the API boundary a caller should meet its own exception (a KeyboardInterrupt,
    a failed assertion), not the nursery that happened to carry it.
    """
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup) and len(found.exceptions) == 1:
        found = found.exceptions[0]
    return found
