"""trio_h2.hpack: nghttp2-style HPACK deflater and inflater."""

from __future__ import annotations

import hpack
import pytest
from hypothesis import given, settings, strategies as st

from trio_h2 import H2Error, HPACKError
from trio_h2.hpack import (
    DEFAULT_HEADER_TABLE_SIZE,
    DEFLATE_MAX_HEADER_TABLE_SIZE,
    HDDeflater,
    HDInflater,
    HDTableEntry,
    print_hd_table,
)

# RFC 7541 Appendix C.3 / C.4: three requests on one connection, without and with
# Huffman coding.
REQUESTS = [
    [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":authority", b"www.example.com"),
    ],
    [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":authority", b"www.example.com"),
        (b"cache-control", b"no-cache"),
    ],
    [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":path", b"/index.html"),
        (b":authority", b"www.example.com"),
        (b"custom-key", b"custom-value"),
    ],
]
C3_BLOCKS = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
]
C4_BLOCKS = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
]
# (name, value, size) of the dynamic table after each request, newest first.
REQUEST_TABLES = [
    [(b":authority", b"www.example.com", 57)],
    [(b"cache-control", b"no-cache", 53), (b":authority", b"www.example.com", 57)],
    [
        (b"custom-key", b"custom-value", 54),
        (b"cache-control", b"no-cache", 53),
        (b":authority", b"www.example.com", 57),
    ],
]

# RFC 7541 Appendix C.5: three responses with a 256-byte table, which forces evictions.
DATE1 = b"Mon, 21 Oct 2013 20:13:21 GMT"
DATE2 = b"Mon, 21 Oct 2013 20:13:22 GMT"
LOCATION = b"https://www.example.com"
COOKIE = b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
RESPONSES = [
    [
        (b":status", b"302"),
        (b"cache-control", b"private"),
        (b"date", DATE1),
        (b"location", LOCATION),
    ],
    [
        (b":status", b"307"),
        (b"cache-control", b"private"),
        (b"date", DATE1),
        (b"location", LOCATION),
    ],
    [
        (b":status", b"200"),
        (b"cache-control", b"private"),
        (b"date", DATE2),
        (b"location", LOCATION),
        (b"content-encoding", b"gzip"),
        (b"set-cookie", COOKIE),
    ],
]
C5_BLOCKS = [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
    " 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
    " 6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
    " 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
    " 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
    " 3d31",
]
RESPONSE_TABLES = [
    [
        (b"location", LOCATION, 63),
        (b"date", DATE1, 65),
        (b"cache-control", b"private", 52),
        (b":status", b"302", 42),
    ],
    [
        (b":status", b"307", 42),
        (b"location", LOCATION, 63),
        (b"date", DATE1, 65),
        (b"cache-control", b"private", 52),
    ],
    [
        (b"set-cookie", COOKIE, 98),
        (b"content-encoding", b"gzip", 52),
        (b"date", DATE2, 65),
    ],
]
# Dynamic table size update to 256 (RFC 7541 §6.3).
SIZE_256 = bytes.fromhex("3fe101")


