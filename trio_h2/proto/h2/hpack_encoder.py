"""A fast HPACK encoder (RFC 7541) for the server's response headers.

It stands in for ``hpack.Encoder`` as ``h2_conn.encoder``: h2 calls :meth:`encode` for
every header block it sends and sets :attr:`header_table_size` when the peer's
SETTINGS_HEADER_TABLE_SIZE changes.  ``hpack.Encoder`` searches its dynamic table
linearly, logs several times per field and Huffman-codes every literal bit by bit;
responses repeat the same few fields, so here both tables are dicts, a field already
in a table costs one lookup, and the encoded forms of literal strings are cached
(bounded).

Choices the RFC leaves to the encoder:

* the dynamic table is never larger than :data:`MAX_TABLE_SIZE`, whatever the peer
  allows, so a peer cannot make us hold more (a smaller table is always allowed,
  §4.2); the decoder's table starts at 4,096, so that needs no size update;
* fields whose names carry credentials (``authorization``, ``cookie``,
  ``set-cookie``...) and ``hpack.NeverIndexedHeaderTuple`` fields are sent as
  never-indexed literals (§6.2.3, §7.1.3), keeping them out of every compression
  context on the path;
* a field too large to fit well in the table (over 3/4 of it) is sent as a literal
  without indexing rather than flushing the whole table;
* a literal string is Huffman-coded only when that makes it shorter (§5.2).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.struct import HeaderTuple
from hpack.table import HeaderTable

#: The largest dynamic table the encoder keeps (the protocol's default size).
MAX_TABLE_SIZE = 4_096

#: Field names whose values are credentials: never indexed (RFC 7541 §7.1.3).
SENSITIVE = frozenset({b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"})

_STATIC_LEN = len(HeaderTable.STATIC_TABLE)
#: (name, value) -> index, and name -> its lowest index, over the static table.
_STATIC_FULL: dict[tuple[bytes, bytes], int] = {}
_STATIC_NAME: dict[bytes, int] = {}
for _index, (_name, _value) in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_FULL.setdefault((_name, _value), _index)
    _STATIC_NAME.setdefault(_name, _index)

#: Literal strings (with their length prefix) cached per encoder, and the longest one
#: cached: values may echo what a peer sent, so the cache stays small.
_STRING_CACHE_SIZE = 64
_CACHED_STRING_MAX = 128

_ENTRY_OVERHEAD = 32  # RFC 7541 §4.1


def encode_integer(value: int, prefix_bits: int, first: int) -> bytes:
    """RFC 7541 §5.1: ``value`` with an N-bit prefix; ``first`` holds the high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def huffman_encode(data: bytes) -> bytes:
    """The Huffman code of ``data`` (RFC 7541 Appendix B), padded with ones."""
    acc = 0
    bits = 0
    codes = REQUEST_CODES
    lengths = REQUEST_CODES_LENGTH
    for byte in data:
        length = lengths[byte]
        acc = (acc << length) | codes[byte]
        bits += length
    pad = -bits % 8
    acc = (acc << pad) | ((1 << pad) - 1)
    return acc.to_bytes((bits + pad) // 8, "big")


def _huffman_bits(data: bytes) -> int:
    lengths = REQUEST_CODES_LENGTH
    return sum([lengths[byte] for byte in data])


def encode_string(data: bytes) -> bytes:
    """A string literal (RFC 7541 §5.2): Huffman-coded when that is shorter."""
    coded_len = (_huffman_bits(data) + 7) // 8
    if coded_len < len(data):
        return encode_integer(coded_len, 7, 0x80) + huffman_encode(data)
    return encode_integer(len(data), 7, 0) + data


# Indexed representations of the indexes used most, prebuilt (RFC 7541 §6.1).
_INDEXED = [encode_integer(i, 7, 0x80) for i in range(128)]


class HeaderEncoder:
    """A drop-in for ``hpack.Encoder`` with dict-indexed tables; see the module doc."""

    def __init__(self, max_table_size: int = MAX_TABLE_SIZE) -> None:
        self._cap = max_table_size
        # The size the decoder knows; starts at the protocol's 4,096 (RFC 9113 §6.5.2).
        self._maxsize = min(4_096, max_table_size)
        self._size = 0
        # Dynamic entries, oldest first, as (sequence number, name, value, size).
        self._entries: deque[tuple[int, bytes, bytes, int]] = deque()
        self._inserted = 0  # sequence number of the next entry
        # Newest sequence number of each (name, value) and each name in the table.
        self._full: dict[tuple[bytes, bytes], int] = {}
        self._names: dict[bytes, int] = {}
        self._strings: dict[bytes, bytes] = {}
        # Smallest table size since the last header block (RFC 7541 §4.2), if it changed.
        self._pending_min: int | None = self._maxsize if self._maxsize < 4_096 else None

    # ----------------------------------------------------------- table size

    @property
    def header_table_size(self) -> int:
        """The dynamic table's maximum size, as the decoder knows it."""
        return self._maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        # h2 sets this to the peer's SETTINGS_HEADER_TABLE_SIZE once it applies it.
        new = min(int(value), self._cap)
        if new == self._maxsize and self._pending_min is None:
            return
        self._pending_min = new if self._pending_min is None else min(self._pending_min, new)
        self._maxsize = new
        self._evict(new)

    def _size_updates(self) -> bytes:
        low = self._pending_min
        assert low is not None
        self._pending_min = None
        final = encode_integer(self._maxsize, 5, 0x20)
        if low < self._maxsize:
            # The decoder must see the smallest size too, to evict what we evicted.
            return encode_integer(low, 5, 0x20) + final
        return final

    # ---------------------------------------------------------------- table

    def _evict(self, limit: int) -> None:
        entries = self._entries
        while self._size > limit:
            seq, name, value, size = entries.popleft()
            self._size -= size
            if self._full.get((name, value)) == seq:
                del self._full[(name, value)]
            if self._names.get(name) == seq:
                del self._names[name]

    def _add(self, name: bytes, value: bytes, size: int) -> None:
        self._evict(self._maxsize - size)
        seq = self._inserted
        self._inserted = seq + 1
        self._entries.append((seq, name, value, size))
        self._size += size
        self._full[(name, value)] = seq
        self._names[name] = seq

    def _string(self, data: bytes) -> bytes:
        cached = self._strings.get(data)
        if cached is None:
            cached = encode_string(data)
            if len(data) <= _CACHED_STRING_MAX:
                if len(self._strings) >= _STRING_CACHE_SIZE:
                    self._strings.clear()
                self._strings[data] = cached
        return cached

    # --------------------------------------------------------------- encode

    def encode(self, headers: Iterable[Any], huffman: bool = True) -> bytes:
        """Encode a header block of ``(name, value)`` pairs (bytes or str).

        Pairs may be ``hpack.HeaderTuple`` / ``NeverIndexedHeaderTuple`` or plain
        tuples, with an optional third item ``sensitive`` as ``hpack.Encoder`` takes
        them.  ``huffman`` is accepted for compatibility; strings are Huffman-coded
        whenever that is shorter.
        """
        out: list[bytes] = []
        if self._pending_min is not None:
            out.append(self._size_updates())
        static_full = _STATIC_FULL
        full = self._full
        indexed = _INDEXED
        for header in headers:
            name = header[0]
            value = header[1]
            if name.__class__ is not bytes:
                name = _to_bytes(name)
            if value.__class__ is not bytes:
                value = _to_bytes(value)
            key = (name, value)
            index = static_full.get(key)
            if index is None:
                seq = full.get(key)
                if seq is not None:
                    index = _STATIC_LEN + self._inserted - seq
            if index is not None:
                out.append(indexed[index] if index < 128 else encode_integer(index, 7, 0x80))
                continue
            out.append(self._literal(header, name, value))
        return b"".join(out)

    def _literal(self, header: Any, name: bytes, value: bytes) -> bytes:
        name_index = _STATIC_NAME.get(name)
        if name_index is None:
            seq = self._names.get(name)
            if seq is not None:
                name_index = _STATIC_LEN + self._inserted - seq
        sensitive = (
            name in SENSITIVE
            or (isinstance(header, HeaderTuple) and not header.indexable)
            or (len(header) > 2 and bool(header[2]))
        )
        size = len(name) + len(value) + _ENTRY_OVERHEAD
        if sensitive:
            prefix_bits, first = 4, 0x10  # never indexed (§6.2.3)
        elif size * 4 > self._maxsize * 3:
            prefix_bits, first = 4, 0x00  # without indexing (§6.2.2)
        else:
            prefix_bits, first = 6, 0x40  # with incremental indexing (§6.2.1)
        if name_index is None:
            encoded = bytes((first,)) + self._string(name) + self._string(value)
        else:
            encoded = encode_integer(name_index, prefix_bits, first) + self._string(value)
        if first == 0x40:
            # Indexes above were computed before this insertion, as the decoder will.
            self._add(name, value, size)
        return encoded


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)
