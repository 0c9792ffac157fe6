"""Request header checks: the cache of clean fields never changes a verdict."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from trio_h2.proto.h2 import validate as _validate
from trio_h2.proto.h2.validate import MalformedRequest, check_request

NAMES = [
    b":method", b":path", b":scheme", b":authority", b":protocol", b":status",
    b"host", b"te", b"content-length", b"connection", b"x-a", b"X-Upper", b"bad name",
]  # fmt: skip
VALUES = [b"GET", b"CONNECT", b"/", b"*", b"x", b"http", b"a.test", b"1", b"12", b"trailers", b""]
VALUES += [b" padded", b"nul\x00", b"b.test"]
FIELD = st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES))
# Mostly well-formed requests with a few random fields, so that every check is reached.
REQUEST = st.builds(
    lambda method, authority, extra: [
        (b":method", method), (b":scheme", b"http"), (b":path", b"/"),
        *([(b":authority", authority)] if authority else []), *extra,
    ],
    st.sampled_from([b"GET", b"POST"]),
    st.sampled_from([None, b"a.test", b"b.test"]),
    st.lists(FIELD, max_size=4),
)  # fmt: skip
BLOCK = st.one_of(st.lists(FIELD, max_size=9), REQUEST)


def verdict(headers: list[tuple[bytes, bytes]]) -> Any:
    try:
        info = check_request(headers)
    except MalformedRequest as exc:
        return str(exc)
    return info.content_length, info.size


@settings(max_examples=1000, deadline=None)
@given(blocks=st.lists(BLOCK, min_size=1, max_size=6))
def test_a_warm_cache_gives_the_verdict_of_a_cold_one(blocks: list[Any]) -> None:
    for headers in blocks:
        warm = verdict(headers)
        _validate._CLEAN.clear()
        assert verdict(headers) == warm


def test_a_cached_field_still_counts_as_a_regular_field() -> None:
    good = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b"x-a", b"1")]
    check_request(good)
    assert (b"x-a", b"1") in _validate._CLEAN
    with pytest.raises(MalformedRequest, match="after a regular field"):
        check_request([(b"x-a", b"1"), *good[:3]])


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_validate, "_CLEAN", set())
    base = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")]
    for n in range(3 * _validate._CLEAN_ENTRIES):
        check_request([*base, (b"x-n", str(n).encode())])
        assert len(_validate._CLEAN) <= _validate._CLEAN_ENTRIES
    check_request([*base, (b"x-big", b"v" * 1000)])
    assert (b"x-big", b"v" * 1000) not in _validate._CLEAN