def block(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def table(entries: list[HDTableEntry]) -> list[tuple[bytes, bytes, int]]:
    return [(e.name, e.value, e.space()) for e in entries]


def table_size(entries: list[HDTableEntry]) -> int:
    return sum(e.space() for e in entries)


# --- constants and entries ----------------------------------------------------


def test_constants() -> None:
    assert DEFAULT_HEADER_TABLE_SIZE == 4096
    assert DEFLATE_MAX_HEADER_TABLE_SIZE == 4096


def test_hpack_error_is_an_h2_error() -> None:
    assert issubclass(HPACKError, H2Error)


def test_table_entry_shape() -> None:
    deflater = HDDeflater()
    deflater.deflate([(b"custom-key", b"custom-value")])
    [entry] = deflater.get_hd_table()
    assert entry.name == b"custom-key"
    assert entry.value == b"custom-value"
    assert entry.namelen == 10
    assert entry.valuelen == 12
    assert entry.space() == 10 + 12 + 32
    assert entry.ref is False
    # Constructed positionally, as nghttp2's HDTableEntry was.
    assert HDTableEntry(b"a", 1, b"bc", 2).space() == 35


def test_get_hd_table_returns_a_copy() -> None:
    deflater = HDDeflater()
    deflater.deflate([(b"foo", b"bar")])
    copy = deflater.get_hd_table()
    copy.clear()
    assert table(deflater.get_hd_table()) == [(b"foo", b"bar", 38)]


# --- RFC 7541 Appendix C --------------------------------------------------------


def test_inflate_rfc_c3_requests_without_huffman() -> None:
    inflater = HDInflater()
    for data, headers, expected_table in zip(C3_BLOCKS, REQUESTS, REQUEST_TABLES, strict=True):
        assert inflater.inflate(block(data)) == headers
        assert table(inflater.get_hd_table()) == expected_table


def test_inflate_rfc_c4_requests_with_huffman() -> None:
    inflater = HDInflater()
    for data, headers, expected_table in zip(C4_BLOCKS, REQUESTS, REQUEST_TABLES, strict=True):
        assert inflater.inflate(block(data)) == headers
        assert table(inflater.get_hd_table()) == expected_table


def test_deflate_rfc_c4_requests_exact_bytes() -> None:
    # Every string in these requests is shorter Huffman-coded, so the deflater's
    # output is exactly the RFC's.
    deflater = HDDeflater()
    for headers, data, expected_table in zip(REQUESTS, C4_BLOCKS, REQUEST_TABLES, strict=True):
        assert deflater.deflate(headers) == block(data)
        assert table(deflater.get_hd_table()) == expected_table


def test_deflate_rfc_c3_requests_decode_back() -> None:
    deflater = HDDeflater()
    inflater = HDInflater()
    for headers, expected_table in zip(REQUESTS, REQUEST_TABLES, strict=True):
        data = deflater.deflate(headers)
        assert inflater.inflate(data) == headers
        assert table(deflater.get_hd_table()) == expected_table
        assert table(inflater.get_hd_table()) == expected_table


def test_inflate_rfc_c5_responses_evict() -> None:
    inflater = HDInflater()
    inflater.change_table_size(256)
    blocks = [SIZE_256 + block(C5_BLOCKS[0]), *map(block, C5_BLOCKS[1:])]
    sizes = [222, 222, 215]
    for data, headers, expected_table, size in zip(
        blocks, RESPONSES, RESPONSE_TABLES, sizes, strict=True
    ):
        assert inflater.inflate(data) == headers
        assert table(inflater.get_hd_table()) == expected_table
        assert table_size(inflater.get_hd_table()) == size


def test_deflate_rfc_c5_responses_with_small_table() -> None:
    deflater = HDDeflater(256)
    inflater = HDInflater()
    for i, headers in enumerate(RESPONSES):
        data = deflater.deflate(headers)
        # A cap under 4096 is announced at the start of the first block.
        assert data.startswith(SIZE_256) == (i == 0)
        assert inflater.inflate(data) == headers
        assert deflater.get_hd_table() == inflater.get_hd_table()
        assert table_size(deflater.get_hd_table()) <= 256
        # nghttp2 never indexes location and set-cookie.
        names = {e.name for e in deflater.get_hd_table()}
        assert not names & {b"location", b"set-cookie"}


# --- deflater behaviour ---------------------------------------------------------


def test_deflate_exact_bytes_for_two_headers() -> None:
    data = HDDeflater().deflate([(b"foo", b"bar"), (b"baz", b"buz")])
    # "foo" is shorter Huffman-coded (82 94e7), "bar" and the others are not.
    assert data == bytes.fromhex("408294e703626172 400362617a 0362757a")


def test_deflate_indexed_field_is_one_byte() -> None:
    deflater = HDDeflater()
    deflater.deflate([(b"x-custom", b"1")])
    assert deflater.deflate([(b"x-custom", b"1"), (b":method", b"GET")]) == b"\xbe\x82"


def test_deflate_accepts_str_and_bytearray() -> None:
    as_bytes = HDDeflater().deflate([(b"x-name", b"v\xc3\xa9")])
    assert HDDeflater().deflate([("x-name", "vé")]) == as_bytes
    assert HDDeflater().deflate([(bytearray(b"x-name"), memoryview(b"v\xc3\xa9"))]) == as_bytes
    assert HDDeflater().deflate(iter([[b"x-name", b"v\xc3\xa9"]])) == as_bytes


def test_deflate_empty_header_list() -> None:
    deflater = HDDeflater()
    assert deflater.deflate([]) == b""
    assert HDInflater().inflate(b"") == []


def test_table_eviction_oldest_first() -> None:
    deflater = HDDeflater(128)
    inflater = HDInflater()
    for i in range(5):
        inflater.inflate(deflater.deflate([(b"name%d" % i, b"value")]))
    # Each entry takes 5 + 5 + 32 = 42 bytes: three fit in 128.
    expected = [(b"name%d" % i, b"value", 42) for i in (4, 3, 2)]
    assert table(deflater.get_hd_table()) == expected
    assert table(inflater.get_hd_table()) == expected


def test_large_field_is_not_indexed() -> None:
    # Over three quarters of the table: sent without indexing, the table is kept.
    deflater = HDDeflater()
    deflater.deflate([(b"keep", b"me")])
    data = deflater.deflate([(b"x-big", b"v" * 3100)])
    assert data[0] == 0x00
    assert table(deflater.get_hd_table()) == [(b"keep", b"me", 38)]
    assert HDInflater().inflate(data) == [(b"x-big", b"v" * 3100)]


def test_sensitive_fields_are_never_indexed() -> None:
    deflater = HDDeflater()
    inflater = HDInflater()
    headers = [
        (b"authorization", b"Basic c2VjcmV0"),
        (b"cookie", b"short=1"),
        hpack.NeverIndexedHeaderTuple(b"x-token", b"abc"),
    ]
    data = deflater.deflate(headers)
    # authorization is static index 23: never-indexed, 4-bit prefix 15 + 8.
    assert data[:2] == b"\x1f\x08"
    assert inflater.inflate(data) == [tuple(h) for h in headers]
    assert deflater.get_hd_table() == []
    assert inflater.get_hd_table() == []
    deflater.deflate([(b"cookie", b"long-enough-cookie=12345")])
    assert [e.name for e in deflater.get_hd_table()] == [b"cookie"]


def test_set_no_refset_is_accepted_and_ignored() -> None:
    plain = HDDeflater()
    no_refset = HDDeflater()
    no_refset.set_no_refset(True)
    for headers in REQUESTS:
        assert no_refset.deflate(headers) == plain.deflate(headers)
    no_refset.set_no_refset(False)


# --- table size changes ---------------------------------------------------------


def test_change_table_size_is_capped_at_the_constructor_max() -> None:
    deflater = HDDeflater(1024)
    inflater = HDInflater()
    inflater.change_table_size(8192)
    # Size update to 1024 (31 + 993): 3f e1 07, from the constructor's cap.
    assert deflater.deflate([]) == bytes.fromhex("3fe107")
    deflater.change_table_size(8192)
    data = deflater.deflate([])
    assert data == bytes.fromhex("3fe107")
    assert inflater.inflate(data) == []
    for i in range(40):
        inflater.inflate(deflater.deflate([(b"h%02d" % i, b"x")]))
    # 36-byte entries: 28 fit in 1024.
    assert len(deflater.get_hd_table()) == 28
    assert table_size(deflater.get_hd_table()) <= 1024
    assert deflater.get_hd_table() == inflater.get_hd_table()


def test_deflater_max_above_default_starts_at_default() -> None:
    deflater = HDDeflater(8192)
    assert deflater.deflate([]) == b""
    deflater.change_table_size(8192)
    assert deflater.deflate([]) == bytes.fromhex("3fe13f")


def test_change_table_size_is_announced_even_if_unchanged() -> None:
    deflater = HDDeflater()
    deflater.change_table_size(4096)
    assert deflater.deflate([]) == bytes.fromhex("3fe11f")
    assert deflater.deflate([]) == b""


def test_change_table_size_announces_minimum_then_final() -> None:
    deflater = HDDeflater()
    inflater = HDInflater()
    deflater.deflate([(b"x-a", b"1")])
    deflater.change_table_size(100)
    deflater.change_table_size(2000)
    data = deflater.deflate([])
    assert data == bytes.fromhex("3f45 3fb10f")
    inflater.change_table_size(100)
    inflater.change_table_size(2000)
    assert inflater.inflate(data) == []


def test_table_size_zero_empties_the_table() -> None:
    deflater = HDDeflater()
    inflater = HDInflater()
    inflater.inflate(deflater.deflate([(b"x-a", b"1")]))
    deflater.change_table_size(0)
    inflater.change_table_size(0)
    assert deflater.get_hd_table() == []
    assert inflater.get_hd_table() == []
    data = deflater.deflate([(b"x-a", b"1")])
    assert data[0] == 0x20
    assert inflater.inflate(data) == [(b"x-a", b"1")]
    assert deflater.get_hd_table() == inflater.get_hd_table() == []


def test_inflater_shrink_evicts_at_once() -> None:
    inflater = HDInflater()
    for data in C3_BLOCKS:
        inflater.inflate(block(data))
    inflater.change_table_size(110)
    assert table(inflater.get_hd_table()) == [
        (b"custom-key", b"custom-value", 54),
        (b"cache-control", b"no-cache", 53),
    ]


def test_inflater_growth_needs_no_update() -> None:
    inflater = HDInflater()
    inflater.change_table_size(8192)
    assert inflater.inflate(block(C3_BLOCKS[0])) == REQUESTS[0]
    # The peer may now announce up to 8192.
    assert inflater.inflate(bytes.fromhex("3fe13f")) == []


# --- print_hd_table -------------------------------------------------------------


def test_print_hd_table(capsys: pytest.CaptureFixture[str]) -> None:
    inflater = HDInflater()
    for data in C3_BLOCKS:
        inflater.inflate(block(data))
    print_hd_table(inflater.get_hd_table())
    assert capsys.readouterr().out == (
        "[1] (s=54) custom-key: custom-value\n"
        "[2] (s=53) cache-control: no-cache\n"
        "[3] (s=57) :authority: www.example.com\n"
    )


def test_print_hd_table_empty_and_non_utf8(capsys: pytest.CaptureFixture[str]) -> None:
    print_hd_table([])
    assert capsys.readouterr().out == ""
    deflater = HDDeflater()
    deflater.deflate([(b"x-caf\xc3\xa9", b"\xff\x00")])
    print_hd_table(deflater.get_hd_table())
    assert capsys.readouterr().out == "[1] (s=41) x-café: \\xff\x00\n"


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([(b"x-a", 1)], "header 0: value must be bytes or str, not int"),
        ([(b"ok", b"1"), (None, b"1")], "header 1: name must be bytes or str, not NoneType"),
        ([(b"x-a", b"1", True)], "header 0 must be a (name, value) pair, not 3 items"),
        ([b"x-a: 1"], "header 0 must be a (name, value) pair, not bytes"),
        ([42], "header 0 must be a (name, value) pair, not int"),
        ({b"x-a": b"1"}, "headers must be a sequence of (name, value) pairs, not dict"),
        (b"x-a", "headers must be a sequence of (name, value) pairs, not bytes"),
        (None, "headers must be a sequence of (name, value) pairs, not NoneType"),
        ([("x-a", "\udc80")], "header 0: value is not encodable as UTF-8"),
    ],
)
def test_deflate_rejects_bad_headers(headers: object, message: str) -> None:
    deflater = HDDeflater()
    deflater.deflate([(b"keep", b"me")])
    with pytest.raises(HPACKError) as info:
        deflater.deflate(headers)  # type: ignore[arg-type]
    assert str(info.value) == message
    # Nothing was half-encoded: the table still matches the peer's.
    assert table(deflater.get_hd_table()) == [(b"keep", b"me", 38)]


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (-1, "table size must be between 0 and 4294967295, got -1"),
        (2**32, "table size must be between 0 and 4294967295, got 4294967296"),
        (1.5, "table size must be an int, not float"),
        ("4096", "table size must be an int, not str"),
    ],
)
def test_change_table_size_rejects_bad_sizes(size: object, message: str) -> None:
    for coder in (HDDeflater(), HDInflater()):
        with pytest.raises(HPACKError) as info:
            coder.change_table_size(size)  # type: ignore[arg-type]
        assert str(info.value) == message


