"""The response side of a stream once it has started: a streamed body and its end."""

from __future__ import annotations

import enum
from types import TracebackType
from typing import TYPE_CHECKING

import trio
from h2.errors import ErrorCodes

from ._errors import LocalProtocolError
from ._headers import HeaderList, RawHeaders, check_headers

if TYPE_CHECKING:
    from ._stream import Stream


class ResponseState(enum.Enum):
    """Where a stream's response is."""

    IDLE = "idle"  # nothing sent yet (1xx responses may have been)
    STARTED = "started"  # final HEADERS sent, body open
    ENDED = "ended"  # END_STREAM sent
    RESET = "reset"  # RST_STREAM sent or received


class StartedResponse:
    """What start_response() returns: a small class, cheaper than asynccontextmanager."""

    __slots__ = ("_body", "_content_length", "_headers", "_status", "_stream")

    def __init__(
        self, stream: Stream, status: int, headers: HeaderList, content_length: int | None
    ) -> None:
        self._stream = stream
        self._status = status
        self._headers = headers
        self._content_length = content_length
        self._body: ResponseBody | None = None

    async def __aenter__(self) -> ResponseBody:
        stream = self._stream
        raw = stream._start(self._status, self._headers, self._content_length)
        declared = declared_length(raw)
        head_request = stream.method == "HEAD"
        await trio.lowlevel.checkpoint_if_cancelled()
        stream._response_status(self._status)
        stream._io.send_headers(stream.stream_id, raw, head_request)
        if head_request:
            stream._response = ResponseState.ENDED
        self._body = ResponseBody(stream, declared, no_body=head_request)
        # No schedule point after the HEADERS: the first chunk usually joins them in
        # the same write, and a cancellation could not undo them anyway.
        return self._body

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stream = self._stream
        if exc is not None:
            # Leave no half-sent response behind, even if the handler goes on.
            if not stream.response_ended:
                cancelled = isinstance(exc, trio.Cancelled)
                code = ErrorCodes.CANCEL if cancelled else ErrorCodes.INTERNAL_ERROR
                stream._io.reset_stream(stream.stream_id, code)
                stream._on_reset(code, remote=False)
            return
        assert self._body is not None
        await self._body._finish()


class ResponseBody:
    """The open body of a streamed response (what :meth:`Stream.start_response` yields)."""

    def __init__(self, stream: Stream, content_length: int | None, *, no_body: bool) -> None:
        self._stream = stream
        self._trailers: RawHeaders | None = None
        self._declared = content_length
        self._sent = 0
        # A response to HEAD has headers only (RFC 9110 §9.3.2): what a handler
        # writes is dropped, so one handler serves GET and HEAD alike.
        self._no_body = no_body
        self._bodiless_status = stream.status in (204, 304)

    async def send(self, chunk: bytes | str) -> None:
        """Send a chunk, waiting for flow-control credit; ``b""`` sends nothing."""
        data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"send() takes bytes or str, not {type(chunk).__name__}")
        if self._no_body:
            await trio.lowlevel.checkpoint()
            return
        self._stream._check_open()
        if self._declared is not None and self._sent + len(data) > self._declared:
            raise LocalProtocolError(
                f"{self._stream!r}: body longer than the content-length {self._declared}"
            )
        if self._bodiless_status and data:
            raise LocalProtocolError(f"a {self._stream.status} response has no body")
        if not data:
            await trio.lowlevel.checkpoint()
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        self._sent += len(data)
        try:
            await self._stream._io.send_data(self._stream.stream_id, bytes(data), False)
        except trio.Cancelled:
            # Nothing of it went (send_data resets the stream if part of it did).
            self._sent -= len(data)
            raise

    def set_trailers(self, trailers: HeaderList) -> None:
        """Trailers to send when the body ends (e.g. ``grpc-status``).

        They go out as a final HEADERS frame with END_STREAM; an empty list sends
        none.  Calling it again replaces them.
        """
        raw = check_headers(trailers, trailers=True)
        if self._no_body:
            return
        self._stream._check_open()
        self._trailers = raw or None

    async def _finish(self) -> None:
        stream = self._stream
        if self._no_body:
            await trio.lowlevel.checkpoint()
            return
        stream._check_open()
        if self._declared is not None and self._sent != self._declared:
            stream._io.reset_stream(stream.stream_id, ErrorCodes.INTERNAL_ERROR)
            stream._on_reset(ErrorCodes.INTERNAL_ERROR, remote=False)
            raise LocalProtocolError(
                f"{stream!r}: body of {self._sent} bytes, content-length said {self._declared}"
            )
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._trailers is not None:
            stream._io.send_headers(stream.stream_id, self._trailers, True)
        else:
            stream._io.end_stream(stream.stream_id)
        stream._response = ResponseState.ENDED
        await trio.lowlevel.cancel_shielded_checkpoint()


def declared_length(headers: RawHeaders) -> int | None:
    values = {value for name, value in headers if name == b"content-length"}
    if not values:
        return None
    if len(values) > 1 or not next(iter(values)).isdigit():
        raise LocalProtocolError(f"invalid content-length {sorted(values)!r}")
    return int(next(iter(values)))
