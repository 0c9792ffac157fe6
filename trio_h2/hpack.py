"""HPACK (RFC 7541) header compression with the API of nghttp2's Python bindings.

:class:`HDDeflater`, :class:`HDInflater`, :func:`print_hd_table` and the table-size
constants behave like their namesakes in the ``nghttp2`` extension module, so programs
written for it run unchanged through :mod:`trio_h2.compat.nghttp2`.  The codec itself
lives with the rest of the HTTP/2 protocol code (``trio_h2/proto/h2/nghttp2_hpack.py``),
which documents the choices its deflater makes.
"""

from .proto.h2.nghttp2_hpack import (
    DEFAULT_HEADER_TABLE_SIZE as DEFAULT_HEADER_TABLE_SIZE,
    DEFAULT_MAX_HEADER_LIST_SIZE as DEFAULT_MAX_HEADER_LIST_SIZE,
    DEFLATE_MAX_HEADER_TABLE_SIZE as DEFLATE_MAX_HEADER_TABLE_SIZE,
    HD_ENTRY_OVERHEAD as HD_ENTRY_OVERHEAD,
    HDDeflater as HDDeflater,
    HDInflater as HDInflater,
    HDTableEntry as HDTableEntry,
    HeaderValue as HeaderValue,
    print_hd_table as print_hd_table,
)
