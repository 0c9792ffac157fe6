"""The fast HPACK decoder reads what hpack's decoder reads, and refuses what it refuses."""

from __future__ import annotations

from typing import Any

import h2.connection
import hpack
import pytest
from hpack.exceptions import HPACKError, OversizedHeaderListError
from hypothesis import given, settings, strategies as st

from trio_h2.proto.h2.hpack_decoder import HeaderDecoder
from trio_h2.proto.h2.hpack_encoder import HeaderEncoder

FIELDS = st.tuples(
    st.one_of(
        st.sampled_from([b":method", b":path", b"user-agent", b"cookie", b"accept"]),
        st.binary(min_size=1, max_size=30),
    ),
    st.one_of(st.sampled_from([b"GET", b"/", b"", b"gzip, deflate"]), st.binary(max_size=80)),
    st.sampled_from(["plain", "never", "unindexed"]),
)
BLOCKS = st.lists(st.lists(FIELDS, max_size=10), min_size=1, max_size=15)
SIZES = st.sampled_from([None, 0, 100, 1_000, 4_096])


def as_tuple(field: tuple[bytes, bytes, str]) -> Any:
    name, value, kind = field
    if kind == "never":
        return hpack.NeverIndexedHeaderTuple(name, value)
    return (name, value, kind == "unindexed")


def table(decoder: Any) -> list[tuple[bytes, bytes]]:
    if isinstance(decoder, HeaderDecoder):
        return [tuple(h) for h in decoder._entries]  # type: ignore[misc]
    return list(decoder.header_table.dynamic_entries)


def decode(decoder: Any, block: bytes) -> Any:
    """What h2 would see: the header list, or the class of error h2 turns it into."""
    try:
        return [(type(h), h[0], h[1]) for h in decoder.decode(block, raw=True)]
    except OversizedHeaderListError:
        return "oversized"
    except (HPACKError, IndexError, TypeError, UnicodeDecodeError):
        return "malformed"


@settings(max_examples=150, deadline=None)
@given(BLOCKS, st.lists(SIZES, min_size=15, max_size=15), st.booleans())
def test_valid_blocks_decode_as_hpack_decodes_them(
    blocks: list[list[tuple[bytes, bytes, str]]], sizes: list[int | None], ours: bool
) -> None:
    # Blocks from hpack's encoder (Huffman always) and from ours (Huffman when shorter).
    encoder: Any = HeaderEncoder() if ours else hpack.Encoder()
    reference = hpack.Decoder()
    fast = HeaderDecoder()
    for fields, size in zip(blocks, sizes, strict=False):
        if size is not None:
            encoder.header_table_size = size
        block = encoder.encode([as_tuple(f) for f in fields])
        expected = decode(reference, block)
        assert expected != "malformed"
        assert decode(fast, block) == expected
        assert table(fast) == table(reference)
        assert fast.header_table_size == reference.header_table_size


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(FIELDS, max_size=6), max_size=3),
    st.binary(max_size=40),
    st.integers(0, 60),
    st.sampled_from([100, 4_096, 65_536]),
    st.sampled_from([0, 4_096]),
)
def test_damaged_blocks_fail_as_hpack_fails(
    before: list[list[tuple[bytes, bytes, str]]],
    junk: bytes,
    cut: int,
    max_list: int,
    max_table: int,
) -> None:
    encoder = hpack.Encoder()
    reference = hpack.Decoder(max_header_list_size=max_list)
    fast = HeaderDecoder(max_header_list_size=max_list)
    for fields in before:
        block = encoder.encode([as_tuple(f) for f in fields])
        first = decode(reference, block)
        assert decode(fast, block) == first
        if isinstance(first, str):
            return  # the connection would be closed now
    reference.max_allowed_table_size = fast.max_allowed_table_size = max_table
    # A valid block cut short, junk on its own, and junk after a valid prefix.
    valid = encoder.encode([(b"x-a", b"b" * 30), (b":path", b"/index.html")])
    for block in (valid[:cut], junk, valid[: cut // 2] + junk):
        expected = decode(reference, block)
        assert decode(fast, block) == expected, block
        if isinstance(expected, str):
            return
        assert table(fast) == table(reference)


def test_oversized_header_list_is_refused() -> None:
    block = hpack.Encoder().encode([(b"x-long", b"v" * 200)] * 3)
    assert decode(HeaderDecoder(max_header_list_size=300), block) == "oversized"
    assert decode(HeaderDecoder(max_header_list_size=10_000), block) != "oversized"


@pytest.mark.parametrize(
    "block",
    [
        b"\x80",  # index 0
        b"\xbf",  # index 63: past the (empty) dynamic table
        b"\x40\x01",  # literal name cut short
        b"\x82\x3f\xe1\x1f",  # table size update after a field
        b"\x3f\xe2\x1f",  # table size update over the allowed size (4,096)
        b"\x00\x81\xff\x00",  # Huffman string with the EOS symbol
        b"\x7f" + b"\xff" * 10,  # integer that never ends
    ],
)
def test_malformed_blocks_are_decoding_errors(block: bytes) -> None:
    assert decode(HeaderDecoder(), block) == "malformed"
    assert decode(hpack.Decoder(), block) == "malformed"


def test_h2_uses_it_for_requests() -> None:
    # h2 applies our SETTINGS to it just as to hpack's decoder.
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.decoder = HeaderDecoder()
    conn.update_settings({h2.settings.SettingCodes.HEADER_TABLE_SIZE: 1_000})
    conn._local_settings_acked()
    assert conn.decoder.max_allowed_table_size == 1_000


def test_huffman_cache_stays_small_whatever_the_peer_sends() -> None:
    from trio_h2.proto.h2 import hpack_decoder as _hpack_decoder

    encoder = hpack.Encoder()
    decoder = HeaderDecoder()
    for i in range(500):
        block = encoder.encode([(b"x-junk", b"%d" % i * 50, True)])
        decoder.decode(block, raw=True)
        assert len(decoder._huffman) <= _hpack_decoder._HUFFMAN_CACHE_SIZE
    assert all(len(key) <= _hpack_decoder._CACHED_HUFFMAN_MAX for key in decoder._huffman)
