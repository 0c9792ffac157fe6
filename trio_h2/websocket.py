"""WebSockets as a kind of request: ``ws = await stream.accept_websocket()``.

Theory of operation
-------------------
The WebSocket a handler gets is a :class:`trio_websocket.WebSocketConnection`, so code
written for trio-websocket runs unchanged.  trio-websocket runs a WebSocket over any
``trio.abc.Stream`` with a wsproto connection and a reader task of its own; this module
supplies the three things it leaves to its server: the transport, the handshake and
the lifetime.

* **Transport.**  Over HTTP/2 (RFC 8441) the WebSocket is the body of an extended
  CONNECT.  :class:`StreamTransport` reads the request body (credit goes back to the
  peer as the reader takes it, so a handler that stops reading stalls its own stream
  and nothing else) and writes the response body (each write waits for flow-control
  credit).  Closing it ends the response (END_STREAM, the orderly close of RFC 8441
  §5) and stops the peer's side with RST_STREAM(NO_ERROR) if it is still open, so what
  the peer sends after that costs the connection nothing.  Over HTTP/1.1 the transport
  is the socket, handed over after the 101 (:func:`accept_http1`): reads go to it
  directly, writes through the connection's bounded writer, which gathers the frames
  of a burst into one write (``trio_h2/server/switched.py``).
* **Handshake.**  Over HTTP/2 there is no ``Sec-WebSocket-Key`` or ``-Accept`` (RFC
  8441 §4): the server checks ``sec-websocket-version`` and the chosen subprotocol and
  answers 200 with ``sec-websocket-protocol`` and the handler's extra headers.  No
  extension is negotiated (trio-websocket offers none), so no
  ``sec-websocket-extensions`` goes back.  wsproto's frame layer then starts past the
  handshake: a ``wsproto.WSConnection`` whose ``connection`` is a
  ``wsproto.connection.Connection`` made open, with the bytes that came after the
  request (both public wsproto API; no HTTP/1.1 text is made up only to be parsed).
* **Lifetime.**  The handler's task owns the WebSocket.  Its reader runs in a nursery
  beside the handler (:meth:`trio_h2.Stream.open_tunnel`); when the handler returns,
  the WebSocket is closed with 1000, or 1011 if the handler raised (a
  ``ConnectionClosed`` of its own WebSocket that ends the handler is a normal end),
  and its stream ended before the handler's task finishes.  A graceful shutdown of the
  server closes it with 1001.  Every close handshake waits at most
  ``Config.websocket_close_timeout`` for the peer's Close frame.

Where trio-websocket falls short of RFC 6455, :class:`WebSocket`, its subclass, fixes
it; each override is listed there with its reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio
import trio_websocket
import wsproto
import wsproto.connection
import wsproto.events
import wsproto.utilities
from wsproto.connection import ConnectionState

from ._errors import ErrorCode, H2Error, LocalProtocolError, RemoteProtocolError
from ._headers import HeaderList, RawHeaders, check_headers
from .server.interrupt import protected
from .server.switched import SwitchedTransport

if TYPE_CHECKING:
    from .server.response import ResponseBody
    from .server.stream import Stream

__all__ = ["StreamTransport", "WebSocket", "accept", "accept_http1"]

#: The only WebSocket version there is (RFC 6455 §4.1).
VERSION = "13"

#: What the HTTP/1.1 driver does to switch: answer 101 with these fields (``upgrade``
#: and ``connection`` are its own), and hand back the socket and whatever was read
#: after the request.
Switch = Callable[[RawHeaders], Awaitable[tuple[trio.abc.Stream, bytes]]]


class WebSocket(trio_websocket.WebSocketConnection):
    """A trio-websocket connection on a trio_h2 request.

    It is trio-websocket's own class with five of its private methods overridden: one,
    ``_send``, for speed (a frame the transport can take at once goes out in one
    scheduling round, not two: the lock's and the write's), and four each for a rule
    of RFC 6455 that trio-websocket 0.12 breaks (the version is bounded in
    ``pyproject.toml``, and ``tests/test_websocket.py`` shows each fault against the
    unmodified class):

    * ``_handle_close_connection_event``: when a frame breaks the protocol (unmasked,
      reserved bits, an unknown opcode, a fragmented control frame, invalid UTF-8, a
      close code no endpoint may send), wsproto reports a CloseConnection with the code
      to fail with, but sends nothing, and trio-websocket closes the transport without
      a Close frame.  RFC 6455 §7.1.7 asks for a Close frame with that code (1002,
      1007) first: it is sent here.
    * ``_handle_message_event``: after a message over the size limit trio-websocket
      sends Close 1009 but leaves the transport open until the peer sends more; here it
      is closed at once (§7.1.7).  A message that arrives once the WebSocket is closing
      is dropped (nobody can read it, and a second message too big made trio-websocket
      try a second Close, which wsproto refuses, killing the reader).
    * ``_handle_ping_event``: a Ping after the server's Close is not answered: wsproto
      refuses to send the Pong then, and the error would kill the reader.
    * ``_aclose``: trio-websocket records 1000 as the close reason whatever code it
      sends, and waits for the peer's Close without bound.  The code sent is recorded
      (a handler closed by a shutdown sees 1001), and the wait is bounded by
      ``Config.websocket_close_timeout``.

    :attr:`subprotocol` and :attr:`handshake_headers` (the request's headers) are set
    from the start; :attr:`remote` is the client's address.
    """

    def __init__(
        self,
        transport: trio.abc.Stream,
        ws_connection: wsproto.WSConnection,
        request: Stream,
        subprotocol: str | None,
    ) -> None:
        config = request.config
        super().__init__(
            transport,
            ws_connection,
            path=request.path,
            max_message_size=config.websocket_max_message_size,
            receive_buffer_size=None,  # whatever the transport has: it is credit already
        )
        self._request = request
        self._accepted_subprotocol = subprotocol
        self._close_timeout = config.websocket_close_timeout

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, or None."""
        return self._accepted_subprotocol

    @property
    def handshake_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The header fields of the request that opened the WebSocket."""
        return tuple(self._request.raw_headers)

    @property
    def remote(self) -> trio_websocket.Endpoint | str:
        """The client's address, as an Endpoint when it is an IP address and port."""
        address = self._request.client_address
        if isinstance(address, tuple) and len(address) >= 2:
            try:
                return trio_websocket.Endpoint(
                    address[0], address[1], self._request.scheme == "https"
                )
            except ValueError:
                pass
        return repr(address)

    async def _send(self, event: wsproto.events.Event) -> None:
        # One scheduling round per frame instead of two (the lock's and the write's)
        # when the transport can take the frame at once and nobody else is sending.
        stream = self._stream
        if (
            not isinstance(stream, SwitchedTransport)
            or self._stream_lock.locked()
            or not stream.can_queue
        ):
            await super()._send(event)
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        stream.queue(self._wsproto.send(event))
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def _run_reader(self) -> None:
        # As trio-websocket's own wrap_server_stream() starts it.
        await self._reader_task()

    # -------------------------------------------------------------- RFC 6455 fixes

    async def _handle_close_connection_event(self, event: wsproto.events.CloseConnection) -> None:
        if self._wsproto.state is ConnectionState.OPEN:
            # Not a Close frame (that would have moved the state on): wsproto failed
            # the connection.  §7.1.7: send Close with its code, then close.
            self._close_reason = trio_websocket.CloseReason(event.code, event.reason or None)
            try:
                await self._send(wsproto.events.CloseConnection(event.code, event.reason))
            except trio_websocket.ConnectionClosed:
                pass
        await super()._handle_close_connection_event(event)

    async def _handle_message_event(
        self, event: wsproto.events.BytesMessage | wsproto.events.TextMessage
    ) -> None:
        if self._close_reason is not None:
            return
        await super()._handle_message_event(event)
        if not self._reader_running:
            # Too big: Close 1009 went out; fail the connection now (§7.1.7).
            await self._close_stream()

    async def _handle_ping_event(self, event: wsproto.events.Ping) -> None:
        if self._wsproto.state is ConnectionState.OPEN:
            await super()._handle_ping_event(event)

    async def _aclose(self, code: int, reason: str | None) -> None:
        if self._close_reason is not None:
            return  # closed, or closing in another task
        try:
            if self._wsproto.state is ConnectionState.OPEN:
                self._close_reason = trio_websocket.CloseReason(code, reason)
                await self._send(wsproto.events.CloseConnection(code=code, reason=reason))
            else:
                self._close_handshake.set()
            await self._recv_channel.aclose()
            with trio.move_on_after(self._close_timeout):
                await self._close_handshake.wait()
        except trio_websocket.ConnectionClosed:
            pass
        finally:
            await self._close_stream()


class StreamTransport(trio.abc.Stream):
    """A trio Stream over one HTTP/2 stream's bodies: the request in, the response out.

    ``body`` is the started response (a 200 to an extended CONNECT).  Errors of the
    HTTP/2 stream become trio's: a reset (either side's) or a closed connection is
    ``trio.BrokenResourceError``; use after :meth:`aclose` is
    ``trio.ClosedResourceError``.
    """

    def __init__(self, stream: Stream, body: ResponseBody) -> None:
        self._stream = stream
        self._body = body
        # What a read took beyond its max_bytes, for the next read.
        self._pending = b""
        self._closed = False
        # A write is waiting for credit: closing then cuts a frame, so it resets.
        self._sending = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket's stream is closed")
        if self._pending:
            await trio.lowlevel.checkpoint_if_cancelled()
            data, self._pending = self._pending, b""
            await trio.lowlevel.cancel_shielded_checkpoint()
        else:
            try:
                data = await self._stream.receive_some()
            except H2Error as exc:
                if self._closed:
                    raise trio.ClosedResourceError("the WebSocket's stream is closed") from None
                raise trio.BrokenResourceError(str(exc)) from exc
        if max_bytes is not None and len(data) > max_bytes:
            data, self._pending = data[:max_bytes], data[max_bytes:]
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket's stream is closed")
        if self._sending:
            raise trio.BusyResourceError("another task is writing to the WebSocket's stream")
        self._sending = True
        try:
            await self._body.send(bytes(data))
        except H2Error as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket's stream is closed")
        try:
            await self._stream.wait_send_window()
        except H2Error as exc:
            raise trio.BrokenResourceError(str(exc)) from exc

    async def aclose(self) -> None:
        """End the response (END_STREAM); stop the peer's side too if it is still open.

        Neither waits for the peer (an empty DATA frame needs no credit), so it is done
        even under cancellation.  A write still waiting for credit would be cut short:
        the stream is reset with CANCEL instead (RFC 8441 §5: an abnormal close).  A
        stream already reset has nothing left to end.
        """
        if not self._closed:
            self._closed = True
            stream = self._stream
            with trio.CancelScope(shield=True):
                try:
                    if self._sending:
                        await stream.reset(ErrorCode.CANCEL)
                    else:
                        await self._body.finish()
                        if not stream.request_complete:
                            # RFC 9113 §8.1: the response is whole; the peer stops sending.
                            await stream.reset(ErrorCode.NO_ERROR)
                except H2Error:
                    pass
        await trio.lowlevel.checkpoint()


class _Tunnel:
    """A WebSocket as its stream's tunnel (:class:`trio_h2.server.stream.Tunnel`)."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._nursery = stream.open_tunnel(self)
        self.websocket: WebSocket | None = None
        self._transport: trio.abc.Stream | None = None
        # Set when trio-websocket's reader is done: whoever closed the WebSocket
        # (the handler, the reader on a failure, a shutdown) has closed the transport.
        self._reader_done = trio.Event()
        # Set by a graceful shutdown; a task in the nursery waits for it (shutdown()
        # cannot start one: the nursery may be closing by then).
        self._going_away = trio.Event()

    def start(
        self, transport: trio.abc.Stream, trailing_data: bytes, subprotocol: str | None
    ) -> WebSocket:
        """The WebSocket on ``transport``, its reader started; ``trailing_data`` is
        what the peer sent after the request, already read from the transport."""
        connection = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        # The handshake was HTTP's: wsproto's frame layer starts open.
        connection.connection = wsproto.connection.Connection(
            wsproto.ConnectionType.SERVER, trailing_data=trailing_data
        )
        websocket = WebSocket(transport, connection, self._stream, subprotocol)
        self.websocket = websocket
        self._transport = transport
        self._nursery.start_soon(self._read, websocket)
        self._nursery.start_soon(self._close_on_shutdown, websocket)
        return websocket

    @protected
    async def _close_on_shutdown(self, websocket: WebSocket) -> None:
        await self._going_away.wait()
        await websocket.aclose(1001)

    @protected
    async def _read(self, websocket: WebSocket) -> None:
        try:
            await websocket._run_reader()
        finally:
            self._reader_done.set()

    async def finish(self, failure: Exception | None) -> Exception | None:
        websocket = self.websocket
        if websocket is None:
            return failure
        if isinstance(failure, trio_websocket.ConnectionClosed) and websocket.closed:
            failure = None  # the WebSocket closed, and that ended the handler
        # aclose() returns at once if the WebSocket is closing already (the reader
        # failing it, a shutdown): that close is let finish.  Either way the reader
        # ends once the transport is closed; a peer that holds the close up (no
        # Close frame, or no credit for ours) gets the close timeout in all.
        with trio.move_on_after(websocket._close_timeout):
            await websocket.aclose(1000 if failure is None else 1011)
            await self._reader_done.wait()
        assert self._transport is not None
        await self._transport.aclose()
        return failure

    def shutdown(self) -> None:
        self._going_away.set()


# ------------------------------------------------------------------ the handshake


def _offered_subprotocols(stream: Stream) -> list[str]:
    offered: list[str] = []
    for name, value in stream.raw_headers:
        if name == b"sec-websocket-protocol":
            offered += wsproto.utilities.split_comma_header(value)
    return offered


def _check_subprotocol(stream: Stream, subprotocol: str | None) -> None:
    if subprotocol is not None and subprotocol not in _offered_subprotocols(stream):
        raise LocalProtocolError(
            f"subprotocol {subprotocol!r} was not offered by the client "
            f"(it offered {_offered_subprotocols(stream)!r})"
        )


def _check_request(stream: Stream, subprotocol: str | None) -> None:
    if not stream.is_websocket:
        raise LocalProtocolError(f"{stream!r} is not a WebSocket request")
    stream.state.check_can_start()
    _check_subprotocol(stream, subprotocol)


async def _refuse_version(stream: Stream) -> None:
    """RFC 6455 §4.2.2: answer a request for another version (or none) and raise."""
    versions = [value for name, value in stream.headers if name == "sec-websocket-version"]
    if versions == [VERSION]:
        return
    status = 426 if versions else 400
    await stream.respond(
        status,
        [("sec-websocket-version", VERSION), ("content-type", "text/plain")],
        b"WebSocket version 13 only\n",
    )
    raise RemoteProtocolError(
        f"WebSocket request for version {versions or 'none'} (answered {status})",
        ErrorCode.NO_ERROR,
    )


def _response_fields(subprotocol: str | None, extra_headers: HeaderList) -> RawHeaders:
    fields: RawHeaders = []
    if subprotocol is not None:
        fields.append((b"sec-websocket-protocol", subprotocol.encode("ascii")))
    fields += check_headers(extra_headers)
    return fields


async def accept(
    stream: Stream, subprotocol: str | None = None, extra_headers: HeaderList = ()
) -> WebSocket:
    """What :meth:`trio_h2.Stream.accept_websocket` does (see there).

    Raises :class:`~trio_h2.LocalProtocolError` for a request that is not a WebSocket
    request, a response already started, or a subprotocol the client did not offer,
    before anything is sent.  A request for a WebSocket version other than 13 is
    answered (426, or 400 when it names none, with ``sec-websocket-version: 13``) and
    raises :class:`~trio_h2.RemoteProtocolError`, which the server lets pass quietly.
    """
    _check_request(stream, subprotocol)
    if stream.method != "CONNECT":
        # An HTTP/1.1 Upgrade: 101, then the WebSocket runs on the connection itself.
        return await accept_http1(stream, stream.switch_protocols, subprotocol, extra_headers)
    fields = _response_fields(subprotocol, extra_headers)
    tunnel = _Tunnel(stream)
    await _refuse_version(stream)
    # RFC 8441 §5: 200, then the stream's DATA carries the WebSocket both ways.
    body = await stream.start_response(200, fields).__aenter__()
    return tunnel.start(StreamTransport(stream, body), b"", subprotocol)


async def accept_http1(
    stream: Stream,
    switch: Switch,
    subprotocol: str | None = None,
    extra_headers: HeaderList = (),
) -> WebSocket:
    """Accept an HTTP/1.1 Upgrade (RFC 6455 §4.2.2): the HTTP/1.1 driver's part.

    The request is one the driver marked ``:protocol websocket`` (a GET with version
    13 and a valid ``Sec-WebSocket-Key``).  ``switch`` answers 101 with the fields given
    (``sec-websocket-accept``, ``sec-websocket-protocol``, the extra headers) and
    returns the socket and the bytes read after the request; the WebSocket runs on
    them, as it runs on an HTTP/2 stream.
    """
    _check_request(stream, subprotocol)
    key = stream.header("sec-websocket-key")
    if key is None:
        raise LocalProtocolError(f"{stream!r} has no Sec-WebSocket-Key")
    fields = [
        (b"sec-websocket-accept", wsproto.utilities.generate_accept_token(key.encode())),
        *_response_fields(subprotocol, extra_headers),
    ]
    tunnel = _Tunnel(stream)
    transport, trailing_data = await switch(fields)
    return tunnel.start(transport, trailing_data, subprotocol)