def test_constructors_reject_bad_arguments() -> None:
    with pytest.raises(HPACKError, match="hd_table_bufsize_max must be between"):
        HDDeflater(-5)
    with pytest.raises(HPACKError, match="hd_table_bufsize_max must be an int, not NoneType"):
        HDDeflater(None)  # type: ignore[arg-type]
    with pytest.raises(HPACKError, match="max_header_list_size must be positive, got 0"):
        HDInflater(max_header_list_size=0)
    with pytest.raises(HPACKError, match="max_header_list_size must be an int, not str"):
        HDInflater(max_header_list_size="64k")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # C.3.1 without its last byte.
        (block(C3_BLOCKS[0])[:-1], "malformed header block: Truncated header block"),
        (b"\x41", "malformed header block: truncated integer"),
        (b"\xff\xff\xff\xff\xff\xff\xff", "malformed header block: integer encoding too long"),
        (b"\xbe", "header block refers to a table entry that does not exist"),
        (b"\x80", "header block refers to a table entry that does not exist"),
        (b"\x3f\xe1\x3f", "dynamic table size update exceeds the limit of 4096 bytes"),
        (b"\x82\x20", "malformed header block: Table size update not at the start"),
        (b"\x40\x81\xff\x00", "malformed header block: Incomplete Huffman string"),
        # 30 one bits: the EOS symbol, which must not appear in a string.
        (b"\x40\x84\xff\xff\xff\xff\x00", "malformed header block: Invalid Huffman string"),
    ],
)
def test_inflate_rejects_bad_blocks(data: bytes, message: str) -> None:
    with pytest.raises(HPACKError) as info:
        HDInflater().inflate(data)
    assert str(info.value).startswith(message)


