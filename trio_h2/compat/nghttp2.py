"""Stand-in for the ``nghttp2`` module of nghttp2's Python bindings.

``from trio_h2.compat import nghttp2`` replaces ``import nghttp2``.  This module holds
the HPACK part (:mod:`trio_h2.hpack`); the server classes are added alongside it.
"""

from ..hpack import (
    DEFAULT_HEADER_TABLE_SIZE as DEFAULT_HEADER_TABLE_SIZE,
    DEFLATE_MAX_HEADER_TABLE_SIZE as DEFLATE_MAX_HEADER_TABLE_SIZE,
    HD_ENTRY_OVERHEAD as HD_ENTRY_OVERHEAD,
    HDDeflater as HDDeflater,
    HDInflater as HDInflater,
    HDTableEntry as HDTableEntry,
    print_hd_table as print_hd_table,
)
