"""A fast HPACK decoder (RFC 7541), a drop-in for ``hpack.Decoder`` on the server's h2.

h2 calls ``decoder.decode(block, raw=True)`` for every request's header block and sets
``max_header_list_size`` and ``max_allowed_table_size`` from our SETTINGS.  hpack's
decoder slices a memoryview, builds a tuple and logs for every field; most request
fields are one byte naming an indexed entry, so here that case is one table lookup
returning a prebuilt ``HeaderTuple``, and Huffman-coded literals are decoded through a
bounded cache (clients send the same ``:path`` and ``user-agent`` again and again).

The result and the errors are hpack's: the same ``HeaderTuple`` /
``NeverIndexedHeaderTuple`` pairs, ``OversizedHeaderListError`` when the decoded list
exceeds ``max_header_list_size`` (counted as RFC 9113 §6.5.2 counts it), and an
``HPACKDecodingError`` (or ``InvalidTableIndex`` / ``InvalidTableSizeError``) for
anything malformed, so h2 answers exactly as before.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from hpack.exceptions import (
    HPACKDecodingError,
    InvalidTableIndex,
    InvalidTableSizeError,
    OversizedHeaderListError,
)
from hpack.huffman_table import decode_huffman
from hpack.struct import HeaderTuple, NeverIndexedHeaderTuple
from hpack.table import HeaderTable

_STATIC: tuple[HeaderTuple, ...] = (
    HeaderTuple(b"", b""),  # index 0 is not a field; looked up only to fail
    *(HeaderTuple(name, value) for name, value in HeaderTable.STATIC_TABLE),
)
_STATIC_LEN = len(HeaderTable.STATIC_TABLE)
_ENTRY_OVERHEAD = 32  # RFC 7541 §4.1
_DEFAULT_MAX_HEADER_LIST_SIZE = 65_536

#: Decoded Huffman strings kept per decoder, and the longest one kept: a peer can fill
#: the cache, so it stays small (under 20 KB per connection).
_HUFFMAN_CACHE_SIZE = 64
_CACHED_HUFFMAN_MAX = 128
#: Continuation bytes an integer may take: 2**35 is past any size we accept.
_MAX_INTEGER_BYTES = 5


def decode_integer(data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    """RFC 7541 §5.1: the integer at ``data[pos]`` and the position after it."""
    try:
        limit = (1 << prefix_bits) - 1
        value = data[pos] & limit
        pos += 1
        if value < limit:
            return value, pos
        shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value += (byte & 0x7F) << shift
            if not byte & 0x80:
                return value, pos
            shift += 7
            if shift > 7 * _MAX_INTEGER_BYTES:
                raise HPACKDecodingError("HPACK integer is too large")
    except IndexError:
        raise HPACKDecodingError("Truncated header block") from None


class HeaderDecoder:
    """A drop-in for ``hpack.Decoder``; see the module doc."""

    def __init__(self, max_header_list_size: int = _DEFAULT_MAX_HEADER_LIST_SIZE) -> None:
        #: Largest decoded header list accepted (hpack's name and meaning).
        self.max_header_list_size = max_header_list_size
        #: Largest table size the peer may set: our acknowledged SETTINGS value.
        self.max_allowed_table_size = 4_096
        self._maxsize = 4_096
        self._size = 0
        # Dynamic entries, newest first (index 62 is entries[0]), with their sizes.
        self._entries: deque[HeaderTuple] = deque()
        self._sizes: deque[int] = deque()
        self._huffman: dict[bytes, bytes] = {}

    @property
    def header_table_size(self) -> int:
        """The dynamic table's current maximum size."""
        return self._maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._maxsize = value
        self._evict(value)

    def _evict(self, limit: int) -> None:
        while self._size > limit:
            self._entries.pop()
            self._size -= self._sizes.pop()

    def _add(self, header: HeaderTuple, size: int) -> None:
        if size > self._maxsize:
            # RFC 7541 §4.4: an entry larger than the table empties it.
            self._entries.clear()
            self._sizes.clear()
            self._size = 0
            return
        self._evict(self._maxsize - size)
        self._entries.appendleft(header)
        self._sizes.appendleft(size)
        self._size += size

    def _lookup(self, index: int) -> HeaderTuple:
        if 0 < index <= _STATIC_LEN:
            return _STATIC[index]
        try:
            if index > _STATIC_LEN:
                return self._entries[index - _STATIC_LEN - 1]
        except IndexError:
            pass
        raise InvalidTableIndex(f"Invalid table index {index}")

    def _string(self, data: bytes, pos: int) -> tuple[bytes, int]:
        if pos >= len(data):
            raise HPACKDecodingError("Truncated header block")
        huffman = data[pos] & 0x80
        length, pos = decode_integer(data, pos, 7)
        end = pos + length
        if end > len(data):
            raise HPACKDecodingError("Truncated header block")
        raw = data[pos:end]
        if not huffman:
            return raw, end
        cache = self._huffman
        decoded = cache.get(raw)
        if decoded is None:
            decoded = decode_huffman(raw)
            if length <= _CACHED_HUFFMAN_MAX:
                if len(cache) >= _HUFFMAN_CACHE_SIZE:
                    cache.clear()
                cache[raw] = decoded
        return decoded, end

    def decode(self, data: bytes, raw: bool = False) -> list[Any]:
        """Decode a header block into ``HeaderTuple`` pairs (bytes when ``raw``)."""
        data = bytes(data)
        headers: list[HeaderTuple] = []
        append = headers.append
        static = _STATIC
        entries = self._entries
        limit = self.max_header_list_size
        inflated = 0
        pos = 0
        end = len(data)
        while pos < end:
            first = data[pos]
            if first & 0x80:  # indexed field (§6.1)
                index = first & 0x7F
                if index == 0x7F:
                    index, pos = decode_integer(data, pos, 7)
                else:
                    pos += 1
                if 0 < index <= _STATIC_LEN:
                    header = static[index]
                elif _STATIC_LEN < index <= _STATIC_LEN + len(entries):
                    header = entries[index - _STATIC_LEN - 1]
                else:
                    raise InvalidTableIndex(f"Invalid table index {index}")
            elif first & 0x40:  # literal with incremental indexing (§6.2.1)
                header, pos = self._literal(data, pos, 6, HeaderTuple)
                self._add(header, len(header[0]) + len(header[1]) + _ENTRY_OVERHEAD)
            elif first & 0x20:  # dynamic table size update (§6.3)
                if headers:
                    raise HPACKDecodingError("Table size update not at the start of the block")
                size, pos = decode_integer(data, pos, 5)
                if size > self.max_allowed_table_size:
                    raise InvalidTableSizeError("Encoder exceeded max allowable table size")
                self.header_table_size = size
                continue
            elif first & 0x10:  # never indexed (§6.2.3)
                header, pos = self._literal(data, pos, 4, NeverIndexedHeaderTuple)
            else:  # without indexing (§6.2.2)
                header, pos = self._literal(data, pos, 4, HeaderTuple)
            append(header)
            inflated += len(header[0]) + len(header[1]) + _ENTRY_OVERHEAD
            if inflated > limit:
                raise OversizedHeaderListError(
                    f"A header list larger than {limit} has been received"
                )
        if self._maxsize > self.max_allowed_table_size:
            raise InvalidTableSizeError("Encoder did not shrink table size to within the max")
        if raw:
            return headers
        try:
            return [
                header.__class__(header[0].decode("utf-8"), header[1].decode("utf-8"))
                for header in headers
            ]
        except UnicodeDecodeError as exc:
            raise HPACKDecodingError("Unable to decode headers as UTF-8") from exc

    def _literal(
        self, data: bytes, pos: int, prefix_bits: int, kind: type[HeaderTuple]
    ) -> tuple[HeaderTuple, int]:
        index, pos = decode_integer(data, pos, prefix_bits)
        if index:
            name = self._lookup(index)[0]
        else:
            name, pos = self._string(data, pos)
        value, pos = self._string(data, pos)
        return kind(name, value), pos