def test_inflate_rejects_str() -> None:
    with pytest.raises(HPACKError, match="inflate\\(\\) needs bytes, not str"):
        HDInflater().inflate("8286")  # type: ignore[arg-type]


def test_inflater_is_unusable_after_an_error() -> None:
    inflater = HDInflater()
    with pytest.raises(HPACKError):
        inflater.inflate(b"\xbe")
    with pytest.raises(HPACKError, match="unusable after an earlier error"):
        inflater.inflate(block(C3_BLOCKS[0]))


def test_inflate_requires_size_update_after_shrink() -> None:
    inflater = HDInflater()
    inflater.inflate(block(C3_BLOCKS[0]))
    inflater.change_table_size(100)
    with pytest.raises(HPACKError, match="must start with a dynamic table size update"):
        inflater.inflate(b"\x82")


def test_inflate_rejects_update_above_reduced_limit() -> None:
    inflater = HDInflater()
    inflater.change_table_size(100)
    # Growing back does not lift the duty to announce the smallest size first.
    inflater.change_table_size(4096)
    with pytest.raises(HPACKError, match="update to 4096 bytes exceeds the reduced limit of 100"):
        inflater.inflate(bytes.fromhex("3fe11f"))


def test_inflate_accepts_owed_update() -> None:
    inflater = HDInflater()
    inflater.change_table_size(100)
    assert inflater.inflate(bytes.fromhex("3f45 82")) == [(b":method", b"GET")]
    # Owed once only.
    assert inflater.inflate(b"\x82") == [(b":method", b"GET")]


