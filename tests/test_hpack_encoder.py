"""The fast HPACK encoder: whatever it emits, hpack's own decoder reads back exactly."""

from __future__ import annotations

import hpack
import pytest
from hpack.table import HeaderTable
from hypothesis import given, settings, strategies as st

from trio_h2.proto.h2.hpack_encoder import (
    MAX_TABLE_SIZE,
    HeaderEncoder,
    encode_integer,
    encode_string,
    huffman_encode,
)

STATIC_NAMES = sorted({name for name, _ in HeaderTable.STATIC_TABLE})
NAMES = st.one_of(
    st.sampled_from(STATIC_NAMES),
    st.sampled_from([b"set-cookie", b"authorization", b"x-trace", b"grpc-status"]),
    st.binary(min_size=1, max_size=40),
)
VALUES = st.one_of(
    st.sampled_from([b"", b"200", b"text/plain", b"gzip", b"0", b"13"]),
    st.binary(max_size=60),
    # Fields too large for the table, or for 3/4 of it.
    st.sampled_from([b"L" * 3_100, b"\xff" * 5_000]),
)
HEADER_LISTS = st.lists(st.tuples(NAMES, VALUES), max_size=12)
# Between blocks: maybe a new SETTINGS_HEADER_TABLE_SIZE from the peer (possibly several).
TABLE_SIZES = st.lists(st.sampled_from([0, 1, 64, 256, 4_096, 8_192, 65_536]), max_size=3)


def read_size_updates(block: bytes) -> list[int]:
    """The dynamic table size updates at the start of a header block."""
    sizes = []
    while block and block[0] & 0xE0 == 0x20:
        value, consumed = hpack.hpack.decode_integer(block, 5)
        sizes.append(value)
        block = block[consumed:]
    return sizes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(TABLE_SIZES, HEADER_LISTS), min_size=1, max_size=12))
def test_blocks_decode_to_the_same_headers_across_table_size_changes(
    steps: list[tuple[list[int], list[tuple[bytes, bytes]]]],
) -> None:
    encoder = HeaderEncoder()
    decoder = hpack.Decoder(max_header_list_size=2**31)
    for sizes, headers in steps:
        # A model of RFC 7541 §4.2: after changes, the smallest size the table had
        # since the last block, then the final one.
        current = encoder.header_table_size
        lowest: int | None = None
        for size in sizes:
            encoder.header_table_size = size
            effective = min(size, MAX_TABLE_SIZE)
            if effective != current or lowest is not None:
                lowest = effective if lowest is None else min(lowest, effective)
            current = effective
            # h2 applies the peer's setting to what the decoder accepts.
            decoder.max_allowed_table_size = size
        expected = [] if lowest is None else [lowest, current] if lowest < current else [current]
        block = encoder.encode(headers)
        assert read_size_updates(block) == expected
        decoded = decoder.decode(block, raw=True)
        assert [(n, v) for n, v in decoded] == headers
        assert decoder.header_table_size == encoder.header_table_size
        assert decoder.header_table._current_size <= encoder.header_table_size
        for header in decoded:
            # Sent indexed only when the static table holds the whole field.
            if header[0] in (b"set-cookie", b"authorization") and header[1]:
                assert isinstance(header, hpack.NeverIndexedHeaderTuple)


@settings(max_examples=60, deadline=None)
@given(st.lists(HEADER_LISTS, min_size=1, max_size=20))
def test_decoder_table_mirrors_the_encoders(blocks: list[list[tuple[bytes, bytes]]]) -> None:
    encoder = HeaderEncoder()
    decoder = hpack.Decoder(max_header_list_size=2**31)
    for headers in blocks:
        assert decoder.decode(encoder.encode(headers), raw=True) == headers
        entries = [(name, value) for _, name, value, _ in reversed(encoder._entries)]
        assert list(decoder.header_table.dynamic_entries) == entries


def test_repeated_response_headers_become_one_byte_each() -> None:
    encoder = HeaderEncoder()
    headers = [
        (b":status", b"200"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"13"),
        (b"server", b"trio_h2"),
        (b"date", b"Tue, 24 Nov 2026 23:49:05 GMT"),
    ]
    first = encoder.encode(headers)
    second = encoder.encode(headers)
    assert len(second) == len(headers) < len(first)
    decoder = hpack.Decoder()
    assert decoder.decode(first, raw=True) == headers
    assert decoder.decode(second, raw=True) == headers


@pytest.mark.parametrize(
    "header",
    [
        (b"set-cookie", b"session=abc"),
        (b"authorization", b"Bearer x"),
        (b"cookie", b"a=b"),
        hpack.NeverIndexedHeaderTuple(b"x-secret", b"s3cret"),
        (b"x-token", b"t0ken", True),
    ],
)
def test_sensitive_fields_are_never_indexed(header: tuple[bytes, ...]) -> None:
    encoder = HeaderEncoder()
    block = encoder.encode([header, header])
    # Never indexed (RFC 7541 §6.2.3): 0001xxxx, and nothing enters the table.
    assert block[0] & 0xF0 == 0x10
    assert encoder._size == 0
    decoded = hpack.Decoder().decode(block, raw=True)
    assert decoded == [header[:2], header[:2]]
    assert all(isinstance(h, hpack.NeverIndexedHeaderTuple) for h in decoded)


def test_peer_table_larger_than_the_cap_needs_no_update() -> None:
    encoder = HeaderEncoder()
    encoder.header_table_size = 65_536
    assert encoder.header_table_size == MAX_TABLE_SIZE
    assert read_size_updates(encoder.encode([(b"x", b"y")])) == []


def test_shrink_then_grow_signals_the_minimum_then_the_final_size() -> None:
    encoder = HeaderEncoder()
    encoder.encode([(b"x-a", b"1")])
    encoder.header_table_size = 0
    encoder.header_table_size = 1_024
    block = encoder.encode([(b"x-a", b"1")])
    assert read_size_updates(block) == [0, 1_024]
    decoder = hpack.Decoder()
    decoder.decode(hpack.Encoder().encode([(b"x-a", b"1")]))
    assert decoder.decode(block, raw=True) == [(b"x-a", b"1")]


def test_str_headers_and_huffman_primitives_agree_with_hpack() -> None:
    encoder = HeaderEncoder()
    assert hpack.Decoder().decode(encoder.encode([("x-name", "välue")])) == [("x-name", "välue")]
    for data in [b"", b"a", b"www.example.com", bytes(range(256))]:
        assert huffman_encode(data) == hpack.huffman.HuffmanEncoder(
            hpack.huffman_constants.REQUEST_CODES, hpack.huffman_constants.REQUEST_CODES_LENGTH
        ).encode(data)
        string = encode_string(data)
        assert len(string) <= len(data) + 3
    for value in [0, 1, 30, 31, 127, 128, 1_337, 2**20]:
        for prefix in range(1, 9):
            assert encode_integer(value, prefix, 0) == bytes(
                hpack.hpack.encode_integer(value, prefix)
            )
