"""Stand-in for the ``nghttp2`` module of nghttp2's Python bindings.

``from trio_h2.compat import nghttp2`` replaces ``import nghttp2``.  This module holds
the HPACK part (:mod:`trio_h2.hpack`); the server classes are added alongside it.
"""

from ..hpack import DEFAULT_HEADER_TABLE_SIZE as DEFAULT_HEADER_TABLE_SIZE
from ..hpack import DEFLATE_MAX_HEADER_TABLE_SIZE as DEFLATE_MAX_HEADER_TABLE_SIZE
from ..hpack import HD_ENTRY_OVERHEAD as HD_ENTRY_OVERHEAD
from ..hpack import HDDeflater as HDDeflater
from ..hpack import HDInflater as HDInflater
from ..hpack import HDTableEntry as HDTableEntry
from ..hpack import print_hd_table as print_hd_table
