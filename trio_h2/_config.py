"""Every limit and timeout of the server, in one frozen dataclass."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .proto.forwarded import TrustedProxies

# RFC 9113 §6.5.2 and §6.9.1 bounds.
_MIN_FRAME_SIZE = 16_384
_MAX_FRAME_SIZE = 16_777_215
_MAX_WINDOW = 2**31 - 1


@dataclass(frozen=True)
class Config:
    """Limits and timeouts of a trio_h2 server.

    Every field has a default that is safe on the open internet; an invalid value
    raises :class:`ValueError` naming the field when the Config is built.  Memory per
    connection is bounded by ``initial_connection_window_size`` (request bodies the
    handlers have not read yet), ``max_header_list_size`` (one header block being
    assembled) and ``max_outbound_buffer`` (bytes queued for a peer that reads slowly).
    """

    #: SETTINGS_MAX_CONCURRENT_STREAMS: streams a peer may have open at once.
    max_concurrent_streams: int = 100
    #: SETTINGS_INITIAL_WINDOW_SIZE: request-body bytes buffered per stream before the
    #: uploader must wait for the handler to read.
    initial_window_size: int = 1_048_576
    #: Request-body bytes buffered per connection, over all streams.
    initial_connection_window_size: int = 4_194_304
    #: SETTINGS_MAX_FRAME_SIZE we accept from the peer.
    max_frame_size: int = 16_384
    #: SETTINGS_MAX_HEADER_LIST_SIZE: decoded size (RFC 9113 §6.5.2) of a request's
    #: header list.  Up to twice this much is decoded and answered 431; a header block
    #: larger than twice this, encoded or decoded, closes the connection with
    #: GOAWAY(ENHANCE_YOUR_CALM), so one header block never costs more memory.
    max_header_list_size: int = 65_536
    #: SETTINGS_HEADER_TABLE_SIZE: HPACK dynamic table the peer may use towards us.
    header_table_size: int = 4_096
    #: Largest body :meth:`Stream.read` collects; more gives 413.
    max_request_body_size: int = 16 * 1_048_576
    #: Seconds a connection may stay without open streams before it gets GOAWAY.
    idle_timeout: float = 60.0
    #: Seconds a new connection has to finish TLS and send the HTTP/2 preface.
    handshake_timeout: float = 10.0
    #: Seconds a peer has to finish a header block (HEADERS and its CONTINUATION
    #: frames) once it has started one; slower peers (slowloris) are disconnected.
    header_timeout: float = 10.0
    #: Seconds a handler waiting for more of the request body waits for the peer to
    #: send some; a slower peer's request is answered 408 (or reset, once the response
    #: has started), on either protocol.  The bound on slow-body (R-U-Dead-Yet) clients.
    body_timeout: float = 30.0
    #: Seconds in-flight streams get to finish after shutdown starts.
    graceful_shutdown_timeout: float = 30.0
    #: Seconds a response may wait for a peer that never opens its flow-control
    #: window, or never reads the socket, before the stream (or connection) is dropped.
    send_timeout: float = 60.0
    #: Connections served at once per ``serve()`` (TLS handshakes included).  At the
    #: limit a new one takes the place of the connection idle longest (GOAWAY, then
    #: the close); it is closed at once only when every connection has a stream open.
    max_connections: int = 1_000
    #: Bytes queued for the socket before senders (and the reader) wait.
    max_outbound_buffer: int = 1_048_576
    #: Streams a peer may reset, or have reset or refused for its own fault (a
    #: malformed request, REFUSED_STREAM over the concurrency limit, a flow-control
    #: error on a stream), per ``reset_window`` seconds; one more gets
    #: GOAWAY(ENHANCE_YOUR_CALM).  A bound on rapid reset (CVE-2023-44487) and on
    #: making the server reset streams.
    max_resets_per_window: int = 200
    #: Frames a peer may send per ``reset_window`` seconds that cost work but carry no
    #: request: PING, SETTINGS, PRIORITY, GOAWAY, empty DATA without END_STREAM,
    #: unknown frame types, and WINDOW_UPDATE beyond the two each DATA frame sent to
    #: the peer earns.  One more gets GOAWAY(ENHANCE_YOUR_CALM).
    max_control_frames_per_window: int = 1_000
    #: Length in seconds of the window in which resets and control frames are counted.
    reset_window: float = 10.0
    #: Whether HTTP/1.1 (and 1.0) is served: over TLS when the client's ALPN does not
    #: choose h2, on cleartext when the first bytes are not the HTTP/2 preface.
    http1: bool = True
    #: Whether HTTP/2 is served (over TLS by ALPN, on cleartext with prior knowledge).
    http2: bool = True
    #: Seconds an HTTP/1.1 connection waits for the next request before it is closed.
    keep_alive_timeout: float = 5.0
    #: Longest HTTP/1.1 request line; longer ones are answered 414.
    max_request_line_size: int = 8_190
    #: Most header fields in an HTTP/1.1 request (or trailer section); more get 431.
    #: (Their total size is bounded by ``max_header_list_size``.)
    max_header_count: int = 100
    #: Requests served on one HTTP/1.1 connection before it is closed (the last
    #: response says ``connection: close``); None for no limit.
    max_requests_per_connection: int | None = None
    #: Value of the ``server`` response header; ``None`` sends none.
    server_header: str | None = "trio_h2"
    #: Whether responses get a ``date`` header.
    date_header: bool = True
    #: Largest WebSocket message accepted, as trio-websocket measures it (``len()``:
    #: bytes of a binary message, characters of a text one); a longer one fails the
    #: WebSocket with close code 1009.
    websocket_max_message_size: int = 16 * 1_048_576
    #: Seconds a WebSocket closed by the server waits for the peer's Close frame
    #: before its stream is ended anyway.
    websocket_close_timeout: float = 5.0
    #: The proxies in front of the server, whose word on the client is taken: IP
    #: addresses and networks (``10.0.0.0/8``, ``2001:db8::/32``), ``*`` for any
    #: peer, ``unix`` for peers on a Unix socket.  From them, the ``Forwarded`` or
    #: ``X-Forwarded-*`` headers give ``Stream.client_address``, ``scheme`` and
    #: ``authority``; from anyone else those headers change nothing.
    forwarded_allow_ips: tuple[str, ...] = ()
    #: Whether every connection starts with a PROXY protocol header (version 1 or 2,
    #: HAProxy's ``send-proxy``), read before TLS, which names the original client.
    #: Only peers in ``forwarded_allow_ips`` may connect; others are closed at once.
    proxy_protocol: bool = False
    #: A path (``/healthz``) the server answers itself, for load balancers' health
    #: checks: GET or HEAD gets 200 ``ok`` while serving and 503 once shutdown has
    #: begun (draining), whatever the query string; other methods get 405.  The
    #: handler never sees these requests.  None (the default): no such path.
    health_path: str | None = None

    def __post_init__(self) -> None:
        def positive_int(name: str, low: int = 1, high: float = math.inf) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"Config.{name} must be an int, not {value!r}")
            if not low <= value <= high:
                raise ValueError(f"Config.{name} must be between {low} and {high}, not {value}")

        def positive_float(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"Config.{name} must be a number, not {value!r}")
            if not value > 0 or math.isnan(value):
                raise ValueError(f"Config.{name} must be > 0, not {value}")

        positive_int("max_concurrent_streams", 1, 2**31 - 1)
        # Below the protocol default a peer could overrun a window it has not heard of.
        positive_int("initial_window_size", 65_535, _MAX_WINDOW)
        positive_int("initial_connection_window_size", 65_535, _MAX_WINDOW)
        positive_int("max_frame_size", _MIN_FRAME_SIZE, _MAX_FRAME_SIZE)
        positive_int("max_header_list_size", 1_024, 2**31 - 1)
        positive_int("header_table_size", 0, 2**31 - 1)
        positive_int("max_request_body_size", 0)
        positive_int("max_connections", 1)
        positive_int("max_outbound_buffer", 16_384)
        positive_int("max_resets_per_window", 1)
        positive_int("max_control_frames_per_window", 1)
        positive_int("max_request_line_size", 64)
        positive_int("max_header_count", 1)
        if self.max_requests_per_connection is not None:
            positive_int("max_requests_per_connection", 1)
        for flag in ("http1", "http2", "date_header", "proxy_protocol"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"Config.{flag} must be a bool, not {getattr(self, flag)!r}")
        if not (self.http1 or self.http2):
            raise ValueError("Config.http1 and Config.http2 cannot both be off")
        positive_int("websocket_max_message_size", 1)
        for name in (
            "idle_timeout",
            "handshake_timeout",
            "header_timeout",
            "body_timeout",
            "graceful_shutdown_timeout",
            "send_timeout",
            "reset_window",
            "keep_alive_timeout",
            "websocket_close_timeout",
        ):
            positive_float(name)
        allowed = self.forwarded_allow_ips
        if isinstance(allowed, str):
            allowed = tuple(entry for entry in allowed.split(",") if entry.strip())
        if not isinstance(allowed, tuple | list):
            raise ValueError(
                f"Config.forwarded_allow_ips must be a list of addresses, not {allowed!r}"
            )
        try:
            TrustedProxies(allowed)
        except ValueError as exc:
            raise ValueError(f"Config.forwarded_allow_ips: {exc}") from None
        # Kept as a tuple of stripped strings, so that equal Configs compare equal.
        object.__setattr__(self, "forwarded_allow_ips", tuple(e.strip() for e in allowed))
        if self.proxy_protocol and not self.forwarded_allow_ips:
            raise ValueError(
                "Config.proxy_protocol needs Config.forwarded_allow_ips: the addresses"
                " of the proxies allowed to send the PROXY header"
            )
        if self.server_header is not None and (
            not isinstance(self.server_header, str)
            or not self.server_header.isprintable()
            or self.server_header != self.server_header.strip()
        ):
            raise ValueError(
                f"Config.server_header must be printable text, not {self.server_header!r}"
            )

        path = self.health_path
        if path is not None and (
            not isinstance(path, str)
            or not path.startswith("/")
            or not path.isascii()
            or not path.isprintable()
            or any(c in path for c in " ?#")
        ):
            raise ValueError(
                "Config.health_path must be a path starting with '/' (no spaces, query"
                f" or fragment), such as '/healthz', not {path!r}"
            )

    def replace(self, **changes: object) -> Config:
        """A copy of this Config with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
