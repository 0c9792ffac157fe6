"""RFC 9113 §8: HTTP messages; malformed requests are stream errors, never more."""

from __future__ import annotations

import pytest
import trio
from h2.errors import ErrorCodes
from hyperframe.frame import DataFrame, HeadersFrame

import trio_h2

from .rawpeer import GET, POST, open_peer

PROTOCOL_ERROR = ErrorCodes.PROTOCOL_ERROR

METHOD, SCHEME, PATH, AUTHORITY = GET


def without(name: str) -> list[tuple[str, str]]:
    return [field for field in GET if field[0] != name]


MALFORMED: dict[str, list[tuple[str, str]]] = {
    # §8.3.1 required pseudo-headers, each exactly once
    "missing :method": without(":method"),
    "missing :scheme": without(":scheme"),
    "missing :path": without(":path"),
    "duplicated :method": [METHOD, *GET],
    "duplicated :scheme": [*GET[:2], SCHEME, *GET[2:]],
    "duplicated :path": [*GET, PATH],
    "empty :path": [METHOD, SCHEME, (":path", ""), AUTHORITY],
    "relative :path": [METHOD, SCHEME, (":path", "index.html"), AUTHORITY],
    "asterisk :path with GET": [METHOD, SCHEME, (":path", "*"), AUTHORITY],
    "empty :scheme": [METHOD, (":scheme", ""), PATH, AUTHORITY],
    "invalid :method": [(":method", "GE T"), SCHEME, PATH, AUTHORITY],
    # §8.3 pseudo-headers: known ones only, request ones only, before the fields
    "unknown pseudo-header": [*GET, (":foo", "bar")],
    "response pseudo-header": [*GET, (":status", "200")],
    "informational :status": [(":status", "100"), *GET],
    ":protocol without extended CONNECT": [*GET, (":protocol", "websocket")],
    "pseudo-header after a field": [*GET[:3], ("x-a", "1"), AUTHORITY],
    # §8.2.1 field names and values
    "uppercase field name": [*GET, ("X-Upper", "1")],
    "space in field name": [*GET, ("x a", "1")],
    "colon in field name": [*GET, ("x:a", "1")],
    "empty field name": [*GET, ("", "1")],
    "non-ascii field name": [*GET, ("x-\u00e9", "1")],
    "NUL in value": [*GET, ("x-a", "a\x00b")],
    "CR in value": [*GET, ("x-a", "a\rb")],
    "LF in value": [*GET, ("x-a", "a\nb")],
    "leading space in value": [*GET, ("x-a", " a")],
    "trailing tab in value": [*GET, ("x-a", "a\t")],
    # §8.2.2 connection-specific fields
    "connection": [*GET, ("connection", "keep-alive")],
    "keep-alive": [*GET, ("keep-alive", "timeout=5")],
    "proxy-connection": [*GET, ("proxy-connection", "keep-alive")],
    "transfer-encoding": [*GET, ("transfer-encoding", "chunked")],
    "upgrade": [*GET, ("upgrade", "h2c")],
    "te other than trailers": [*GET, ("te", "trailers, deflate")],
    # RFC 9110 §8.6 content-length
    "non-numeric content-length": [*POST, ("content-length", "1x")],
    "negative content-length": [*POST, ("content-length", "-1")],
    "conflicting content-lengths": [*POST, ("content-length", "1"), ("content-length", "2")],
    # §8.3.1 :authority and host must agree
    "host differs from :authority": [*GET, ("host", "other.test")],
    # §8.5 CONNECT
    "CONNECT with :path": [(":method", "CONNECT"), AUTHORITY, PATH],
    "CONNECT with :scheme": [(":method", "CONNECT"), AUTHORITY, SCHEME],
    "CONNECT without :authority": [(":method", "CONNECT")],
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_request_is_stream_protocol_error(name: str) -> None:
    started: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        started.append(stream.path)
        await stream.respond(200)

    async with open_peer(handler) as peer:
        block = peer.encode(MALFORMED[name])
        await peer.send(peer.headers(1, block=block))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        # A stream error only: the connection (and its HPACK state) still serves.
        await peer.assert_alive()
    assert started == []


async def test_te_trailers_is_allowed() -> None:
    async with open_peer() as peer:
        await peer.request(1, [*GET, ("te", "trailers")])
        assert (await peer.expect_response(1)).status == 200


async def test_asterisk_path_with_options_is_allowed() -> None:
    paths: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        paths.append(stream.path)
        await stream.respond(204)

    async with open_peer(handler) as peer:
        await peer.request(1, [(":method", "OPTIONS"), SCHEME, (":path", "*"), AUTHORITY])
        assert (await peer.expect_response(1)).status == 204
    assert paths == ["*"]


async def test_host_without_authority_is_the_authority() -> None:
    seen: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append(stream.authority)
        await stream.respond(200)

    async with open_peer(handler) as peer:
        await peer.request(1, [METHOD, SCHEME, PATH, ("host", "h.test")])
        await peer.expect_response(1)
    assert seen == ["h.test"]


# ------------------------------------------------------------ §8.1 messages


async def test_second_headers_without_end_stream_is_stream_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(peer.headers(1, [("x-trailer", "1")], end_stream=False))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.assert_alive()


async def test_trailers_reach_the_handler() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        body = await stream.read()
        seen.append((body, stream.trailers))
        await stream.respond(200)

    async with open_peer(handler) as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(DataFrame(1, b"abc"))
        await peer.send(peer.headers(1, [("x-checksum", "42")]))
        await peer.expect_response(1)
    assert seen == [(b"abc", [("x-checksum", "42")])]


@pytest.mark.parametrize(
    "trailers",
    [[(":path", "/x")], [("X-Upper", "1")], [("connection", "close")], [("x-a", "a\nb")]],
)
async def test_malformed_trailers_are_stream_error(trailers: list[tuple[str, str]]) -> None:
    async with open_peer() as peer:
        await peer.request(1, POST, end_stream=False)
        await peer.send(DataFrame(1, b"abc"))
        await peer.send(peer.headers(1, trailers))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.assert_alive()


# ------------------------------------------------------ content-length (§8.1.1)


async def test_content_length_larger_than_body_is_stream_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, [*POST, ("content-length", "10")], end_stream=False)
        await peer.send(DataFrame(1, b"test", flags=["END_STREAM"]))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.assert_alive()


