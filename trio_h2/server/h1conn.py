"""One HTTP/1.1 connection: a reader feeding the sans-IO protocol, one writer, a task per request.

The shape is the HTTP/2 connection's (``h2conn.py``), with one request at a time:

* the **reader** passes what the socket gives to
  :class:`~trio_h2.proto.h1.H1Server` and dispatches the events: a request starts a
  handler task with its :class:`~trio_h2.Stream`, body bytes go to that stream's
  buffer.  It reads only while the protocol wants more (``wants_more_data``): while
  the handler has not consumed its body credit, or a pipelined request waits behind
  the current one, the socket is left alone, so memory stays bounded by ``Config``.
* the **handler task** answers through the same ``StreamIO`` calls as over HTTP/2;
  here they become a status line, a body with content-length or chunked framing,
  and chunked trailers where the client asked for them.
* the **writer** (``writer.py``) is the only task that awaits a send.

A stream reset, which HTTP/1.1 cannot say, closes the connection: a body cut short
is never taken for a whole one (a chunked body misses its last chunk, a body with
content-length its last bytes).  Every refusal the protocol makes (400, 414, 431,
501, 505...) is queued by it, sent, and then the connection is closed after a short
lingering read, so that the client sees the answer rather than a reset.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import trio

from .._config import Config
from .._errors import ErrorCode, LocalProtocolError, StreamReset
from .._headers import DateCache, RawHeaders
from ..proto import events as ev
from ..proto.h1 import H1Limits, H1Server
from ..proto.h1.events import PeerClosed
from ..proto.state import StreamState
from .access import log_exchange
from .answers import PEER_FAULTS, answer_431, answer_error, response_headers, server_headers
from .h2conn import H2cUpgrade
from .health import HealthCheck
from .interrupt import call_handler, protected
from .proxied import Proxied
from .sockio import DirectSocket, socket_fd
from .stream import Handler, PushedResponse, Stream
from .switched import SwitchedTransport
from .tls import TLSSession, session_of
from .writer import Writer

log = logging.getLogger("trio_h2")

RECEIVE_SIZE = 65_536
#: Chunk size offered to pull-style body producers (there is no window to size to).
SEND_CHUNK = 65_536
#: After a refusal or an abandoned body, how long (seconds) and how much (bytes) is
#: read and dropped before closing, so that the client reads the answer.
LINGER_TIME = 1.0
LINGER_BYTES = 1_048_576
#: Seconds a connection shut down before its first request (or with the head of its
#: next one partly read) has for that request to arrive; it is then answered.
SHUTDOWN_NEXT_REQUEST = 1.0


def h1_limits(config: Config) -> H1Limits:
    """The HTTP/1.1 protocol's limits, from the server's Config."""
    return H1Limits(
        max_request_line=config.max_request_line_size,
        max_header_size=config.max_header_list_size,
        max_header_count=config.max_header_count,
        max_requests_per_connection=config.max_requests_per_connection,
        max_body_buffer=min(config.initial_window_size, 1_048_576),
    )


class H1Connection:
    """Serves HTTP/1.1 (and 1.0) on one transport stream until it closes."""

    def __init__(
        self,
        transport: trio.abc.Stream,
        handler: Handler,
        config: Config,
        *,
        client_address: Any = None,
        date_cache: DateCache | None = None,
        initial_data: bytes | bytearray = b"",
        scheme: bytes = b"http",
        started_at: float | None = None,
        proxied: Proxied | None = None,
        health: HealthCheck | None = None,
    ) -> None:
        self._transport = transport
        self._handler = handler
        # Config.health_path's answer, given the server's draining state (None: off).
        self._health = health
        self._config = config
        self.client_address = client_address
        # What the streams may believe of their forwarded headers (see proxied.py).
        self._proxied = proxied
        self._peer = client_address
        self._date = date_cache or DateCache()
        self._static_headers = server_headers(config)
        self._proto = H1Server(h1_limits(config), scheme=scheme)
        self._initial = initial_data
        self._stream: Stream | None = None
        self._requests_seen = 0
        self._idle_since = started_at if started_at is not None else trio.current_time()
        # Since when the head of the next request has been arriving, if it has.
        self._head_since: float | None = None
        self._wake = trio.Event()
        self._trailers_dropped = False
        self._linger = False
        fd = socket_fd(transport)
        self._direct = DirectSocket(fd) if fd is not None else None
        self._receive_some = (
            self._direct.receive_some if self._direct is not None else transport.receive_some
        )
        self._writer = Writer(
            transport,
            max_buffer=config.max_outbound_buffer,
            send_timeout=config.send_timeout,
            peer=client_address,
            # Once switched (a WebSocket), writes are gathered: see switched.py.
            several_streams=lambda: self._proto.switched,
            on_lost=self._writer_lost,
            direct=self._direct,
        )
        self._handlers: trio.Nursery | None = None
        self._cancel_scope = trio.CancelScope()
        self._reader_scope = trio.CancelScope()
        self._broken = False
        self._eof = False
        # The read in progress, cut short once the connection is done.
        self._read_scope: trio.CancelScope | None = None
        self._reader_stopped = trio.Event()
        #: Once shut down, how long a request on its way may take to arrive.
        self._shutdown_deadline = math.inf
        #: Set when the client upgraded to HTTP/2: the request, and the bytes read after
        #: it.  The transport is then left open for the HTTP/2 connection.
        self.h2c_upgrade: tuple[H2cUpgrade, bytes] | None = None
        self.closed = trio.Event()

    # ------------------------------------------------------------------ lifecycle

    @protected
    async def run(self) -> None:
        """Serve requests until the peer leaves, the connection fails or shutdown."""
        try:
            with self._cancel_scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer.run)
                    async with trio.open_nursery() as handlers:
                        self._handlers = handlers
                        with self._reader_scope:
                            try:
                                await self._reader_loop()
                            finally:
                                self._reader_stopped.set()
                        if self._stream is not None and not self._broken:
                            # Reading is over (shutdown, or the peer's end of file)
                            # but a response is still being written: let it finish.
                            await self._handler_done()
                        handlers.cancel_scope.cancel()
                    with trio.move_on_after(min(self._config.send_timeout, 5.0)):
                        await self._writer.wait_sent()
                        if self._linger and not self._broken:
                            await self._linger_close()
                    nursery.cancel_scope.cancel()
        finally:
            self.closed.set()
            self._writer.detach()
            if self.h2c_upgrade is None or self._broken:
                self.h2c_upgrade = None
                await trio.aclose_forcefully(self._transport)

    async def _handler_done(self) -> None:
        while self._stream is not None:
            self._wake = trio.Event()
            await self._wake.wait()

    def shutdown(self, *, at_once: bool = False) -> None:
        """Close gracefully: the response in progress is the last (``connection: close``).

        (``at_once`` changes nothing here: HTTP/1.1 has no request in flight to wait for.)
        """
        stream = self._stream
        if stream is not None and stream.tunnel is not None:
            stream.tunnel.shutdown()  # a WebSocket says 1001 (going away)
        if self._proto.switched:
            return
        self._proto.close_after_response(answer_next=True)
        self._flush()
        if self._stream is None:
            if self._proto.closed:
                self._reader_scope.cancel()
            else:
                # A request may be on its way (see close_after_response): it has a
                # moment to arrive, as an HTTP/2 client has the PING's round trip.
                self._shutdown_deadline = trio.current_time() + SHUTDOWN_NEXT_REQUEST
                if self._read_scope is not None:
                    self._read_scope.deadline = min(
                        self._read_scope.deadline, self._shutdown_deadline
                    )
        self._wake_reader()

    def abort(self) -> None:
        """Close now: the handler is cancelled."""
        self._cancel_scope.cancel()

    @property
    def active_streams(self) -> int:
        return 0 if self._stream is None else 1

    @property
    def preface_received(self) -> bool:
        """Whether a request has arrived (until then the connection has done no work)."""
        return self._requests_seen > 0

    @property
    def idle_since(self) -> float | None:
        """Since when no request has been in progress; None while one is."""
        if self._stream is not None or not self._requests_seen:
            return None
        return self._idle_since

    # --------------------------------------------------------------------- reader

    async def _reader_loop(self) -> None:
        proto = self._proto
        if self._initial:
            data, self._initial = bytes(self._initial), b""
            self._head_since = trio.current_time()
            self._dispatch(proto.receive_data(data))
        while not (proto.closed or proto.switched or self._broken):
            self._dispatch(proto.next_events())
            self._flush()
            if proto.closed or proto.switched or self._broken:
                break
            if self._writer.full:
                await self._writer.wait_drained()
                continue
            if self._eof and self._stream is None:
                break  # the peer closed its side and its last request is answered
            if not proto.wants_more_data:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            deadline = self._read_deadline()
            with trio.move_on_at(deadline) as waited:
                self._read_scope = waited
                try:
                    data = bytes(await self._receive_some(RECEIVE_SIZE))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                finally:
                    self._read_scope = None
            if proto.closed or proto.switched or self._broken:
                break  # the read was cut short: the connection is done (or handed over)
            if waited.cancelled_caught:
                self._timed_out()
                break
            if data and proto.stream_id is None and self._head_since is None:
                self._head_since = trio.current_time()
            if not data:
                self._eof = True
                if self._stream is None:
                    return  # the peer closed between requests
            self._dispatch(proto.receive_data(data))
        self._flush()

    def _read_deadline(self) -> float:
        config = self._config
        if self._stream is not None:
            return float("inf")  # the handler decides how long a request may take
        if self._head_since is not None:
            deadline = self._head_since + config.header_timeout
        elif not self._requests_seen:
            deadline = self._idle_since + config.handshake_timeout
        else:
            deadline = self._idle_since + config.keep_alive_timeout
        return min(deadline, self._shutdown_deadline)

    def _timed_out(self) -> None:
        if self._head_since is not None:
            log.debug("request head from %s not finished in time", self.client_address)
            # RFC 9110 §15.5.9: the server closes an unfinished request with 408.
            self._writer.queue(_REQUEST_TIMEOUT)
            self._linger = True
        else:
            log.debug("keep-alive connection from %s idle, closing", self.client_address)

    def _dispatch(self, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.RequestReceived):
                self._on_request(event)
            elif isinstance(event, ev.DataReceived):
                if self._stream is not None:
                    self._stream.inbound.feed(event.data, event.flow_length)
            elif isinstance(event, ev.RequestEnded):
                if self._stream is not None:
                    self._stream.state.end_request()
                    self._stream.inbound.end(event.trailers)
            elif isinstance(event, ev.ConnectionViolation):
                log.debug(
                    "refusing a request from %s (%s): %s",
                    self.client_address,
                    event.error_code,
                    event.message,
                )
                self._linger = True
                self._end_stream_task(ErrorCode.PROTOCOL_ERROR)
            elif isinstance(event, PeerClosed):
                if event.stream_id is not None:
                    log.debug("%s closed the connection mid-request", self.client_address)
                    self._end_stream_task(ErrorCode.CANCEL, remote=True)
                elif self._stream is not None and not self._proto.response_framed_whole:
                    # The whole request came, then the end of file: the client has
                    # gone, as browsers and proxies go (nginx's 499), and its handler
                    # is cancelled as a reset stream's is over HTTP/2.  (Once the
                    # response's Content-Length is all sent, the client has its
                    # answer, and the handler finishes as it would have.)
                    log.debug("%s closed the connection before its answer", self.client_address)
                    self._end_stream_task(ErrorCode.CANCEL, remote=True)

    def _end_stream_task(self, code: int, *, remote: bool = False) -> None:
        stream = self._stream
        if stream is not None and not stream.state.response_ended:
            stream.state.reset(code, remote=remote)
            stream.inbound.wake()
            stream.cancel_scope.cancel()
            self._broken = True

    def _on_request(self, event: ev.RequestReceived) -> None:
        self._requests_seen += 1
        self._head_since = None
        state = StreamState(f"<Stream {event.stream_id}>")
        pseudo = event.pseudo
        if pseudo.get(b":protocol") == b"h2c":
            if self._config.http2 and event.end_stream:
                self._switch_to_h2(event)
                return
            # A request with a body (which would have to be read whole first), or
            # HTTP/2 is off: the upgrade is ignored, as RFC 9110 §7.8 allows.
            pseudo = {k: v for k, v in pseudo.items() if k != b":protocol"}
        stream = Stream(
            self,
            event.stream_id,
            pseudo,
            event.headers,
            state=state,
            client_address=self.client_address,
            proxied=self._proxied,
            max_body_size=self._config.max_request_body_size,
            http_version=event.http_version,
            config=self._config,
        )
        if event.end_stream:
            state.end_request()
        self._stream = stream
        handler: Handler = self._handler
        if event.too_large:
            handler = answer_431
        elif self._health is not None and self._health.answers(pseudo.get(b":path")):
            handler = self._health
        assert self._handlers is not None
        self._handlers.start_soon(self._run_stream, stream, handler)

    def _switch_to_h2(self, event: ev.RequestReceived) -> None:
        """RFC 7540 §3.2: 101, then HTTP/2 on this socket; the request is stream 1."""
        settings = next(value for name, value in event.headers if name == b"http2-settings")
        trailing = self._proto.send_switching_protocols([])
        self._flush()
        self.h2c_upgrade = (H2cUpgrade(settings, event.pseudo, event.headers), trailing)
        log.debug("%s switched to HTTP/2 (h2c upgrade)", self.client_address)

    # ------------------------------------------------------------------- streams

    @protected
    async def _run_stream(self, stream: Stream, handler: Handler) -> None:
        failed = False
        try:
            with stream.cancel_scope:
                failure: Exception | None = None
                try:
                    if stream.protocol is not None:
                        # An Upgrade: the handler may switch the connection to it.
                        await stream.run_handler(handler)
                    else:
                        await call_handler(handler, stream)
                except Exception as exc:
                    failure = exc
                    failed = not isinstance(exc, PEER_FAULTS)
                if failure is not None:
                    await answer_error(stream, failure)
                elif not stream.response_started:
                    log.error("handler for %r returned without responding", stream)
                    await answer_error(stream, None)
        finally:
            self._stream_done(stream, failed)

    def _stream_done(self, stream: Stream, failed: bool) -> None:
        log_exchange(stream, stream.client_address, lost=self._broken)
        if not stream.state.response_ended:
            # Half a response: HTTP/1.1 can only say so by closing.
            if failed:
                log.debug(
                    "closing the connection from %s: response cut short", self.client_address
                )
            self._broken = True
            self._reader_scope.cancel()
        if self._stream is stream:
            # (Once its response has ended, the next pipelined request may have
            # started already, while this handler was still finishing.)
            self._stream = None
            self._idle_since = trio.current_time()
            if self._read_scope is not None:
                # The read under way had no deadline while the request was served.
                self._read_scope.deadline = self._read_deadline()
        self._flush()
        self._wake_reader()

    # ------------------------------------------------------------------- StreamIO

    @functools.cached_property
    def tls(self) -> TLSSession | None:
        """The connection's own TLS session (read once, when first asked for)."""
        return session_of(self._transport)

    def response_headers(self, status: bytes, headers: RawHeaders) -> RawHeaders:
        return response_headers(self._config, self._static_headers, self._date, status, headers)

    def _check(self, stream_id: int) -> Stream:
        stream = self._stream
        if stream is None or stream.stream_id != stream_id:
            raise LocalProtocolError(f"request {stream_id} is over")
        if stream.state.reset_code is not None:
            raise stream.state.reset_error()
        if self._broken:
            raise StreamReset(ErrorCode.CANCEL, remote=True)
        return stream

    def send_headers(self, stream_id: int, headers: RawHeaders, end_stream: bool) -> None:
        self._check(stream_id)
        proto = self._proto
        status = headers[0][1] if headers and headers[0][0] == b":status" else None
        if status is None:
            self._send_trailers(headers)  # they end the response
        elif status[:1] == b"1":
            proto.send_informational(int(status), headers[1:])
        else:
            proto.send_response(int(status), headers[1:], end_stream)
            if end_stream:
                self._response_queued()
        self._flush()
        if end_stream:
            self._wake_reader()

    def _response_queued(self) -> None:
        """The response's end is queued: it is complete, whatever the peer does next.

        Said here, before the handler's task resumes, because a client that has the
        whole response may close at once, and the stream must not then count as cut
        short (by the end of file that follows, in the access log).
        """
        if self._stream is not None:
            self._stream.state.end_response()

    def _send_trailers(self, trailers: RawHeaders) -> None:
        sent = self._proto.send_end(trailers)
        self._response_queued()
        if not sent and trailers and not self._trailers_dropped:
            self._trailers_dropped = True
            log.debug(
                "%r: trailers dropped (no TE: trailers in the request, or not chunked)",
                self._stream,
            )

    async def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        """Queue ``data`` (waiting while the outbound buffer is full), then the end."""
        total = len(data)
        offset = 0
        limit = self._config.max_outbound_buffer
        try:
            while True:
                stream = self._check(stream_id)
                if self._writer.full:
                    await self._writer.wait_drained()
                    continue
                end = min(total, offset + limit)
                chunk = data if offset == 0 and end == total else data[offset:end]
                self._proto.send_data(chunk)
                stream.state.sent(len(chunk))
                offset = end
                if offset >= total:
                    if end_stream:
                        self._proto.send_end(None)
                        self._response_queued()
                        self._wake_reader()
                    self._flush()
                    break
                self._flush()
        except BaseException as exc:
            if offset and isinstance(exc, trio.Cancelled):
                self.reset_stream(stream_id, ErrorCode.CANCEL)
            raise
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_response(
        self, stream_id: int, headers: RawHeaders, data: bytes, trailers: RawHeaders | None
    ) -> None:
        """The head, the body, then the end (with trailers where they can go)."""
        if trailers and _asks_for_trailers(self._check(stream_id)):
            # Trailers need chunked framing: the length is left to the chunks.
            headers = [field for field in headers if field[0] != b"content-length"]
        if len(data) + self._writer.pending <= self._config.max_outbound_buffer:
            self._check(stream_id)
            proto = self._proto
            proto.send_response(int(headers[0][1]), headers[1:], False)
            if data:
                proto.send_data(data)
                self._check(stream_id).state.sent(len(data))
            if trailers:
                self._send_trailers(trailers)
            else:
                proto.send_end()
                self._response_queued()
            self._flush()
            self._wake_reader()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        self.send_headers(stream_id, headers, False)
        await self.send_data(stream_id, data, trailers is None)
        if trailers is not None:
            self.send_headers(stream_id, trailers, True)

    def end_stream(self, stream_id: int) -> None:
        self._check(stream_id)
        self._proto.send_end(None)
        self._response_queued()
        self._flush()
        self._wake_reader()

    def reset_stream(self, stream_id: int, error_code: int) -> None:
        """HTTP/1.1 has no reset: the connection is closed once the handler is done."""
        stream = self._stream
        if stream is not None and stream.stream_id == stream_id:
            stream.state.reset(error_code, remote=False)
            stream.inbound.wake()
        self._broken = True
        self._reader_scope.cancel()

    def acknowledge(self, stream_id: int, size: int) -> None:
        if size:
            self._proto.acknowledge_received_data(size, stream_id)
            self._wake_reader()

    def reading(self, stream_id: int) -> None:
        """The handler waits for body bytes: a client expecting 100 Continue gets it."""
        if self._proto.awaiting_continue and self._stream is not None:
            self._proto.send_informational(100, [])
            self._flush()
        self._wake_reader()

    async def wait_send_window(self, stream_id: int) -> int:
        await trio.lowlevel.checkpoint()
        while True:
            self._check(stream_id)
            if not self._writer.full:
                return SEND_CHUNK
            await self._writer.wait_drained()

    async def switch_protocols(
        self, stream_id: int, headers: RawHeaders
    ) -> tuple[trio.abc.Stream, bytes]:
        """101, then the connection is the handler's: the reader stops, the writer idles."""
        stream = self._check(stream_id)
        if stream.protocol is None:
            raise LocalProtocolError(f"{stream!r} did not ask to switch protocols")
        await trio.lowlevel.checkpoint_if_cancelled()
        trailing = self._proto.send_switching_protocols(headers)
        stream.state.start_response(101)
        stream.state.end_response()
        self._flush()
        self._wake_reader()
        with trio.CancelScope(shield=True):
            # Nobody else may touch the socket from here on: the 101 goes out
            # first, and the reader lets go of it.
            await self._writer.wait_sent()
            await self._reader_stopped.wait()
        if self._writer.broken:
            raise StreamReset(ErrorCode.CANCEL, remote=True)
        self._writer.gathering = True
        switched = SwitchedTransport(
            self._transport, self._writer, self._receive_some, RECEIVE_SIZE
        )
        return switched, trailing

    def push_nowait(
        self, parent: Stream, request_headers: RawHeaders, response: PushedResponse
    ) -> Stream | None:
        return None  # HTTP/1.1 has no push

    # --------------------------------------------------------------------- writer

    def _flush(self) -> None:
        data = self._proto.data_to_send()
        if data:
            self._writer.queue(data)

    def _wake_reader(self) -> None:
        """Let the reader look again; a read in progress is cut once there is no more to read."""
        self._wake.set()
        proto = self._proto
        if self._read_scope is not None and (proto.closed or proto.switched or self._broken):
            self._read_scope.cancel()

    def _writer_lost(self) -> None:
        self._broken = True
        self._cancel_scope.cancel()

    async def _linger_close(self) -> None:
        """Read and drop what the client still sends, briefly, before closing.

        Closing with unread bytes in the socket makes the kernel send a reset,
        which can destroy the answer before the client has read it.
        """
        send_eof = getattr(self._transport, "send_eof", None)
        if send_eof is not None:
            try:
                await send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return
        dropped = 0
        with trio.move_on_after(LINGER_TIME):
            while dropped < LINGER_BYTES:
                try:
                    data = await self._receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not data:
                    return
                dropped += len(data)


def _asks_for_trailers(stream: Stream) -> bool:
    te = stream.header("te") or ""
    return "trailers" in (token.strip().lower() for token in te.split(","))


_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
    b"content-length: 16\r\nconnection: close\r\n\r\nRequest Timeout\n"
)