def test_inflate_bounds_decoded_size() -> None:
    # One 4033-byte table entry, then a block repeating it: 3 bytes would decode
    # to 12 KB, 20 bytes to 80 KB.
    inflater = HDInflater(max_header_list_size=10_000)
    assert inflater.max_header_list_size == 10_000
    setup = hpack.Encoder().encode([(b"x", b"a" * 4000)], huffman=False)
    inflater.inflate(setup)
    assert len(inflater.inflate(b"\xbe\xbe")) == 2
    with pytest.raises(HPACKError, match=r"more than max_header_list_size \(10000 bytes\)"):
        inflater.inflate(b"\xbe" * 3)

    default = HDInflater()
    default.inflate(setup)
    with pytest.raises(HPACKError, match=r"max_header_list_size \(65536 bytes\)"):
        default.inflate(b"\xbe" * 20)


def test_inflate_refuses_overlong_block_before_decoding() -> None:
    inflater = HDInflater(max_header_list_size=100)
    with pytest.raises(HPACKError, match="header block of 465 bytes cannot decode"):
        inflater.inflate(b"\x82" * 465)


# --- properties -----------------------------------------------------------------

names = st.one_of(
    st.sampled_from(
        [b":path", b":authority", b"cookie", b"authorization", b"location", b"content-type"]
    ),
    st.binary(max_size=16),
    st.text(max_size=8),
)
values = st.one_of(st.binary(max_size=48), st.text(max_size=16), st.just(b"GET"))
header_lists = st.lists(st.tuples(names, values), max_size=8)
steps = st.lists(
    st.one_of(header_lists, st.integers(min_value=0, max_value=6000)), min_size=1, max_size=10
)


