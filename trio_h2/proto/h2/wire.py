"""The HTTP/2 frame header (RFC 9113 §4.1) and the frame types and flags the server reads.

One place for the layout that the frame gate, the frame buffer and the frame builder
all parse or write.
"""

from __future__ import annotations

import struct

#: The 9-byte frame header: a 24-bit length (as 16 + 8 bits), type, flags, stream id
#: (whose top bit is reserved).
FRAME_HEADER = struct.Struct(">HBBBL")

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0, 1, 2, 3, 4
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9

FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20
