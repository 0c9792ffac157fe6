"""HPACK (RFC 7541) header compression with the API of nghttp2's Python bindings.

:class:`HDDeflater`, :class:`HDInflater`, :func:`print_hd_table` and the table-size
constants behave like their namesakes in the ``nghttp2`` extension module, so programs
written for it run unchanged through :mod:`trio_h2.compat.nghttp2`.  The work is done
by the `hpack` package: its :class:`~hpack.Decoder` inflates, and its header table,
Huffman coder and integer coder serve the deflater.

The deflater makes the choices nghttp2's deflater makes, which differ from those of
:class:`hpack.Encoder`:

* a string is Huffman-coded only when that makes it shorter;
* ``authorization``, and ``cookie`` with a value under 20 bytes, are never indexed
  (nor is a :class:`hpack.NeverIndexedHeaderTuple`): low-entropy secrets would
  otherwise be exposed to compression-ratio attacks;
* ``:path``, ``age``, ``content-length``, ``etag``, ``if-modified-since``,
  ``if-none-match``, ``location``, ``set-cookie`` and any field larger than three
  quarters of the table are sent without indexing, as they rarely repeat and would
  push out fields that do;
* after :meth:`HDDeflater.change_table_size` the next block starts with a dynamic
  table size update even if the size did not change, preceded by the smallest size
  of the interval when the size went down and up again.

RFC 7541 has no reference set (drafts of HPACK had one): :meth:`HDDeflater.set_no_refset`
is accepted and ignored, and every :class:`HDTableEntry` has ``ref`` False.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

import hpack as _hpack
from hpack.hpack import decode_integer, encode_integer
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable

from ..._errors import HPACKError

__all__ = [
    "DEFAULT_HEADER_TABLE_SIZE",
    "DEFAULT_MAX_HEADER_LIST_SIZE",
    "DEFLATE_MAX_HEADER_TABLE_SIZE",
    "HD_ENTRY_OVERHEAD",
    "HDDeflater",
    "HDInflater",
    "HDTableEntry",
    "HeaderValue",
    "print_hd_table",
]

#: The dynamic table size both ends start with (RFC 7540 §6.5.2).
DEFAULT_HEADER_TABLE_SIZE = 4096
#: The default cap on the table size an :class:`HDDeflater` uses.
DEFLATE_MAX_HEADER_TABLE_SIZE = 4096
#: Bytes an entry occupies in the dynamic table beyond its name and value (RFC 7541 §4.1).
HD_ENTRY_OVERHEAD = 32
#: The default ``max_header_list_size`` of :class:`HDInflater`, in RFC 7540 §6.5.2 units.
DEFAULT_MAX_HEADER_LIST_SIZE = 65536

#: What :meth:`HDDeflater.deflate` accepts as a header name or value; ``str`` is
#: encoded as UTF-8.
HeaderValue: TypeAlias = bytes | bytearray | memoryview | str

# SETTINGS values are 32-bit (RFC 7540 §6.5.1).
_MAX_TABLE_SIZE = 2**32 - 1

_WITH_INDEXING = 0x40
_WITHOUT_INDEXING = 0x00
_NEVER_INDEXED = 0x10

_UNINDEXED_NAMES = frozenset(
    {
        b":path",
        b"age",
        b"content-length",
        b"etag",
        b"if-modified-since",
        b"if-none-match",
        b"location",
        b"set-cookie",
    }
)


@dataclass
class HDTableEntry:
    """One entry of a dynamic header table, as :meth:`HDDeflater.get_hd_table` returns it.

    ``name`` and ``value`` are bytes, ``namelen`` and ``valuelen`` their lengths.
    ``ref`` told whether the entry was in the reference set of draft HPACK; RFC 7541
    has none, so it is always False.
    """

    name: bytes
    namelen: int
    value: bytes
    valuelen: int
    ref: bool = False

    def space(self) -> int:
        """Bytes the entry occupies in the table: name, value and 32 of overhead."""
        return self.namelen + self.valuelen + HD_ENTRY_OVERHEAD


class _Entry(Protocol):
    @property
    def name(self) -> bytes: ...

    @property
    def value(self) -> bytes: ...

    def space(self) -> int: ...


def print_hd_table(hdtable: Iterable[_Entry]) -> None:
    """Print *hdtable*, one entry per line, to standard output.

    *hdtable* is what :meth:`HDDeflater.get_hd_table` or
    :meth:`HDInflater.get_hd_table` returned.  Each line reads
    ``[index] (s=size) name: value``: the index counts from 1 (the newest entry),
    ``s`` is the room the entry takes in the table.  There is no ``r=`` column, as
    RFC 7541 has no reference set.  Names and values are decoded as UTF-8; bytes that
    are not valid UTF-8 are shown as backslash escapes rather than failing.
    """
    for idx, entry in enumerate(hdtable, start=1):
        name = entry.name.decode("utf-8", "backslashreplace")
        value = entry.value.decode("utf-8", "backslashreplace")
        print(f"[{idx}] (s={entry.space()}) {name}: {value}")


def _copy_table(table: HeaderTable) -> list[HDTableEntry]:
    return [HDTableEntry(n, len(n), v, len(v)) for n, v in table.dynamic_entries]


def _check_table_size(size: object, what: str) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise HPACKError(f"{what} must be an int, not {type(size).__name__}")
    if not 0 <= size <= _MAX_TABLE_SIZE:
        raise HPACKError(f"{what} must be between 0 and {_MAX_TABLE_SIZE}, got {size}")
    return size


def _to_bytes(item: object, index: int, part: str) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, str):
        try:
            return item.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise HPACKError(f"header {index}: {part} is not encodable as UTF-8") from exc
    raise HPACKError(f"header {index}: {part} must be bytes or str, not {type(item).__name__}")


def _huffman_length(data: bytes) -> int:
    bits = sum(REQUEST_CODES_LENGTH[byte] for byte in data)
    return (bits + 7) // 8


class HDDeflater:
    """Compresses header lists into HPACK header blocks.

    *hd_table_bufsize_max* caps the dynamic table this deflater uses, whatever size the
    peer's inflater allows: both ends must keep the same table, the inflater chooses
    its size, and a deflater short of memory may want less.  A cap below 4096 is
    announced by a dynamic table size update at the start of the first block.

    Example::

        deflater = HDDeflater()
        block = deflater.deflate([(b"foo", b"bar"), (b"baz", b"buz")])
    """

    def __init__(self, hd_table_bufsize_max: int = DEFLATE_MAX_HEADER_TABLE_SIZE) -> None:
        self._max = _check_table_size(hd_table_bufsize_max, "hd_table_bufsize_max")
        self._table = HeaderTable()
        self._huffman = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
        # Sizes to announce at the start of the next block (RFC 7541 §4.2).
        self._notify = False
        self._min_size: int | None = None
        if self._max < DEFAULT_HEADER_TABLE_SIZE:
            self._table.maxsize = self._max
            self._notify = True

    def deflate(self, headers: Iterable[tuple[HeaderValue, HeaderValue]]) -> bytes:
        """Compress *headers* and return the header block.

        *headers* is a sequence of ``(name, value)`` pairs of bytes; ``str`` is accepted
        and encoded as UTF-8.  Raises :class:`~trio_h2.HPACKError` if a header is not
        such a pair; nothing is encoded then, so the table stays in step with the
        peer's.
        """
        fields = self._validate(headers)
        out = bytearray()
        if self._notify:
            if self._min_size is not None and self._min_size < self._table.maxsize:
                self._emit_size_update(out, self._min_size)
            self._emit_size_update(out, self._table.maxsize)
            self._notify = False
            self._min_size = None
        for name, value, sensitive in fields:
            self._deflate_field(out, name, value, sensitive)
        return bytes(out)

    def set_no_refset(self, no_refset: object) -> None:
        """Accepted for compatibility and ignored.

        Draft HPACK had a reference set that this call could turn off; RFC 7541
        removed it, so there is never one to use.
        """

    def change_table_size(self, hd_table_bufsize_max: int) -> None:
        """Resize the dynamic table to *hd_table_bufsize_max* bytes, evicting as needed.

        Call it with the peer's SETTINGS_HEADER_TABLE_SIZE.  A size above the cap given
        to the constructor is lowered to that cap.  The next block announces the new
        size.  Raises :class:`~trio_h2.HPACKError` for a size that is not an int
        between 0 and 2**32 - 1.
        """
        size = min(_check_table_size(hd_table_bufsize_max, "table size"), self._max)
        self._table.maxsize = size
        self._min_size = size if self._min_size is None else min(self._min_size, size)
        self._notify = True

    def get_hd_table(self) -> list[HDTableEntry]:
        """Return a copy of the dynamic table, newest entry first."""
        return _copy_table(self._table)

    def _validate(
        self, headers: Iterable[tuple[HeaderValue, HeaderValue]]
    ) -> list[tuple[bytes, bytes, bool]]:
        if isinstance(headers, (bytes, bytearray, str, dict)) or not isinstance(headers, Iterable):
            raise HPACKError(
                f"headers must be a sequence of (name, value) pairs, not {type(headers).__name__}"
            )
        fields = []
        for index, header in enumerate(headers):
            if isinstance(header, (bytes, bytearray, str)) or not isinstance(header, Sequence):
                raise HPACKError(
                    f"header {index} must be a (name, value) pair, not {type(header).__name__}"
                )
            if len(header) != 2:
                raise HPACKError(
                    f"header {index} must be a (name, value) pair, not {len(header)} items"
                )
            name = _to_bytes(header[0], index, "name")
            value = _to_bytes(header[1], index, "value")
            never = isinstance(header, _hpack.HeaderTuple) and not header.indexable
            fields.append((name, value, never))
        return fields

    def _deflate_field(self, out: bytearray, name: bytes, value: bytes, never: bool) -> None:
        table = self._table
        if never or name == b"authorization" or (name == b"cookie" and len(value) < 20):
            mode = _NEVER_INDEXED
        elif (
            name in _UNINDEXED_NAMES
            or len(name) + len(value) + HD_ENTRY_OVERHEAD > table.maxsize * 3 // 4
        ):
            mode = _WITHOUT_INDEXING
        else:
            mode = _WITH_INDEXING

        name_index: int | None
        if mode == _NEVER_INDEXED:
            # A never-indexed field may not be sent as a table reference, so only
            # its name is looked up.
            static = HeaderTable.STATIC_TABLE_MAPPING.get(name)
            if static is not None:
                name_index = static[0]
            else:
                found = table.search(name, value)
                name_index = None if found is None else found[0]
        else:
            found = table.search(name, value)
            if found is not None and found[2] is not None:
                out += self._integer(found[0], 7, 0x80)
                return
            name_index = None if found is None else found[0]

        if name_index is None:
            out.append(mode)
            self._emit_string(out, name)
        else:
            out += self._integer(name_index, 6 if mode == _WITH_INDEXING else 4, mode)
        self._emit_string(out, value)
        if mode == _WITH_INDEXING:
            table.add(name, value)

    @staticmethod
    def _integer(value: int, prefix_bits: int, flags: int) -> bytes:
        encoded = encode_integer(value, prefix_bits)
        encoded[0] |= flags
        return bytes(encoded)

    def _emit_string(self, out: bytearray, data: bytes) -> None:
        if _huffman_length(data) < len(data):
            coded = self._huffman.encode(data)
            out += self._integer(len(coded), 7, 0x80)
            out += coded
        else:
            out += self._integer(len(data), 7, 0x00)
            out += data

    def _emit_size_update(self, out: bytearray, size: int) -> None:
        out += self._integer(size, 5, 0x20)


class HDInflater:
    """Decompresses HPACK header blocks into header lists.

    *max_header_list_size* (keyword only, not in nghttp2's API) bounds what one block
    may decode to, counted as in SETTINGS_MAX_HEADER_LIST_SIZE: name, value and 32
    bytes per field.  A few bytes referring to a large table entry again and again
    would otherwise expand without limit.

    Example::

        inflater = HDInflater()
        headers = inflater.inflate(block)
    """

    def __init__(self, *, max_header_list_size: int = DEFAULT_MAX_HEADER_LIST_SIZE) -> None:
        if isinstance(max_header_list_size, bool) or not isinstance(max_header_list_size, int):
            raise HPACKError(
                f"max_header_list_size must be an int, not {type(max_header_list_size).__name__}"
            )
        if max_header_list_size < 1:
            raise HPACKError(f"max_header_list_size must be positive, got {max_header_list_size}")
        self._decoder = _hpack.Decoder(max_header_list_size=max_header_list_size)
        # After the limit went below the table's size, the peer's next block must open
        # with a size update no larger than this (RFC 7541 §4.2).
        self._expected_update: int | None = None
        self._failed: str | None = None

    @property
    def max_header_list_size(self) -> int:
        """The largest decoded size of one header block this inflater accepts."""
        limit: int = self._decoder.max_header_list_size
        return limit

    def inflate(self, data: bytes | bytearray | memoryview) -> list[tuple[bytes, bytes]]:
        """Decompress the header block *data* and return its ``(name, value)`` pairs.

        Names and values are bytes.  Raises :class:`~trio_h2.HPACKError` if the block is
        truncated or malformed, refers to a table entry that does not exist, decodes to
        more than ``max_header_list_size``, changes the table size beyond the limit, or
        does not open with the size update owed after :meth:`change_table_size` made
        the table smaller.  After such an error the table may differ from the peer's,
        so every later call fails as well.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise HPACKError(f"inflate() needs bytes, not {type(data).__name__}")
        if self._failed is not None:
            raise HPACKError(
                f"inflater is unusable after an earlier error ({self._failed}); "
                "its table no longer matches the peer's"
            )
        block = bytes(data)
        try:
            self._check_block(block)
            try:
                decoded = self._decoder.decode(block, raw=True)
            except _hpack.HPACKError as exc:
                raise HPACKError(self._describe(exc)) from exc
            except (IndexError, ValueError) as exc:
                # hpack is only meant to raise its own errors; whatever a hostile
                # block provokes must still surface as a decoding failure.
                raise HPACKError(f"malformed header block: {exc}") from exc
        except HPACKError as exc:
            self._failed = str(exc)
            raise
        self._expected_update = None
        return [(bytes(name), bytes(value)) for name, value in decoded]

    def change_table_size(self, hd_table_bufsize_max: int) -> None:
        """Set the largest dynamic table the peer's deflater may use, in bytes.

        Call it once the peer has acknowledged our SETTINGS_HEADER_TABLE_SIZE.  A size
        below the current one takes effect at once (entries are evicted) and the peer's
        next block must open with a size update to at most that size.  Raises
        :class:`~trio_h2.HPACKError` for a size that is not an int between 0 and
        2**32 - 1.
        """
        size = _check_table_size(hd_table_bufsize_max, "table size")
        decoder = self._decoder
        decoder.max_allowed_table_size = size
        if size < decoder.header_table_size:
            decoder.header_table_size = size
            if self._expected_update is None or size < self._expected_update:
                self._expected_update = size

    def get_hd_table(self) -> list[HDTableEntry]:
        """Return a copy of the dynamic table, newest entry first."""
        table: HeaderTable = self._decoder.header_table
        return _copy_table(table)

    def _check_block(self, block: bytes) -> None:
        limit = self.max_header_list_size
        # A field counts 32 plus its name and value against the limit and encodes in
        # at most 3.75 bytes per byte of name and value plus 15 of framing, so a block
        # this long cannot decode within the limit.  Refusing it before decoding also
        # bounds hpack's work, which grows with the block's length times its fields.
        if len(block) > 4 * limit + 64:
            raise HPACKError(
                f"header block of {len(block)} bytes cannot decode within "
                f"max_header_list_size ({limit} bytes)"
            )
        expected = self._expected_update
        if expected is None:
            return
        if not block or block[0] & 0xE0 != 0x20:
            raise HPACKError(
                "header block must start with a dynamic table size update after the "
                f"table size was reduced to {expected} bytes"
            )
        try:
            size, _ = decode_integer(block, 5)
        except _hpack.HPACKDecodingError as exc:
            raise HPACKError("malformed header block: truncated table size update") from exc
        if size > expected:
            raise HPACKError(
                f"dynamic table size update to {size} bytes exceeds the reduced limit "
                f"of {expected} bytes"
            )

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, _hpack.OversizedHeaderListError):
            return (
                "header block decodes to more than max_header_list_size "
                f"({self.max_header_list_size} bytes)"
            )
        if isinstance(exc, _hpack.InvalidTableSizeError):
            limit = self._decoder.max_allowed_table_size
            return f"dynamic table size update exceeds the limit of {limit} bytes"
        if isinstance(exc, _hpack.InvalidTableIndexError):
            return f"header block refers to a table entry that does not exist ({exc})"
        message = str(exc)
        # hpack's integer errors embed a memoryview repr, which says nothing useful.
        if message.startswith("Unable to decode HPACK integer"):
            message = "truncated integer"
        elif message.startswith("Variable integer representation is too long"):
            message = "integer encoding too long"
        return f"malformed header block: {message}"