def as_bytes(item: bytes | str) -> bytes:
    return item.encode("utf-8") if isinstance(item, str) else item


@settings(max_examples=150, deadline=None)
@given(max_size=st.integers(min_value=0, max_value=8192), steps=steps)
def test_round_trip_and_table_bounds(max_size: int, steps: list[object]) -> None:
    deflater = HDDeflater(max_size)
    inflater = HDInflater(max_header_list_size=1 << 20)
    limit = min(max_size, DEFAULT_HEADER_TABLE_SIZE)
    for step in steps:
        if isinstance(step, int):
            # The peer's SETTINGS_HEADER_TABLE_SIZE, as both ends apply it.
            inflater.change_table_size(step)
            deflater.change_table_size(step)
            limit = min(step, max_size)
            continue
        assert isinstance(step, list)
        data = deflater.deflate(step)
        assert inflater.inflate(data) == [(as_bytes(n), as_bytes(v)) for n, v in step]
        assert deflater.get_hd_table() == inflater.get_hd_table()
        assert table_size(deflater.get_hd_table()) <= limit
    assert table_size(inflater.get_hd_table()) <= limit


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from([b"", *map(block, C4_BLOCKS)]), data=st.binary(max_size=64))
def test_inflate_garbage_raises_only_hpack_error(prefix: bytes, data: bytes) -> None:
    inflater = HDInflater()
    try:
        headers = inflater.inflate(prefix + data)
    except HPACKError:
        return
    assert all(type(n) is bytes and type(v) is bytes for n, v in headers)
    assert table_size(inflater.get_hd_table()) <= DEFAULT_HEADER_TABLE_SIZE
