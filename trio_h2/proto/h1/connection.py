"""HTTP/1.1 for a server, sans-IO: bytes in, frozen events out; responses in, bytes out.

Theory of operation
-------------------
:class:`H1Server` is driven like the HTTP/2 connection: the driver passes what it
reads to :meth:`~H1Server.receive_data` and dispatches the events that come back
(:class:`~.events.RequestReceived`, :class:`~.events.DataReceived`,
:class:`~.events.RequestEnded`, :class:`~.events.ConnectionViolation`,
:class:`~.events.PeerClosed`); the handler's ``send_*`` calls queue bytes that the
driver's writer takes with :meth:`~H1Server.data_to_send`.  No call blocks or awaits.

Inside, received bytes wait in an inbox.  The gate (:mod:`.gate`) follows the
current request's framing and hands h11 only whole elements it has checked: the
head as the ``h11.Request`` event it parsed, chunk lines and trailers as bytes, and
body bytes only as far as the handler's credit goes.  h11 runs the request/response
state machine (and parses chunk framing again); the events are built from what the
gate parsed, so the handler sees the fields exactly as received (names lowercased).
h11's own refusals are mapped like the gate's: every refusal is a
:class:`~.events.ConnectionViolation` whose ``error_code`` is the status of the
minimal answer already queued (when no response to that request has started), and
the connection closes.

Requests are answered one at a time, in order (RFC 9112 §9.3.2).  What a client
pipelines behind the current request stays in the inbox, unparsed, until that
response ends; :meth:`~H1Server.next_events` then produces the next request.  So the
driver's reading loop is::

    while not (proto.closed or proto.switched):
        dispatch(proto.next_events())        # after send_end(), or credit came back
        if proto.wants_more_data:
            dispatch(proto.receive_data(await stream.receive_some(65536)))
        else:
            await woken()                    # by acknowledge / send_end / close

Memory is bounded: the inbox holds at most one incomplete element (a head or
trailer section within :class:`H1Limits`, a chunk line) plus one read beyond it,
since :attr:`~H1Server.wants_more_data` turns False while the body credit
(``max_body_buffer``, given back with :meth:`~H1Server.acknowledge_received_data`)
is spent, and while a complete request waits for its response with bytes behind it.

Decisions worth knowing
-----------------------
* ``RequestReceived.end_stream`` is True for a request without a body, and then no
  :class:`~.events.RequestEnded` follows; a chunked body always ends with one, even
  an empty body.
* While a complete request is being answered and nothing is buffered behind it,
  reading goes on, so that a peer's end of file is seen during a long response;
  one read's worth of a pipelined request is the most that waits.
* HTTP/1.0 connections close after one response, even with ``Connection:
  keep-alive``: h11 does not keep them open (RFC 9112 §9.3 leaves persistence of
  HTTP/1.0 to the server), and a response to them has ``connection: close``.
* Framing is the server's: a ``content-length`` the application gives means an
  identity body; without one, chunked for HTTP/1.1 and close-delimited for HTTP/1.0;
  ``end_stream=True`` with no length adds ``content-length: 0`` (not to a HEAD: it
  would misstate the GET).  HEAD, 204 and 304
  responses carry no body, and what is sent for one is dropped, so a handler serves
  GET and HEAD alike.  ``connection``, ``keep-alive``, ``proxy-connection`` and
  ``transfer-encoding`` from the application are not sent as given
  (``connection: close`` is honoured), nor ``content-length`` on a 204.
* Response trailers go out only as chunked trailers to a request that said
  ``TE: trailers``; :meth:`~H1Server.send_end` says whether they went.
* A response that ends before its request body: the rest of the body is read and
  dropped, up to ``max_discard`` octets, and the connection stays open; past that
  (or with a ``Content-Length`` remaining beyond it) the connection closes.  A final
  response sent while the client still waits for ``100 Continue`` carries
  ``connection: close``: the client may send the body or not (RFC 9110 §10.1.1), so
  the next bytes could not be told apart from a request.  So does a 408: the server
  waits no longer (RFC 9110 §15.5.9).
* Informational responses are never sent to an HTTP/1.0 client (RFC 9110 §15.2).
* A request that asks to switch protocols, validly, carries ``:protocol`` in its
  ``pseudo``: ``b"websocket"`` (RFC 6455 handshake; as RFC 8441 names it over
  HTTP/2) or ``b"h2c"`` (RFC 7540 §3.2, cleartext only).
  :meth:`~H1Server.send_switching_protocols` answers 101 and hands back what was
  read after the request, for the next protocol's parser.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

import h11

from ..._errors import ConnectionClosed, LocalProtocolError
from ..errors import ProtocolViolation
from ..events import (
    ConnectionViolation,
    DataReceived,
    Event,
    RawHeaders,
    RequestEnded,
    RequestReceived,
)
from ..state import ResponseState
from .events import PeerClosed
from .gate import Head, RequestGate, Stall, field_tokens
from .reasons import reason_phrase
from .upgrade import upgrade_protocol

__all__ = ["H1Limits", "H1Server"]


@dataclass(frozen=True, slots=True)
class H1Limits:
    """What one HTTP/1.1 connection accepts and holds."""

    #: Longest request line, in octets without its CRLF (past it: 414).
    max_request_line: int = 8190
    #: Largest head (request line, fields and CRLFs) or trailer section (past it: 431).
    max_header_size: int = 65536
    #: Most header fields in a head, or fields in a trailer section (past it: 431).
    max_header_count: int = 100
    #: Requests served on one connection; the last response says ``connection: close``.
    max_requests_per_connection: int | None = None
    #: Request body octets handed out and not yet acknowledged; reading stops there.
    max_body_buffer: int = 65536
    #: Unread request body dropped after the response, to keep the connection.
    max_discard: int = 65536
    #: Chunk-extension octets a request may send in all (past it: 400).
    max_chunk_extensions: int = 4096

    def __post_init__(self) -> None:
        for name in (
            "max_request_line",
            "max_header_size",
            "max_header_count",
            "max_body_buffer",
            "max_discard",
            "max_chunk_extensions",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, not {value!r}")
        if self.max_body_buffer < 1 or self.max_header_size < 1:
            raise ValueError("max_body_buffer and max_header_size must be at least 1")
        limit = self.max_requests_per_connection
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(f"max_requests_per_connection must be None or >= 1, not {limit!r}")


class _Life(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"  # nothing more to read or send; close once data_to_send() is out
    SWITCHED = "switched"  # 101 sent: the socket belongs to another protocol


class _Exchange:
    """One request and its response."""

    __slots__ = (
        "body",
        "chunked",
        "head",
        "protocol",
        "response",
        "stream_id",
        "te_trailers",
        "unsent",
    )

    def __init__(self, stream_id: int, head: Head, protocol: bytes | None) -> None:
        self.stream_id = stream_id
        self.head = head
        self.protocol = protocol
        self.te_trailers = b"trailers" in field_tokens(head.fields, b"te")
        self.response = ResponseState.IDLE
        #: Whether the response has a body on the wire, and whether it is chunked.
        self.body = True
        self.chunked = False
        #: Body octets its Content-Length still promises; None when the framing
        #: (chunked, or to the close) says nothing of where the body ends.
        self.unsent: int | None = None


# Response fields: RFC 9110 §5.1 token names; values without controls (but HTAB) and
# without leading or trailing whitespace, so that h11 accepts whatever passes here.
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]|\A[ \t]|[ \t]\Z")
#: Connection-specific fields the application does not set (RFC 9110 §7.6.1).
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding"})


class H1Server:
    """The server side of one HTTP/1.1 connection (see the module docstring)."""

    def __init__(self, limits: H1Limits | None = None, *, scheme: bytes = b"http") -> None:
        if scheme not in (b"http", b"https"):
            raise ValueError(f"scheme must be b'http' or b'https', not {scheme!r}")
        self._limits = limits = limits if limits is not None else H1Limits()
        self._scheme = scheme
        # The gate gives h11 only checked heads, so h11's own bound never applies first.
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_size)
        self._gate = RequestGate(limits)
        self._inbox = bytearray()
        self._outbox: list[bytes] = []
        self._life = _Life.OPEN
        self._exchange: _Exchange | None = None
        self._requests = 0
        self._unacked = 0
        # Octets of an abandoned request body dropped so far, or None if not dropping.
        self._discarded: int | None = None
        self._close_after = False
        self._eof = False
        self._eof_reported = False

    # ------------------------------------------------------------------ queries

    @property
    def closed(self) -> bool:
        """Nothing more will be read or sent: close once :meth:`data_to_send` is out."""
        return self._life is _Life.CLOSED

    @property
    def switched(self) -> bool:
        """A 101 was sent: the connection now speaks another protocol."""
        return self._life is _Life.SWITCHED

    @property
    def wants_more_data(self) -> bool:
        """Whether the driver should read the socket now.

        False once the peer closed or the connection is done, while the body credit
        is spent, and while a complete request waits for its response with bytes
        already behind it.
        """
        if self._life is not _Life.OPEN or self._eof:
            return False
        stall = self._gate.stall
        if stall is Stall.ENDED:
            return not self._inbox
        return stall is Stall.NEED_DATA

    @property
    def stream_id(self) -> int | None:
        """The request being answered (1, 2, ...), or None between requests."""
        return None if self._exchange is None else self._exchange.stream_id

    @property
    def response_framed_whole(self) -> bool:
        """The current response's last octet is queued, by its own framing.

        True once a response with a Content-Length has sent that many octets, or one
        without a body its head, even before :meth:`send_end`: a client that has it
        all may close, and has lost nothing.  False with no response started, and for
        a body whose end only the chunked framing or the close can tell.
        """
        exchange = self._exchange
        if exchange is None:
            return False
        if exchange.response is ResponseState.ENDED:
            return True
        return exchange.response is ResponseState.STARTED and exchange.unsent == 0

    @property
    def awaiting_continue(self) -> bool:
        """The client waits for ``100 Continue`` before sending the body.

        The driver sends it (``send_informational(100, [])``) when the handler first
        reads the body, unless the response has started.
        """
        exchange = self._exchange
        return (
            exchange is not None
            and exchange.response is ResponseState.IDLE
            and self._h11.they_are_waiting_for_100_continue
        )

    # ---------------------------------------------------------------- receiving

    def receive_data(self, data: bytes) -> list[Event]:
        """Take what was read (``b""``: the peer closed its side); return the events."""
        if self._life is _Life.SWITCHED:
            raise LocalProtocolError("the connection has switched protocols")
        if self._life is _Life.CLOSED:
            return []
        if data:
            if self._eof:
                raise LocalProtocolError("data received after the end of file")
            self._inbox += data
        else:
            self._eof = True
        return self._process()

    def next_events(self) -> list[Event]:
        """The events that what is buffered yields now.

        Call it after :meth:`send_end` (the next pipelined request, or the body
        left to drop) and after :meth:`acknowledge_received_data` (held-back body).
        """
        if self._life is not _Life.OPEN:
            return []
        return self._process()

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """The handler consumed ``size`` octets of ``stream_id``'s body: more may come."""
        exchange = self._exchange
        if exchange is not None and exchange.stream_id == stream_id:
            self._unacked = max(0, self._unacked - size)

    def _process(self) -> list[Event]:
        events: list[Event] = []
        gate = self._gate
        inbox = self._inbox
        try:
            while self._life is _Life.OPEN:
                if self._discarded is not None:
                    credit = self._limits.max_discard - self._discarded + 1
                else:
                    credit = self._limits.max_body_buffer - self._unacked
                size, head = gate.step(inbox, credit)
                if not size:
                    break
                piece = bytes(inbox[:size])
                del inbox[:size]
                if head is not None:
                    self._requests += 1
                    self._exchange = exchange = _Exchange(
                        self._requests, head, upgrade_protocol(head, self._scheme)
                    )
                    self._hand_head(head)
                    events.append(self._request_received(exchange))
                else:
                    self._h11.receive_data(piece)
                self._pull(events)
        except ProtocolViolation as exc:
            self._violation(exc, events)
        if self._eof and not self._eof_reported and self._life is _Life.OPEN:
            stall = gate.stall
            if stall is Stall.NEED_DATA or (stall is Stall.ENDED and not inbox):
                self._end_of_input(events)
        return events

    def _hand_head(self, head: Head) -> None:
        """Give h11 a head the gate has parsed and checked, as the event it would parse.

        h11 would parse the head again, for a sixth of what a small request costs;
        handing it the event its own reader makes (``_parsed=True``: fields already
        checked) runs the same state machine without the second parse.
        ``tests/proto/test_h1_h11_handover.py`` checks that h11 ends up in the same
        state either way.
        """
        try:
            request = h11.Request(
                method=head.method,
                target=head.target,
                headers=head.fields,
                http_version=b"1.0" if head.http_version == "1.0" else b"1.1",
                _parsed=True,
            )
            self._h11._process_event(h11.CLIENT, request)
        except h11.ProtocolError as exc:
            raise ProtocolViolation(str(exc), exc.error_status_hint) from None

    def _pull(self, events: list[Event]) -> None:
        """Turn what h11 parsed of the last piece into events."""
        while self._life is _Life.OPEN:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise ProtocolViolation(str(exc), exc.error_status_hint) from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            exchange = self._exchange
            assert exchange is not None
            if isinstance(event, h11.Data):
                if self._discarded is not None:
                    self._discarded += len(event.data)
                    if self._discarded > self._limits.max_discard:
                        self._close()
                else:
                    data = bytes(event.data)
                    self._unacked += len(data)
                    events.append(DataReceived(exchange.stream_id, data, len(data)))
            elif isinstance(event, h11.EndOfMessage):
                if self._discarded is not None:
                    self._next_exchange()
                elif exchange.head.content_length != 0:
                    trailers = _trailers(event.headers)
                    events.append(RequestEnded(exchange.stream_id, trailers))
            else:  # pragma: no cover - the gate never passes an end of file on
                raise AssertionError(f"unexpected h11 event {event!r}")

    def _request_received(self, exchange: _Exchange) -> RequestReceived:
        head = exchange.head
        pseudo = {b":method": head.method, b":scheme": self._scheme}
        if head.authority is not None:
            pseudo[b":authority"] = head.authority
        pseudo[b":path"] = head.path
        if exchange.protocol is not None:
            pseudo[b":protocol"] = exchange.protocol
        return RequestReceived(
            stream_id=exchange.stream_id,
            pseudo=pseudo,
            headers=list(head.fields),
            end_stream=head.content_length == 0,
            http_version=head.http_version,
        )

    def _violation(self, exc: ProtocolViolation, events: list[Event]) -> None:
        events.append(ConnectionViolation(error_code=exc.error_code, message=str(exc)))
        exchange = self._exchange
        if exchange is None or exchange.response is ResponseState.IDLE:
            self._outbox.append(error_response(exc.error_code))
        self._close()

    def _end_of_input(self, events: list[Event]) -> None:
        self._eof_reported = True
        exchange = self._exchange
        cut = exchange.stream_id if exchange is not None and self._gate.in_body else None
        events.append(PeerClosed(cut))
        if exchange is None or exchange.response is ResponseState.ENDED:
            self._close()
        else:
            self._close_after = True

    # ------------------------------------------------------------------ sending

    def send_informational(self, status: int, headers: RawHeaders) -> bool:
        """Queue a 1xx response (100 Continue, 103 Early Hints, ...).

        False, and nothing sent, for an HTTP/1.0 client, which must never get one.
        """
        exchange = self._unanswered()
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 199:
            raise LocalProtocolError(f"an informational status is 1xx, not {status!r}")
        if status == 101:
            raise LocalProtocolError("101 goes out with send_switching_protocols()")
        if exchange.head.http_version == "1.0":
            return False
        self._send_head(h11.InformationalResponse, status, _checked(headers))
        return True

    def send_response(self, status: int, headers: RawHeaders, end_stream: bool = False) -> None:
        """Queue the final response's head (and its end, with ``end_stream``)."""
        exchange = self._unanswered()
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise LocalProtocolError(f"a final status is between 200 and 599, not {status!r}")
        head = exchange.head
        fields: RawHeaders = []
        length: bytes | None = None
        close = False
        for name, value in _checked(headers):
            lowered = name.lower()
            if lowered in _HOP_BY_HOP:
                if lowered == b"connection":
                    close = close or b"close" in field_tokens([(lowered, value)], lowered)
                elif lowered == b"transfer-encoding" and value.lower() != b"chunked":
                    raise LocalProtocolError(
                        f"transfer-encoding {value!r}: framing is the server's"
                    )
                continue
            if lowered == b"content-length":
                if not value.isdigit() or len(value) > 18 or value != (length or value):
                    raise LocalProtocolError(f"invalid content-length {value!r}")
                if length is not None or status == 204:
                    continue
                length = value
            fields.append((name, value))
        no_body = head.method == b"HEAD" or status in (204, 304)
        # An end with no length says "empty", except to a HEAD: there it would misstate
        # the length of what a GET gets (RFC 9110 §9.3.2), so none is said.
        if end_stream and length is None and not no_body:
            fields.append((b"content-length", b"0"))
            length = b"0"
        limit = self._limits.max_requests_per_connection
        if (
            close
            or self._close_after
            or (limit is not None and exchange.stream_id >= limit)
            or (self._h11.they_are_waiting_for_100_continue and self._gate.in_body)
            # RFC 9110 §15.5.9: a 408 means the server will not wait any longer.
            or status == 408
        ):
            self._close_after = True
            fields.append((b"connection", b"close"))
        self._send_head(h11.Response, status, fields)
        exchange.response = ResponseState.STARTED
        exchange.body = not no_body
        exchange.chunked = not no_body and length is None and head.http_version == "1.1"
        exchange.unsent = 0 if no_body else None if length is None else int(length)
        if end_stream:
            self.send_end()

    def send_data(self, data: bytes) -> None:
        """Queue response body bytes (dropped for HEAD, 204 and 304)."""
        exchange = self._responding()
        if data and exchange.body:
            self._send(h11.Data(data=data))
            if exchange.unsent is not None:
                exchange.unsent -= len(data)

    def send_end(self, trailers: RawHeaders | None = None) -> bool:
        """End the response; True if ``trailers`` went out (see the module docstring).

        Then call :meth:`next_events`: the next request may be waiting.
        """
        exchange = self._responding()
        send = bool(trailers) and exchange.chunked and exchange.te_trailers
        fields = _checked(trailers) if send and trailers else []
        self._send(h11.EndOfMessage(headers=fields))
        exchange.response = ResponseState.ENDED
        if self._gate.ended:
            self._next_exchange()
        else:
            remaining = self._gate.body_remaining
            if self._close_after or (
                remaining is not None and remaining > self._limits.max_discard
            ):
                self._close()
            else:
                self._discarded = 0
        return send

    def close_after_response(self, *, answer_next: bool = False) -> None:
        """Close gracefully: the response in progress says ``connection: close`` (if its
        head has not gone yet) and is the last; with none in progress, close now.

        With ``answer_next``, a connection that has sent no request yet, or has begun
        sending the head of its next one, still gets that request answered (the last):
        its client cannot know the server is going away, and closing it unanswered
        would lose a request a fresh connection has no reason to retry (a keep-alive
        connection idle between requests is closed: RFC 9112 §9.3.1 lets the client
        retry there).
        """
        self._close_after = True
        exchange = self._exchange
        if exchange is None and answer_next and (self._requests == 0 or self._inbox):
            return
        if exchange is None or exchange.response is ResponseState.ENDED:
            self._close()

    def send_switching_protocols(self, headers: RawHeaders) -> bytes:
        """Queue ``101 Switching Protocols``; return what was read after the request.

        The request must have carried ``:protocol`` and ended.  ``upgrade`` and
        ``connection`` are the server's; the rest of ``headers`` (for a WebSocket,
        ``sec-websocket-accept``) goes out as given.  Afterwards this object is done:
        the returned bytes and the socket belong to the next protocol.
        """
        exchange = self._unanswered()
        if exchange.protocol is None:
            raise LocalProtocolError("the request did not ask to switch protocols")
        if not self._gate.ended:
            raise LocalProtocolError("the request body has not ended")
        fields = [
            (n, v) for n, v in _checked(headers) if n.lower() not in (b"upgrade", b"connection")
        ]
        fields += [(b"upgrade", exchange.protocol), (b"connection", b"Upgrade")]
        self._send_head(h11.InformationalResponse, 101, fields)
        self._life = _Life.SWITCHED
        rest = self._h11.trailing_data[0] + bytes(self._inbox)
        self._inbox.clear()
        return rest

    def data_to_send(self) -> bytes:
        """Everything queued to send, once."""
        out = b"".join(self._outbox)
        self._outbox.clear()
        return out

    def _unanswered(self) -> _Exchange:
        exchange = self._current()
        if exchange.response is not ResponseState.IDLE:
            raise LocalProtocolError("the response has already started")
        return exchange

    def _responding(self) -> _Exchange:
        exchange = self._current()
        if exchange.response is ResponseState.IDLE:
            raise LocalProtocolError("the response has not started")
        if exchange.response is ResponseState.ENDED:
            raise LocalProtocolError("the response has already ended")
        return exchange

    def _current(self) -> _Exchange:
        if self._life is _Life.SWITCHED:
            raise LocalProtocolError("the connection has switched protocols")
        if self._life is _Life.CLOSED:
            raise ConnectionClosed("the HTTP/1.1 connection is closed")
        if self._exchange is None:
            raise LocalProtocolError("no request is waiting for a response")
        return self._exchange

    def _send_head(
        self,
        kind: type[h11.Response] | type[h11.InformationalResponse],
        status: int,
        fields: RawHeaders,
    ) -> None:
        # The fields passed _checked() (and ours are made right), so h11 is told they
        # are parsed, and does not check each of them again.
        try:
            event = kind(
                status_code=status, headers=fields, reason=reason_phrase(status), _parsed=True
            )
        except h11.LocalProtocolError as exc:
            self._close()
            raise LocalProtocolError(str(exc)) from None
        self._send(event)

    def _send(self, event: h11.Event) -> None:
        try:
            data = self._h11.send(event)
        except h11.LocalProtocolError as exc:
            # h11 is in its ERROR state now: the response is broken past repair.
            self._close()
            raise LocalProtocolError(str(exc)) from None
        if data:
            self._outbox.append(data)

    def _close(self) -> None:
        self._life = _Life.CLOSED
        self._inbox.clear()

    def _next_exchange(self) -> None:
        """The response and its request are both complete: on to the next, or close."""
        self._discarded = None
        self._unacked = 0
        if self._h11.our_state is h11.MUST_CLOSE or self._close_after:
            self._close()
            return
        self._h11.start_next_cycle()
        self._exchange = None
        self._gate.next_request()
        if self._eof and not self._inbox:
            self._close()


def error_response(status: int) -> bytes:
    """The whole answer to a refused request: a short text, then the connection closes."""
    reason = reason_phrase(status)
    body = reason + b"\n"
    head = b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\n" % (status, reason)
    return head + b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)


def _checked(headers: RawHeaders) -> RawHeaders:
    fields = list(headers)
    for name, value in fields:
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise LocalProtocolError(f"header fields are bytes pairs, not {(name, value)!r}")
        if _NAME.fullmatch(name) is None:
            raise LocalProtocolError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value) is not None:
            raise LocalProtocolError(f"invalid header value for {name!r}")
    return fields


def _trailers(headers: Iterable[tuple[bytes, bytes]]) -> RawHeaders | None:
    return [(name, value) for name, value in headers] or None
