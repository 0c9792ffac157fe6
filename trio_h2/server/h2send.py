"""The send side of a connection: what a stream's response does to h2 and the wire.

:class:`StreamSender` is the part of :class:`~trio_h2.server.h2conn.Connection` that a
:class:`~trio_h2.server.stream.Stream` calls through its ``StreamIO`` interface: response
headers, DATA within the flow-control windows and the outbound buffer's bound,
trailers, END_STREAM, resets, and credit given back for what a handler has read.
Every call changes the protocol state (``proto/h2/connection.py``) synchronously
and then moves its output to the writer's buffer (``writer.py``); the only awaits
are for flow-control credit and for the buffer to drain.  (Server push, which starts
a stream task, stays with the connection.)
"""

from __future__ import annotations

import logging

import trio

from .._config import Config
from .._errors import ErrorCode, LocalProtocolError, StreamReset
from .._headers import DateCache, RawHeaders
from ..proto.h2.connection import H2Server
from .answers import response_headers
from .flow import WindowWaiters
from .stream import Stream
from .writer import Writer

log = logging.getLogger("trio_h2")


class StreamSender:
    """The StreamIO methods of a connection (see the module docstring).

    The connection's constructor sets every attribute declared here.
    """

    _proto: H2Server
    _writer: Writer
    _windows: WindowWaiters
    _config: Config
    _streams: dict[int, Stream]
    _date: DateCache
    _static_headers: RawHeaders

    def response_headers(self, status: bytes, headers: RawHeaders) -> RawHeaders:
        return response_headers(self._config, self._static_headers, self._date, status, headers)

    def send_headers(self, stream_id: int, headers: RawHeaders, end_stream: bool) -> None:
        self._proto.send_headers(stream_id, headers, end_stream)
        if end_stream:
            self._response_queued(stream_id)
        self._flush()

    def end_stream(self, stream_id: int) -> None:
        self._proto.end_stream(stream_id)
        self._response_queued(stream_id)
        self._flush()

    def _response_queued(self, stream_id: int) -> None:
        """The response's end is queued: it is complete, whatever the peer does next.

        Said here, before the handler's task resumes, because a peer that has the
        whole response may close at once, and the stream must not then count as cut
        short (in the access log, in the handler's view of it).
        """
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.state.end_response()

    def reset_stream(self, stream_id: int, error_code: int) -> None:
        """Reset a stream from the server's side: RST_STREAM, and the stream's state."""
        self._proto.reset_stream(stream_id, error_code)
        self._flush()
        self._wake(stream_id)

    def _wake(self, stream_id: int) -> None:
        """Let everyone waiting on the stream look at its state again."""
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.inbound.wake()
        self._windows.wake(stream_id)

    def acknowledge(self, stream_id: int, size: int) -> None:
        if size:
            self._proto.acknowledge(stream_id, size)
            self._flush()

    def reading(self, stream_id: int) -> None:
        """Nothing to do: over HTTP/2 the windows say when the peer may send."""

    async def switch_protocols(
        self, stream_id: int, headers: RawHeaders
    ) -> tuple[trio.abc.Stream, bytes]:
        raise LocalProtocolError("HTTP/2 has no Upgrade: a tunnel is a stream (RFC 8441)")

    async def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        """Queue ``data`` as DATA frames, waiting for credit as it goes.

        Cancelled before its first byte is queued, it has no effect; cancelled
        after, the part already queued cannot be taken back, so the stream is reset
        (CANCEL) and the peer never takes a truncated body for a whole one.
        """
        proto = self._proto
        config = self._config
        total = len(data)
        offset = 0
        try:
            while True:
                window = proto.send_window(stream_id)
                if self._writer.full:
                    await self._writer.wait_drained()
                    continue
                if window <= 0:
                    await self._wait_window(stream_id)
                    continue
                end = offset + min(window, total - offset, config.max_outbound_buffer)
                chunk = data if end - offset == total else memoryview(data)[offset:end]
                proto.send_data(stream_id, chunk, end_stream and end == total)
                offset = end
                if end_stream and end == total:
                    self._response_queued(stream_id)
                self._flush()
                self._pass_connection_credit()
                if offset >= total:
                    break
        except BaseException as exc:
            # Woken for connection credit it will not use: the next in line gets it.
            self._pass_connection_credit()
            if offset and isinstance(exc, trio.Cancelled):
                self.reset_stream(stream_id, ErrorCode.CANCEL)
            raise
        # All of it is queued: no cancellation may report otherwise.
        await trio.lowlevel.cancel_shielded_checkpoint()

    def _pass_connection_credit(self) -> None:
        if self._windows.in_line and self._proto.connection_window > 0:
            self._windows.wake_connection()

    async def send_response(
        self, stream_id: int, headers: RawHeaders, data: bytes, trailers: RawHeaders | None
    ) -> None:
        """HEADERS, the body, then trailers or END_STREAM.

        When the whole body fits the windows and the outbound buffer, everything is
        queued at once with one flush; otherwise the body waits for credit as
        send_data() does.
        """
        room = self._config.max_outbound_buffer - self._writer.pending
        if self._proto.send_response(stream_id, headers, data, trailers, room):
            self._response_queued(stream_id)
            self._flush()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        self.send_headers(stream_id, headers, not data and trailers is None)
        if data:
            await self.send_data(stream_id, data, trailers is None)
        if trailers is not None:
            self.send_headers(stream_id, trailers, True)
        if not data:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_window(self, stream_id: int) -> int:
        await trio.lowlevel.checkpoint()
        proto = self._proto
        while True:
            window = proto.send_window(stream_id)
            if window > 0:
                # The caller may not send at once (a deferred body): let the next one
                # in line look at the connection's credit too.
                self._pass_connection_credit()
                return min(window, proto.max_frame_size)
            await self._wait_window(stream_id)

    async def _wait_window(self, stream_id: int) -> None:
        """Wait for flow-control credit; a peer that gives none in time loses the stream."""
        on_connection = self._proto.connection_window <= 0
        if not on_connection:
            # Woken in line for connection credit, but it is this stream's own window
            # that is shut: the credit goes to the next in line.
            self._pass_connection_credit()
        with trio.move_on_after(self._config.send_timeout) as waited:
            try:
                await self._windows.wait(stream_id, connection=on_connection)
            except BaseException:
                self._pass_connection_credit()
                raise
        if waited.cancelled_caught:
            self._pass_connection_credit()
            log.info("stream %d: peer gave no flow-control credit in time", stream_id)
            self.reset_stream(stream_id, ErrorCode.CANCEL)
            raise StreamReset(ErrorCode.CANCEL, remote=False)

    def _flush(self) -> None:
        data = self._proto.data_to_send()
        if data:
            self._writer.queue(data)
