"""The response side of a stream once it has started: a streamed body and its end."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

import trio

from .._errors import ErrorCode, LocalProtocolError
from .._headers import HeaderList, RawHeaders, check_headers
from ..proto.state import ResponseState, StreamState

if TYPE_CHECKING:
    from .stream import StreamIO


class StartedResponse:
    """What start_response() returns: a small class, cheaper than asynccontextmanager."""

    __slots__ = ("_begin", "_body", "_head", "_io", "_state", "_status", "_stream_id")

    def __init__(
        self,
        io: StreamIO,
        state: StreamState,
        stream_id: int,
        status: int,
        begin: Callable[[], RawHeaders],
        *,
        head: bool,
    ) -> None:
        self._io = io
        self._status = status
        self._state = state
        self._stream_id = stream_id
        # Checks the response and builds its header block (Stream._start).
        self._begin = begin
        self._head = head
        self._body: ResponseBody | None = None

    async def __aenter__(self) -> ResponseBody:
        raw = self._begin()
        state = self._state
        await trio.lowlevel.checkpoint_if_cancelled()
        state.start_response(self._status)
        self._io.send_headers(self._stream_id, raw, self._head)
        if self._head:
            state.end_response()
        self._body = ResponseBody(
            self._io, state, self._stream_id, declared_length(raw), no_body=self._head
        )
        # No schedule point after the HEADERS: the first chunk usually joins them in
        # the same write, and a cancellation could not undo them anyway.
        return self._body

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            reset_unfinished(self._io, self._state, self._stream_id, exc)
            return
        assert self._body is not None
        await self._body.finish()


class ResponseBody:
    """The open body of a streamed response (what :meth:`Stream.start_response` yields)."""

    def __init__(
        self,
        io: StreamIO,
        state: StreamState,
        stream_id: int,
        content_length: int | None,
        *,
        no_body: bool,
    ) -> None:
        self._io = io
        self._state = state
        self._stream_id = stream_id
        self._trailers: RawHeaders | None = None
        self._declared = content_length
        self._sent = 0
        # A response to HEAD has headers only (RFC 9110 §9.3.2): what a handler
        # writes is dropped, so one handler serves GET and HEAD alike.
        self._no_body = no_body
        self._bodiless_status = state.status in (204, 304)

    async def send(self, chunk: bytes | str, *, end: bool = False) -> None:
        """Send a chunk, waiting for flow-control credit; ``b""`` sends nothing.

        With ``end=True`` it is the last: the body ends with it (over HTTP/2 in the
        same frame, END_STREAM set; the trailers, if set, follow it), at once rather
        than when the block is left, and the block's end then sends nothing more.

        Cancelled before any of it is queued, it has no effect; cancelled while part
        of it waits for credit, the stream is reset (a body cannot be taken back).
        """
        data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"send() takes bytes or str, not {type(chunk).__name__}")
        if self._no_body:
            await trio.lowlevel.checkpoint()
            return
        state = self._state
        state.check_open()
        if self._declared is not None and self._sent + len(data) > self._declared:
            raise LocalProtocolError(
                f"{state.name}: body longer than the content-length {self._declared}"
            )
        if self._bodiless_status and data:
            raise LocalProtocolError(f"a {state.status} response has no body")
        if end:
            await self._send_last(bytes(data))
            return
        if not data:
            await trio.lowlevel.checkpoint()
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        self._sent += len(data)
        try:
            await self._io.send_data(self._stream_id, bytes(data), False)
        except trio.Cancelled:
            # Nothing of it went (send_data resets the stream if part of it did).
            self._sent -= len(data)
            raise

    async def _send_last(self, data: bytes) -> None:
        self._check_length(self._sent + len(data))
        await trio.lowlevel.checkpoint_if_cancelled()
        if not data:
            self._end()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        ends = self._trailers is None
        self._sent += len(data)
        try:
            await self._io.send_data(self._stream_id, data, ends)
        except trio.Cancelled:
            self._sent -= len(data)
            raise
        if ends:
            self._state.end_response()
        else:
            self._end()

    def _check_length(self, total: int) -> None:
        """Refuse (and reset) a body whose end does not match its content-length."""
        if self._declared is not None and total != self._declared:
            self._io.reset_stream(self._stream_id, ErrorCode.INTERNAL_ERROR)
            raise LocalProtocolError(
                f"{self._state.name}: body of {total} bytes, content-length said {self._declared}"
            )

    def _end(self) -> None:
        """Trailers, or END_STREAM alone: the response is then complete."""
        if self._trailers is not None:
            self._io.send_headers(self._stream_id, self._trailers, True)
        else:
            self._io.end_stream(self._stream_id)
        self._state.end_response()

    def set_trailers(self, trailers: HeaderList) -> None:
        """Trailers to send when the body ends (e.g. ``grpc-status``).

        They go out as a final HEADERS frame with END_STREAM; an empty list sends
        none.  Calling it again replaces them.
        """
        raw = check_headers(trailers, trailers=True)
        if self._no_body:
            return
        self._state.check_open()
        self._trailers = raw or None

    async def finish(self) -> None:
        """End the body: trailers or END_STREAM (what leaving the block does)."""
        state = self._state
        if self._no_body or state.response is ResponseState.ENDED:
            # Nothing to say (HEAD), or the last send() said it.
            await trio.lowlevel.checkpoint()
            return
        state.check_open()
        self._check_length(self._sent)
        await trio.lowlevel.checkpoint_if_cancelled()
        self._end()
        await trio.lowlevel.cancel_shielded_checkpoint()


def reset_unfinished(io: StreamIO, state: StreamState, stream_id: int, exc: BaseException) -> None:
    """Leave no half-sent response behind, even if the handler goes on.

    A response cut short by ``exc`` resets the stream: CANCEL for a cancellation,
    INTERNAL_ERROR for a failure.
    """
    if not state.response_ended:
        code = ErrorCode.CANCEL if isinstance(exc, trio.Cancelled) else ErrorCode.INTERNAL_ERROR
        io.reset_stream(stream_id, code)


def declared_length(headers: RawHeaders) -> int | None:
    values = {value for name, value in headers if name == b"content-length"}
    if not values:
        return None
    if len(values) > 1 or not next(iter(values)).isdigit():
        raise LocalProtocolError(f"invalid content-length {sorted(values)!r}")
    return int(next(iter(values)))