async def test_content_length_smaller_than_body_is_stream_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, [*POST, ("content-length", "1")], end_stream=False)
        await peer.send(DataFrame(1, b"test", flags=["END_STREAM"]))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.assert_alive()


async def test_content_length_against_the_sum_of_data_frames() -> None:
    async with open_peer() as peer:
        await peer.request(1, [*POST, ("content-length", "5")], end_stream=False)
        await peer.send(DataFrame(1, b"test"), DataFrame(1, b"test", flags=["END_STREAM"]))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.request(3, [*POST, ("content-length", "8")], end_stream=False)
        await peer.send(DataFrame(3, b"test"), DataFrame(3, b"test", flags=["END_STREAM"]))
        assert (await peer.expect_response(3)).body == b"ok:testtest"


async def test_content_length_with_end_stream_on_headers_is_stream_error() -> None:
    async with open_peer() as peer:
        await peer.request(1, [*POST, ("content-length", "3")])
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.request(3, [*POST, ("content-length", "0")])
        assert (await peer.expect_response(3)).status == 200


async def test_content_length_checked_when_trailers_end_the_body() -> None:
    async with open_peer() as peer:
        await peer.request(1, [*POST, ("content-length", "5")], end_stream=False)
        await peer.send(DataFrame(1, b"abc"), peer.headers(1, [("x-t", "1")]))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.assert_alive()


async def test_content_length_excess_cancels_a_handler_reading_the_body() -> None:
    outcome: list[str] = []

    async def handler(stream: trio_h2.Stream) -> None:
        try:
            await stream.read()
        except trio_h2.RemoteProtocolError as exc:
            # The peer's fault, named; still a reset by the server.
            outcome.append(f"{type(exc).__name__} remote={exc.remote}: {exc}")
            raise
        except trio.Cancelled as exc:
            outcome.append(type(exc).__name__)
            raise

    async with open_peer(handler) as peer:
        await peer.request(1, [*POST, ("content-length", "2")], end_stream=False)
        await peer.ping()
        await peer.send(DataFrame(1, b"abc"))
        await peer.expect_rst(1, PROTOCOL_ERROR)
        await peer.assert_alive()
    assert outcome == ["Cancelled"] or outcome == [
        "RemoteProtocolError remote=False: more body than content-length"
        " (stream reset with PROTOCOL_ERROR)"
    ]


# -------------------------------------------------------- §8.2.3 cookies


async def test_split_cookie_fields_are_joined_for_the_handler() -> None:
    seen: list[object] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append([value for name, value in stream.headers if name == "cookie"])
        await stream.respond(200)

    async with open_peer(handler) as peer:
        await peer.request(
            1, [*GET, ("cookie", "a=b"), ("x-other", "1"), ("cookie", "c=d"), ("cookie", "e=f")]
        )
        await peer.expect_response(1)
    assert seen == [["a=b; c=d; e=f"]]


# --------------------------------------------------------------- §8.5 CONNECT

CONNECT = [(":method", "CONNECT"), (":authority", "backend.test:443")]


async def test_connect_is_refused_with_405_unless_the_handler_answers() -> None:
    async def handler(stream: trio_h2.Stream) -> None:
        return None

    async with open_peer(handler) as peer:
        await peer.request(1, CONNECT, end_stream=False)
        response = await peer.expect_response(1)
        assert response.status == 405


async def test_connect_reaches_the_handler_which_decides() -> None:
    seen: list[tuple[str, str, str]] = []

    async def handler(stream: trio_h2.Stream) -> None:
        seen.append((stream.method, stream.authority, stream.path))
        async with stream.start_response(200) as body:
            async for chunk in stream:
                await body.send(chunk.upper())

    async with open_peer(handler) as peer:
        await peer.request(1, CONNECT, end_stream=False)
        headers = await peer.expect_frame(HeadersFrame, 1)
        assert dict(headers.decoded)[":status"] == "200"  # type: ignore[attr-defined]
        await peer.send(DataFrame(1, b"tunnel", flags=["END_STREAM"]))
        data = await peer.expect_frame(DataFrame, 1)
        assert data.data == b"TUNNEL"
    assert seen == [("CONNECT", "backend.test:443", "")]


# ---------------------------------------------------------------- §8.4 push


async def test_push_only_when_the_client_allows_it() -> None:
    from hyperframe.frame import PushPromiseFrame, SettingsFrame

    async def handler(stream: trio_h2.Stream) -> None:
        pushed = await stream.push("/style.css", body=b"css")
        await stream.respond(200, body=b"pushed" if pushed else b"not pushed")

    async with open_peer(handler, settings={SettingsFrame.ENABLE_PUSH: 0}) as peer:
        await peer.request(1)
        assert (await peer.expect_response(1)).body == b"not pushed"
        assert not [f for f in peer.received if isinstance(f, PushPromiseFrame)]
    async with open_peer(handler) as peer:
        await peer.request(1)
        promise = await peer.expect_frame(PushPromiseFrame, 1)
        assert promise.promised_stream_id == 2
        responses = await peer.expect_responses(1, 2)
        assert responses[1].body == b"pushed"
        assert responses[2].body == b"css"
