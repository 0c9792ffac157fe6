"""The server stream's own receive_headers(): what h2's gives, where h2 is right.

``_protocol._ServerStream.receive_headers`` replaces h2's (skipping its content-length
tracking, its 1xx branch and its generator chain).  Fed the same header blocks, it
must leave the stream in the same state and give the same events with the same
fields; where h2 raises, it raises too (a ``StreamError`` where RFC 9113 asks for a
stream error).
"""

from __future__ import annotations

from typing import Any

import h2.config
import h2.stream
from hpack import NeverIndexedHeaderTuple
from hypothesis import given, settings, strategies as st

from trio_h2.proto.h2.corrections import _ServerStream, join_cookies

NAMES = [b":method", b":path", b":scheme", b":authority", b":status", b"cookie", b"x-a"]
VALUES = [b"GET", b"/", b"http", b"a=b", b"c=d", b"100", b"200", b""]
FIELDS = st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES))
BLOCKS = st.lists(st.tuples(st.lists(FIELDS, max_size=8), st.booleans()), min_size=1, max_size=3)


def streams() -> tuple[h2.stream.H2Stream, h2.stream.H2Stream]:
    config = h2.config.H2Configuration(
        client_side=False,
        header_encoding=None,
        validate_inbound_headers=False,
        normalize_inbound_headers=True,
    )
    reference = h2.stream.H2Stream(1, config, 65_535, 65_535)
    ours = h2.stream.H2Stream(1, config, 65_535, 65_535)
    ours.__class__ = _ServerStream
    return reference, ours


def describe(value: Any) -> Any:
    """An event as plain data (h2's events have no __eq__)."""
    if isinstance(value, list):
        return [describe(item) for item in value]
    if hasattr(value, "__dict__") and not isinstance(value, tuple):
        return (type(value).__name__, {k: describe(v) for k, v in vars(value).items()})
    if isinstance(value, tuple):
        return (type(value).__name__, *value)
    return value


def outcome(
    stream: h2.stream.H2Stream, headers: list[Any], end_stream: bool, encoding: str | None
) -> Any:
    try:
        return describe(stream.receive_headers(list(headers), end_stream, encoding))
    except Exception as exc:
        return exc


@settings(max_examples=400, deadline=None)
@given(blocks=BLOCKS, encoding=st.sampled_from([None, "utf-8"]))
def test_receive_headers_matches_h2(
    blocks: list[tuple[list[Any], bool]], encoding: str | None
) -> None:
    reference, ours = streams()
    for headers, end_stream in blocks:
        expected = outcome(reference, headers, end_stream, encoding)
        got = outcome(ours, headers, end_stream, encoding)
        if isinstance(expected, Exception) or isinstance(got, Exception):
            assert isinstance(expected, Exception), f"h2 accepted what we refused: {got!r}"
            assert isinstance(got, Exception), f"we accepted what h2 refused: {expected!r}"
            return
        assert got == expected
        assert ours.state_machine.state is reference.state_machine.state


def test_join_cookies_leaves_a_block_without_cookies_alone() -> None:
    headers = [(b":method", b"GET"), (b"x-a", b"1")]
    assert join_cookies(headers) is headers


def test_join_cookies_joins_them_last_never_indexed() -> None:
    headers = [(b"cookie", b"a=b"), (b"x-a", b"1"), (b"cookie", b"c=d")]
    joined = join_cookies(headers)
    assert joined == [(b"x-a", b"1"), (b"cookie", b"a=b; c=d")]
    assert isinstance(joined[-1], NeverIndexedHeaderTuple)
